// The idempotency store: its contract (claims and stored answers per API key) and its SQLite implementation.
import type { Database } from "bun:sqlite";
import { asyncStore, type Guard } from "../db/async-store";
import { perDatabase } from "../db/per-database";
import {
  type ClaimResult,
  decide,
  IDEMPOTENCY_TTL_MS,
  inProgress,
  KEY_COLUMNS,
  type KeyRow,
  type KeyScope,
  PENDING,
  reused,
  type StoredAnswer,
} from "./service";

/**
 * Claims and answers per (API key, Idempotency-Key). `now` is the caller's clock: the store keeps none.
 */
export interface IdempotencyStore {
  /**
   * Decides (see `decide`) and, for a new request, claims the key, durably and atomically (its own transaction, not a
   * unit of the writer), so two twins — on any instance — cannot both claim it. Rejects with 409
   * `idempotency_in_progress` / 422 `idempotency_key_reused`. `fingerprint` null: the request's body is not read yet
   * (uploads); the claim holds a placeholder until `identify`. Drops expired keys now and then.
   */
  claim(scope: KeyScope, fingerprint: string | null, now: number): Promise<ClaimResult>;
  /**
   * Gives a request claimed before its body was read (`token`; none if the key was answered before) its real
   * fingerprint: `claimed` (it runs) or `replay`; rejects with 409/422 as `claim` does.
   */
  identify(scope: KeyScope, token: string | undefined, fingerprint: string, now: number): Promise<Exclude<ClaimResult, { kind: "unknown_yet" }>>;
  /**
   * Stores a claimed request's answer. Called inside the same writer unit as the change itself (Idempotent.commit
   * arranges it), so a crash leaves both (a retry replays) or neither (the claim is released at start, the retry runs again).
   */
  saveAnswer(scope: KeyScope, answer: StoredAnswer): Promise<void>;
  /** Frees a claimed key whose request failed, so a corrected retry can run. */
  release(scope: KeyScope): Promise<void>;
  /**
   * At start: claims never answered whose request died with its process; drops them (returns how many): claims
   * without an owner made before `claimedBefore`, and (PostgreSQL, when `now` is given) claims whose owner instance is
   * dead at `now` (instances-postgres.ts; such a claim is also taken over by the next claim of its key). A live
   * owner's claim is never dropped. One instance on the database (SQLite: the data dir's lock) passes the start time:
   * every open claim is abandoned. Several instances pass a bound no live request reaches (ABANDONED_CLAIM_MS).
   */
  releaseAbandoned(claimedBefore: number, now?: number): Promise<number>;
}

function buildStore(sqlite: Database) {
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
    abandoned: sqlite.prepare(`DELETE FROM idempotency_keys WHERE response_status IS NULL AND created_at < ?`),
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
  const claim = (scope: KeyScope, fingerprint: string | null, now: number): ClaimResult => {
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
    identify(scope: KeyScope, token: string | undefined, fingerprint: string, now: number): Exclude<ClaimResult, { kind: "unknown_yet" }> {
      if (token !== undefined && s.settle.run(fingerprint, scope.keyId, scope.idempotencyKey, token).changes > 0) return { kind: "claimed" };
      // Answered before this request began (or the placeholder is gone): decide again with the real fingerprint.
      return claim(scope, fingerprint, now) as Exclude<ClaimResult, { kind: "unknown_yet" }>;
    },
    saveAnswer(scope: KeyScope, answer: StoredAnswer): void {
      store(scope, answer);
    },
    release(scope: KeyScope): void {
      s.remove.run(scope.keyId, scope.idempotencyKey);
    },
    releaseAbandoned(claimedBefore: number, _now?: number): number {
      return s.abandoned.run(claimedBefore).changes;
    },
  };
}

const statements = perDatabase(buildStore);

/** The SQLite implementation over one connection; `guard` see async-store.ts. */
export function sqliteIdempotencyStore(db: Database, guard?: Guard): IdempotencyStore {
  return asyncStore(statements(db), guard) satisfies IdempotencyStore;
}
