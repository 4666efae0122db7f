// The decide stage as a table: delivery state × endpoint state × attempt result × policy → what gets recorded. Pure, no database, no network.
import { describe, expect, test } from "bun:test";
import { AUTO_DISABLE_AFTER, decideOutcome, type DeliveryState, type EndpointState, type RetryPolicy } from "../src/webhooks/dispatch-decide";
import { MAX_ATTEMPTS, MAX_RETRY_AFTER_MS } from "../src/webhooks/retry-policy";

const NOW = Date.UTC(2026, 0, 1);
const BASE = 30_000;
/** Jitter at its midpoint: delays are exactly base · 4^(n−1). */
const policy: RetryPolicy = { baseMs: BASE, autoDisableAfter: AUTO_DISABLE_AFTER, random: () => 0.5 };

const pending = (attempt_count: number, max_attempts = MAX_ATTEMPTS): DeliveryState => ({ status: "pending", attempt_count, max_attempts });
const active = (consecutive_failures = 0): EndpointState => ({ active: 1, consecutive_failures });
const inactive = (consecutive_failures = 0): EndpointState => ({ active: 0, consecutive_failures });
const status = (statusCode: number, retryAfterMs: number | null = null) => ({ statusCode, error: null, retryAfterMs });
const noResponse = (error: string) => ({ statusCode: null, error, retryAfterMs: null });

type Row = [string, DeliveryState | null, EndpointState | null, ReturnType<typeof status> | ReturnType<typeof noResponse>, ReturnType<typeof decideOutcome>];

const table: Row[] = [
  ["a 2xx succeeds and resets the failure count", pending(0), active(7), status(204), { kind: "succeeded", attempt: 1, failures: 0 }],
  ["a 299 is a success too", pending(2), active(), status(299), { kind: "succeeded", attempt: 3, failures: 0 }],
  [
    "a 2xx for a delivery cancelled while on the wire still counts as delivered",
    { status: "cancelled", attempt_count: 0, max_attempts: 4 },
    inactive(),
    status(200),
    { kind: "succeeded", attempt: 1, failures: 0 },
  ],
  ["a delivery deleted meanwhile records nothing", null, null, status(500), { kind: "gone" }],
  [
    "a failure of a delivery cancelled meanwhile keeps it cancelled",
    { status: "cancelled", attempt_count: 1, max_attempts: 4 },
    inactive(),
    status(500),
    { kind: "give-up", attempt: 2, status: "cancelled", failures: null },
  ],
  ["a 500 on the first attempt retries after the base delay", pending(0), active(), status(500), { kind: "retry", attempt: 1, at: NOW + BASE }],
  ["the second retry waits 4× longer", pending(1), active(), status(503), { kind: "retry", attempt: 2, at: NOW + 4 * BASE }],
  ["the third 16×", pending(2), active(), noResponse("connection refused"), { kind: "retry", attempt: 3, at: NOW + 16 * BASE }],
  ["a 3xx is a failure, retried", pending(0), active(), status(302), { kind: "retry", attempt: 1, at: NOW + BASE }],
  ["a 4xx other than 410 is a failure, retried", pending(0), active(), status(404), { kind: "retry", attempt: 1, at: NOW + BASE }],
  ["a timeout is a failure, retried", pending(0), active(), noResponse("timed out after 10000 ms"), { kind: "retry", attempt: 1, at: NOW + BASE }],
  ["Retry-After longer than the backoff wins", pending(0), active(), status(429, 120_000), { kind: "retry", attempt: 1, at: NOW + 120_000 }],
  [
    "Retry-After shorter than the backoff does not bring the retry forward",
    pending(1),
    active(),
    status(429, 1000),
    { kind: "retry", attempt: 2, at: NOW + 4 * BASE },
  ],
  ["Retry-After is capped at an hour", pending(0), active(), status(503, 86_400_000), { kind: "retry", attempt: 1, at: NOW + MAX_RETRY_AFTER_MS }],
  [
    "410 Gone ends the delivery and disables an active endpoint, without counting a failure",
    pending(0),
    active(3),
    status(410),
    { kind: "disable", attempt: 1, reason: "The endpoint answered 410 Gone.", failures: null },
  ],
  [
    "410 on an endpoint already inactive just ends the delivery",
    pending(0),
    inactive(),
    status(410),
    { kind: "give-up", attempt: 1, status: "failed", failures: null },
  ],
  [
    "the last allowed attempt failing ends the delivery and counts a failed delivery",
    pending(3),
    active(4),
    status(500),
    { kind: "give-up", attempt: 4, status: "failed", failures: 5 },
  ],
  [
    "a manual retry past the budget ends after its one attempt",
    pending(4, 5),
    active(),
    status(500),
    { kind: "give-up", attempt: 5, status: "failed", failures: 1 },
  ],
  [
    "the 20th failed delivery in a row disables the endpoint, naming the last status",
    pending(3),
    active(AUTO_DISABLE_AFTER - 1),
    status(500),
    { kind: "disable", attempt: 4, reason: "The last 20 deliveries failed after every retry (last: HTTP 500).", failures: 20 },
  ],
  [
    "…or the last error when there was no response",
    pending(3),
    active(AUTO_DISABLE_AFTER - 1),
    noResponse("connection refused"),
    { kind: "disable", attempt: 4, reason: "The last 20 deliveries failed after every retry (last: connection refused).", failures: 20 },
  ],
  ["the 19th does not", pending(3), active(AUTO_DISABLE_AFTER - 2), status(500), { kind: "give-up", attempt: 4, status: "failed", failures: 19 }],
  [
    "an endpoint already disabled is not disabled again, but the count goes on",
    pending(3),
    inactive(AUTO_DISABLE_AFTER),
    status(500),
    { kind: "give-up", attempt: 4, status: "failed", failures: 21 },
  ],
  ["an endpoint gone meanwhile: the delivery just ends", pending(3), null, status(500), { kind: "give-up", attempt: 4, status: "failed", failures: null }],
];

describe("decideOutcome", () => {
  test.each(table)("%s", (_what, delivery, endpoint, result, expected) => {
    expect(decideOutcome(delivery, endpoint, result, NOW, policy)).toEqual(expected);
  });

  test("jitter spreads a retry ±20 % and never sooner than the receiver asked", () => {
    const at = (random: number, retryAfterMs: number | null = null) =>
      (decideOutcome(pending(0), active(), status(500, retryAfterMs), NOW, { ...policy, random: () => random }) as { at: number }).at - NOW;
    expect(at(0)).toBe(BASE * 0.8);
    expect(at(1)).toBe(BASE * 1.2);
    expect(at(0, BASE)).toBe(BASE);
  });

  test("it is a function of its inputs: the same inputs give the same decision", () => {
    const args = [pending(1), active(2), status(503, 5000), NOW, policy] as const;
    expect(decideOutcome(...args)).toEqual(decideOutcome(...args));
  });
});
