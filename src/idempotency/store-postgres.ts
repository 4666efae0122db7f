// The idempotency store on PostgreSQL: the IdempotencyStore contract over postgres.js, its claim race-free across instances.
import type { Queryable, StoreMode } from "../db/postgres/writer";
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
import { claimOwner, INSTANCE_DEAD_AFTER_MS } from "./instances-postgres";
import type { IdempotencyStore } from "./store";

/** How often a claim retries after its key vanished between its two statements (released or pruned meanwhile) before answering 409. */
const CLAIM_ATTEMPTS = 8;

/**
 * The PostgreSQL implementation on `q` (the pool, or a unit's transaction: see StoreMode). `claim` and `identify` run
 * on the pool, each statement its own transaction; `saveAnswer` runs in the unit that makes the change.
 * A claim records its owner, the instance whose heartbeat runs over the pool (./instances-postgres.ts); an unanswered
 * claim whose owner's heartbeat is older than INSTANCE_DEAD_AFTER_MS (or whose owner's row is gone) is abandoned: a
 * new claim takes it over as if the key were free.
 */
export function postgresIdempotencyStore(q: Queryable, _mode: StoreMode): IdempotencyStore {
  let lastPrune = 0;

  /** The condition on an idempotency_keys row "its owner is dead at `now`" (no heartbeat within the bound, or no row). */
  const abandonedBy = (now: number) => q`(idempotency_keys.owner IS NOT NULL AND NOT EXISTS (
    SELECT 1 FROM instances WHERE instances.id = idempotency_keys.owner AND instances.heartbeat_at >= ${now - INSTANCE_DEAD_AFTER_MS}))`;

  const read = async (scope: KeyScope): Promise<KeyRow | null> => {
    const [row] = await q<KeyRow[]>`SELECT ${q(KEY_COLUMNS)} FROM idempotency_keys
      WHERE key_id = ${scope.keyId} AND idempotency_key = ${scope.idempotencyKey}`;
    return row ?? null;
  };

  /**
   * The claim: one statement takes the key when `decide` would say "new" (no row, or an expired one, replaced in
   * place) or its claim was abandoned by a dead instance, atomically however many instances try at once — the unique
   * key makes one insert win; a replacement locks the row, and a second one, waiting for that lock, finds the row
   * live (its new owner is this instance, alive). Otherwise a second statement reads what holds the key (committed by
   * then) and `decide` says what this request gets.
   */
  async function claim(scope: KeyScope, fingerprint: string | null, now: number): Promise<ClaimResult> {
    const cutoff = now - IDEMPOTENCY_TTL_MS;
    const owner = claimOwner(q);
    if (now - lastPrune > 60_000) {
      lastPrune = now;
      await q`DELETE FROM idempotency_keys WHERE created_at < ${cutoff}`;
    }
    const token = fingerprint === null ? `${PENDING}${crypto.randomUUID()}` : undefined;
    for (let attempt = 0; attempt < CLAIM_ATTEMPTS; attempt++) {
      const won = await q`INSERT INTO idempotency_keys (key_id, idempotency_key, fingerprint, created_at, owner)
        VALUES (${scope.keyId}, ${scope.idempotencyKey}, ${fingerprint ?? token!}, ${now}, ${owner})
        ON CONFLICT (key_id, idempotency_key) DO UPDATE
          SET fingerprint = excluded.fingerprint, created_at = excluded.created_at, owner = excluded.owner,
              response_status = NULL, response_headers = NULL, response_body = NULL
          WHERE idempotency_keys.created_at < ${cutoff}
            OR (idempotency_keys.response_status IS NULL AND ${abandonedBy(now)})`;
      if (won.count === 1) return token ? { kind: "claimed", token } : { kind: "claimed" };
      const decision = decide(await read(scope), fingerprint, now);
      switch (decision.kind) {
        case "in_progress":
          throw inProgress();
        case "reused":
          throw reused();
        case "replay":
        case "unknown_yet":
          return decision;
        case "new":
          // Gone since the first statement (released, or pruned): try to take it again.
          continue;
      }
    }
    throw inProgress();
  }

  return {
    claim,
    async identify(scope: KeyScope, token: string | undefined, fingerprint: string, now: number): Promise<Exclude<ClaimResult, { kind: "unknown_yet" }>> {
      if (token !== undefined) {
        const settled = await q`UPDATE idempotency_keys SET fingerprint = ${fingerprint}
          WHERE key_id = ${scope.keyId} AND idempotency_key = ${scope.idempotencyKey} AND fingerprint = ${token} AND response_status IS NULL`;
        if (settled.count > 0) return { kind: "claimed" };
      }
      // Answered before this request began (or the placeholder is gone): decide again with the real fingerprint.
      return (await claim(scope, fingerprint, now)) as Exclude<ClaimResult, { kind: "unknown_yet" }>;
    },
    async saveAnswer(scope: KeyScope, answer: StoredAnswer): Promise<void> {
      await q`UPDATE idempotency_keys
        SET response_status = ${answer.status}, response_headers = ${JSON.stringify(answer.headers)}, response_body = ${answer.body}
        WHERE key_id = ${scope.keyId} AND idempotency_key = ${scope.idempotencyKey}`;
    },
    async release(scope: KeyScope): Promise<void> {
      await q`DELETE FROM idempotency_keys WHERE key_id = ${scope.keyId} AND idempotency_key = ${scope.idempotencyKey}`;
    },
    async releaseAbandoned(claimedBefore: number, now?: number): Promise<number> {
      const result = await q`DELETE FROM idempotency_keys
        WHERE response_status IS NULL AND ((owner IS NULL AND created_at < ${claimedBefore}) OR ${now === undefined ? q`false` : abandonedBy(now)})`;
      return result.count;
    },
  };
}
