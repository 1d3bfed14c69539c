-- The clerks' guest lists read each listed guest's account for the name alone (the status is on
-- the guest row since migration 0012): 50 look-ups in the account table for every page, each
-- reading its pages again once other connections' writes emptied the page cache. The guest row
-- now carries its account's name too, kept by the triggers that keep its sort key.
alter table guest add column account_name text not null default '';
update guest set account_name = (select a.name from account a where a.account_id = guest.account_id);

drop trigger guest_list_keys_on_insert;
create trigger guest_list_keys_on_insert after insert on guest
begin
    update guest set
        department_id = (select c.department_id from channel c where c.channel_id = new.channel_id),
        name_key = (select lower(a.name) from account a where a.account_id = new.account_id),
        account_name = (select a.name from account a where a.account_id = new.account_id)
    where account_id = new.account_id;
end;
drop trigger guest_list_name_follows_account;
create trigger guest_list_name_follows_account after update of name on account
begin
    update guest set name_key = lower(new.name), account_name = new.name
    where account_id = new.account_id;
end;
