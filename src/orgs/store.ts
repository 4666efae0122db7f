// The organizations store (organizations, their users and API keys: one aggregate): its contract (asynchronous, what services use) and its SQLite implementation (statements prepared once per database).
import type { Database } from "bun:sqlite";
import { asyncStore, type Guard } from "../db/async-store";
import { perDatabase } from "../db/per-database";
import { apiKeys, orgs, type Plan, users } from "../db/schema/orgs";
import { columnList, columnNames, placeholders, type RawRow } from "../db/schema/raw-row";
import type { Principal } from "../keys/principal";

/** Rows as SQL reads them (snake_case keys, integer times), derived from the schema. */
export type OrgRow = RawRow<typeof orgs>;
export type UserRow = RawRow<typeof users>;
export type ApiKeyRow = RawRow<typeof apiKeys>;

/** What verifying a presented key's hash yields: the principal, or why not (a free plan is valid here; auth refuses it). */
export type Verification = { status: "valid"; principal: Principal } | { status: "not_found" | "revoked" | "expired" };

/** How stale `last_used_at` may get before a verification writes it again (keeps auth read-only on the hot path). */
export const LAST_USED_RESOLUTION_MS = 60_000;

export type OrgUpdate = { status: "updated"; org: OrgRow } | { status: "not_found" } | { status: "duplicate"; existing: OrgRow };

/** What a rotation writes, decided from the old key: its replacement and when the old key now expires. */
export interface RotationPlan {
  replacement: ApiKeyRow;
  previousExpiresAt: number;
}

/** What the hot-path lookup of a key by its hash reads: the key's state, its organization's plan and its user's role. */
export type KeyLookup = Pick<ApiKeyRow, "id" | "org_id" | "user_id" | "expires_at" | "revoked_at" | "last_used_at"> &
  Pick<OrgRow, "plan"> &
  Pick<UserRow, "role">;

/**
 * THE verification rule, pure and shared by every engine: a revoked key is revoked (even once also expired), an
 * expiry is exact (expired at the instant), anything else is valid.
 */
export function verdict(row: KeyLookup | null, now: number): Verification {
  if (!row) return { status: "not_found" };
  if (row.revoked_at !== null) return { status: "revoked" };
  if (row.expires_at !== null && row.expires_at <= now) return { status: "expired" };
  return { status: "valid", principal: { orgId: row.org_id, plan: row.plan, userId: row.user_id, role: row.role, keyId: row.id } };
}

/** Whether a valid key's `last_used_at` is due a write at `now`: unset, or older than LAST_USED_RESOLUTION_MS (never backwards). */
export function lastUsedDue(lastUsedAt: number | null, now: number): boolean {
  return lastUsedAt === null || now - lastUsedAt > LAST_USED_RESOLUTION_MS;
}

/** Names are compared ignoring case and surrounding spaces, in JS rather than SQL: SQLite's lower() folds ASCII only. */
function foldName(name: string): string {
  return name.trim().toLowerCase();
}

/**
 * Organizations, their users and their API keys. Used inside a writer unit (its `tx`), calls run in that unit's
 * transaction; used elsewhere, they see committed rows only. Each compound write (createOrgWithOwner, updateOrg,
 * rotateKey) is atomic on its own and its check cannot interleave with another write of the same kind (an engine
 * with concurrent transactions takes the lock it needs), so a service never needs to know how.
 *
 * Scope: the methods that serve an organization's requests take its id. The others are cross-organization on
 * purpose, each saying why: the operator's admin commands (the CLI) name organizations and keys by id or name across
 * all tenants, the first-start bootstrap asks whether any organization exists, and verification finds a key by its
 * hash alone (the organization is what it yields).
 */
