// Idempotency keys: the one rule that decides replay / conflict / in progress / new, and the store of answers (24 h per API key).
import type { Database } from "bun:sqlite";
import type { idempotencyKeys } from "../db/schema/idempotency";
import type { RawRow } from "../db/schema/raw-row";
import { ApiError, errors } from "../errors";
import type { Clock } from "../lib/clock";

export const IDEMPOTENCY_TTL_MS = 24 * 3_600_000;
const KEY_SHAPE = /^[\x20-\x7e]{1,255}$/;
/** The fingerprint of a claim whose request body is not read yet: never a real fingerprint (those are hex). */
const PENDING = "pending:";

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
const KEY_COLUMNS = ["fingerprint", "response_status", "response_headers", "response_body", "created_at"] as const satisfies readonly (keyof RawRow<
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

const inProgress = () => new ApiError(409, "idempotency_in_progress", "A request with this Idempotency-Key is still being processed. Retry after it finishes.");
const reused = () =>
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

export interface IdempotencyStore {
  /**
   * Decides (see `decide`) and, for a new request, claims the key, in one IMMEDIATE transaction so two twins cannot
   * both claim it. Throws 409 `idempotency_in_progress` / 422 `idempotency_key_reused`. `fingerprint` null: the request's
   * body is not read yet (uploads); the claim holds a placeholder until `identify`.
   */
  claim(scope: KeyScope, fingerprint: string | null): ClaimResult;
  /**
   * Gives a request claimed before its body was read (`token`; none if the key was answered before) its real
   * fingerprint: `claimed` (it runs) or `replay`; throws 409/422 as `claim` does.
   */
  identify(scope: KeyScope, token: string | undefined, fingerprint: string): Exclude<ClaimResult, { kind: "unknown_yet" }>;
  /**
   * Stores a claimed request's answer. Called inside the same writer unit as the change itself (Idempotent.commit
   * arranges it), so a crash leaves both (a retry replays) or neither (the claim is released at start, the retry runs again).
   */
  saveAnswer(scope: KeyScope, answer: StoredAnswer): void;
  /** Frees a claimed key whose request failed, so a corrected retry can run. */
  release(scope: KeyScope): void;
  /** At start: claims left by a process that died mid-request can never complete; drops them. */
  releaseAbandoned(): number;
}

export function createIdempotencyStore(deps: { sqlite: Database; clock: Clock }): IdempotencyStore {
  const { sqlite, clock } = deps;
  const s = {
    get: sqlite.prepare<KeyRow, [string, string]>(`SELECT ${KEY_COLUMNS.join(", ")} FROM idempotency_keys WHERE key_id = ? AND idempotency_key = ?`),
    // REPLACE only ever meets an expired row: `decide` said "new".
    insert: sqlite.prepare(`INSERT OR REPLACE INTO idempotency_keys (key_id, idempotency_key, fingerprint, created_at) VALUES (?, ?, ?, ?)`),
    remove: sqlite.prepare(`DELETE FROM idempotency_keys WHERE key_id = ? AND idempotency_key = ?`),
    complete: sqlite.prepare(
      `UPDATE idempotency_keys SET response_status = ?, response_headers = ?, response_body = ? WHERE key_id = ? AND idempotency_key = ?`,
    ),
    settle: sqlite.prepare(
      `UPDATE idempotency_keys SET fingerprint = ? WHERE key_id = ? AND idempotency_key = ? AND fingerprint = ? AND response_status IS NULL`,
    ),
    prune: sqlite.prepare(`DELETE FROM idempotency_keys WHERE created_at < ?`),
    abandoned: sqlite.prepare(`DELETE FROM idempotency_keys WHERE response_status IS NULL`),
  };
  let lastPrune = 0;

  const claimTx = sqlite.transaction((scope: KeyScope, fingerprint: string | null, now: number): ClaimResult => {
    const decision = decide(s.get.get(scope.keyId, scope.idempotencyKey), fingerprint, now);
    switch (decision.kind) {
      case "in_progress":
        throw inProgress();
      case "reused":
        throw reused();
      case "replay":
      case "unknown_yet":
        return decision;
      case "new": {
        const token = fingerprint === null ? `${PENDING}${crypto.randomUUID()}` : undefined;
        s.insert.run(scope.keyId, scope.idempotencyKey, fingerprint ?? token!, now);
        return token ? { kind: "claimed", token } : { kind: "claimed" };
      }
    }
  });
  const claim = (scope: KeyScope, fingerprint: string | null): ClaimResult => {
    const now = clock.now();
    if (now - lastPrune > 60_000) {
      s.prune.run(now - IDEMPOTENCY_TTL_MS);
      lastPrune = now;
    }
    return claimTx.immediate(scope, fingerprint, now);
  };
  const store = (scope: KeyScope, answer: StoredAnswer) =>
    s.complete.run(answer.status, JSON.stringify(answer.headers), answer.body, scope.keyId, scope.idempotencyKey);

  return {
    claim,
    identify(scope, token, fingerprint) {
      if (token !== undefined && s.settle.run(fingerprint, scope.keyId, scope.idempotencyKey, token).changes > 0) return { kind: "claimed" };
      // Answered before this request began (or the placeholder is gone): decide again with the real fingerprint.
      return claim(scope, fingerprint) as Exclude<ClaimResult, { kind: "unknown_yet" }>;
    },
    saveAnswer(scope, answer) {
      store(scope, answer);
    },
    release(scope) {
      s.remove.run(scope.keyId, scope.idempotencyKey);
    },
    releaseAbandoned() {
      return s.abandoned.run().changes;
    },
  };
}
