-- The clerks' guest lists filter by status at city size (10,000 guests in a department). Joining
-- every guest of the department to its account to read the status cost about 65 ms per query
-- on the seeded city. The guest row now carries a copy of its account's status, kept by a
-- trigger on every change of the account's status, and the list reads it from one index along
-- with the channel, the expiry and the guest's id (so counting reads the index alone).
alter table guest add column status text not null default 'invited';
update guest g set status = a.status from account a where a.account_id = g.account_id;
create function guest_status_follows_account() returns trigger language plpgsql as $$
begin
    update guest set status = new.status where account_id = new.account_id;
    return new;
end
$$;
create trigger guest_status_follows_account after update of status on account
    for each row execute function guest_status_follows_account();
create index guest_by_channel_status on guest (channel_id, status, expires_at, account_id);
