-- What several instances on one database share beyond the data (PostgreSQL only; SQLite is one instance by construction).
-- Each running instance's heartbeat: a row written at start, refreshed every few seconds, removed at a clean stop.
-- An instance whose heartbeat is older than a bound is taken for dead (times in ms, from the instances' clocks).
CREATE TABLE instances (
  id text COLLATE "C" PRIMARY KEY,
  started_at bigint NOT NULL,
  heartbeat_at bigint NOT NULL
);
-- The instance whose request holds an idempotency claim (NULL: claimed by an app without a heartbeat). A claim of a
-- dead instance that was never answered is released: a retry of it runs instead of waiting an hour.
ALTER TABLE idempotency_keys ADD COLUMN owner text COLLATE "C";
-- Rate-limit token buckets every instance takes from (one row per limiter and key): the tokens left at `at` (ms), and
-- how many the last take got. UNLOGGED: no WAL and no fsync per take; a database crash empties the table, and every
-- bucket starts full again, which is acceptable for a limiter. Only the primary key is indexed, so a take updates its
-- row in place (a HOT update: the fillfactor leaves it room).
CREATE UNLOGGED TABLE rate_limits (
  bucket text COLLATE "C" PRIMARY KEY,
  tokens double precision NOT NULL,
  at bigint NOT NULL,
  taken integer NOT NULL
) WITH (fillfactor = 50);
