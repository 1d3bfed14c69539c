-- Each portal keeps a channel's recent conversation in memory between views; the database
-- stays the truth. The channel's version says whether a kept copy is still what the database
-- would answer: every change to what a conversation shows raises it, in the same transaction
-- as the change, whichever instance or tool made it. A view reads the version with the login
-- and uses its kept copy only when the version is the same.
alter table channel add column version bigint not null default 0;

-- Messages and files carry their channel.
create function conversation_row_changed() returns trigger language plpgsql as $$
begin
    if tg_op in ('UPDATE', 'DELETE') then
        update channel set version = version + 1 where channel_id = old.channel_id;
    end if;
    if tg_op in ('INSERT', 'UPDATE') then
        update channel set version = version + 1 where channel_id = new.channel_id;
    end if;
    return null;
end
$$;
create trigger conversation_message after insert or update or delete on message
    for each row execute function conversation_row_changed();
create trigger conversation_file after insert or update or delete on attachment
    for each row execute function conversation_row_changed();

-- 既読 and 確認 counts: once per statement (a page view marks many messages read at once).
create function conversation_marks_added() returns trigger language plpgsql as $$
begin
    update channel set version = version + 1 where channel_id in
        (select m.channel_id from changed c join message m on m.message_id = c.message_id);
    return null;
end
$$;
create trigger conversation_read_added after insert on message_read
    referencing new table as changed for each statement
    execute function conversation_marks_added();
create trigger conversation_read_removed after delete on message_read
    referencing old table as changed for each statement
    execute function conversation_marks_added();
create trigger conversation_ack_added after insert on message_ack
    referencing new table as changed for each statement
    execute function conversation_marks_added();
create trigger conversation_ack_removed after delete on message_ack
    referencing old table as changed for each statement
    execute function conversation_marks_added();

-- How authors are named: a person's name or kind, a guest's organisation, a clerk's 課 or the
-- 課's name. Rare changes that may touch any channel, so every channel's version rises.
create function conversation_authors_changed() returns trigger language plpgsql as $$
begin
    update channel set version = version + 1;
    return null;
end
$$;
create trigger conversation_author_renamed after update of name, kind on account
    for each row when (old.name is distinct from new.name or old.kind is distinct from new.kind)
    execute function conversation_authors_changed();
create trigger conversation_organisation_renamed after update of organisation on guest
    for each row when (old.organisation is distinct from new.organisation)
    execute function conversation_authors_changed();
create trigger conversation_clerk_moved after update of department_id on clerk
    for each row when (old.department_id is distinct from new.department_id)
    execute function conversation_authors_changed();
create trigger conversation_department_renamed after update of name on department
    for each row when (old.name is distinct from new.name)
    execute function conversation_authors_changed();
