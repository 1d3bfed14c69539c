-- Mail when something is new in a channel: at most one per member and channel per interval,
-- never with the message's text. Each member may switch these mails off.
alter table account add column notify_mail bigint not null default 1;
create table channel_notice (
    channel_id    text not null references channel (channel_id),
    account_id    text not null references account (account_id),
    notified_seq  bigint not null,
    notified_at   bigint not null,
    primary key (channel_id, account_id)
);
