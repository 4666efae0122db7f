// API keys: create (secret shown once), list, revoke, rotate (with a grace period), and verify a presented secret by its hash.
import type { Writer } from "../db/writer";
import { displayPrefix, generateSecret, hashSecret, looksLikeSecret } from "./api-key";
import { errors } from "../errors";
import type { Clock } from "../lib/clock";
import { newId } from "../lib/ids";
import { toIso, toIsoOrNull } from "../lib/time";
import type { ApiKeyInfo } from "../orgs/model";
import type { ApiKeyRow, OrgsStore, Verification } from "../orgs/store";

export type { Verification } from "../orgs/store";

/** What a keys unit of work is given: the stores bound to its transaction. */
export interface KeysTx {
  orgs: OrgsStore;
}

export interface Deps {
  /** For reads: committed rows only. */
  stores: { orgs: OrgsStore };
  /** Every change goes through it, answered after its batch's commit. */
  writer: Writer<KeysTx>;
  clock: Clock;
}

export interface CreatedKey extends ApiKeyInfo {
  /** The secret, shown this once; only its hash is kept. */
  key: string;
}

function toInfo(row: ApiKeyRow): ApiKeyInfo {
  return {
    id: row.id,
    org_id: row.org_id,
    user_id: row.user_id,
    name: row.name,
    prefix: row.prefix,
    created_at: toIso(row.created_at),
    last_used_at: toIsoOrNull(row.last_used_at),
    expires_at: toIsoOrNull(row.expires_at),
    revoked_at: toIsoOrNull(row.revoked_at),
  };
}

/** A new key's row and its secret (the row keeps only the secret's hash). */
function newKeyRow(input: { orgId: string; userId: string; name?: string; expiresInMs?: number }, now: number): { row: ApiKeyRow; secret: string } {
  const secret = generateSecret();
  const row: ApiKeyRow = {
    id: newId("key"),
    org_id: input.orgId,
    user_id: input.userId,
    name: input.name?.trim() || "API key",
    prefix: displayPrefix(secret),
    hash: hashSecret(secret),
    created_at: now,
    last_used_at: null,
    expires_at: input.expiresInMs ? now + input.expiresInMs : null,
    revoked_at: null,
  };
  return { row, secret };
}

/** The user a new key acts for: the named user of the organization, else its owner; 404 for either missing. */
async function keyUser(store: OrgsStore, orgId: string, userId: string | undefined): Promise<string> {
  if (!(await store.getOrg(orgId))) throw errors.notFound(`Organization ${orgId}`);
  if (userId) {
    if (!(await store.getUserInOrg(userId, orgId))) throw errors.notFound(`User ${userId} in ${orgId}`);
    return userId;
  }
  const owner = await store.findOwner(orgId);
  if (!owner) throw errors.notFound(`An owner of ${orgId}`);
  return owner.id;
}

/**
 * Inside a unit of work (`store` is its `tx.orgs`): creates a key for a user of the organization (the owner when no
 * user is named). For a unit that does more than this (the first-start bootstrap); otherwise use createKey.
 */
export async function addKey(
  store: OrgsStore,
  input: { orgId: string; userId?: string; name?: string; expiresInMs?: number },
  now: number,
): Promise<CreatedKey> {
  const userId = await keyUser(store, input.orgId, input.userId);
  const { row, secret } = newKeyRow({ ...input, userId }, now);
  await store.insertKey(row);
  return { ...toInfo(row), key: secret };
}

/** Creates a key for a user of the organization (the owner when no user is named); the user is checked in the same unit. */
export async function createKey(deps: Deps, input: { orgId: string; userId?: string; name?: string; expiresInMs?: number }): Promise<CreatedKey> {
  const now = deps.clock.now();
  return deps.writer.write((tx) => addKey(tx.orgs, input, now));
}

export async function listKeys(deps: Pick<Deps, "stores">, orgId: string): Promise<ApiKeyInfo[]> {
  const store = deps.stores.orgs;
  if (!(await store.getOrg(orgId))) throw errors.notFound(`Organization ${orgId}`);
  return (await store.listKeys(orgId)).map(toInfo);
}

/** Revokes a key at once; revoking an already revoked key keeps its first revocation time. */
export async function revokeKey(deps: Deps, keyId: string): Promise<ApiKeyInfo> {
  const now = deps.clock.now();
  const row = await deps.writer.write((tx) => tx.orgs.revokeKey(keyId, now));
  if (!row) throw errors.notFound(`API key ${keyId}`);
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
export async function rotateKey(deps: Deps, keyId: string, opts: { graceMs?: number } = {}): Promise<RotatedKey> {
  const graceMs = opts.graceMs ?? DEFAULT_ROTATION_GRACE_MS;
  const now = deps.clock.now();
  let secret = "";
  const rotated = await deps.writer.write((tx) =>
    tx.orgs.rotateKey(keyId, (old) => {
      if (old.revoked_at !== null) throw errors.conflict(`API key ${keyId} is revoked; create a new key instead.`);
      if (old.expires_at !== null && old.expires_at <= now) throw errors.conflict(`API key ${keyId} has expired; create a new key instead.`);
      const lifetimeMs = old.expires_at === null ? undefined : old.expires_at - old.created_at;
      const created = newKeyRow({ orgId: old.org_id, userId: old.user_id, name: old.name, expiresInMs: lifetimeMs }, now);
      secret = created.secret;
      return { replacement: created.row, previousExpiresAt: Math.min(now + graceMs, old.expires_at ?? Number.MAX_SAFE_INTEGER) };
    }),
  );
  if (!rotated) throw errors.notFound(`API key ${keyId}`);
  return { key: { ...toInfo(rotated.key), key: secret }, previous: toInfo(rotated.previous) };
}

/** What the verifier needs: the store's verification (read view: committed rows only) and the clock. */
export interface VerifierDeps {
  stores: { orgs: Pick<OrgsStore, "verify"> };
  clock: Clock;
}

/**
 * Builds the verifier: a shape check, then one indexed lookup by the secret's hash (the store's prepared statement),
 * yielding an explicit status. Runs on every authenticated request: keep it at that. A valid key's last-used time is
 * written by the store itself, throttled (LAST_USED_RESOLUTION_MS): not an acknowledged write, so not through the
 * writer; the read view's guard keeps it out of an open batch.
 */
export function createKeyVerifier(deps: VerifierDeps): (secret: string) => Promise<Verification> {
  const store = deps.stores.orgs;
  return (secret) => (looksLikeSecret(secret) ? store.verify(hashSecret(secret), deps.clock.now()) : Promise.resolve({ status: "not_found" }));
}
