-- What each schedule record's `next_at` was planned by (the cadence, and for a cron
-- the tenant's zone): when a module version or the tenant's zone changes it, the
-- scheduler plans the record again. Records from before have none, and are planned
-- again once.
ALTER TABLE schedule_runs ADD COLUMN plan TEXT NOT NULL DEFAULT '';
