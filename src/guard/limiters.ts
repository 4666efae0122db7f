// Which token buckets the auth plugin takes from: per API key and per failing address, in memory or shared through PostgreSQL (--rate-limit-scope).
import type { Config } from "../config";
import type { Clock } from "../lib/clock";
import type { DatabaseRef } from "../db/database-ref";
import { createTokenBuckets, type BucketState } from "./token-bucket";
import { postgresTokenBuckets } from "./token-bucket-postgres";

/** A limiter: in memory its take is synchronous; shared, it is a database round trip. */
export type Limiter = { shared: false; take(key: string): BucketState } | { shared: true; take(key: string): Promise<BucketState> };

export interface Limiters {
  /** Each API key's bucket (RateLimit-* headers, 429); null when limiting is off. */
  perKey: Limiter | null;
  /** Failed authentications per client address; null when off. */
  failures: Limiter | null;
}

/**
 * The buckets for one app. In memory (this process alone) on SQLite — one instance by construction — and on
 * PostgreSQL with `--rate-limit-scope instance`, the default (the limits are then per instance); shared by every
 * instance on the database with `cluster`, at the price of a statement per request (measured: bench/rate-limit-postgres.ts).
 */
export function createLimiters(opts: { config: Config; clock: Clock; database?: DatabaseRef }): Limiters {
  const { config, clock, database } = opts;
  const sql = database?.kind === "postgres" && config.rateLimitScope === "cluster" ? database.sql : null;
  const limiter = (name: string, perMinute: number, burst: number): Limiter =>
    sql
      ? { shared: true, take: postgresTokenBuckets({ sql, name, perMinute, burst, clock }).take }
      : { shared: false, take: createTokenBuckets({ perMinute, burst, clock }).take };
  return {
    perKey: config.rateLimitPerMinute > 0 && config.rateLimitBurst > 0 ? limiter("key", config.rateLimitPerMinute, config.rateLimitBurst) : null,
    failures: config.authFailuresPerMinute > 0 ? limiter("addr", config.authFailuresPerMinute, config.authFailuresPerMinute) : null,
  };
}
