-- The replicas serving this database: each registers when it starts serving, beats
-- while it runs and leaves when it stops. A tenant change waits (bounded) until the
-- replicas seen lately have applied it, and names those that did not.
CREATE TABLE replicas (
    id         TEXT PRIMARY KEY,
    address    TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    seen_at    BIGINT NOT NULL
);
