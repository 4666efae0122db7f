-- ticket_counts in shards, PostgreSQL only: each (org, status, priority) count may be split over several rows, one per
-- shard, and a count is the SUM of its shards. A unit bumps one shard (chosen at random per unit, 0–15), so concurrent
-- creates in one organization no longer queue behind one row's lock, held until each COMMIT: one row measured
-- ~470 creates/s with 16 writers, 16 shards ~1,800, no count at all ~2,000 (bench/pg-write-limits.ts). SQLite has
-- one writer and keeps one row. Rows written without a shard (a copy from SQLite, the existing rows) are shard 0.
ALTER TABLE ticket_counts ADD COLUMN shard bigint DEFAULT 0 NOT NULL;
ALTER TABLE ticket_counts DROP CONSTRAINT ticket_counts_pkey;
ALTER TABLE ticket_counts ADD PRIMARY KEY (org_id, status, priority, shard);
