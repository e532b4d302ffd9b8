-- Invoices, payments with proof, and metered usage.

-- When the paid period began (with period_end, what a plan change pro-rates).
ALTER TABLE subscriptions ADD COLUMN period_start INTEGER;

-- Invoice numbers are sequential across the platform with no gaps: the next one is
-- taken from this single row in the transaction that writes the invoice, so a
-- rolled-back invoice gives its number back.
CREATE TABLE invoice_numbers (
    id          INTEGER PRIMARY KEY,
    next_number INTEGER NOT NULL
);
INSERT INTO invoice_numbers (id, next_number) VALUES (1, 1);

--   open  issued, awaiting payment;
--   paid  an approved payment settled it;
--   void  replaced (a plan change during a trial) or cancelled by an admin.
CREATE TABLE invoices (
    tenant_id      TEXT NOT NULL,
    id             TEXT NOT NULL,
    number         INTEGER NOT NULL UNIQUE,
    -- 'period' (a period's plan price) or 'plan_change' (the pro-rated difference).
    kind           TEXT NOT NULL,
    plan_key       TEXT NOT NULL,
    state          TEXT NOT NULL,
    currency       TEXT NOT NULL,
    period_start   INTEGER NOT NULL,
    period_end     INTEGER NOT NULL,
    -- A JSON array of {description, amount_minor}.
    lines          TEXT NOT NULL,
    subtotal_minor INTEGER NOT NULL,
    -- Basis points: 1 000 is 10 %.
    tax_rate_bps   INTEGER NOT NULL,
    tax_minor      INTEGER NOT NULL,
    total_minor    INTEGER NOT NULL,
    issued_at      INTEGER NOT NULL,
    due_at         INTEGER NOT NULL,
    paid_at        INTEGER,
    voided_at      INTEGER,
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
    amount_minor  INTEGER NOT NULL,
    currency      TEXT NOT NULL,
    method        TEXT NOT NULL,
    reference     TEXT,
    status        TEXT NOT NULL,
    proof_name    TEXT NOT NULL,
    proof_type    TEXT NOT NULL,
    proof_size    INTEGER NOT NULL,
    proof_sha256  TEXT NOT NULL,
    proof         BLOB NOT NULL,
    submitted_by  TEXT NOT NULL,
    submitted_at  INTEGER NOT NULL,
    reviewed_by   TEXT,
    reviewed_at   INTEGER,
    reason        TEXT,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX payments_id ON payments (id);
CREATE INDEX payments_status ON payments (status, submitted_at);
-- One payment at a time awaits verification per invoice.
CREATE UNIQUE INDEX payments_one_pending ON payments (invoice_id) WHERE status = 'pending_verification';

-- Usage that modules meter (`billing.record-usage`), per tenant, month (in the
-- tenant's zone, `YYYY-MM`), metric and module; written in the module's unit of work.
-- Kept with the module data: in each tenant's own file (sqlite-tenant/0004), and
-- here only for a database whose module data shares its file (an in-memory one).
CREATE TABLE usage (
    tenant_id TEXT NOT NULL,
    period    TEXT NOT NULL,
    metric    TEXT NOT NULL,
    module    TEXT NOT NULL,
    amount    INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, period, metric, module)
);
