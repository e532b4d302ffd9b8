-- Failed logins counted per account and client address, so that whoever guesses
-- an account's password locks only their own address out of it, not its owner.
-- The accounts' own failed_logins and locked_until columns are no longer read;
-- they stay while replicas of the previous release may still be running.
CREATE TABLE login_failures (
    account_id   TEXT NOT NULL,
    client       TEXT NOT NULL,
    failures     INTEGER NOT NULL,
    locked_until INTEGER,
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (account_id, client)
);
CREATE INDEX login_failures_updated ON login_failures (updated_at);
