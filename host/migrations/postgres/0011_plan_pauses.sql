-- A module the tenant had on, switched off because a plan change left it out
-- (1): switched on again when a plan that includes it comes back. Its data is kept
-- either way. A manual toggle clears the mark.
ALTER TABLE tenant_modules ADD COLUMN paused_by_plan BIGINT NOT NULL DEFAULT 0;
