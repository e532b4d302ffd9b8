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
    trial_ends_at BIGINT,
    period_end    BIGINT,
    grace_ends_at BIGINT,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);
CREATE INDEX subscriptions_state ON subscriptions (state);

-- The tenants from before billing start a 14-day trial of the Starter plan.
UPDATE tenants SET plan = 'starter' WHERE plan = 'standard';
INSERT INTO subscriptions (tenant_id, state, trial_ends_at, created_at, updated_at)
SELECT id, 'trial', CAST(EXTRACT(EPOCH FROM now()) * 1000 AS BIGINT) + 1209600000, CAST(EXTRACT(EPOCH FROM now()) * 1000 AS BIGINT), CAST(EXTRACT(EPOCH FROM now()) * 1000 AS BIGINT) FROM tenants;
