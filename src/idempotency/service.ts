// Idempotency keys: remember a POST's result per API key for 24 hours so a blind retry replays it instead of repeating it.
import type { Database } from "bun:sqlite";
import { ApiError, errors } from "../errors";
import type { Clock } from "../lib/clock";

export const IDEMPOTENCY_TTL_MS = 24 * 3_600_000;
const KEY_SHAPE = /^[\x20-\x7e]{1,255}$/;

export type IdempotencyStart =
  | { kind: "new" }
  | { kind: "replay"; status: number; headers: Record<string, string>; body: string };

interface Row {
  fingerprint: string;
  response_status: number | null;
  response_headers: string | null;
  response_body: string | null;
  created_at: number;
}

function statements(db: Database) {
  return {
    get: db.prepare<Row, [string, string]>(
      `SELECT fingerprint, response_status, response_headers, response_body, created_at FROM idempotency_keys WHERE key_id = ? AND idempotency_key = ?`,
    ),
    insert: db.prepare(`INSERT INTO idempotency_keys (key_id, idempotency_key, fingerprint, created_at) VALUES (?, ?, ?, ?)`),
    remove: db.prepare(`DELETE FROM idempotency_keys WHERE key_id = ? AND idempotency_key = ?`),
    complete: db.prepare(
      `UPDATE idempotency_keys SET response_status = ?, response_headers = ?, response_body = ? WHERE key_id = ? AND idempotency_key = ?`,
    ),
    prune: db.prepare(`DELETE FROM idempotency_keys WHERE created_at < ?`),
    settle: db.prepare(
      `UPDATE idempotency_keys SET fingerprint = ? WHERE key_id = ? AND idempotency_key = ? AND fingerprint = ? AND response_status IS NULL`,
    ),
  };
}

/** The fingerprint of a claim whose request body is not read yet (see claimPending). */
const PENDING = "pending:";
const inProgress = () =>
  new ApiError(409, "idempotency_in_progress", "A request with this Idempotency-Key is still being processed. Retry after it finishes.");

