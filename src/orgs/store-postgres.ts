// The organizations store on PostgreSQL: the OrgsStore contract over postgres.js, behaving exactly as the SQLite one (store.ts) under concurrent transactions.
import { hasNul } from "../db/postgres/text";
import type { Sql } from "postgres";
import type { Queryable, StoreMode } from "../db/postgres/writer";
import { apiKeys, orgs, type Plan, users } from "../db/schema/orgs";
import { columnNames } from "../db/schema/raw-row";
import {
  type ApiKeyRow,
  type KeyLookup,
  LAST_USED_RESOLUTION_MS,
  lastUsedDue,
  type OrgRow,
  type OrgsStore,
  type OrgUpdate,
  type RotationPlan,
  type UserRow,
  type Verification,
  verdict,
} from "./store";

const ORG_COLUMNS = columnNames(orgs);
const USER_COLUMNS = columnNames(users);
const KEY_COLUMNS = columnNames(apiKeys);

/**
 * The transaction-scoped advisory lock ("CC_ORGNM" as a 64-bit integer) held by every write whose outcome depends on
 * other organizations' names or existence (a uniqueName create or rename, the first-start bootstrap's emptiness
 * check), so two such writes on any instances run one after the other. Taken in a statement of its own, before the
 * check: under READ COMMITTED each statement reads the rows committed when it starts, so the check then sees what
 * the previous lock holder wrote.
 */
const NAMES_LOCK_KEY = "4846822418268245581";

/** As the SQLite store: names compared ignoring case and surrounding spaces, folded in JS (SQL's lower() under COLLATE "C" folds ASCII only). */
function foldName(name: string): string {
  return name.trim().toLowerCase();
}

/**
 * The PostgreSQL implementation on `q` (the pool, or a unit's transaction: see StoreMode). Each compound write runs
 * in the unit's transaction (`tx`) or, on the pool, in a transaction of its own; its check is serialised with the
 * advisory lock above (names) or a row lock (rotateKey reads the old key FOR UPDATE).
 */
