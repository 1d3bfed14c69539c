-- The clerks' guest lists filter by status at city size (10,000 guests in a department). The
-- status and name of each guest are read from this narrow index instead of the account rows
-- (which carry the password hash and the sealed secret), and the few opened, unused
-- invitations are found without reading every invitation.
create index account_list on account (account_id, status, name);
create index invitation_opened on invitation (account_id)
    where opened_at is not null and used_at is null and revoked_at is null;
