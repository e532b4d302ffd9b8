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
