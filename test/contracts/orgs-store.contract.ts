// The organizations store contract (organizations, users, API keys), written against the interface so every engine runs it unchanged.
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { newId } from "../../src/lib/ids";
import { type ApiKeyRow, LAST_USED_RESOLUTION_MS, type OrgRow, type OrgsStore, type UserRow } from "../../src/orgs/store";
import type { Plan, Role } from "../../src/db/schema/orgs";
import type { Writer } from "../../src/db/writer";
import { failure, type Open, type Opened, T0 } from "./fixtures";

function orgRow(name: string, opts: { plan?: Plan; createdAt?: number; id?: string } = {}): OrgRow {
  return { id: opts.id ?? newId("org"), name, plan: opts.plan ?? "pro", created_at: opts.createdAt ?? T0 };
}

function userRow(orgId: string, opts: { email?: string; role?: Role; createdAt?: number; id?: string } = {}): UserRow {
  const id = opts.id ?? newId("user");
  return { id, org_id: orgId, email: opts.email ?? `${id}@example.test`, name: null, role: opts.role ?? "member", created_at: opts.createdAt ?? T0 };
}

function keyRow(orgId: string, userId: string, opts: { createdAt?: number; expiresAt?: number | null; id?: string; name?: string } = {}): ApiKeyRow {
  const id = opts.id ?? newId("key");
  return {
    id,
    org_id: orgId,
    user_id: userId,
    name: opts.name ?? "API key",
    prefix: "cc_test00",
    // Any unique text stands in for a SHA-256: the store compares, it does not hash.
    hash: `hash-${id}`,
    created_at: opts.createdAt ?? T0,
    last_used_at: null,
    expires_at: opts.expiresAt ?? null,
    revoked_at: null,
  };
}

/** Runs `fn` as a promise, so a throw and a rejection are checked alike. */
function attempt<T>(fn: () => T | Promise<T>): Promise<T> {
  return (async () => fn())();
}

/** What the suite runs against: the store outside a unit (committed rows), and the engine's writer whose units get it bound to their transaction. */
export interface OrgsUnderTest {
  orgs: OrgsStore;
  writer: Writer<{ orgs: OrgsStore }>;
}

/** Runs every call at once and sorts the outcomes: what was fulfilled (in call order) and what was rejected. */
async function all<T>(calls: (() => Promise<T>)[]): Promise<{ fulfilled: T[]; rejected: unknown[] }> {
  const settled = await Promise.allSettled(calls.map((c) => attempt(c)));
  return {
    fulfilled: settled.flatMap((s) => (s.status === "fulfilled" ? [s.value] : [])),
    rejected: settled.flatMap((s) => (s.status === "rejected" ? [s.reason] : [])),
  };
}

/** How many calls each concurrency case makes at once (an engine with a pool spreads them over its connections). */
const CONCURRENCY = 8;

/**
 * The contract suite. `open` gives a fresh, migrated, empty database's store and writer for each test (the seeds are
 * not used: this store makes the rows the others point at).
 */
