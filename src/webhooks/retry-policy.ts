// When a failed delivery is tried again: exponential backoff with jitter, Retry-After, and the attempt budget.

/** The first attempt plus 3 retries, as the reference says. */
export const MAX_ATTEMPTS = 4;
/** Each retry waits this many times longer than the one before: 30 s, 2 min, 8 min with the default base. */
export const BACKOFF_FACTOR = 4;
/** ±20 %: spreads retries of a burst so a recovering endpoint is not hit all at once. */
export const JITTER = 0.2;
/** The longest Retry-After honoured; a larger value is clamped to this. */
export const MAX_RETRY_AFTER_MS = 60 * 60 * 1000;

/**
 * Delay before the retry that follows failed attempt number `failedAttempt` (1-based):
 * base · 4^(n−1) · (1 ± 20 %). With jitter this small each delay still exceeds the one before.
 */
export function backoffDelay(baseMs: number, failedAttempt: number, random: () => number = Math.random): number {
  const nominal = baseMs * BACKOFF_FACTOR ** Math.max(0, failedAttempt - 1);
  return Math.round(nominal * (1 + JITTER * (2 * random() - 1)));
}

/**
 * Retry-After (delta-seconds or an HTTP date) in ms from `now`; null when absent or unreadable.
 */
export function parseRetryAfter(value: string | undefined | null, now: number): number | null {
  if (!value) return null;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}

/**
 * The delay actually used: never sooner than our backoff, never sooner than the receiver asked
 * (429/503 Retry-After), and never longer than an hour whatever it asked.
 */
export function retryDelay(baseMs: number, failedAttempt: number, retryAfterMs: number | null, random: () => number = Math.random): number {
  const backoff = backoffDelay(baseMs, failedAttempt, random);
  if (retryAfterMs === null) return backoff;
  return Math.max(backoff, Math.min(retryAfterMs, MAX_RETRY_AFTER_MS));
}
