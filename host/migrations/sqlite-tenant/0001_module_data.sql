-- On SQLite each tenant's module data lives in a file of its own
-- (`module-data/<tenant id>.db` beside the main database), so one tenant's open
-- unit of work never holds another tenant's writes. The tables are those of the
-- main database's 0001, unchanged, so the same SQL serves both.

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
