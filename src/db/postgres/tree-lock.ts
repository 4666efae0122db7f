// The per-organization folder-tree lock on PostgreSQL: a transaction-scoped advisory lock that orders folder changes (and uploads into folders) as SQLite's single writer does.
import type { PendingQuery, Row, Sql } from "postgres";
import type { Queryable } from "./writer";

/**
 * The first key of the two-key advisory lock space (which never overlaps the one-key space the migrations lock uses):
 * "fldr". The second key is the organization's id hashed to 32 bits; two organizations sharing a hash only share a
 * queue, never a wrong answer.
 */
const TREE_LOCK_SPACE = 0x666c6472;

/** The lock a unit holds on an organization's tree: a folder change holds it alone, uploads share it. */
export type TreeLockMode = "exclusive" | "shared";

/** What each open transaction already holds, by organization (a unit's stores all get the same transaction object). */
const held = new WeakMap<Queryable, Map<string, TreeLockMode>>();

/**
 * Sends the statement that takes the organization's tree lock in transaction `q` (released at its COMMIT or
 * ROLLBACK) and returns it, or null when the unit holds the lock already (exclusive covers shared). The caller sends
 * its own statement right after, without waiting (postgres.js pipelines them on the unit's connection): that
 * statement starts once the lock is granted, so under READ COMMITTED it reads what the previous holder committed.
 *
 * A unit asks for shared first and exclusive later only if no other unit can do the same (none does: uploads only
 * share it, folder units only take it exclusively), else two such units would wait for each other.
 */
function sendTreeLock(q: Queryable, orgId: string, mode: TreeLockMode): PendingQuery<Row[]> | null {
  let orgs = held.get(q);
  if (!orgs) held.set(q, (orgs = new Map()));
  const has = orgs.get(orgId);
  if (has === "exclusive" || has === mode) return null;
  orgs.set(orgId, mode);
  const sql = q as Sql;
  const key = Bun.hash.crc32(orgId) | 0;
  const lock =
    mode === "exclusive"
      ? sql`SELECT 1 AS locked FROM pg_advisory_xact_lock(${TREE_LOCK_SPACE}::int4, ${key}::int4)`
      : sql`SELECT 1 AS locked FROM pg_advisory_xact_lock_shared(${TREE_LOCK_SPACE}::int4, ${key}::int4)`;
  // postgres.js sends a query when it is first awaited; sent now, it goes before the caller's statement.
  return lock.execute();
}

/**
 * Runs the statement `make` builds, in a unit after the organization's tree lock (both sent at once: one round trip;
 * only the unit's first call takes the lock), on the pool as it is.
 */
export async function underTreeLock<T>(q: Queryable, inUnit: boolean, orgId: string, mode: TreeLockMode, make: () => Sendable<T>): Promise<T> {
  const lock = inUnit ? sendTreeLock(q, orgId, mode) : null;
  if (!lock) return await make();
  const [, result] = await Promise.all([lock, make().execute()]);
  return result;
}

/** A postgres.js query not sent yet: it is sent when awaited, or by `execute()`. */
export interface Sendable<T> extends PromiseLike<T> {
  execute(): PromiseLike<T>;
}
