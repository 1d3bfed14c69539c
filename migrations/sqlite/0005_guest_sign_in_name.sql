-- One person may be a guest of several channels, one account in each, and be invited again
-- after an ending (D7). A guest's sign-in name (e-mail, or the printed resident id) moves to
-- `guest.sign_in_name`, which is not unique; `account.email` stays unique and now holds only
-- clerks' addresses — a guest account gets an internal key there ('g:' and its id), so a staff
-- address can also be a guest's.
alter table guest add column sign_in_name text;
update guest set sign_in_name = (select a.email from account a where a.account_id = guest.account_id);
update account set email = 'g:' || account_id where kind = 'guest';
create index guest_by_sign_in_name on guest (sign_in_name);
-- A printed resident id names exactly one account.
create unique index guest_resident_id on guest (sign_in_name) where has_email = 0;
