-- Modules installed at runtime (third-party components): every uploaded version
-- with its bytes, so that every replica loads it and a restart keeps it.
CREATE TABLE module_packages (
    key          TEXT NOT NULL,
    version      TEXT NOT NULL,
    sha256       TEXT NOT NULL,
    contract     TEXT NOT NULL,
    manifest     TEXT NOT NULL,
    wasm         BLOB NOT NULL,
    size_bytes   INTEGER NOT NULL,
    -- The configured publisher key whose signature verified; NULL when unsigned.
    publisher    TEXT,
    uploaded_by  TEXT NOT NULL,
    uploaded_at  INTEGER NOT NULL,
    -- When this version last became the one its key serves (rollback goes to the
    -- most recent other one); NULL while it never served.
    activated_at INTEGER,
    PRIMARY KEY (key, version)
);

-- One row per installed key: who owns it and which version serves.
CREATE TABLE module_releases (
    key             TEXT PRIMARY KEY,
    -- The publisher of its first version; later versions must come from it.
    publisher       TEXT,
    -- NULL until a version's requests are all decided by a grant.
    current_version TEXT,
    -- The newest upload, waiting for a grant to cover what it requests.
    pending_version TEXT,
    changed_at      INTEGER NOT NULL
);

-- What a platform admin decided about each thing a module's manifest requests:
-- kind is capability, dependency or subscription.
CREATE TABLE module_grants (
    key        TEXT NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('capability', 'dependency', 'subscription')),
    item       TEXT NOT NULL,
    allowed    INTEGER NOT NULL CHECK (allowed IN (0, 1)),
    decided_by TEXT NOT NULL,
    decided_at INTEGER NOT NULL,
    PRIMARY KEY (key, kind, item)
);

-- Bumped by every change to the three tables above: replicas poll it.
CREATE TABLE module_catalog (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    generation INTEGER NOT NULL
);
INSERT INTO module_catalog (id, generation) VALUES (1, 0);

-- A tenant held on one version of a module (a canary the other way round); NULL
-- follows the key's current version.
ALTER TABLE tenant_modules ADD COLUMN pinned_version TEXT;