export interface OrgsStore {
  /** Every organization, oldest first (ties by id). Cross-organization: `orgs list`. */
  listOrgs(): Promise<OrgRow[]>;
  getOrg(id: string): Promise<OrgRow | null>;
  /** Cross-organization: the first-start bootstrap creates one only in an empty database. */
  hasAnyOrg(): Promise<boolean>;
  /** Organizations whose name equals `name` ignoring case and surrounding spaces, oldest first. Cross-organization: names are unique across tenants. */
  orgsNamed(name: string): Promise<OrgRow[]>;
  /**
   * Inserts the organization and its owner atomically. With `uniqueName`, an organization whose name equals the new
   * one ignoring case blocks it: that organization is returned and nothing is written. Null when created. An owner
   * that cannot be inserted (its id taken) rejects, and nothing is written.
   */
  createOrgWithOwner(org: OrgRow, owner: UserRow, opts?: { uniqueName?: boolean }): Promise<OrgRow | null>;
  /**
   * Renames and/or re-plans an organization (an absent or undefined field stays); with `uniqueName`, another
   * organization's name (ignoring case) blocks it and nothing is written.
   */
  updateOrg(orgId: string, changes: { name?: string; plan?: Plan }, opts?: { uniqueName?: boolean }): Promise<OrgUpdate>;

  /** Users of one organization, or (no id: `users list` without --org, cross-organization) of all; oldest first, ties by id. */
  listUsers(orgId?: string): Promise<UserRow[]>;
  getUserInOrg(userId: string, orgId: string): Promise<UserRow | null>;
  /** A page of the organization's users, oldest first (ties by id), by offset: `GET /v1/users`. */
  usersPage(orgId: string, limit: number, offset: number): Promise<UserRow[]>;
  /** How many users the organization has. */
  usersTotal(orgId: string): Promise<number>;
  /** The organization's earliest owner, else its earliest user; null for an organization without users. */
  findOwner(orgId: string): Promise<UserRow | null>;
  /** False (and nothing written) when the email is already used in the row's organization. */
  insertUser(row: UserRow): Promise<boolean>;

  /** Inserts a key (of `row.org_id`). A hash already stored rejects, and nothing is written. */
  insertKey(row: ApiKeyRow): Promise<void>;
  /** The organization's keys, oldest first (ties by id). */
  listKeys(orgId: string): Promise<ApiKeyRow[]>;
  /** By id alone, cross-organization: the admin commands name a key by its id (`keys revoke|rotate KEY_ID`). */
  getKey(id: string): Promise<ApiKeyRow | null>;
  /**
   * Sets revoked_at unless already set (the first revocation time stays); the key as it is now, or null if unknown.
   * By id alone, as getKey.
   */
  revokeKey(id: string, now: number): Promise<ApiKeyRow | null>;
  /**
   * Rotates a key atomically: reads it, lets `decide` (synchronous, pure: no I/O) plan the replacement, or throw to
   * refuse with nothing written, then inserts the replacement and sets the old key's expiry. Null for an unknown key
   * (`decide` not called). By id alone, as getKey; two rotations of one key never both read the old row.
   */
  rotateKey(keyId: string, decide: (old: ApiKeyRow) => RotationPlan): Promise<{ key: ApiKeyRow; previous: ApiKeyRow } | null>;
  /**
   * Verifies a key by the SHA-256 of its secret, on every authenticated request: one indexed lookup joined with the
   * organization and the user, judged by `verdict`. A valid key's `last_used_at` is written when `lastUsedDue` says
   * so, so most requests write nothing. That write is bookkeeping, not an acknowledged write: it runs on its own (not
   * in a writer unit) and losing it is harmless. By hash alone: the organization is what it finds.
   */
  verify(hash: string, now: number): Promise<Verification>;
}

const ORG_COLUMN_NAMES = columnNames(orgs);
const USER_COLUMN_NAMES = columnNames(users);
const KEY_COLUMN_NAMES = columnNames(apiKeys);
const ORG_COLUMNS = columnList(orgs);
const USER_COLUMNS = columnList(users);
const KEY_COLUMNS = columnList(apiKeys);

