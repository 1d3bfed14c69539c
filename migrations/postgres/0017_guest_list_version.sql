-- Each portal keeps the clerks' guest lists in memory between views; the database stays the
-- truth. A kept list is used only while the version it was read under is still the one the
-- database holds: a channel's `guests_version` rises with every change a list of its guests
-- shows, in the same transaction as the change, whichever instance or tool made it. A
-- department's lists read the sum of its channels' versions, and the department's own
-- `guests_version`, which rises when a channel moves in or out.
alter table channel add column guests_version bigint not null default 0;
alter table department add column guests_version bigint not null default 0;

-- Guests: issued, renamed, moved, enrolled, seen, extended, revoked, expired.
create function guest_list_guest_changed() returns trigger language plpgsql as $$
begin
    if tg_op in ('UPDATE', 'DELETE') then
        update channel set guests_version = guests_version + 1 where channel_id = old.channel_id;
    end if;
    if tg_op in ('UPDATE', 'INSERT') then
        update channel set guests_version = guests_version + 1 where channel_id = new.channel_id
            and (tg_op = 'INSERT' or new.channel_id is distinct from old.channel_id);
    end if;
    return null;
end
$$;
create trigger guest_list_guest_changed after insert or update or delete on guest
    for each row execute function guest_list_guest_changed();

-- Invitations: a list shows whether a guest opened theirs.
create function guest_list_invitation_changed() returns trigger language plpgsql as $$
begin
    if tg_op in ('UPDATE', 'DELETE') then
        update channel set guests_version = guests_version + 1
            where channel_id in (select g.channel_id from guest g where g.account_id = old.account_id);
    end if;
    if tg_op in ('UPDATE', 'INSERT') then
        update channel set guests_version = guests_version + 1
            where channel_id in (select g.channel_id from guest g where g.account_id = new.account_id)
            and (tg_op = 'INSERT' or new.account_id is distinct from old.account_id);
    end if;
    return null;
end
$$;
create trigger guest_list_invitation_changed after insert or update or delete on invitation
    for each row execute function guest_list_invitation_changed();

-- Channels: a list shows the channel's name; a moved channel leaves one department's lists and
-- joins another's.
create function guest_list_channel_changed() returns trigger language plpgsql as $$
begin
    update channel set guests_version = guests_version + 1 where channel_id = new.channel_id;
    if new.department_id is distinct from old.department_id then
        update department set guests_version = guests_version + 1
            where department_id in (old.department_id, new.department_id);
    end if;
    return null;
end
$$;
create trigger guest_list_channel_changed after update of name, department_id on channel
    for each row
    when (old.name is distinct from new.name or old.department_id is distinct from new.department_id)
    execute function guest_list_channel_changed();

-- Sponsors: a list shows the clerk who issued each guest.
create function guest_list_sponsor_renamed() returns trigger language plpgsql as $$
begin
    update channel set guests_version = guests_version + 1
        where channel_id in (select g.channel_id from guest g where g.sponsor_id = new.account_id);
    return null;
end
$$;
create trigger guest_list_sponsor_renamed after update of name on account
    for each row when (old.name is distinct from new.name)
    execute function guest_list_sponsor_renamed();
