-- Failed password sign-ins counted per source address and per (sign-in name x address), so
-- that a stranger's wrong passwords slow only the stranger and never lock the owner out (B13).
create table sign_in_throttle (
    throttle_key text primary key,  -- 'a:<address>' or 'n:<address>:<sha-256 of the name>'
    failures     integer not null,
    locked_until bigint not null,
    updated_at   bigint not null
);

-- The guest lists count invitations per guest: without this index every row scanned them all.
create index invitation_by_account on invitation (account_id);
create index guest_by_sponsor on guest (sponsor_id);

-- Recovery codes are now stored as HMAC-SHA-256 with a key outside the database (B9). Rows
-- written before hold a plain SHA-256; `keyed` = 0 marks them until the application seals them.
alter table recovery_code add column keyed integer not null default 0;
