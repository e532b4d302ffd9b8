-- Event delivery. An emitted event gets one delivery row per subscriber enabled for
-- its tenant at that moment, written in the emitter's unit of work. A delivery row
-- is removed in the subscriber's unit of work that handled the event, so a crash
-- between the two redelivers rather than loses. A row that failed its last allowed
-- attempt is a dead letter (`state = 'dead'`) until an admin replays it.

CREATE TABLE event_deliveries (
    tenant_id       TEXT NOT NULL,
    subscriber      TEXT NOT NULL,
    event_seq       INTEGER NOT NULL,
    source          TEXT NOT NULL,
    state           TEXT NOT NULL DEFAULT 'pending',
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error      TEXT,
    PRIMARY KEY (tenant_id, subscriber, event_seq)
);
-- The head of each (subscriber, source) stream: deliveries run in order per source.
CREATE INDEX event_deliveries_stream ON event_deliveries (tenant_id, subscriber, source, event_seq);
-- Deliveries due, across tenants.
CREATE INDEX event_deliveries_due ON event_deliveries (state, next_attempt_at);
-- Delivered events past their retention are pruned.
CREATE INDEX event_outbox_delivered ON event_outbox (delivered_at);
