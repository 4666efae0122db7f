// API keys: create (secret shown once), list, revoke, rotate (with a grace period), and verify a presented secret by its hash.
import { and, asc, eq } from "drizzle-orm";
import type { Db } from "../db/client";
import { apiKeys, orgs, users } from "../db/schema";
import { displayPrefix, generateSecret, hashSecret, looksLikeSecret } from "./api-key";
import { errors } from "../errors";
import type { Clock } from "../lib/clock";
import { newId } from "../lib/ids";
import { toIso, toIsoOrNull } from "../lib/time";
import type { RawRow } from "../db/schema/raw-row";
import type { ApiKeyInfo } from "../orgs/model";
import type { Principal } from "./principal";

export interface Deps {
  db: Db;
  clock: Clock;
}

export interface CreatedKey extends ApiKeyInfo {
  /** The secret, shown this once; only its hash is kept. */
  key: string;
}

function toInfo(row: typeof apiKeys.$inferSelect): ApiKeyInfo {
  return {
    id: row.id,
    org_id: row.orgId,
    user_id: row.userId,
    name: row.name,
    prefix: row.prefix,
    created_at: toIso(row.createdAt),
    last_used_at: toIsoOrNull(row.lastUsedAt),
    expires_at: toIsoOrNull(row.expiresAt),
    revoked_at: toIsoOrNull(row.revokedAt),
  };
}

/** Creates a key for a user of the organization (the owner when no user is named). */
export function createKey(deps: Deps, input: { orgId: string; userId?: string; name?: string; expiresInMs?: number }): CreatedKey {
  const org = deps.db.select({ id: orgs.id }).from(orgs).where(eq(orgs.id, input.orgId)).get();
  if (!org) throw errors.notFound(`Organization ${input.orgId}`);
  let userId = input.userId;
  if (userId) {
    const user = deps.db
      .select({ id: users.id })
      .from(users)
      .where(and(eq(users.id, userId), eq(users.orgId, input.orgId)))
      .get();
    if (!user) throw errors.notFound(`User ${userId} in ${input.orgId}`);
  } else {
    const owners = deps.db.select().from(users).where(eq(users.orgId, input.orgId)).orderBy(asc(users.createdAt)).all();
    const owner = owners.find((u) => u.role === "owner") ?? owners[0];
    if (!owner) throw errors.notFound(`An owner of ${input.orgId}`);
    userId = owner.id;
  }
  const now = deps.clock.now();
  const secret = generateSecret();
  const row = {
    id: newId("key"),
    orgId: input.orgId,
    userId,
    name: input.name?.trim() || "API key",
    prefix: displayPrefix(secret),
    hash: hashSecret(secret),
    createdAt: now,
    lastUsedAt: null,
    expiresAt: input.expiresInMs ? now + input.expiresInMs : null,
    revokedAt: null,
  };
  deps.db.insert(apiKeys).values(row).run();
  return { ...toInfo(row), key: secret };
}

export function listKeys(deps: Pick<Deps, "db">, orgId: string): ApiKeyInfo[] {
  const org = deps.db.select({ id: orgs.id }).from(orgs).where(eq(orgs.id, orgId)).get();
  if (!org) throw errors.notFound(`Organization ${orgId}`);
  return deps.db.select().from(apiKeys).where(eq(apiKeys.orgId, orgId)).orderBy(asc(apiKeys.createdAt), asc(apiKeys.id)).all().map(toInfo);
}

/** Revokes a key at once; revoking an already revoked key keeps its first revocation time. */
export function revokeKey(deps: Deps, keyId: string): ApiKeyInfo {
  const row = deps.db.select().from(apiKeys).where(eq(apiKeys.id, keyId)).get();
  if (!row) throw errors.notFound(`API key ${keyId}`);
  if (row.revokedAt === null) {
    row.revokedAt = deps.clock.now();
    deps.db.update(apiKeys).set({ revokedAt: row.revokedAt }).where(eq(apiKeys.id, keyId)).run();
  }
  return toInfo(row);
}

