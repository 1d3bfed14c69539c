-- Each portal keeps the clerks' guest lists in memory between views; the database stays the
-- truth. A kept list is used only while the version it was read under is still the one the
-- database holds: a channel's `guests_version` rises with every change a list of its guests
-- shows, in the same transaction as the change, whichever instance or tool made it. A
-- department's lists read the sum of its channels' versions, and the department's own
-- `guests_version`, which rises when a channel moves in or out.
alter table channel add column guests_version bigint not null default 0;
alter table department add column guests_version bigint not null default 0;

-- Guests: issued, renamed, moved, enrolled, seen, extended, revoked, expired.
create trigger guest_list_guest_added after insert on guest
begin
    update channel set guests_version = guests_version + 1 where channel_id = new.channel_id;
end;
create trigger guest_list_guest_changed after update on guest
begin
    update channel set guests_version = guests_version + 1
        where channel_id in (old.channel_id, new.channel_id);
end;
create trigger guest_list_guest_removed after delete on guest
begin
    update channel set guests_version = guests_version + 1 where channel_id = old.channel_id;
end;

-- Invitations: a list shows whether a guest opened theirs.
create trigger guest_list_invitation_added after insert on invitation
    when new.account_id is not null
begin
    update channel set guests_version = guests_version + 1
        where channel_id in (select g.channel_id from guest g where g.account_id = new.account_id);
end;
create trigger guest_list_invitation_changed after update on invitation
begin
    update channel set guests_version = guests_version + 1
        where channel_id in (select g.channel_id from guest g
                             where g.account_id in (old.account_id, new.account_id));
end;
create trigger guest_list_invitation_removed after delete on invitation
    when old.account_id is not null
begin
    update channel set guests_version = guests_version + 1
        where channel_id in (select g.channel_id from guest g where g.account_id = old.account_id);
end;

-- Channels: a list shows the channel's name; a moved channel leaves one department's lists and
-- joins another's.
create trigger guest_list_channel_renamed after update of name on channel
    when old.name is not new.name
begin
    update channel set guests_version = guests_version + 1 where channel_id = new.channel_id;
end;
create trigger guest_list_channel_moved after update of department_id on channel
    when old.department_id is not new.department_id
begin
    update channel set guests_version = guests_version + 1 where channel_id = new.channel_id;
    update department set guests_version = guests_version + 1
        where department_id in (old.department_id, new.department_id);
end;

-- Sponsors: a list shows the clerk who issued each guest.
create trigger guest_list_sponsor_renamed after update of name on account
    when old.name is not new.name
begin
    update channel set guests_version = guests_version + 1
        where channel_id in (select g.channel_id from guest g where g.sponsor_id = new.account_id);
end;
