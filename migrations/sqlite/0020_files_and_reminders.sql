-- Each channel's files counted in one row (F1): an upload reserves its size here with one
-- conditional update before its bytes are kept, so concurrent uploads queue on this row and
-- can never together pass the quota; a withdrawn file gives its size back (F5).
create table channel_quota (
    channel_id text primary key references channel (channel_id),
    used_bytes bigint not null
);

-- A withdrawn message's file is gone (F5): files of messages withdrawn before this version go
-- the same way (their upload stays in the audit trail with name, size and SHA-256).
delete from attachment
    where message_id in (select message_id from message where withdrawn_at is not null);

insert into channel_quota (channel_id, used_bytes)
    select channel_id, sum(size) from attachment group by channel_id;

-- When the last acknowledgement reminder for a message was mailed (D9): at most one a day.
alter table message add column ack_reminded_at bigint;
