-- Invoices, payments with proof, and metered usage.

-- When the paid period began (with period_end, what a plan change pro-rates).
ALTER TABLE subscriptions ADD COLUMN period_start BIGINT;

-- Invoice numbers are sequential across the platform with no gaps: the next one is
-- taken from this single row in the transaction that writes the invoice, so a
-- rolled-back invoice gives its number back.
CREATE TABLE invoice_numbers (
    id          INTEGER PRIMARY KEY,
    next_number BIGINT NOT NULL
);
INSERT INTO invoice_numbers (id, next_number) VALUES (1, 1);

--   open  issued, awaiting payment;
--   paid  an approved payment settled it;
--   void  replaced (a plan change during a trial) or cancelled by an admin.
CREATE TABLE invoices (
    tenant_id      TEXT NOT NULL,
    id             TEXT NOT NULL,
    number         BIGINT NOT NULL UNIQUE,
    -- 'period' (a period's plan price) or 'plan_change' (the pro-rated difference).
    kind           TEXT NOT NULL,
    plan_key       TEXT NOT NULL,
    state          TEXT NOT NULL,
    currency       TEXT NOT NULL,
    period_start   BIGINT NOT NULL,
    period_end     BIGINT NOT NULL,
    -- A JSON array of {description, amount_minor}.
    lines          TEXT NOT NULL,
    subtotal_minor BIGINT NOT NULL,
    -- Basis points: 1 000 is 10 %.
    tax_rate_bps   BIGINT NOT NULL,
    tax_minor      BIGINT NOT NULL,
    total_minor    BIGINT NOT NULL,
    issued_at      BIGINT NOT NULL,
    due_at         BIGINT NOT NULL,
    paid_at        BIGINT,
    voided_at      BIGINT,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX invoices_id ON invoices (id);
CREATE INDEX invoices_state ON invoices (state, due_at);

--   pending_verification  submitted with its proof, awaiting a platform admin;
--   completed             approved: the invoice is paid;
--   failed                rejected, with the reason.
CREATE TABLE payments (
    tenant_id     TEXT NOT NULL,
    id            TEXT NOT NULL,
    invoice_id    TEXT NOT NULL,
    amount_minor  BIGINT NOT NULL,
    currency      TEXT NOT NULL,
    method        TEXT NOT NULL,
    reference     TEXT,
    status        TEXT NOT NULL,
    proof_name    TEXT NOT NULL,
    proof_type    TEXT NOT NULL,
    proof_size    BIGINT NOT NULL,
    proof_sha256  TEXT NOT NULL,
    proof         BYTEA NOT NULL,
    submitted_by  TEXT NOT NULL,
    submitted_at  BIGINT NOT NULL,
    reviewed_by   TEXT,
    reviewed_at   BIGINT,
    reason        TEXT,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX payments_id ON payments (id);
CREATE INDEX payments_status ON payments (status, submitted_at);
-- One payment at a time awaits verification per invoice.
CREATE UNIQUE INDEX payments_one_pending ON payments (invoice_id) WHERE status = 'pending_verification';

-- Usage that modules meter (`billing.record-usage`), per tenant, month (in the
-- tenant's zone, `YYYY-MM`), metric and module; written in the module's unit of work.
CREATE TABLE usage (
    tenant_id TEXT NOT NULL,
    period    TEXT NOT NULL,
    metric    TEXT NOT NULL,
    module    TEXT NOT NULL,
    amount    BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, period, metric, module)
);
