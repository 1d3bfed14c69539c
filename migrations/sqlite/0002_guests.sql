-- Guests: project channels, guests scoped to one channel, recovery codes, reminders and
-- extension requests. Times are Unix seconds (UTC); flags are 0/1 integers.

create table channel (
    channel_id    text primary key,            -- random public id
    department_id text not null references department (department_id),
    name          text not null,
    purpose       text not null,
    ends_at       bigint not null,             -- end of the channel's last day (JST)
    status        text not null check (status in ('active', 'archived')),
    created_by    text not null references account (account_id),
    created_at    bigint not null,
    archived_at   bigint
);
create index channel_by_department on channel (department_id);

-- A guest is an account of kind 'guest' in exactly one channel. `account.email` holds the
-- sign-in name: the e-mail address, or a generated id for residents without e-mail.
create table guest (
    account_id     text primary key references account (account_id),
    channel_id     text not null references channel (channel_id),
    organisation   text not null,
    guest_kind     text not null check (guest_kind in ('hospital', 'school', 'resident', 'business', 'other')),
    has_email      integer not null,
    permission     text not null check (permission in ('read', 'post', 'post_files')),
    sponsor_id     text not null references account (account_id),
    expires_at     bigint not null,
    enrolled_at    bigint,
    last_access_at bigint
);
create index guest_by_channel on guest (channel_id);
create index guest_by_expiry on guest (expires_at);

-- One-time recovery codes (B9): only the SHA-256 of each code.
create table recovery_code (
    account_id text not null references account (account_id),
    code_hash  text not null,
    used_at    bigint,
    primary key (account_id, code_hash)
);

-- Reminders already sent, so each goes once.
create table reminder (
    account_id text not null references account (account_id),
    days       integer not null,
    sent_at    bigint not null,
    primary key (account_id, days)
);

-- A guest asks for more time; the sponsor approves or refuses with a reason.
create table extension_request (
    extension_request_id text primary key,
    account_id           text not null references account (account_id),
    message              text not null,
    created_at           bigint not null,
    decided_at           bigint,
    decided_by           text references account (account_id),
    decision             text check (decision in ('approved', 'refused')),
    decision_reason      text,
    new_expires_at       bigint
);
create index extension_request_by_account on extension_request (account_id);
