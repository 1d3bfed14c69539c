-- The clerks' guest list counted a department's guests of one status by walking them in the
-- department's list index: 10,000 index entries on every page of the list. The tally holds
-- each channel's number of guests of each status, kept by triggers on every insert, delete,
-- move and status change, so a count reads one row per channel.
create table guest_tally (
    channel_id text not null,
    status text not null,
    n bigint not null,
    primary key (channel_id, status)
);
insert into guest_tally (channel_id, status, n)
    select channel_id, status, count(*) from guest group by channel_id, status;

create function guest_tally() returns trigger language plpgsql as $$
begin
    if tg_op in ('UPDATE', 'DELETE') then
        update guest_tally set n = n - 1
            where channel_id = old.channel_id and status = old.status;
    end if;
    if tg_op in ('UPDATE', 'INSERT') then
        insert into guest_tally (channel_id, status, n) values (new.channel_id, new.status, 1)
            on conflict (channel_id, status) do update set n = guest_tally.n + 1;
    end if;
    return null;
end
$$;
create trigger guest_tally_on_insert_or_delete after insert or delete on guest
    for each row execute function guest_tally();
create trigger guest_tally_on_change after update of channel_id, status on guest
    for each row
    when (old.channel_id is distinct from new.channel_id or old.status is distinct from new.status)
    execute function guest_tally();
