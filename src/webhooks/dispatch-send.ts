// Dispatch stage 2, send: one signed attempt of a claimed delivery over the transport. Never rejects: every failure is an AttemptResult.
import { deliveryHeaders, liveSecrets } from "./signing";
import type { DueDelivery } from "./store";
import { sendAttempt, type AttemptResult, type TransportOptions } from "./transport";

/**
 * Signs the delivery for `attemptedAt` (with both secrets during a rotation's overlap) and POSTs it once.
 * The transport does not reject; the catch here is the belt to its braces, so a slot always comes back.
 */
export async function sendDelivery(row: DueDelivery, attemptedAt: number, transport: TransportOptions): Promise<AttemptResult> {
  try {
    const headers = deliveryHeaders({
      deliveryId: row.id,
      timestampSeconds: Math.floor(attemptedAt / 1000),
      body: row.payload,
      secrets: liveSecrets(row, attemptedAt),
    });
    return await sendAttempt({ url: row.url, body: row.payload, headers }, transport);
  } catch (err) {
    return {
      statusCode: null,
      error: `could not send: ${err instanceof Error ? err.message : String(err)}`,
      responseBody: null,
      durationMs: 0,
      retryAfterMs: null,
      aborted: false,
    };
  }
}
