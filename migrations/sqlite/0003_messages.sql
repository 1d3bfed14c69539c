-- Messages in a channel, by a clerk or a guest. The body is never copied into the audit trail.
create table message (
    message_id  text primary key,
    channel_id  text not null references channel (channel_id),
    author_id   text not null references account (account_id),
    body        text not null,
    created_at  bigint not null
);
create index message_by_channel on message (channel_id, created_at);
