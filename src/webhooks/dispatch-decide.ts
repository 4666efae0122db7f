// Dispatch stage 3, decide: what an attempt's result means for its delivery and endpoint. Pure: no I/O, no clock, no randomness of its own.
import type { DeliveryStatus } from "../db/schema/webhooks";
import { retryDelay } from "./retry-policy";
import { isSuccess, type AttemptResult } from "./transport";

/** An endpoint whose last this-many deliveries all ended failed is disabled. */
export const AUTO_DISABLE_AFTER = 20;

export interface RetryPolicy {
  /** The first retry waits about this long (webhookRetryBaseMs); see retry-policy.ts for the arithmetic. */
  baseMs: number;
  /** Consecutive failed deliveries that disable the endpoint. */
  autoDisableAfter: number;
  /** Jitter source in [0, 1); fixing it makes every delay exact. */
  random: () => number;
}

/** The delivery as it is in the database when the outcome is recorded (it may have changed while on the wire). */
export interface DeliveryState {
  status: DeliveryStatus;
  attempt_count: number;
  max_attempts: number;
}

export interface EndpointState {
  active: number;
  consecutive_failures: number;
}

/**
 * What to record. Every kind but "gone" records the attempt and counts it (`attempt` is its 1-based number).
 * `failures` is the endpoint's new consecutive-failure count, or null to leave it as it is.
 */
export type Decision =
  /** The delivery was deleted with its endpoint while on the wire: nothing to record. */
  | { kind: "gone" }
  /** The attempt's claim was lost (its lease ran out and another instance claimed the delivery): logged, nothing else (dispatch-record.ts). */
  | { kind: "superseded" }
  | { kind: "succeeded"; attempt: number; failures: 0 }
  | { kind: "retry"; attempt: number; at: number }
  /** The delivery ends with `status` (failed; or the status it was given while on the wire, e.g. cancelled by a disable). */
  | { kind: "give-up"; attempt: number; status: Exclude<DeliveryStatus, "pending">; failures: number | null }
  /** The delivery ends failed and the endpoint is disabled (410 Gone, or too many failed deliveries in a row). */
  | { kind: "disable"; attempt: number; reason: string; failures: number | null };

/**
 * Decides the outcome of one attempt completed at `now`. In order: a 2xx succeeds (even if the endpoint
 * was disabled meanwhile: the receiver has it); a delivery no longer pending keeps its status; 410 Gone
 * ends it and disables the endpoint; the last allowed attempt ends it and counts a failed delivery
 * (the endpoint is disabled at `autoDisableAfter` in a row); anything else (5xx, 4xx, 3xx, timeout,
 * refused) retries after the backoff, or after Retry-After when that is longer (capped at an hour).
 */
export function decideOutcome(
  delivery: DeliveryState | null,
  endpoint: EndpointState | null,
  result: Pick<AttemptResult, "statusCode" | "error" | "retryAfterMs">,
  now: number,
  policy: RetryPolicy,
): Decision {
  if (!delivery) return { kind: "gone" };
  const attempt = delivery.attempt_count + 1;
  if (isSuccess(result.statusCode)) return { kind: "succeeded", attempt, failures: 0 };
  if (delivery.status !== "pending") return { kind: "give-up", attempt, status: delivery.status, failures: null };
  if (result.statusCode === 410) {
    if (endpoint?.active === 1) return { kind: "disable", attempt, reason: "The endpoint answered 410 Gone.", failures: null };
    return { kind: "give-up", attempt, status: "failed", failures: null };
  }
  if (attempt >= delivery.max_attempts) {
    if (!endpoint) return { kind: "give-up", attempt, status: "failed", failures: null };
    const failures = endpoint.consecutive_failures + 1;
    if (failures >= policy.autoDisableAfter && endpoint.active === 1) {
      const last = result.statusCode !== null ? `HTTP ${result.statusCode}` : (result.error ?? "no response");
      return { kind: "disable", attempt, reason: `The last ${failures} deliveries failed after every retry (last: ${last}).`, failures };
    }
    return { kind: "give-up", attempt, status: "failed", failures };
  }
  return { kind: "retry", attempt, at: now + retryDelay(policy.baseMs, attempt, result.retryAfterMs, policy.random) };
}
