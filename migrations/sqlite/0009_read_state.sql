-- 既読: the order messages were posted in, who has read which message and when, and each
-- reader's high-water mark per channel (for unread counts and "new since your last visit").
-- `seq` orders messages exactly, even two posted in the same second; SQLite takes the rowid.
alter table message add column seq bigint;
update message set seq = rowid;
create trigger message_seq after insert on message
begin
    update message set seq = new.rowid where rowid = new.rowid;
end;
create index message_by_seq on message (channel_id, seq);

create table message_read (
    message_id text not null references message (message_id),
    account_id text not null references account (account_id),
    read_at    bigint not null,
    primary key (message_id, account_id)
);

create table channel_read (
    channel_id text not null references channel (channel_id),
    account_id text not null references account (account_id),
    last_seq   bigint not null,
    read_at    bigint not null,
    primary key (channel_id, account_id)
);

-- 確認依頼: a clerk asks members to acknowledge a message, optionally by a date.
alter table message add column ack_requested bigint not null default 0;
alter table message add column ack_due_at bigint;
create table message_ack (
    message_id text not null references message (message_id),
    account_id text not null references account (account_id),
    acked_at   bigint not null,
    primary key (message_id, account_id)
);

-- Correcting or withdrawing one's own message within 15 minutes.
alter table message add column edited_at bigint;
alter table message add column withdrawn_at bigint;
