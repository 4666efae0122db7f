// The organizations data layer (organizations, their users and API keys: one aggregate): every SQL statement, prepared once per database.
import type { Database } from "bun:sqlite";
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

const ORG_COLUMN_NAMES = columnNames(orgs);
const USER_COLUMN_NAMES = columnNames(users);
const KEY_COLUMN_NAMES = columnNames(apiKeys);
const ORG_COLUMNS = columnList(orgs);
const USER_COLUMNS = columnList(users);
const KEY_COLUMNS = columnList(apiKeys);

/** Names are compared ignoring case, in JS rather than SQL: SQLite's lower() folds ASCII only. */
function foldName(name: string): string {
  return name.trim().toLowerCase();
}

function buildStore(db: Database) {
  const allOrgs = db.prepare<OrgRow, []>(`SELECT ${ORG_COLUMNS} FROM orgs ORDER BY created_at, id`);
  const orgById = db.prepare<OrgRow, [string]>(`SELECT ${ORG_COLUMNS} FROM orgs WHERE id = ?`);
  const anyOrg = db.prepare<{ one: number }, []>(`SELECT 1 AS one FROM orgs LIMIT 1`);
  const insertOrgRow = db.prepare(`INSERT INTO orgs (${ORG_COLUMNS}) VALUES (${placeholders(orgs)})`);
  const setOrg = db.prepare<unknown, [string, Plan, string]>(`UPDATE orgs SET name = ?, plan = ? WHERE id = ?`);

  const allUsers = db.prepare<UserRow, []>(`SELECT ${USER_COLUMNS} FROM users ORDER BY created_at, id`);
  const usersOf = db.prepare<UserRow, [string]>(`SELECT ${USER_COLUMNS} FROM users WHERE org_id = ? ORDER BY created_at, id`);
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
  const lookup = db.prepare<
    Pick<ApiKeyRow, "id" | "org_id" | "user_id" | "expires_at" | "revoked_at" | "last_used_at"> & Pick<OrgRow, "plan"> & Pick<UserRow, "role">,
    [string]
  >(
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
  const insertKey = (r: ApiKeyRow) => insertKeyRow.run(...KEY_COLUMN_NAMES.map((c) => r[c]));

  // Immediate transactions: the name check and the write cannot interleave with another writer's.
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
    /** Every organization, oldest first (ties by id). */
    listOrgs: (): OrgRow[] => allOrgs.all(),
    getOrg: (id: string): OrgRow | null => orgById.get(id),
    hasAnyOrg: (): boolean => anyOrg.get() !== null,
    /** Organizations whose name equals `name` ignoring case and surrounding spaces, oldest first. */
    orgsNamed,
    /**
     * Inserts the organization and its owner atomically. With `uniqueName`, an organization whose name equals the new
     * one ignoring case blocks it: that organization is returned and nothing is written. Null when created.
     */
    createOrgWithOwner: (org: OrgRow, ownerRow: UserRow, opts: { uniqueName?: boolean } = {}): OrgRow | null =>
      createOrgTx.immediate(org, ownerRow, opts.uniqueName === true),
    /** Renames and/or re-plans an organization; with `uniqueName`, another organization's name (ignoring case) blocks it. */
    updateOrg: (orgId: string, changes: { name?: string; plan?: Plan }, opts: { uniqueName?: boolean } = {}): OrgUpdate =>
      updateOrgTx.immediate(orgId, changes, opts.uniqueName === true),

    /** Users of one organization, or of all, oldest first (ties by id). */
    listUsers: (orgId?: string): UserRow[] => (orgId === undefined ? allUsers.all() : usersOf.all(orgId)),
    getUserInOrg: (userId: string, orgId: string): UserRow | null => userInOrg.get(userId, orgId),
    /** The organization's earliest owner, else its earliest user; null for an organization without users. */
    findOwner: (orgId: string): UserRow | null => owner.get(orgId),
    /** False (and nothing written) when the email is already used in that organization. */
    insertUser,

    insertKey(r: ApiKeyRow): void {
      insertKey(r);
    },
    /** The organization's keys, oldest first (ties by id). */
    listKeys: (orgId: string): ApiKeyRow[] => keysOf.all(orgId),
    getKey: (id: string): ApiKeyRow | null => keyById.get(id),
    /** Sets revoked_at unless already set (the first revocation time stays); the key as it is now, or null if unknown. */
    revokeKey: (id: string, now: number): ApiKeyRow | null => revoke.get(now, id),
    /**
     * Rotates a key atomically: reads it, lets `decide` (synchronous, no I/O) plan the replacement, or throw to refuse
     * with nothing written, then inserts the replacement and sets the old key's expiry. Null for an unknown key.
     */
    rotateKey: (keyId: string, decide: (old: ApiKeyRow) => RotationPlan): { key: ApiKeyRow; previous: ApiKeyRow } | null => rotateTx.immediate(keyId, decide),
    /**
     * Verifies a key by the SHA-256 of its secret: one indexed lookup. A valid key's `last_used_at` is written when it
     * is unset or older than LAST_USED_RESOLUTION_MS, so most requests write nothing.
     */
    verify(hash: string, now: number): Verification {
      const row = lookup.get(hash);
      if (!row) return { status: "not_found" };
      if (row.revoked_at !== null) return { status: "revoked" };
      if (row.expires_at !== null && row.expires_at <= now) return { status: "expired" };
      if (row.last_used_at === null || now - row.last_used_at > LAST_USED_RESOLUTION_MS) touch.run(now, row.id);
      return { status: "valid", principal: { orgId: row.org_id, plan: row.plan, userId: row.user_id, role: row.role, keyId: row.id } };
    },
  };
}

export type OrgsStore = ReturnType<typeof buildStore>;
/** The store for this database, built on first use. */
export const orgsStore: (db: Database) => OrgsStore = perDatabase(buildStore);
