-- One subscription per tenant, to the plan in `tenants.plan`:
--   trial     until trial_ends_at, then expired unless paid;
--   active    paid until period_end, then past_due;
--   past_due  until grace_ends_at, then expired;
--   cancelled still served until period_end, then expired;
--   expired   until a payment renews it.
-- Time-driven moves are conditional updates, so each happens once across replicas.
CREATE TABLE subscriptions (
    tenant_id     TEXT PRIMARY KEY,
    state         TEXT NOT NULL,
    trial_ends_at INTEGER,
    period_end    INTEGER,
    grace_ends_at INTEGER,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
CREATE INDEX subscriptions_state ON subscriptions (state);

-- The tenants from before billing start a 14-day trial of the Starter plan.
UPDATE tenants SET plan = 'starter' WHERE plan = 'standard';
INSERT INTO subscriptions (tenant_id, state, trial_ends_at, created_at, updated_at)
SELECT id, 'trial', (CAST(strftime('%s', 'now') AS INTEGER) * 1000) + 1209600000, (CAST(strftime('%s', 'now') AS INTEGER) * 1000), (CAST(strftime('%s', 'now') AS INTEGER) * 1000) FROM tenants;