export function describeOrgsStoreContract(engineName: string, open: Open<OrgsUnderTest>): void {
  describe(`orgs store contract (${engineName})`, () => {
    let opened: Opened<OrgsUnderTest>;
    let store: OrgsStore;
    let writer: Writer<{ orgs: OrgsStore }>;
    beforeEach(async () => {
      opened = await open();
      store = opened.store.orgs;
      writer = opened.store.writer;
    });
    afterEach(async () => {
      await opened.close();
    });

    /** An organization with its owner, created through the store. */
    async function seedOrg(name = "Acme", opts: { plan?: Plan; createdAt?: number } = {}): Promise<{ org: OrgRow; owner: UserRow }> {
      const org = orgRow(name, opts);
      const owner = userRow(org.id, { role: "owner", createdAt: org.created_at });
      expect(await store.createOrgWithOwner(org, owner)).toBeNull();
      return { org, owner };
    }

    async function seedKey(orgId: string, userId: string, opts: Parameters<typeof keyRow>[2] = {}): Promise<ApiKeyRow> {
      const key = keyRow(orgId, userId, opts);
      expect(await store.insertKey(key)).toBeUndefined();
      return key;
    }

    describe("organizations", () => {
      test("an empty database has no organization; one created has its owner", async () => {
        expect(await store.hasAnyOrg()).toBe(false);
        expect(await store.listOrgs()).toEqual([]);
        const { org, owner } = await seedOrg("Acme", { plan: "enterprise" });
        expect(await store.hasAnyOrg()).toBe(true);
        expect(await store.getOrg(org.id)).toEqual(org);
        expect(await store.listUsers(org.id)).toEqual([owner]);
        expect(await store.findOwner(org.id)).toEqual(owner);
      });

      test("an unknown organization is null", async () => {
        await seedOrg();
        expect(await store.getOrg("org_unknown")).toBeNull();
      });

      test("organization and owner are created atomically: a failing owner insert leaves no organization", async () => {
        const { owner: taken } = await seedOrg("First");
        const org = orgRow("Second");
        // The owner reuses an existing user's id: its insert fails, so the organization must not remain either.
        await expect(attempt(() => store.createOrgWithOwner(org, { ...userRow(org.id, { role: "owner" }), id: taken.id }))).rejects.toThrow();
        expect(await store.getOrg(org.id)).toBeNull();
        expect((await store.listOrgs()).map((o) => o.name)).toEqual(["First"]);
      });

      test("with uniqueName, a name another organization has (ignoring case) blocks the create and writes nothing", async () => {
        const { org: acme } = await seedOrg("Acme");
        const again = orgRow("aCME");
        const owner = userRow(again.id, { role: "owner" });
        expect(await store.createOrgWithOwner(again, owner, { uniqueName: true })).toEqual(acme);
        expect(await store.getOrg(again.id)).toBeNull();
        expect(await store.listUsers(again.id)).toEqual([]);
        expect(await store.listOrgs()).toEqual([acme]);
      });

      test("case folding is not ASCII-only", async () => {
        const { org } = await seedOrg("Ärzte Öst");
        const other = orgRow("ärzte öst");
        expect(await store.createOrgWithOwner(other, userRow(other.id, { role: "owner" }), { uniqueName: true })).toEqual(org);
      });

      test("without uniqueName, duplicate names are allowed", async () => {
        await seedOrg("Acme");
        const twin = orgRow("ACME", { createdAt: T0 + 1 });
        expect(await store.createOrgWithOwner(twin, userRow(twin.id, { role: "owner" }))).toBeNull();
        expect((await store.listOrgs()).map((o) => o.name)).toEqual(["Acme", "ACME"]);
      });

      test("orgsNamed finds every organization with the name ignoring case and spaces, oldest first", async () => {
        const { org: a } = await seedOrg("Acme", { createdAt: T0 });
        await seedOrg("Other", { createdAt: T0 + 1 });
        const { org: b } = await seedOrg("ACME", { createdAt: T0 + 2 });
        expect(await store.orgsNamed("  acme ")).toEqual([a, b]);
        expect(await store.orgsNamed("acm")).toEqual([]);
      });

      test("list order: oldest first, ties by id", async () => {
        const late = orgRow("Late", { createdAt: T0 + 10, id: "org_0000" });
        const tieB = orgRow("Tie B", { createdAt: T0, id: "org_bbbb" });
        const tieA = orgRow("Tie A", { createdAt: T0, id: "org_aaaa" });
        for (const o of [late, tieB, tieA]) expect(await store.createOrgWithOwner(o, userRow(o.id, { role: "owner" }))).toBeNull();
        expect((await store.listOrgs()).map((o) => o.id)).toEqual(["org_aaaa", "org_bbbb", "org_0000"]);
      });

      test("update renames and re-plans, and the change is stored", async () => {
        const { org } = await seedOrg("Acme");
        expect(await store.updateOrg(org.id, { name: "Acme Ltd" })).toEqual({ status: "updated", org: { ...org, name: "Acme Ltd" } });
        expect(await store.updateOrg(org.id, { plan: "free" })).toEqual({ status: "updated", org: { ...org, name: "Acme Ltd", plan: "free" } });
        expect(await store.updateOrg(org.id, { name: "Acme", plan: "enterprise" })).toEqual({ status: "updated", org: { ...org, plan: "enterprise" } });
        expect(await store.getOrg(org.id)).toEqual({ ...org, plan: "enterprise" });
        // Absent (or undefined) fields stay as they are.
        expect(await store.updateOrg(org.id, { name: undefined, plan: undefined })).toEqual({ status: "updated", org: { ...org, plan: "enterprise" } });
      });

      test("update of an unknown organization is not_found", async () => {
        expect(await store.updateOrg("org_unknown", { name: "X" })).toEqual({ status: "not_found" });
      });

      test("with uniqueName, another organization's name blocks a rename; the organization's own name (other case) does not", async () => {
        const { org: acme } = await seedOrg("Acme");
        const { org: beta } = await seedOrg("Beta", { createdAt: T0 + 1 });
        expect(await store.updateOrg(beta.id, { name: "ACME", plan: "free" }, { uniqueName: true })).toEqual({ status: "duplicate", existing: acme });
        expect(await store.getOrg(beta.id)).toEqual(beta);
        expect(await store.updateOrg(acme.id, { name: "ACME" }, { uniqueName: true })).toEqual({ status: "updated", org: { ...acme, name: "ACME" } });
        expect(await store.updateOrg(beta.id, { name: "acme" })).toMatchObject({ status: "updated" });
      });
    });

    describe("users", () => {
      test("users of an organization, oldest first (ties by id), and of all organizations", async () => {
        const { org: a, owner: ownerA } = await seedOrg("A", { createdAt: T0 });
        const { org: b, owner: ownerB } = await seedOrg("B", { createdAt: T0 + 1 });
        const late = userRow(a.id, { createdAt: T0 + 5, id: "user_0000" });
        const tie = userRow(a.id, { createdAt: T0 + 2, id: "user_zzzz" });
        for (const u of [late, tie]) expect(await store.insertUser(u)).toBe(true);
        expect(await store.listUsers(a.id)).toEqual([ownerA, tie, late]);
        expect(await store.listUsers(b.id)).toEqual([ownerB]);
        expect((await store.listUsers()).map((u) => u.id)).toEqual([ownerA.id, ownerB.id, tie.id, late.id]);
      });

      test("an email already used in the organization is refused and not written; in another organization it is fine", async () => {
        const { org: a } = await seedOrg("A");
        const { org: b } = await seedOrg("B");
        expect(await store.insertUser(userRow(a.id, { email: "sam@example.test" }))).toBe(true);
        const dup = userRow(a.id, { email: "sam@example.test" });
        expect(await store.insertUser(dup)).toBe(false);
        expect(await store.getUserInOrg(dup.id, a.id)).toBeNull();
        expect(await store.insertUser(userRow(b.id, { email: "sam@example.test" }))).toBe(true);
      });

      test("a user is found only in its own organization", async () => {
        const { org: a, owner } = await seedOrg("A");
        const { org: b } = await seedOrg("B");
        expect(await store.getUserInOrg(owner.id, a.id)).toEqual(owner);
        expect(await store.getUserInOrg(owner.id, b.id)).toBeNull();
        expect(await store.getUserInOrg("user_unknown", a.id)).toBeNull();
      });

      test("the owner: the earliest owner even after an earlier member; else the earliest user; null for an unknown organization", async () => {
        const org = orgRow("A");
        const member = userRow(org.id, { role: "member", createdAt: T0 - 10 });
        const first = userRow(org.id, { role: "owner", createdAt: T0 });
        expect(await store.createOrgWithOwner(org, first)).toBeNull();
        expect(await store.insertUser(member)).toBe(true);
        expect(await store.insertUser(userRow(org.id, { role: "owner", createdAt: T0 + 10 }))).toBe(true);
        expect(await store.findOwner(org.id)).toEqual(first);

        // An organization whose owner row says "admin": the earliest user stands in.
        const other = orgRow("B");
        const admin = userRow(other.id, { role: "admin", createdAt: T0 + 1 });
        expect(await store.createOrgWithOwner(other, admin)).toBeNull();
        expect(await store.insertUser(userRow(other.id, { role: "member", createdAt: T0 + 2 }))).toBe(true);
        expect(await store.findOwner(other.id)).toEqual(admin);
        expect(await store.findOwner("org_unknown")).toBeNull();
      });
    });

    describe("API keys", () => {
      test("create, get and list (oldest first, ties by id, per organization)", async () => {
        const { org: a, owner } = await seedOrg("A");
        const { org: b, owner: ownerB } = await seedOrg("B");
        const late = await seedKey(a.id, owner.id, { createdAt: T0 + 10, id: "key_0000" });
        const tieB = await seedKey(a.id, owner.id, { createdAt: T0, id: "key_bbbb", name: "ci", expiresAt: T0 + 1000 });
        const tieA = await seedKey(a.id, owner.id, { createdAt: T0, id: "key_aaaa" });
        const other = await seedKey(b.id, ownerB.id);
        expect(await store.getKey(tieB.id)).toEqual(tieB);
        expect(await store.getKey("key_unknown")).toBeNull();
        expect(await store.listKeys(a.id)).toEqual([tieA, tieB, late]);
        expect(await store.listKeys(b.id)).toEqual([other]);
        expect(await store.listKeys("org_unknown")).toEqual([]);
      });

      test("a hash is unique: a second key with the same hash is refused", async () => {
        const { org, owner } = await seedOrg();
        const key = await seedKey(org.id, owner.id);
        await expect(attempt(() => store.insertKey({ ...keyRow(org.id, owner.id), hash: key.hash }))).rejects.toThrow();
        expect(await store.listKeys(org.id)).toEqual([key]);
      });

      test("revoke sets revoked_at once: a second revoke keeps the first time; an unknown key is null", async () => {
        const { org, owner } = await seedOrg();
        const key = await seedKey(org.id, owner.id);
        expect(await store.revokeKey(key.id, T0 + 100)).toEqual({ ...key, revoked_at: T0 + 100 });
        expect(await store.revokeKey(key.id, T0 + 999)).toEqual({ ...key, revoked_at: T0 + 100 });
        expect(await store.getKey(key.id)).toEqual({ ...key, revoked_at: T0 + 100 });
        expect(await store.revokeKey("key_unknown", T0)).toBeNull();
      });

      test("rotate inserts the planned replacement and sets the old key's expiry, in one step", async () => {
        const { org, owner } = await seedOrg();
        const old = await seedKey(org.id, owner.id, { name: "ci", expiresAt: T0 + 5000 });
        const replacement = keyRow(org.id, owner.id, { name: "ci", createdAt: T0 + 1, expiresAt: T0 + 5001 });
        const seen: ApiKeyRow[] = [];
        const result = await store.rotateKey(old.id, (row) => {
          seen.push(row);
          return { replacement, previousExpiresAt: T0 + 60 };
        });
        expect(seen).toEqual([old]);
        expect(result).toEqual({ key: replacement, previous: { ...old, expires_at: T0 + 60 } });
        expect(await store.getKey(old.id)).toEqual({ ...old, expires_at: T0 + 60 });
        expect(await store.listKeys(org.id)).toEqual([{ ...old, expires_at: T0 + 60 }, replacement]);
      });

      test("rotate of an unknown key is null and plans nothing", async () => {
        await seedOrg();
        let called = false;
        expect(
          await store.rotateKey("key_unknown", () => {
            called = true;
            throw new Error("not reached");
          }),
        ).toBeNull();
        expect(called).toBe(false);
      });

      test("a refused rotation (the plan throws) writes nothing and passes the error on", async () => {
        const { org, owner } = await seedOrg();
        const old = await seedKey(org.id, owner.id);
        await expect(
          attempt(() =>
            store.rotateKey(old.id, () => {
              throw new Error("refused: revoked");
            }),
          ),
        ).rejects.toThrow("refused: revoked");
        expect(await store.listKeys(org.id)).toEqual([old]);
      });

      test("a rotation whose replacement cannot be inserted leaves the old key as it was", async () => {
        const { org, owner } = await seedOrg();
        const old = await seedKey(org.id, owner.id, { expiresAt: T0 + 5000 });
        // Same hash as the old key: the insert fails after the plan, and the expiry change must not remain.
        await expect(
          attempt(() => store.rotateKey(old.id, () => ({ replacement: { ...keyRow(org.id, owner.id), hash: old.hash }, previousExpiresAt: T0 }))),
        ).rejects.toThrow();
        expect(await store.listKeys(org.id)).toEqual([old]);
      });
      test("by id alone (the admin commands), a key of any organization is found and revoked; listing stays per organization", async () => {
        const { org: a, owner: ownerA } = await seedOrg("A");
        const { org: b, owner: ownerB } = await seedOrg("B");
        const keyA = await seedKey(a.id, ownerA.id);
        const keyB = await seedKey(b.id, ownerB.id);
        expect(await store.getKey(keyB.id)).toEqual(keyB);
        expect(await store.revokeKey(keyB.id, T0 + 1)).toEqual({ ...keyB, revoked_at: T0 + 1 });
        expect(await store.getKey(keyA.id)).toEqual(keyA);
        expect(await store.listKeys(a.id)).toEqual([keyA]);
      });

      test("a refused rotation's error reaches the caller as thrown, not wrapped", async () => {
        const { org, owner } = await seedOrg();
        const old = await seedKey(org.id, owner.id);
        class Refused extends Error {}
        const err = await failure(() =>
          store.rotateKey(old.id, () => {
            throw new Refused("no");
          }),
        );
        expect(err).toBeInstanceOf(Refused);
      });

      test("after a rotation, the old key verifies until its new expiry and the replacement from the start", async () => {
        const { org, owner } = await seedOrg();
        const old = await seedKey(org.id, owner.id);
        const replacement = keyRow(org.id, owner.id, { createdAt: T0 + 1 });
        await store.rotateKey(old.id, () => ({ replacement, previousExpiresAt: T0 + 100 }));
        expect((await store.verify(old.hash, T0 + 99)).status).toBe("valid");
        expect(await store.verify(old.hash, T0 + 100)).toEqual({ status: "expired" });
        expect(await store.verify(replacement.hash, T0 + 100)).toMatchObject({ status: "valid", principal: { keyId: replacement.id } });
      });
    });

    describe("verification by hash", () => {
      test("a valid key yields its organization, plan, user, role and key id", async () => {
        const { org, owner } = await seedOrg("Acme", { plan: "enterprise" });
        const admin = userRow(org.id, { role: "admin" });
        expect(await store.insertUser(admin)).toBe(true);
        const key = await seedKey(org.id, admin.id);
        expect(await store.verify(key.hash, T0)).toEqual({
          status: "valid",
          principal: { orgId: org.id, plan: "enterprise", userId: admin.id, role: "admin", keyId: key.id },
        });
        const ownerKey = await seedKey(org.id, owner.id);
        expect(await store.verify(ownerKey.hash, T0)).toMatchObject({ status: "valid", principal: { userId: owner.id, role: "owner" } });
      });

      test("an unknown hash is not_found", async () => {
        await seedOrg();
        expect(await store.verify("hash-unknown", T0)).toEqual({ status: "not_found" });
      });

      test("a revoked key is revoked (even once it has also expired)", async () => {
        const { org, owner } = await seedOrg();
        const key = await seedKey(org.id, owner.id, { expiresAt: T0 + 10 });
        await store.revokeKey(key.id, T0);
        expect(await store.verify(key.hash, T0)).toEqual({ status: "revoked" });
        expect(await store.verify(key.hash, T0 + 10)).toEqual({ status: "revoked" });
      });

      test("expiry is exact: valid one millisecond before, expired at the instant", async () => {
        const { org, owner } = await seedOrg();
        const key = await seedKey(org.id, owner.id, { expiresAt: T0 + 1000 });
        expect((await store.verify(key.hash, T0 + 999)).status).toBe("valid");
        expect(await store.verify(key.hash, T0 + 1000)).toEqual({ status: "expired" });
      });

      test("a free plan is reported, not refused (refusing it is the auth plugin's job), and a plan change shows on the next verification", async () => {
        const { org, owner } = await seedOrg("Acme", { plan: "free" });
        const key = await seedKey(org.id, owner.id);
        expect(await store.verify(key.hash, T0)).toMatchObject({ status: "valid", principal: { plan: "free" } });
        await store.updateOrg(org.id, { plan: "pro" });
        expect(await store.verify(key.hash, T0)).toMatchObject({ status: "valid", principal: { plan: "pro" } });
      });

      test("last_used_at: written on first use, then only once it is older than the resolution", async () => {
        const { org, owner } = await seedOrg();
        const key = await seedKey(org.id, owner.id);
        const lastUsed = async () => (await store.getKey(key.id))!.last_used_at;
        expect(await lastUsed()).toBeNull();
        await store.verify(key.hash, T0 + 1);
        expect(await lastUsed()).toBe(T0 + 1);
        await store.verify(key.hash, T0 + 1 + LAST_USED_RESOLUTION_MS);
        expect(await lastUsed()).toBe(T0 + 1);
        await store.verify(key.hash, T0 + 2 + LAST_USED_RESOLUTION_MS);
        expect(await lastUsed()).toBe(T0 + 2 + LAST_USED_RESOLUTION_MS);
      });

      test("last_used_at never moves backwards: a verification with an earlier clock writes nothing", async () => {
        const { org, owner } = await seedOrg();
        const key = await seedKey(org.id, owner.id);
        const later = T0 + 10 * LAST_USED_RESOLUTION_MS;
        await store.verify(key.hash, later);
        expect((await store.verify(key.hash, T0)).status).toBe("valid");
        expect((await store.getKey(key.id))!.last_used_at).toBe(later);
      });

      test("the hash is compared exactly: another case or a prefix is not_found", async () => {
        const { org, owner } = await seedOrg();
        const key = await seedKey(org.id, owner.id);
        expect(await store.verify(key.hash.toUpperCase(), T0)).toEqual({ status: "not_found" });
        expect(await store.verify(key.hash.slice(0, -1), T0)).toEqual({ status: "not_found" });
        expect(await store.verify(`${key.hash} `, T0)).toEqual({ status: "not_found" });
      });

      test("a failed verification writes nothing", async () => {
        const { org, owner } = await seedOrg();
        const revoked = await seedKey(org.id, owner.id);
        await store.revokeKey(revoked.id, T0);
        const expired = await seedKey(org.id, owner.id, { expiresAt: T0 });
        await store.verify(revoked.hash, T0 + 1);
        await store.verify(expired.hash, T0 + 1);
        expect((await store.listKeys(org.id)).map((k) => k.last_used_at)).toEqual([null, null]);
      });
    });

    describe("concurrent writes (each outcome is one that running them one after another could give)", () => {
      // As many reads at once first, so that an engine with a pool has opened that many connections: the calls of
      // each case then really run side by side.
      beforeEach(async () => {
        await Promise.all(Array.from({ length: CONCURRENCY }, () => store.listOrgs()));
      });

      test("creates of one name (any case) with uniqueName, on the pool and in units at once: exactly one is created, the others get it", async () => {
        const rows = Array.from({ length: CONCURRENCY }, (_, i) => orgRow(i % 2 ? "Acme" : "ACME", { createdAt: T0 + i }));
        const create = (o: OrgRow) => (s: OrgsStore) => s.createOrgWithOwner(o, userRow(o.id, { role: "owner" }), { uniqueName: true });
        const { fulfilled, rejected } = await all(rows.map((o, i) => (i % 2 ? () => create(o)(store) : () => writer.write((tx) => create(o)(tx.orgs)))));
        expect(rejected).toEqual([]);
        const created = rows.filter((_, i) => fulfilled[i] === null);
        expect(created.length).toBe(1);
        expect(fulfilled.filter((r) => r !== null)).toEqual(Array(CONCURRENCY - 1).fill(created[0]));
        expect(await store.listOrgs()).toEqual(created);
        expect((await store.listUsers()).map((u) => u.org_id)).toEqual([created[0]!.id]);
      });

      test("renames of several organizations to one name with uniqueName: exactly one is renamed, the others are told which", async () => {
        const seeded: OrgRow[] = [];
        for (let i = 0; i < CONCURRENCY; i++) seeded.push((await seedOrg(`Org ${i}`, { createdAt: T0 + i })).org);
        const { fulfilled, rejected } = await all(
          seeded.map((o, i) => () => writer.write((tx) => tx.orgs.updateOrg(o.id, { name: i % 2 ? "Same" : "SAME" }, { uniqueName: true }))),
        );
        expect(rejected).toEqual([]);
        const renamed = fulfilled.flatMap((r) => (r.status === "updated" ? [r.org] : []));
        expect(renamed.length).toBe(1);
        expect(fulfilled.filter((r) => r.status === "duplicate")).toEqual(Array(CONCURRENCY - 1).fill({ status: "duplicate", existing: renamed[0] }));
        expect((await store.orgsNamed("same")).map((o) => o.id)).toEqual([renamed[0]!.id]);
      });

      test("the first-start check in units (no organization yet? create one) creates exactly one between them", async () => {
        const { fulfilled, rejected } = await all(
          Array.from(
            { length: CONCURRENCY },
            () => () =>
              writer.write(async (tx) => {
                if (await tx.orgs.hasAnyOrg()) return false;
                const o = orgRow("Default");
                expect(await tx.orgs.createOrgWithOwner(o, userRow(o.id, { role: "owner" }))).toBeNull();
                return true;
              }),
          ),
        );
        expect(rejected).toEqual([]);
        expect(fulfilled.filter(Boolean).length).toBe(1);
        expect((await store.listOrgs()).length).toBe(1);
      });

      test("rotations of one key, on the pool and in units at once, each read the key as the previous one left it", async () => {
        const { org, owner } = await seedOrg();
        const old = await seedKey(org.id, owner.id, { expiresAt: T0 + 1_000_000 });
        const seen: (number | null)[] = [];
        const rotate = (i: number) => (s: OrgsStore) =>
          s.rotateKey(old.id, (row) => {
            seen.push(row.expires_at);
            return { replacement: keyRow(org.id, owner.id, { createdAt: T0 + 1 + i }), previousExpiresAt: row.expires_at! - 1 };
          });
        const { fulfilled, rejected } = await all(
          Array.from({ length: CONCURRENCY }, (_, i) => (i % 2 ? () => rotate(i)(store) : () => writer.write((tx) => rotate(i)(tx.orgs)))),
        );
        expect(rejected).toEqual([]);
        expect(fulfilled.length).toBe(CONCURRENCY);
        expect([...seen].sort((x, y) => x! - y!)).toEqual(Array.from({ length: CONCURRENCY }, (_, i) => T0 + 1_000_000 - CONCURRENCY + 1 + i));
        expect((await store.getKey(old.id))!.expires_at).toBe(T0 + 1_000_000 - CONCURRENCY);
        expect((await store.listKeys(org.id)).length).toBe(CONCURRENCY + 1);
      });

      test("revocations of one key at once keep one revocation time, the one every call returns", async () => {
        const { org, owner } = await seedOrg();
        const key = await seedKey(org.id, owner.id);
        const { fulfilled } = await all(
          Array.from({ length: CONCURRENCY }, (_, i) =>
            i % 2 ? () => store.revokeKey(key.id, T0 + i) : () => writer.write((tx) => tx.orgs.revokeKey(key.id, T0 + i)),
          ),
        );
        const stored = (await store.getKey(key.id))!.revoked_at;
        expect(stored).not.toBeNull();
        expect(fulfilled.map((r) => r!.revoked_at)).toEqual(Array(CONCURRENCY).fill(stored));
      });

      test("verifications of one key at once: last_used_at ends at the latest due time, never an earlier one written over it", async () => {
        const { org, owner } = await seedOrg();
        const key = await seedKey(org.id, owner.id);
        const latest = T0 + 10 * LAST_USED_RESOLUTION_MS;
        const times = Array.from({ length: CONCURRENCY }, (_, i) => (i === 3 ? latest : T0 + i));
        const { fulfilled, rejected } = await all(times.map((t) => () => store.verify(key.hash, t)));
        expect(rejected).toEqual([]);
        expect(fulfilled.map((v) => v.status)).toEqual(Array(CONCURRENCY).fill("valid"));
        expect((await store.getKey(key.id))!.last_used_at).toBe(latest);
      });

      test("users with one email in one organization at once: exactly one is inserted", async () => {
        const { org } = await seedOrg();
        const rows = Array.from({ length: CONCURRENCY }, () => userRow(org.id, { email: "sam@example.test" }));
        const { fulfilled, rejected } = await all(rows.map((u, i) => (i % 2 ? () => store.insertUser(u) : () => writer.write((tx) => tx.orgs.insertUser(u)))));
        expect(rejected).toEqual([]);
        expect(fulfilled.filter(Boolean).length).toBe(1);
        expect((await store.listUsers(org.id)).filter((u) => u.email === "sam@example.test").length).toBe(1);
      });

      test("keys with one hash at once: exactly one is inserted, every other rejects", async () => {
        const { org, owner } = await seedOrg();
        const rows = Array.from({ length: CONCURRENCY }, () => ({ ...keyRow(org.id, owner.id), hash: "hash-shared" }));
        const { fulfilled, rejected } = await all(rows.map((k, i) => (i % 2 ? () => store.insertKey(k) : () => writer.write((tx) => tx.orgs.insertKey(k)))));
        expect(fulfilled.length).toBe(1);
        expect(rejected.length).toBe(CONCURRENCY - 1);
        expect((await store.listKeys(org.id)).map((k) => k.hash)).toEqual(["hash-shared"]);
      });
    });

    describe("isolation between organizations", () => {
      test("keys, users and verification stay within their organization", async () => {
        const { org: a, owner: ownerA } = await seedOrg("A");
        const { org: b, owner: ownerB } = await seedOrg("B");
        const keyA = await seedKey(a.id, ownerA.id);
        const keyB = await seedKey(b.id, ownerB.id);
        expect(await store.listKeys(a.id)).toEqual([keyA]);
        expect(await store.listKeys(b.id)).toEqual([keyB]);
        expect(await store.listUsers(a.id)).toEqual([ownerA]);
        expect(await store.getUserInOrg(ownerB.id, a.id)).toBeNull();
        expect(await store.verify(keyB.hash, T0)).toMatchObject({ principal: { orgId: b.id, userId: ownerB.id, keyId: keyB.id } });
        // Changing one organization leaves the other as it was.
        await store.revokeKey(keyA.id, T0);
        await store.updateOrg(a.id, { name: "A2", plan: "free" });
        expect(await store.getOrg(b.id)).toEqual(b);
        expect(await store.getKey(keyB.id)).toEqual({ ...keyB, last_used_at: T0 });
        expect((await store.verify(keyB.hash, T0)).status).toBe("valid");
      });
    });
  });
}
