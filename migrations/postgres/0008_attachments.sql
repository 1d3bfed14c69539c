-- Files sent in a channel (F1-F4). The bytes live in `<data dir>/files/<file_id>`, under the
-- server-made id; the name people gave the file is only metadata. One file per message.
create table attachment (
    file_id      text primary key,
    message_id   text not null references message (message_id),
    channel_id   text not null references channel (channel_id),
    uploader_id  text not null references account (account_id),
    name         text not null,
    content_type text not null,
    size         bigint not null,
    sha256       text not null,
    created_at   bigint not null
);
create index attachment_by_channel on attachment (channel_id);
create unique index attachment_by_message on attachment (message_id);
