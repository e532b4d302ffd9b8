-- Host tables of the foundation: tenancy, module catalog, module documents, outbox, audit.
-- Every tenant-owned table leads with tenant_id. Times are milliseconds since the epoch.

CREATE TABLE tenants (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    subdomain   TEXT NOT NULL UNIQUE,
    status      TEXT NOT NULL DEFAULT 'active',
    plan        TEXT NOT NULL DEFAULT 'standard',
    timezone    TEXT NOT NULL DEFAULT 'UTC',
    generation  INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

CREATE TABLE tenant_domains (
    domain      TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE
);

CREATE TABLE modules (
    key         TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    version     TEXT NOT NULL,
    wasm_sha256 TEXT NOT NULL,
    manifest    TEXT NOT NULL,
    installed_at INTEGER NOT NULL
);

CREATE TABLE tenant_modules (
    tenant_id   TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    module_key  TEXT NOT NULL,
    enabled     INTEGER NOT NULL CHECK (enabled IN (0, 1)),
    settings    TEXT NOT NULL DEFAULT '{}',
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, module_key)
);

CREATE TABLE records (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id   TEXT NOT NULL,
    module      TEXT NOT NULL,
    collection  TEXT NOT NULL,
    id          TEXT NOT NULL,
    version     INTEGER NOT NULL,
    data        TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    UNIQUE (tenant_id, module, collection, id)
);
CREATE INDEX records_scan ON records (tenant_id, module, collection, seq);

-- Values of the manifest's unique indexes, one row per (document, index).
CREATE TABLE record_keys (
    tenant_id   TEXT NOT NULL,
    module      TEXT NOT NULL,
    collection  TEXT NOT NULL,
    index_name  TEXT NOT NULL,
    key         TEXT NOT NULL,
    record_id   TEXT NOT NULL,
    PRIMARY KEY (tenant_id, module, collection, index_name, key)
);
CREATE INDEX record_keys_by_record ON record_keys (tenant_id, module, collection, record_id);

CREATE TABLE event_outbox (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id   TEXT NOT NULL,
    id          TEXT NOT NULL UNIQUE,
    source      TEXT NOT NULL,
    kind        TEXT NOT NULL,
    subject     TEXT,
    data        TEXT NOT NULL,
    occurred_at INTEGER NOT NULL,
    delivered_at INTEGER
);

CREATE TABLE audit_log (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id   TEXT,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    target      TEXT NOT NULL,
    before      TEXT,
    after       TEXT,
    request_id  TEXT,
    at          INTEGER NOT NULL
);
CREATE INDEX audit_log_by_tenant ON audit_log (tenant_id, seq);

