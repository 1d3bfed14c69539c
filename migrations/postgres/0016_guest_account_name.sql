-- The clerks' guest lists read each listed guest's account for the name alone (the status is on
-- the guest row since migration 0012): 50 look-ups in the account table for every page. The
-- guest row now carries its account's name too, kept by the triggers that keep its sort key.
alter table guest add column account_name text not null default '';
update guest g set account_name = a.name from account a where a.account_id = g.account_id;

create or replace function guest_list_keys() returns trigger language plpgsql as $$
begin
    new.department_id := (select c.department_id from channel c where c.channel_id = new.channel_id);
    if tg_op = 'INSERT' then
        select lower(a.name), a.name into new.name_key, new.account_name
            from account a where a.account_id = new.account_id;
    end if;
    return new;
end
$$;

create or replace function guest_list_name_follows_account() returns trigger language plpgsql as $$
begin
    update guest set name_key = lower(new.name), account_name = new.name
        where account_id = new.account_id;
    return null;
end
$$;