/** Throws a 400 unless `value` is 1–255 printable ASCII characters. */
export function checkIdempotencyKey(value: string): string {
  if (!KEY_SHAPE.test(value)) {
    throw errors.validation([{ field: "Idempotency-Key", message: "must be 1 to 255 printable ASCII characters." }], "The Idempotency-Key header is not valid.");
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

/** What makes two requests "the same": method, path and body (for uploads, pass the fields and the file's sha256). */
export function requestFingerprint(method: string, path: string, body: unknown): string {
  return new Bun.CryptoHasher("sha256").update(`${method} ${path}\n${canonical(body)}`).digest("hex");
}

export function createIdempotencyStore(deps: { sqlite: Database; clock: Clock }) {
  const s = statements(deps.sqlite);
  let lastPrune = 0;

  return {
    sqlite: deps.sqlite,
    /**
     * Claims the key for this request, or says what to answer instead: a replay of the stored result,
     * 409 while the first request is still running, 422 when the key was used for a different request.
     */
    begin(keyId: string, idempotencyKey: string, fingerprint: string): IdempotencyStart {
      const now = deps.clock.now();
      if (now - lastPrune > 60_000) {
        s.prune.run(now - IDEMPOTENCY_TTL_MS);
        lastPrune = now;
      }
      return deps.sqlite
        .transaction((): IdempotencyStart => {
          const row = s.get.get(keyId, idempotencyKey);
          if (row && row.created_at < now - IDEMPOTENCY_TTL_MS) s.remove.run(keyId, idempotencyKey);
          else if (row) {
            // An upload still reading its body has no fingerprint yet: it is simply still running.
            if (row.response_status === null && row.fingerprint.startsWith(PENDING)) throw inProgress();
            if (row.fingerprint !== fingerprint) {
              throw new ApiError(422, "idempotency_key_reused", "This Idempotency-Key was already used with a different request. Use a new key for a new request.");
            }
            if (row.response_status === null) throw inProgress();
            return { kind: "replay", status: row.response_status, headers: JSON.parse(row.response_headers ?? "{}"), body: row.response_body ?? "" };
          }
          s.insert.run(keyId, idempotencyKey, fingerprint, now);
          return { kind: "new" };
        })
        .immediate();
    },
    /**
     * For a request whose fingerprint is only known after its body is read (uploads): claims the key at the
     * start with a pending placeholder, so a twin that arrives meanwhile gets 409 at once instead of running
     * too. `answered`: an earlier request already finished under this key; read the body and call `begin`
     * with the real fingerprint (replay or 422). Call `settle` once the body is read, before completing.
     */
    claimPending(keyId: string, idempotencyKey: string): { kind: "claimed"; token: string } | { kind: "answered" } {
      const now = deps.clock.now();
      return deps.sqlite
        .transaction(() => {
          const row = s.get.get(keyId, idempotencyKey);
          if (row && row.created_at < now - IDEMPOTENCY_TTL_MS) s.remove.run(keyId, idempotencyKey);
          else if (row) {
            if (row.response_status === null) throw inProgress();
            return { kind: "answered" as const };
          }
          // Never a real fingerprint (those are hex): until settled, any other request with this key differs.
          const token = `${PENDING}${crypto.randomUUID()}`;
          s.insert.run(keyId, idempotencyKey, token, now);
          return { kind: "claimed" as const, token };
        })
        .immediate();
    },
    /** Replaces a pending claim's placeholder with the request's real fingerprint; false if the claim is gone. */
    settle(keyId: string, idempotencyKey: string, token: string, fingerprint: string): boolean {
      return s.settle.run(fingerprint, keyId, idempotencyKey, token).changes > 0;
    },
    /** Stores the result the client was given, to replay it to retries. */
    complete(keyId: string, idempotencyKey: string, status: number, headers: Record<string, string>, body: string): void {
      s.complete.run(status, JSON.stringify(headers), body, keyId, idempotencyKey);
    },
    /** Releases a claimed key whose request failed, so a corrected retry can run. */
    release(keyId: string, idempotencyKey: string): void {
      s.remove.run(keyId, idempotencyKey);
    },
    /** At start: claims left by a process that died mid-request can never complete; drop them. */
    releaseAbandoned(): number {
      return deps.sqlite.prepare(`DELETE FROM idempotency_keys WHERE response_status IS NULL`).run().changes;
    },
  };
}

export type IdempotencyStore = ReturnType<typeof createIdempotencyStore>;

interface Claim {
  keyId: string;
  idempotencyKey: string;
}

/**
 * Tracks which in-flight requests hold an idempotency claim, so the claim can be completed with the response
 * or released when the request fails (the app's error handler calls `releaseFor`).
 */
export function createIdempotencyClaims(store: IdempotencyStore) {
  const claims = new WeakMap<Request, Claim>();
  return {
    store,
    hold(request: Request, claim: Claim) {
      claims.set(request, claim);
    },
    take(request: Request): Claim | undefined {
      const claim = claims.get(request);
      claims.delete(request);
      return claim;
    },
    /**
     * Runs a synchronous domain change so that, when the request holds a claim, the change and its stored
     * response commit in ONE transaction (the service's own transaction nests as a savepoint). A crash then
     * leaves either both (a retry replays) or neither (a retry runs again, as the claim is released at start),
     * never a change without its answer. `set` supplies the status and Location the route chose.
     */
    atomically<T>(request: Request, set: { status?: number | string; headers: Record<string, unknown> }, change: () => T): T {
      const claim = claims.get(request);
      if (!claim) return change();
      return store.sqlite
        .transaction(() => {
          const value = change();
          const headers: Record<string, string> = { "content-type": "application/json; charset=utf-8" };
          if (typeof set.headers.location === "string") headers.location = set.headers.location;
          store.complete(claim.keyId, claim.idempotencyKey, typeof set.status === "number" ? set.status : 200, headers, value === undefined ? "" : JSON.stringify(value));
          claims.delete(request);
          return value;
        })
        .immediate();
    },
    /** The request failed: free its key so a corrected retry can run. */
    releaseFor(request: Request) {
      const claim = claims.get(request);
      if (!claim) return;
      claims.delete(request);
      store.release(claim.keyId, claim.idempotencyKey);
    },
  };
}

export type IdempotencyClaims = ReturnType<typeof createIdempotencyClaims>;
