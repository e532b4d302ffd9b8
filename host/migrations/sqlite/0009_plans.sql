-- Billing plans: what a tenant pays, per period, for which modules, within which
-- limits (NULL: no limit). A retired plan keeps its subscribers and takes no new ones.
CREATE TABLE plans (
    plan_key                TEXT PRIMARY KEY,
    name                    TEXT NOT NULL,
    -- In the currency's minor units (cents), ISO 4217 currency code.
    price_minor             INTEGER NOT NULL,
    currency                TEXT NOT NULL,
    -- 'month' or 'year'.
    period                  TEXT NOT NULL,
    -- A JSON array of module keys; core modules come with every plan.
    modules                 TEXT NOT NULL,
    max_employees           INTEGER,
    max_storage_bytes       INTEGER,
    max_requests_per_second INTEGER,
    max_users               INTEGER,
    sort_order              INTEGER NOT NULL,
    retired_at              INTEGER,
    created_at              INTEGER NOT NULL,
    updated_at              INTEGER NOT NULL
);

-- The three plans a new platform starts with; platform admins edit them freely.
INSERT INTO plans (plan_key, name, price_minor, currency, period, modules, max_employees,
                   max_storage_bytes, max_requests_per_second, max_users, sort_order,
                   created_at, updated_at)
VALUES
    ('starter', 'Starter', 2900, 'USD', 'month', '["attendance"]',
     25, 1073741824, 20, 10, 10, 0, 0),
    ('business', 'Business', 9900, 'USD', 'month',
     '["attendance","tasks","wallet","shifts","complaints"]',
     250, 10737418240, 100, 100, 20, 0, 0),
    ('enterprise', 'Enterprise', 49900, 'USD', 'month',
     '["attendance","tasks","wallet","shifts","complaints","reports"]',
     NULL, 107374182400, 500, NULL, 30, 0, 0);