/** How long a rotated key keeps working by default: a day to roll the new secret out. */
export const DEFAULT_ROTATION_GRACE_MS = 24 * 3600_000;

export interface RotatedKey {
  /** The replacement, with its secret (shown once). */
  key: CreatedKey;
  /** The old key as it is now: `expires_at` is the end of its grace period. */
  previous: ApiKeyInfo;
}

/**
 * Replaces a key: a new key for the same organization, user and name (with the old key's lifetime, if it had
 * one, counted from now) and the old one expiring after `graceMs` (0: at once; never later than it already
 * would), in one transaction. A revoked or expired key cannot be rotated: create a new one.
 */
export function rotateKey(deps: Deps, keyId: string, opts: { graceMs?: number } = {}): RotatedKey {
  const graceMs = opts.graceMs ?? DEFAULT_ROTATION_GRACE_MS;
  return deps.db.transaction(
    (tx) => {
      const row = tx.select().from(apiKeys).where(eq(apiKeys.id, keyId)).get();
      if (!row) throw errors.notFound(`API key ${keyId}`);
      const now = deps.clock.now();
      if (row.revokedAt !== null) throw errors.conflict(`API key ${keyId} is revoked; create a new key instead.`);
      if (row.expiresAt !== null && row.expiresAt <= now) throw errors.conflict(`API key ${keyId} has expired; create a new key instead.`);
      const lifetimeMs = row.expiresAt === null ? undefined : row.expiresAt - row.createdAt;
      const key = createKey({ db: tx as unknown as Db, clock: deps.clock }, { orgId: row.orgId, userId: row.userId, name: row.name, expiresInMs: lifetimeMs });
      const expiresAt = Math.min(now + graceMs, row.expiresAt ?? Number.MAX_SAFE_INTEGER);
      tx.update(apiKeys).set({ expiresAt }).where(eq(apiKeys.id, keyId)).run();
      return { key, previous: toInfo({ ...row, expiresAt }) };
    },
    { behavior: "immediate" },
  );
}

export type Verification = { status: "valid"; principal: Principal } | { status: "not_found" | "revoked" | "expired" };

/** How stale `last_used_at` may get before a request writes it again (keeps auth read-only on the hot path). */
const LAST_USED_RESOLUTION_MS = 60_000;

/**
 * Builds the verifier: one indexed lookup by the secret's hash, yielding an explicit status.
 * Statements are prepared once per database.
 */
export function createKeyVerifier(deps: Deps): (secret: string) => Verification {
  const lookup = deps.db.$client.prepare<
    Pick<RawRow<typeof apiKeys>, "id" | "org_id" | "user_id" | "expires_at" | "revoked_at" | "last_used_at"> &
      Pick<RawRow<typeof orgs>, "plan"> &
      Pick<RawRow<typeof users>, "role">,
    [string]
  >(
    `SELECT k.id, k.org_id, k.user_id, k.expires_at, k.revoked_at, k.last_used_at, o.plan, u.role
       FROM api_keys k JOIN orgs o ON o.id = k.org_id JOIN users u ON u.id = k.user_id
      WHERE k.hash = ?`,
  );
  const touch = deps.db.$client.prepare<unknown, [number, string]>(`UPDATE api_keys SET last_used_at = ? WHERE id = ?`);
  return (secret) => {
    if (!looksLikeSecret(secret)) return { status: "not_found" };
    const row = lookup.get(hashSecret(secret));
    if (!row) return { status: "not_found" };
    if (row.revoked_at !== null) return { status: "revoked" };
    const now = deps.clock.now();
    if (row.expires_at !== null && row.expires_at <= now) return { status: "expired" };
    if (row.last_used_at === null || now - row.last_used_at > LAST_USED_RESOLUTION_MS) touch.run(now, row.id);
    return { status: "valid", principal: { orgId: row.org_id, plan: row.plan, userId: row.user_id, role: row.role, keyId: row.id } };
  };
}
