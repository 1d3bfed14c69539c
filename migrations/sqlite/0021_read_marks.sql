-- 既読 as one high-water mark per member and channel (what Slack's last_read does): a view
-- writes at most one row, the reader's new mark with its time, instead of one row per message
-- read. A message is read by every member whose mark is at or past its `seq`, and was read when
-- the first such mark was set; the marks are kept as a log of advances so those times stay
-- exact. `max(last_seq)` is the reader's mark.
create table read_mark (
    channel_id text not null references channel (channel_id),
    account_id text not null references account (account_id),
    last_seq   bigint not null,
    read_at    bigint not null,
    primary key (channel_id, account_id, last_seq)
);

-- Each time a member read messages becomes one advance to the newest of them.
insert into read_mark (channel_id, account_id, last_seq, read_at)
    select m.channel_id, r.account_id, max(m.seq), r.read_at
    from message_read r join message m on m.message_id = r.message_id
    group by m.channel_id, r.account_id, r.read_at;
insert into read_mark (channel_id, account_id, last_seq, read_at)
    select channel_id, account_id, last_seq, read_at from channel_read where true
    on conflict do nothing;

drop table message_read;
drop table channel_read;
alter table read_mark rename to channel_read;

-- 既読 counts: the members whose mark is at or past a message.
create index channel_read_by_seq on channel_read (channel_id, last_seq, account_id);

-- A read count a kept conversation shows changes with every advance.
create trigger conversation_read_advanced after insert on channel_read
begin
    update channel set version = version + 1 where channel_id = new.channel_id;
end;
