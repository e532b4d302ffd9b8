-- The platform admin's control plane: tenant branding and contact, the reason for
-- the current state, demo requests, and the audit log's hash chain.

ALTER TABLE tenants ADD COLUMN contact_email TEXT;
ALTER TABLE tenants ADD COLUMN primary_color TEXT;
ALTER TABLE tenants ADD COLUMN secondary_color TEXT;
-- File name of the logo inside the tenant's folder, e.g. `logo.png`.
ALTER TABLE tenants ADD COLUMN logo TEXT;
ALTER TABLE tenants ADD COLUMN created_by TEXT;
ALTER TABLE tenants ADD COLUMN status_reason TEXT;

CREATE TABLE demo_requests (
    id           TEXT PRIMARY KEY,
    company      TEXT NOT NULL,
    contact_name TEXT NOT NULL,
    email        TEXT NOT NULL,
    message      TEXT NOT NULL,
    status       TEXT NOT NULL DEFAULT 'new' CHECK (status IN ('new', 'converted')),
    tenant_id    TEXT,
    ip           TEXT,
    created_at   BIGINT NOT NULL,
    converted_at BIGINT
);
CREATE INDEX demo_requests_by_status ON demo_requests (status, created_at);

-- Each audit row carries the SHA-256 of its content chained to the previous row's
-- hash; rows written before this migration are sealed by the host at start.
ALTER TABLE audit_log ADD COLUMN prev_hash TEXT;
ALTER TABLE audit_log ADD COLUMN hash TEXT;
CREATE INDEX audit_log_by_action ON audit_log (action, seq);
