-- Each portal keeps a channel's recent conversation in memory between views; the database
-- stays the truth. The channel's version says whether a kept copy is still what the
-- database would answer: every change to what a conversation shows raises it, in the same
-- transaction as the change, whichever instance or tool made it. A view reads the version with
-- the login and uses its kept copy only when the version is the same.
alter table channel add column version bigint not null default 0;

-- Messages: posted, corrected, withdrawn, asked to be acknowledged.
create trigger conversation_message_added after insert on message
begin
    update channel set version = version + 1 where channel_id = new.channel_id;
end;
create trigger conversation_message_changed after update on message
begin
    update channel set version = version + 1
        where channel_id in (old.channel_id, new.channel_id);
end;
create trigger conversation_message_removed after delete on message
begin
    update channel set version = version + 1 where channel_id = old.channel_id;
end;

-- Files sent with messages.
create trigger conversation_file_added after insert on attachment
begin
    update channel set version = version + 1 where channel_id = new.channel_id;
end;
create trigger conversation_file_changed after update on attachment
begin
    update channel set version = version + 1
        where channel_id in (old.channel_id, new.channel_id);
end;
create trigger conversation_file_removed after delete on attachment
begin
    update channel set version = version + 1 where channel_id = old.channel_id;
end;

-- 既読 and 確認 counts.
create trigger conversation_read_added after insert on message_read
begin
    update channel set version = version + 1
        where channel_id = (select m.channel_id from message m where m.message_id = new.message_id);
end;
create trigger conversation_read_removed after delete on message_read
begin
    update channel set version = version + 1
        where channel_id = (select m.channel_id from message m where m.message_id = old.message_id);
end;
create trigger conversation_ack_added after insert on message_ack
begin
    update channel set version = version + 1
        where channel_id = (select m.channel_id from message m where m.message_id = new.message_id);
end;
create trigger conversation_ack_removed after delete on message_ack
begin
    update channel set version = version + 1
        where channel_id = (select m.channel_id from message m where m.message_id = old.message_id);
end;

-- How authors are named: a person's name or kind, a guest's organisation, a clerk's 課 or the
-- 課's name. Rare changes that may touch any channel, so every channel's version rises.
create trigger conversation_author_renamed after update of name, kind on account
    when old.name is not new.name or old.kind is not new.kind
begin
    update channel set version = version + 1;
end;
create trigger conversation_organisation_renamed after update of organisation on guest
    when old.organisation is not new.organisation
begin
    update channel set version = version + 1;
end;
create trigger conversation_clerk_moved after update of department_id on clerk
    when old.department_id is not new.department_id
begin
    update channel set version = version + 1;
end;
create trigger conversation_department_renamed after update of name on department
    when old.name is not new.name
begin
    update channel set version = version + 1;
end;
