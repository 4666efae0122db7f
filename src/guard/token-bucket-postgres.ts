// Token buckets shared by every instance on one PostgreSQL database: the in-memory arithmetic, done by one UPSERT per take on an UNLOGGED table.
import type { Sql } from "postgres";
import type { Clock } from "../lib/clock";
import { type BucketState, bucketShape, bucketState } from "./token-bucket";

/** How often an instance drops the rows of buckets that have refilled completely (they carry no information). */
const PRUNE_INTERVAL_MS = 60_000;

/**
 * A token bucket per key in `rate_limits` (migration 0004), so the same key hitting any instance spends one budget.
 * A take is one statement, atomic however many instances take at once (the row's lock orders them): refill by the
 * time since the row's last take, take what there is, return what is left — the arithmetic of ./token-bucket.ts, in
 * the same double precision, so one instance gives exactly the numbers of the in-memory buckets.
 * Takes of one key are grouped: while one statement for the key is on its way, the takes arriving meanwhile wait and
 * go together in the next one ("take n": the first ones get the tokens, in arrival order, as n takes in a row would),
 * so a busy key costs one statement per round trip, not one per request, and one row lock per instance at a time.
 * `name` keeps limiters apart in the table ("key", "addr"). Times are the instances' clocks (kept in step by NTP): a
 * take by a clock behind the row's refills nothing and never moves the row back.
 * The table is UNLOGGED: no WAL, no fsync per take; a database crash empties it, and every bucket starts full again.
 */
export function postgresTokenBuckets(opts: { sql: Sql; name: string; perMinute: number; burst: number; clock: Clock }) {
  const { sql, clock } = opts;
  const shape = bucketShape(opts.perMinute, opts.burst);
  const { ratePerMs, capacity } = shape;
  /** A bucket untouched for this long is full, whatever it held. */
  const refillMs = Math.ceil(capacity / ratePerMs);
  const prefix = `${opts.name}:`;
  let lastPrune = 0;
  type Waiter = { resolve(s: BucketState): void; reject(err: unknown): void };
  /** Per key: the takes waiting for the next statement (only while one is on its way), and the keys with one on its way. */
  const waiting = new Map<string, Waiter[]>();
  const sending = new Set<string>();

  async function prune(now: number): Promise<void> {
    // Escaped for LIKE; a name has no % or _ of its own, but the pattern must say so.
    const pattern = `${prefix.replace(/[\\%_]/g, "\\$&")}%`;
    await sql`DELETE FROM rate_limits WHERE bucket LIKE ${pattern} AND at < ${now - refillMs}`;
  }

  /** Takes `n` tokens at once (as many as there are, up to n); `taken` of them were there. */
  async function takeMany(key: string, n: number, now: number): Promise<{ tokens: number; taken: number }> {
    const [row] = await sql<{ tokens: number; taken: number }[]>`
      INSERT INTO rate_limits AS b (bucket, tokens, at, taken)
        VALUES (${prefix + key}, ${capacity - Math.min(n, capacity)}::float8, ${now}, ${Math.min(n, capacity)})
      ON CONFLICT (bucket) DO UPDATE SET
        tokens = least(${capacity}::float8, b.tokens + greatest(0, ${now}::bigint - b.at) * ${ratePerMs}::float8)
          - least(${n}, floor(least(${capacity}::float8, b.tokens + greatest(0, ${now}::bigint - b.at) * ${ratePerMs}::float8))),
        taken = least(${n}, floor(least(${capacity}::float8, b.tokens + greatest(0, ${now}::bigint - b.at) * ${ratePerMs}::float8))),
        at = greatest(b.at, ${now}::bigint)
      RETURNING tokens, taken`;
    return row!;
  }

  /** Sends the takes waiting for `key` as one statement; then the next group, if more arrived meanwhile. */
  async function send(key: string): Promise<void> {
    const group = waiting.get(key);
    if (!group) return;
    waiting.delete(key);
    sending.add(key);
    try {
      const { tokens, taken } = await takeMany(key, group.length, clock.now());
      // The refilled tokens before the group; the i-th take leaves `before - (i + 1)` if it got one.
      const before = tokens + taken;
      group.forEach((w, i) => w.resolve(bucketState(shape, i < taken ? before - (i + 1) : tokens, i < taken)));
    } catch (err) {
      for (const w of group) w.reject(err);
    } finally {
      sending.delete(key);
      if (waiting.has(key)) void send(key);
    }
  }

  return {
    /** Takes one token for `key` if there is one; the state is the bucket's across every instance. */
    take(key: string): Promise<BucketState> {
      const now = clock.now();
      if (now - lastPrune > PRUNE_INTERVAL_MS) {
        lastPrune = now;
        prune(now).catch(() => {}); // housekeeping: the next prune retries
      }
      return new Promise<BucketState>((resolve, reject) => {
        const group = waiting.get(key);
        if (group) group.push({ resolve, reject });
        else waiting.set(key, [{ resolve, reject }]);
        if (!sending.has(key)) void send(key);
      });
    },
  };
}