export function postgresOrgsStore(q: Queryable, mode: StoreMode): OrgsStore {
  /** Runs `work` atomically: in the unit's transaction, or (on the pool) in a transaction of its own. */
  const atomic = <T>(work: (t: Queryable) => Promise<T>): Promise<T> =>
    mode === "read" && "begin" in q ? ((q as Sql).begin((t) => work(t)) as Promise<T>) : work(q);
  const lockNames = async (t: Queryable): Promise<void> => {
    await t`SELECT pg_advisory_xact_lock(${NAMES_LOCK_KEY}::bigint)`;
  };

  const allOrgs = async (t: Queryable): Promise<OrgRow[]> => [...(await t<OrgRow[]>`SELECT ${t(ORG_COLUMNS)} FROM orgs ORDER BY created_at, id`)];
  const named = (rows: OrgRow[], name: string): OrgRow[] => {
    const wanted = foldName(name);
    // Organizations are few (an admin makes them by hand): a scan is fine, as on SQLite.
    return rows.filter((o) => foldName(o.name) === wanted);
  };
  const getOrg = async (id: string): Promise<OrgRow | null> => {
    const [row] = await q<OrgRow[]>`SELECT ${q(ORG_COLUMNS)} FROM orgs WHERE id = ${id}`;
    return row ?? null;
  };
  const getKey = async (id: string): Promise<ApiKeyRow | null> => {
    const [row] = await q<ApiKeyRow[]>`SELECT ${q(KEY_COLUMNS)} FROM api_keys WHERE id = ${id}`;
    return row ?? null;
  };
  /** Sets the given fields (null: unchanged) in one statement; null for an unknown organization. */
  const setOrg = async (t: Queryable, orgId: string, name: string | null, plan: Plan | null): Promise<OrgRow | null> => {
    const [row] = await t<OrgRow[]>`UPDATE orgs SET name = COALESCE(${name}, name), plan = COALESCE(${plan}, plan)
      WHERE id = ${orgId} RETURNING ${t(ORG_COLUMNS)}`;
    return row ?? null;
  };

  return {
    listOrgs: () => allOrgs(q),
    getOrg,
    async hasAnyOrg(): Promise<boolean> {
      // In a unit (the first-start bootstrap: check, then create), behind the names lock: instances starting at once
      // on an empty database create one organization between them.
      if (mode === "tx") await lockNames(q);
      const rows = await q`SELECT 1 AS one FROM orgs LIMIT 1`;
      return rows.length > 0;
    },
    async orgsNamed(name: string): Promise<OrgRow[]> {
      return named(await allOrgs(q), name);
    },
    async createOrgWithOwner(org: OrgRow, owner: UserRow, opts: { uniqueName?: boolean } = {}): Promise<OrgRow | null> {
      // Both rows in one statement: an owner that cannot be inserted (id or email taken) fails it, leaving neither.
      const insert = async (t: Queryable) => {
        await t`WITH o AS (INSERT INTO orgs ${t(org, ORG_COLUMNS)}) INSERT INTO users ${t(owner, USER_COLUMNS)}`;
      };
      if (opts.uniqueName !== true) {
        await insert(q);
        return null;
      }
      return atomic(async (t) => {
        await lockNames(t);
        const [existing] = named(await allOrgs(t), org.name);
        if (existing) return existing;
        await insert(t);
        return null;
      });
    },
    async updateOrg(orgId: string, changes: { name?: string; plan?: Plan }, opts: { uniqueName?: boolean } = {}): Promise<OrgUpdate> {
      const name = changes.name ?? null;
      const plan = changes.plan ?? null;
      const updated = (row: OrgRow | null): OrgUpdate => (row ? { status: "updated", org: row } : { status: "not_found" });
      if (name !== null && opts.uniqueName === true) {
        return atomic(async (t): Promise<OrgUpdate> => {
          await lockNames(t);
          const rows = await allOrgs(t);
          if (!rows.some((o) => o.id === orgId)) return { status: "not_found" };
          const other = named(rows, name).find((o) => o.id !== orgId);
          if (other) return { status: "duplicate", existing: other };
          return updated(await setOrg(t, orgId, name, plan));
        });
      }
      if (name === null && plan === null) return updated(await getOrg(orgId));
      // One statement: the row is locked and changed as it is at that moment, whatever ran before.
      return updated(await setOrg(q, orgId, name, plan));
    },

    async listUsers(orgId?: string): Promise<UserRow[]> {
      const rows =
        orgId === undefined
          ? await q<UserRow[]>`SELECT ${q(USER_COLUMNS)} FROM users ORDER BY created_at, id`
          : await q<UserRow[]>`SELECT ${q(USER_COLUMNS)} FROM users WHERE org_id = ${orgId} ORDER BY created_at, id`;
      return [...rows];
    },
    async getUserInOrg(userId: string, orgId: string): Promise<UserRow | null> {
      // A text parameter holding U+0000 is an error on PostgreSQL; no id holds one, so it matches nothing (as on SQLite).
      if (hasNul(userId)) return null;
      const [row] = await q<UserRow[]>`SELECT ${q(USER_COLUMNS)} FROM users WHERE id = ${userId} AND org_id = ${orgId}`;
      return row ?? null;
    },
    async usersPage(orgId: string, limit: number, offset: number): Promise<UserRow[]> {
      const rows = await q<UserRow[]>`SELECT ${q(USER_COLUMNS)} FROM users WHERE org_id = ${orgId} ORDER BY created_at, id LIMIT ${limit} OFFSET ${offset}`;
      return [...rows];
    },
    async usersTotal(orgId: string): Promise<number> {
      const [row] = await q<{ total: number }[]>`SELECT COUNT(*) AS total FROM users WHERE org_id = ${orgId}`;
      return row?.total ?? 0;
    },
    async findOwner(orgId: string): Promise<UserRow | null> {
      // The earliest owner, else the earliest user.
      const [row] = await q<UserRow[]>`SELECT ${q(USER_COLUMNS)} FROM users WHERE org_id = ${orgId}
        ORDER BY CASE role WHEN 'owner' THEN 0 ELSE 1 END, created_at, id LIMIT 1`;
      return row ?? null;
    },
    async insertUser(row: UserRow): Promise<boolean> {
      const result = await q`INSERT INTO users ${q(row, USER_COLUMNS)} ON CONFLICT (org_id, email) DO NOTHING`;
      return result.count === 1;
    },

    async insertKey(row: ApiKeyRow): Promise<void> {
      await q`INSERT INTO api_keys ${q(row, KEY_COLUMNS)}`;
    },
    async listKeys(orgId: string): Promise<ApiKeyRow[]> {
      return [...(await q<ApiKeyRow[]>`SELECT ${q(KEY_COLUMNS)} FROM api_keys WHERE org_id = ${orgId} ORDER BY created_at, id`)];
    },
    getKey,
    async revokeKey(id: string, now: number): Promise<ApiKeyRow | null> {
      // One statement, so concurrent revocations keep the first time.
      const [row] = await q<ApiKeyRow[]>`UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ${now}) WHERE id = ${id} RETURNING ${q(KEY_COLUMNS)}`;
      return row ?? null;
    },
    rotateKey(keyId: string, decide: (old: ApiKeyRow) => RotationPlan): Promise<{ key: ApiKeyRow; previous: ApiKeyRow } | null> {
      return atomic(async (t) => {
        // Locked: a concurrent rotation waits, then reads the key as this one leaves it.
        const [old] = await t<ApiKeyRow[]>`SELECT ${t(KEY_COLUMNS)} FROM api_keys WHERE id = ${keyId} FOR UPDATE`;
        if (!old) return null;
        const plan = decide(old);
        // The replacement and the old key's expiry in one statement: a replacement that cannot be inserted changes neither.
        await t`WITH r AS (INSERT INTO api_keys ${t(plan.replacement, KEY_COLUMNS)})
          UPDATE api_keys SET expires_at = ${plan.previousExpiresAt} WHERE id = ${keyId}`;
        return { key: plan.replacement, previous: { ...old, expires_at: plan.previousExpiresAt } };
      });
    },
    async verify(hash: string, now: number): Promise<Verification> {
      // The hot path (every authenticated request): one lookup on the unique hash index, joined with the org and the user.
      const [row] = await q<KeyLookup[]>`SELECT k.id, k.org_id, k.user_id, k.expires_at, k.revoked_at, k.last_used_at, o.plan, u.role
          FROM api_keys k JOIN orgs o ON o.id = k.org_id JOIN users u ON u.id = k.user_id
         WHERE k.hash = ${hash}`;
      const result = verdict(row ?? null, now);
      // At most once per key and resolution, on its own (autocommit on the pool). Conditional, so that instances
      // verifying the same key at once write it once between them and never move it backwards.
      if (result.status === "valid" && lastUsedDue(row!.last_used_at, now)) {
        await q`UPDATE api_keys SET last_used_at = ${now}
          WHERE id = ${row!.id} AND (last_used_at IS NULL OR last_used_at < ${now - LAST_USED_RESOLUTION_MS})`;
      }
      return result;
    },
  };
}
