// In-memory token buckets keyed by a string (an API key id, a client address): the rate-limit arithmetic.
import type { Clock } from "../lib/clock";

export interface BucketState {
  allowed: boolean;
  /** Bucket capacity: the most requests that can be made at once. */
  limit: number;
  remaining: number;
  /** Seconds until the bucket is full again. */
  resetSeconds: number;
  /** Seconds until one more request is allowed (0 when allowed). */
  retryAfterSeconds: number;
}

/** The parameters every bucket of one limiter shares. */
export interface BucketShape {
  /** Tokens added per millisecond. */
  ratePerMs: number;
  /** The most tokens a bucket holds (at least 1). */
  capacity: number;
}

export function bucketShape(perMinute: number, burst: number): BucketShape {
  return { ratePerMs: perMinute / 60_000, capacity: Math.max(1, burst) };
}

/**
 * What a request is told, from the tokens its bucket holds after the take: the one arithmetic of the headers, for the
 * in-memory buckets and the shared ones alike (so both give the same numbers for the same history).
 */
export function bucketState({ ratePerMs, capacity }: BucketShape, tokens: number, allowed: boolean): BucketState {
  return {
    allowed,
    limit: capacity,
    remaining: Math.max(0, Math.floor(tokens)),
    resetSeconds: Math.ceil((capacity - tokens) / ratePerMs / 1000),
    retryAfterSeconds: allowed ? 0 : Math.max(1, Math.ceil((1 - tokens) / ratePerMs / 1000)),
  };
}

/**
 * A token bucket per key: `perMinute` tokens refill evenly, up to `burst`. Memory stays bounded: when the map
 * grows past `maxKeys`, buckets that have refilled completely (they carry no information) are dropped.
 */
export function createTokenBuckets(opts: { perMinute: number; burst: number; clock: Clock; maxKeys?: number }) {
  const shape = bucketShape(opts.perMinute, opts.burst);
  const { ratePerMs, capacity } = shape;
  const maxKeys = opts.maxKeys ?? 100_000;
  const buckets = new Map<string, { tokens: number; at: number }>();

  function refill(key: string, now: number) {
    const b = buckets.get(key);
    if (!b) return { tokens: capacity, at: now };
    return { tokens: Math.min(capacity, b.tokens + (now - b.at) * ratePerMs), at: now };
  }

  function prune(now: number) {
    for (const [key, b] of buckets) {
      if (Math.min(capacity, b.tokens + (now - b.at) * ratePerMs) >= capacity) buckets.delete(key);
    }
  }

  return {
    /** Takes one token for `key` if there is one. */
    take(key: string): BucketState {
      const now = opts.clock.now();
      const b = refill(key, now);
      const allowed = b.tokens >= 1;
      if (allowed) b.tokens -= 1;
      if (!buckets.has(key) && buckets.size >= maxKeys) prune(now);
      buckets.set(key, b);
      return bucketState(shape, b.tokens, allowed);
    },
    /** True when `key` has no token left, without taking one. */
    exhausted(key: string): boolean {
      return refill(key, opts.clock.now()).tokens < 1;
    },
    size: () => buckets.size,
  };
}

export type TokenBuckets = ReturnType<typeof createTokenBuckets>;
