-- Single-use tokens sent by mail (password reset, invitations), stored hashed.
CREATE TABLE one_time_tokens (
    token_hash  TEXT NOT NULL PRIMARY KEY,
    purpose     TEXT NOT NULL CHECK (purpose IN ('password_reset', 'invite')),
    tenant_id   TEXT,
    user_id     TEXT NOT NULL,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER,
    created_at  INTEGER NOT NULL
);
CREATE INDEX one_time_tokens_by_user ON one_time_tokens (user_id);

-- Outgoing mail. Without a mail relay configured, this table is the mailbox
-- (`mosaic mail list`).
CREATE TABLE mail_outbox (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id   TEXT,
    to_email    TEXT NOT NULL,
    subject     TEXT NOT NULL,
    body        TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    sent_at     INTEGER
);
