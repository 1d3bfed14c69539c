-- The language a guest was invited in: their mails and printed sheet put it first.
alter table guest add column lang text not null default 'ja';
