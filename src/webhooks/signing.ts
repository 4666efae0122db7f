// Standard Webhooks signing: endpoint secrets (`whsec_…`) and the webhook-id/-timestamp/-signature headers of a delivery.
import { createHmac, randomBytes } from "node:crypto";
import { VERSION } from "../version";

export const SECRET_PREFIX = "whsec_";
/** 32 random bytes: inside the 24–64 bytes Standard Webhooks recommends. */
const SECRET_BYTES = 32;

export const USER_AGENT = `ClientCove-Webhooks/${VERSION}`;

/** A new endpoint secret: `whsec_` + base64 of 32 random bytes. */
export function generateSecret(): string {
  return SECRET_PREFIX + randomBytes(SECRET_BYTES).toString("base64");
}

function secretKey(secret: string): Buffer {
  return Buffer.from(secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret, "base64");
}

/** `v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">`, keyed with the base64-decoded secret. */
export function signPayload(secret: string, messageId: string, timestampSeconds: number, body: string): string {
  const mac = createHmac("sha256", secretKey(secret)).update(`${messageId}.${timestampSeconds}.${body}`).digest("base64");
  return `v1,${mac}`;
}

/**
 * The headers of one attempt. `secrets` lists every live secret, newest first: during a rotation the
 * signature header carries one `v1,` entry per secret, space-separated, and a receiver accepts any.
 */
export function deliveryHeaders(opts: { deliveryId: string; timestampSeconds: number; body: string; secrets: string[] }): Record<string, string> {
  return {
    "content-type": "application/json",
    "user-agent": USER_AGENT,
    "webhook-id": opts.deliveryId,
    "webhook-timestamp": String(opts.timestampSeconds),
    "webhook-signature": opts.secrets.map((s) => signPayload(s, opts.deliveryId, opts.timestampSeconds, opts.body)).join(" "),
  };
}

/** The secrets that sign now: the current one, and the previous one until its overlap ends. */
export function liveSecrets(w: { secret: string; previous_secret: string | null; previous_secret_expires_at: number | null }, now: number): string[] {
  return w.previous_secret && w.previous_secret_expires_at !== null && w.previous_secret_expires_at > now ? [w.secret, w.previous_secret] : [w.secret];
}
