-- Files kept for modules, private to one (tenant, module). The content lives in the
-- row, so a file is written and discarded with the unit of work that put it.
CREATE TABLE module_files (
    tenant_id    TEXT NOT NULL,
    module       TEXT NOT NULL,
    id           TEXT NOT NULL,
    name         TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size         INTEGER NOT NULL,
    sha256       TEXT NOT NULL,
    content      BLOB NOT NULL,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, module, id)
);
-- The tenant's total is summed over every module's files.
CREATE INDEX module_files_tenant ON module_files (tenant_id);

-- One row per (tenant, module, schedule) the module declares and the tenant has
-- enabled. The scheduler fires a due schedule only after taking its lease, so each
-- firing runs once even with two processes on one file; a lease left by a process
-- that died runs out and the firing is taken again.
CREATE TABLE schedule_runs (
    tenant_id     TEXT NOT NULL,
    module        TEXT NOT NULL,
    schedule_id   TEXT NOT NULL,
    next_at       INTEGER NOT NULL,
    lease_until   INTEGER,
    lease_token   TEXT,
    runs          INTEGER NOT NULL DEFAULT 0,
    failures      INTEGER NOT NULL DEFAULT 0,
    last_fired_at INTEGER,
    last_error    TEXT,
    PRIMARY KEY (tenant_id, module, schedule_id)
);
CREATE INDEX schedule_runs_due ON schedule_runs (next_at);
