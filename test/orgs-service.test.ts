// The organizations and keys services in process: every change a unit of the writer (group commit), the first-start bootstrap, error precedence.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { ApiError } from "../src/errors";
import { createKey, listKeys, revokeKey } from "../src/keys/service";
import { manualClock } from "../src/lib/clock";
import { bootstrapIfEmpty, createOrg, createUser, hasAnyOrg, listOrgs, listUsers, updateOrg } from "../src/orgs/service";
import { failure } from "./contracts/fixtures";
import { createTestEnv, ON_POSTGRES, type TestEnv } from "./helpers";

describe("organizations and keys through the writer", () => {
  const clock = manualClock(Date.UTC(2026, 2, 1));
  let env: TestEnv;
  beforeAll(async () => {
    env = await createTestEnv({ clock });
  });
  afterAll(() => env.close());
  const status = async (key: string) => (await env.request("/v1/tickets", { key })).status;

  test("first start: Default, its owner and a working key, in one unit; a second start creates nothing", async () => {
    expect(await hasAnyOrg(env.deps)).toBe(false);
    const boot = await bootstrapIfEmpty(env.deps);
    expect(boot).not.toBeNull();
    expect(boot!.org).toMatchObject({ name: "Default", plan: "pro" });
    expect(boot!.owner).toMatchObject({ org_id: boot!.org.id, email: "owner@localhost", role: "owner" });
    expect(boot!.key).toMatchObject({ org_id: boot!.org.id, user_id: boot!.owner.id, name: "Initial key" });
    expect(await status(boot!.key.key)).toBe(200);
    expect(await bootstrapIfEmpty(env.deps)).toBeNull();
    expect((await listOrgs(env.deps)).map((o) => o.id)).toEqual([boot!.org.id]);
    expect(await listKeys(env.deps, boot!.org.id)).toHaveLength(1);
  });

  test("a duplicate name is a 409 naming the organization, and writes nothing; without uniqueName it is allowed", async () => {
    const { org } = await createOrg(env.deps, { name: "Acme", ownerEmail: "owner@acme.test", uniqueName: true });
    const before = await listOrgs(env.deps);
    const err = await failure(() => createOrg(env.deps, { name: " aCME ", uniqueName: true }));
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).status).toBe(409);
    expect((err as ApiError).message).toContain(org.id);
    expect(await listOrgs(env.deps)).toEqual(before);
    const { org: twin } = await createOrg(env.deps, { name: "ACME" });
    expect((await listOrgs(env.deps)).length).toBe(before.length + 1);
    const renamed = await failure(() => updateOrg(env.deps, twin.id, { name: "acme", uniqueName: true }));
    expect((renamed as ApiError).status).toBe(409);
  });

  test("createUser: an unknown organization is a 404 whatever else is wrong; a taken email is a 409", async () => {
    const unknown = await failure(() => createUser(env.deps, { orgId: "org_unknown", email: "not an email" }));
    expect((unknown as ApiError).status).toBe(404);
    const { org } = await createOrg(env.deps, { name: "People", ownerEmail: "boss@people.test" });
    const bad = await failure(() => createUser(env.deps, { orgId: org.id, email: "not an email" }));
    expect((bad as ApiError).status).toBe(400);
    const taken = await failure(() => createUser(env.deps, { orgId: org.id, email: "BOSS@people.test" }));
    expect((taken as ApiError).status).toBe(409);
    expect((await listUsers(env.deps, org.id)).map((u) => u.email)).toEqual(["boss@people.test"]);
  });

  // SQLite only: batches are the SQLite writer's group commit; on PostgreSQL every unit is a transaction of its own.
  test.skipIf(ON_POSTGRES)("writes arriving together share one batch; a failing one is rolled back alone and gets its own error", async () => {
    const { org } = await createOrg(env.deps, { name: "Batch", ownerEmail: "owner@batch.test" });
    const before = env.deps.writer.stats().batches;
    const [sam, dup, key, revoked] = await Promise.allSettled([
      createUser(env.deps, { orgId: org.id, email: "sam@batch.test" }),
      createUser(env.deps, { orgId: org.id, email: "owner@batch.test" }),
      createKey(env.deps, { orgId: org.id, name: "ci" }),
      revokeKey(env.deps, "key_unknown"),
    ]);
    expect(env.deps.writer.stats().batches).toBe(before + 1);
    expect(sam.status).toBe("fulfilled");
    expect(dup.status === "rejected" && (dup.reason as ApiError).status).toBe(409);
    expect(revoked.status === "rejected" && (revoked.reason as ApiError).status).toBe(404);
    expect(key.status).toBe("fulfilled");
    expect(await status((key as PromiseFulfilledResult<{ key: string }>).value.key)).toBe(200);
    // Same instant (a manual clock): the order is by id, so compare as a set.
    expect((await listUsers(env.deps, org.id)).map((u) => u.email).sort()).toEqual(["owner@batch.test", "sam@batch.test"]);
  });
});
