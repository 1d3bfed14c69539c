-- Foundation: departments, accounts (clerks now, guests later), sign-ins, one-time links, audit.
-- Times are Unix seconds (UTC) passed in from the application clock; flags are 0/1 integers.

create table department (
    department_id text primary key,          -- random public id
    name          text not null unique,
    created_at    bigint not null
);

-- Everything that signs in: password, TOTP, failure counters.
create table account (
    account_id            text primary key,  -- random public id
    kind                  text not null check (kind in ('clerk', 'guest')),
    email                 text not null unique, -- stored lower-case
    name                  text not null,
    status                text not null,
    password_hash         text,
    totp_secret           bytea,              -- encrypted with the configured key (B11)
    totp_last_step        bigint,            -- replay guard (B3)
    totp_failures         bigint not null default 0,
    totp_locked_until     bigint not null default 0,
    password_failures     bigint not null default 0,
    password_locked_until bigint not null default 0,
    created_at            bigint not null
);

create table clerk (
    account_id    text primary key references account (account_id),
    department_id text references department (department_id),
    role          text not null check (role in ('admin', 'clerk'))
);

-- One row per completed sign-in; the cookie session only points here.
create table login (
    login_id     text primary key,
    account_id   text not null references account (account_id),
    created_at   bigint not null,
    last_seen_at bigint not null,
    ended_at     bigint,
    end_reason   text
);
create index login_open_by_account on login (account_id) where ended_at is null;

-- Single-use links: only the SHA-256 of the token is stored (A1).
create table invitation (
    invitation_id text primary key,
    token_hash    text not null unique,
    purpose       text not null check (purpose in ('bootstrap', 'clerk_setup', 'guest')),
    account_id    text references account (account_id),
    created_by    text,
    created_at    bigint not null,
    expires_at    bigint not null,
    opened_at     bigint,
    used_at       bigint,
    revoked_at    bigint
);

-- Append-only, hash-chained audit trail (G2, G4).
create table audit_event (
    seq        bigint primary key,
    at         bigint not null,
    actor_kind text not null,
    actor_id   text,
    action     text not null,
    target     text,
    channel_id text,
    outcome    text not null,
    source     text,
    request_id text,
    detail     text,
    prev_hash  text not null,
    hash       text not null
);
create index audit_event_at on audit_event (at);

-- The head of the chain; updating it first serialises writers.
create table audit_head (
    audit_head_id bigint primary key check (audit_head_id = 1),
    seq           bigint not null,
    last_hash     text not null
);
insert into audit_head (audit_head_id, seq, last_hash)
values (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

create function audit_event_append_only() returns trigger language plpgsql as $$
begin
    raise exception 'audit_event is append-only';
end;
$$;
create trigger audit_event_no_update before update or delete on audit_event
    for each row execute function audit_event_append_only();
create trigger audit_event_no_truncate before truncate on audit_event
    for each statement execute function audit_event_append_only();
