-- Per-address and per-link request counts, one row per key, endpoint and minute (A9). They live
-- in the database so that several instances behind a load balancer share one allowance; the
-- sweeper deletes the minutes that have passed.
create table rate_window (
    key text not null,
    bucket text not null,
    minute bigint not null,
    count bigint not null,
    primary key (key, bucket, minute)
);