function buildStore(db: Database) {
  const allOrgs = db.prepare<OrgRow, []>(`SELECT ${ORG_COLUMNS} FROM orgs ORDER BY created_at, id`);
  const orgById = db.prepare<OrgRow, [string]>(`SELECT ${ORG_COLUMNS} FROM orgs WHERE id = ?`);
  const anyOrg = db.prepare<{ one: number }, []>(`SELECT 1 AS one FROM orgs LIMIT 1`);
  const insertOrgRow = db.prepare(`INSERT INTO orgs (${ORG_COLUMNS}) VALUES (${placeholders(orgs)})`);
  const setOrg = db.prepare<unknown, [string, Plan, string]>(`UPDATE orgs SET name = ?, plan = ? WHERE id = ?`);

  const allUsers = db.prepare<UserRow, []>(`SELECT ${USER_COLUMNS} FROM users ORDER BY created_at, id`);
  const usersOf = db.prepare<UserRow, [string]>(`SELECT ${USER_COLUMNS} FROM users WHERE org_id = ? ORDER BY created_at, id`);
  const usersPage = db.prepare<UserRow, [string, number, number]>(
    `SELECT ${USER_COLUMNS} FROM users WHERE org_id = ? ORDER BY created_at, id LIMIT ? OFFSET ?`,
  );
  const usersTotal = db.prepare<{ total: number }, [string]>(`SELECT COUNT(*) AS total FROM users WHERE org_id = ?`);
  const userInOrg = db.prepare<UserRow, [string, string]>(`SELECT ${USER_COLUMNS} FROM users WHERE id = ? AND org_id = ?`);
  // The earliest owner, else the earliest user.
  const owner = db.prepare<UserRow, [string]>(
    `SELECT ${USER_COLUMNS} FROM users WHERE org_id = ? ORDER BY CASE role WHEN 'owner' THEN 0 ELSE 1 END, created_at, id LIMIT 1`,
  );
  const insertUserRow = db.prepare(`INSERT INTO users (${USER_COLUMNS}) VALUES (${placeholders(users)}) ON CONFLICT (org_id, email) DO NOTHING`);

  const keysOf = db.prepare<ApiKeyRow, [string]>(`SELECT ${KEY_COLUMNS} FROM api_keys WHERE org_id = ? ORDER BY created_at, id`);
  const keyById = db.prepare<ApiKeyRow, [string]>(`SELECT ${KEY_COLUMNS} FROM api_keys WHERE id = ?`);
  const insertKeyRow = db.prepare(`INSERT INTO api_keys (${KEY_COLUMNS}) VALUES (${placeholders(apiKeys)})`);
  // Keeps the first revocation time.
  const revoke = db.prepare<ApiKeyRow, [number, string]>(`UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ? RETURNING ${KEY_COLUMNS}`);
  const setKeyExpiry = db.prepare<unknown, [number, string]>(`UPDATE api_keys SET expires_at = ? WHERE id = ?`);
  // The hot path (every authenticated request): one lookup on the unique hash index, joined with the org and the user.
  const lookup = db.prepare<KeyLookup, [string]>(
    `SELECT k.id, k.org_id, k.user_id, k.expires_at, k.revoked_at, k.last_used_at, o.plan, u.role
       FROM api_keys k JOIN orgs o ON o.id = k.org_id JOIN users u ON u.id = k.user_id
      WHERE k.hash = ?`,
  );
  const touch = db.prepare<unknown, [number, string]>(`UPDATE api_keys SET last_used_at = ? WHERE id = ?`);

  const orgsNamed = (name: string): OrgRow[] => {
    const wanted = foldName(name);
    // Organizations are few (an admin makes them by hand): a scan is fine.
    return allOrgs.all().filter((o) => foldName(o.name) === wanted);
  };
  const insertOrg = (r: OrgRow) => insertOrgRow.run(...ORG_COLUMN_NAMES.map((c) => r[c]));
  const insertUser = (r: UserRow): boolean => insertUserRow.run(...USER_COLUMN_NAMES.map((c) => r[c])).changes === 1;
  const insertKey = (r: ApiKeyRow): void => {
    insertKeyRow.run(...KEY_COLUMN_NAMES.map((c) => r[c]));
  };

  // Outside a writer unit, immediate transactions: the check and the write cannot interleave with another
  // connection's. Inside one (the batch's transaction is open), bun:sqlite makes them savepoints of the unit's.
  const createOrgTx = db.transaction((org: OrgRow, ownerRow: UserRow, uniqueName: boolean): OrgRow | null => {
    if (uniqueName) {
      const [existing] = orgsNamed(org.name);
      if (existing) return existing;
    }
    insertOrg(org);
    if (!insertUser(ownerRow)) throw new Error(`owner ${ownerRow.email} collides in a new organization`);
    return null;
  });
  const updateOrgTx = db.transaction((orgId: string, changes: { name?: string; plan?: Plan }, uniqueName: boolean): OrgUpdate => {
    const current = orgById.get(orgId);
    if (!current) return { status: "not_found" };
    if (changes.name !== undefined && uniqueName) {
      const other = orgsNamed(changes.name).find((o) => o.id !== orgId);
      if (other) return { status: "duplicate", existing: other };
    }
    const org: OrgRow = { ...current, name: changes.name ?? current.name, plan: changes.plan ?? current.plan };
    if (changes.name !== undefined || changes.plan !== undefined) setOrg.run(org.name, org.plan, orgId);
    return { status: "updated", org };
  });
  const rotateTx = db.transaction((keyId: string, decide: (old: ApiKeyRow) => RotationPlan): { key: ApiKeyRow; previous: ApiKeyRow } | null => {
    const old = keyById.get(keyId);
    if (!old) return null;
    const plan = decide(old);
    insertKey(plan.replacement);
    setKeyExpiry.run(plan.previousExpiresAt, keyId);
    return { key: plan.replacement, previous: { ...old, expires_at: plan.previousExpiresAt } };
  });

  return {
    listOrgs: (): OrgRow[] => allOrgs.all(),
    getOrg: (id: string): OrgRow | null => orgById.get(id),
    hasAnyOrg: (): boolean => anyOrg.get() !== null,
    orgsNamed,
    createOrgWithOwner: (org: OrgRow, ownerRow: UserRow, opts: { uniqueName?: boolean } = {}): OrgRow | null =>
      createOrgTx.immediate(org, ownerRow, opts.uniqueName === true),
    updateOrg: (orgId: string, changes: { name?: string; plan?: Plan }, opts: { uniqueName?: boolean } = {}): OrgUpdate =>
      updateOrgTx.immediate(orgId, changes, opts.uniqueName === true),

    listUsers: (orgId?: string): UserRow[] => (orgId === undefined ? allUsers.all() : usersOf.all(orgId)),
    getUserInOrg: (userId: string, orgId: string): UserRow | null => userInOrg.get(userId, orgId),
    usersPage: (orgId: string, limit: number, offset: number): UserRow[] => usersPage.all(orgId, limit, offset),
    usersTotal: (orgId: string): number => usersTotal.get(orgId)?.total ?? 0,
    findOwner: (orgId: string): UserRow | null => owner.get(orgId),
    insertUser,

    insertKey,
    listKeys: (orgId: string): ApiKeyRow[] => keysOf.all(orgId),
    getKey: (id: string): ApiKeyRow | null => keyById.get(id),
    revokeKey: (id: string, now: number): ApiKeyRow | null => revoke.get(now, id),
    rotateKey: (keyId: string, decide: (old: ApiKeyRow) => RotationPlan): { key: ApiKeyRow; previous: ApiKeyRow } | null => rotateTx.immediate(keyId, decide),
    verify(hash: string, now: number): Verification {
      const row = lookup.get(hash);
      const result = verdict(row, now);
      // An autocommit UPDATE of its own, at most once per key and resolution.
      if (result.status === "valid" && lastUsedDue(row!.last_used_at, now)) touch.run(now, row!.id);
      return result;
    },
  };
}

const statements = perDatabase(buildStore);

/**
 * The SQLite implementation over one connection (its statements shared by every view of it); `guard` see
 * async-store.ts. Through the guarded view (the engine's `stores`), `verify`'s last-used write cannot run while a
 * batch is open, so it never joins (or rolls back with) another request's transaction.
 */
export function sqliteOrgsStore(db: Database, guard?: Guard): OrgsStore {
  return asyncStore(statements(db), guard) satisfies OrgsStore;
}
