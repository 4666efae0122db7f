// Idempotency keys: the one rule that decides replay / conflict / in progress / new, the key and fingerprint rules, and what a stored answer is (24 h per API key).
import type { idempotencyKeys } from "../db/schema/idempotency";
import type { RawRow } from "../db/schema/raw-row";
import { ApiError, errors } from "../errors";

export const IDEMPOTENCY_TTL_MS = 24 * 3_600_000;
/**
 * On a database several instances share, how old an unanswered claim without an owner (made by an app without an
 * instance heartbeat) must be before an instance starting up takes it for abandoned: longer than any live request
 * runs. Claims with an owner are released as soon as the owner is dead (instances-postgres.ts).
 */
export const ABANDONED_CLAIM_MS = 3_600_000;
const KEY_SHAPE = /^[\x20-\x7e]{1,255}$/;
/** The fingerprint of a claim whose request body is not read yet: never a real fingerprint (those are hex). */
export const PENDING = "pending:";

/** Whose key it is: Idempotency-Keys are scoped to the API key that sent them. */
export interface KeyScope {
  keyId: string;
  idempotencyKey: string;
}

/** The answer a client was given, kept to replay it to retries. */
export interface StoredAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** A stored key, as `decide` sees it. */
export const KEY_COLUMNS = ["fingerprint", "response_status", "response_headers", "response_body", "created_at"] as const satisfies readonly (keyof RawRow<
  typeof idempotencyKeys
>)[];
export type KeyRow = Pick<RawRow<typeof idempotencyKeys>, (typeof KEY_COLUMNS)[number]>;

export type Decision =
  /** No live claim or answer under the key: this request runs (and claims it). */
  | { kind: "new" }
  /** The same request was answered before: send that answer again. */
  | { kind: "replay"; answer: StoredAnswer }
  /** Answered before, and this request's fingerprint is not known yet (an upload before its body): decide again once it is. */
  | { kind: "unknown_yet" }
  /** A request under the key is still running. */
  | { kind: "in_progress" }
  /** The key was used for a different request. */
  | { kind: "reused" };

/**
 * THE rule, pure: what a request with fingerprint `fingerprint` (null: not known yet) gets, given what the key holds.
 * An expired row counts as absent. A claim still reading its body (pending placeholder) is simply in progress.
 */
export function decide(row: KeyRow | null, fingerprint: string | null, now: number): Decision {
  if (!row || row.created_at < now - IDEMPOTENCY_TTL_MS) return { kind: "new" };
  if (row.response_status === null) {
    if (fingerprint === null || row.fingerprint === fingerprint || row.fingerprint.startsWith(PENDING)) return { kind: "in_progress" };
    return { kind: "reused" };
  }
  if (fingerprint === null) return { kind: "unknown_yet" };
  if (row.fingerprint !== fingerprint) return { kind: "reused" };
  return { kind: "replay", answer: { status: row.response_status, headers: JSON.parse(row.response_headers ?? "{}"), body: row.response_body ?? "" } };
}

export const inProgress = () =>
  new ApiError(409, "idempotency_in_progress", "A request with this Idempotency-Key is still being processed. Retry after it finishes.");
export const reused = () =>
  new ApiError(422, "idempotency_key_reused", "This Idempotency-Key was already used with a different request. Use a new key for a new request.");

/** Throws a 400 unless `value` is 1–255 printable ASCII characters. */
export function checkIdempotencyKey(value: string): string {
  if (!KEY_SHAPE.test(value)) {
    throw errors.validation(
      [{ field: "Idempotency-Key", message: "must be 1 to 255 printable ASCII characters." }],
      "The Idempotency-Key header is not valid.",
    );
  }
  return value;
}

/** JSON with object keys sorted, so the same request always hashes the same. */
function canonical(value: unknown): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value) ?? "null";
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(",")}}`;
}

/** What makes two requests "the same": method, path and body (for uploads: the fields, the name and the file's sha256). */
export function requestFingerprint(method: string, path: string, body: unknown): string {
  return new Bun.CryptoHasher("sha256").update(`${method} ${path}\n${canonical(body)}`).digest("hex");
}

/** The outcome of `claim`: the key is now this request's (`token` set when claimed before the fingerprint was known), or the answer to replay. */
export type ClaimResult = { kind: "claimed"; token?: string } | { kind: "replay"; answer: StoredAnswer } | { kind: "unknown_yet" };
