// Dispatch stage 4, record: writes each attempt and what was decided about it (delivery status, endpoint failure count, disable), and logs it.
import type { Logger } from "../lib/log";
import { toIso } from "../lib/time";
import { decideOutcome, type Decision, type RetryPolicy } from "./dispatch-decide";
import type { DueDelivery, WebhookStore } from "./store";
import { isSuccess, type AttemptResult } from "./transport";

/** An attempt that came back (not cut off by shutdown), waiting to be recorded. */
export interface Finished {
  row: DueDelivery;
  /**
   * The claim the attempt was made under (this instance's lease: `claimed_by`, `claimed_until` as claimDue set them).
   * Absent only where a caller records an attempt nobody claimed (tests of the record stage).
   */
  claim?: { by: string; until: number };
  attemptedAt: number;
  completedAt: number;
  result: AttemptResult;
}

type RecordStore = Pick<WebhookStore, "deliveryState" | "webhook" | "insertAttempt" | "finishAttempt" | "setConsecutiveFailures" | "disableWebhook">;

/**
 * Records one finished attempt: reads the delivery and its endpoint as they are now (either may have
 * changed while it was on the wire), decides, and writes the attempt and the decision. `store` is the unit's
 * (the outcome's one unit of the writer).
 *
 * An attempt whose claim is no longer the delivery's (its lease ran out and another instance claimed the delivery
 * since, whether that attempt is still on the wire or already recorded) is superseded: it is written to the attempts
 * log (the receiver may have got it) and changes nothing else — not the delivery's status, attempt count or next
 * due time, not the endpoint's failure count — so it never clobbers the newer attempt, whose own outcome decides.
 */
export async function recordOutcome(store: RecordStore, f: Finished, policy: RetryPolicy): Promise<Decision> {
  const { row, result } = f;
  const now = f.completedAt;
  const delivery = await store.deliveryState(row.id, row.org_id);
  if (delivery && f.claim && (delivery.claimed_by !== f.claim.by || delivery.claimed_until !== f.claim.until)) {
    await store.insertAttempt(attemptOf(f));
    return { kind: "superseded" };
  }
  // The endpoint matters only to a failed attempt of a pending delivery; a success costs no extra query.
  const endpoint = delivery?.status === "pending" && !isSuccess(result.statusCode) ? await store.webhook(row.webhook_id, row.org_id) : null;
  const decision = decideOutcome(delivery, endpoint, result, now, policy);
  if (decision.kind === "gone") return decision;
  await store.insertAttempt(attemptOf(f));
  switch (decision.kind) {
    case "succeeded":
      await store.finishAttempt(row.id, row.org_id, "succeeded", decision.attempt, null, now);
      break;
    case "retry":
      await store.finishAttempt(row.id, row.org_id, "pending", decision.attempt, decision.at, now);
      break;
    case "give-up":
      await store.finishAttempt(row.id, row.org_id, decision.status, decision.attempt, null, now);
      break;
    case "disable":
      await store.finishAttempt(row.id, row.org_id, "failed", decision.attempt, null, now);
      await store.disableWebhook(row.webhook_id, row.org_id, decision.reason, now);
      break;
  }
  if ("failures" in decision && decision.failures !== null) await store.setConsecutiveFailures(row.webhook_id, row.org_id, decision.failures);
  return decision;
}

function attemptOf(f: Finished) {
  return {
    delivery_id: f.row.id,
    attempted_at: f.attemptedAt,
    status_code: f.result.statusCode,
    error: f.result.error,
    duration_ms: f.result.durationMs,
    response_body: f.result.responseBody,
  };
}

/** When the delivery is due again (a retry), or null. */
export function nextAttemptOf(d: Decision): number | null {
  return d.kind === "retry" ? d.at : null;
}

/** One log line per attempt: debug when delivered (or gone), warn otherwise (superseded too); and a warning when the endpoint got disabled. */
export function logOutcome(log: Logger, f: Finished, d: Decision): void {
  const outcome =
    d.kind === "gone"
      ? "deleted"
      : d.kind === "superseded"
        ? "superseded"
        : d.kind === "retry"
          ? "retrying"
          : d.kind === "give-up"
            ? d.status === "failed"
              ? "failed"
              : "cancelled"
            : d.kind === "disable"
              ? "failed"
              : "succeeded";
  const fields = {
    delivery_id: f.row.id,
    webhook_id: f.row.webhook_id,
    attempt: d.kind === "gone" || d.kind === "superseded" ? 0 : d.attempt,
    outcome,
    status_code: f.result.statusCode,
    error: f.result.error,
    duration_ms: f.result.durationMs,
    next_attempt_at: d.kind === "retry" ? toIso(d.at) : null,
  };
  if (outcome === "succeeded" || outcome === "deleted") log.debug("webhook attempt", fields);
  else if (outcome === "superseded") log.warn("webhook attempt outlived its claim; another instance's attempt decides the delivery", fields);
  else log.warn("webhook attempt failed", fields);
  if (d.kind === "disable") log.warn("webhook disabled", { webhook_id: f.row.webhook_id, reason: d.reason });
}
