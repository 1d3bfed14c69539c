-- A login's session revision: raised by every instance that writes or deletes the session
-- record naming the login, after the write. An instance keeps session records in memory and
-- serves one only while the revision it was read under is still the login row's (the guard
-- reads the login on every request anyway), so a change made through another instance is
-- read at the next request.
alter table login add column session_rev bigint not null default 0;
