-- Webhook delivery claims as leases, so several instances on one database never attempt one delivery at once: the
-- instance whose attempt is on the wire, and until when (ms) no other instance may attempt the delivery. PostgreSQL
-- only: SQLite has one process per data dir, which keeps its leases in memory (src/webhooks/store.ts).
ALTER TABLE webhook_deliveries ADD COLUMN claimed_by text COLLATE "C";
ALTER TABLE webhook_deliveries ADD COLUMN claimed_until bigint;
-- Live claims per endpoint (the per-endpoint limit across instances counts them); claims are short-lived, so it stays small.
CREATE INDEX deliveries_webhook_claimed ON webhook_deliveries (webhook_id, claimed_until) WHERE claimed_by IS NOT NULL;
