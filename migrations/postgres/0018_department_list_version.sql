-- A department's guest lists read the sum of its channels' guest list versions on every view
-- (migration 0017): 200 channel rows for a department of 200 channels, 165 us once other
-- connections' writes emptied the page cache. This index answers the sum from the index alone.
create index channel_guests_version on channel (department_id, guests_version);
