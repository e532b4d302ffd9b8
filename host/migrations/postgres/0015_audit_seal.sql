-- The audit chain's seal: from first_seq on, rows are hashed with HMAC-SHA256
-- under a key kept outside the database (key_id is its fingerprint), so whoever
-- can write here can no longer recompute a row's hash. Rows before first_seq keep
-- the plain SHA-256 of earlier releases. One row, written with the first keyed
-- audit row.
CREATE TABLE audit_seal (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    first_seq BIGINT NOT NULL,
    key_id    TEXT NOT NULL,
    sealed_at BIGINT NOT NULL
);
