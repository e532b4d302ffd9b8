-- Usage that modules meter (`billing.record-usage`), per tenant, month (in the
-- tenant's zone, `YYYY-MM`), metric and module; written in the module's unit of work.
CREATE TABLE usage (
    tenant_id TEXT NOT NULL,
    period    TEXT NOT NULL,
    metric    TEXT NOT NULL,
    module    TEXT NOT NULL,
    amount    INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, period, metric, module)
);
