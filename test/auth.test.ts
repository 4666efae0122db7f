// API key secrets and their verification: shape, hashing, statuses (valid, unknown, revoked, expired), header parsing.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { displayPrefix, generateSecret, hashSecret, looksLikeSecret } from "../src/keys/api-key";
import { createKey, createKeyVerifier, listKeys, revokeKey } from "../src/keys/service";
import { manualClock } from "../src/lib/clock";
import { createUser } from "../src/orgs/service";
import { LAST_USED_RESOLUTION_MS } from "../src/orgs/store";
import { ReadInsideBatchError } from "../src/stores";
import { failure } from "./contracts/fixtures";
import { createTestEnv, ON_POSTGRES, type TestEnv } from "./helpers";
import { UNAUTHORIZED_BODY } from "./route-matrix";

describe("secrets", () => {
  test("cc_ and at least 32 base62 characters, all different", () => {
    const seen = new Set<string>();
    for (let i = 0; i < 2000; i++) {
      const s = generateSecret();
      expect(s).toMatch(/^cc_[0-9A-Za-z]{32,}$/);
      seen.add(s);
    }
    expect(seen.size).toBe(2000);
  });

  test("the characters are spread over the whole base62 alphabet", () => {
    const counts = new Map<string, number>();
    for (let i = 0; i < 500; i++) for (const c of generateSecret().slice(3)) counts.set(c, (counts.get(c) ?? 0) + 1);
    expect(counts.size).toBe(62);
  });

  test("the stored hash is the SHA-256 (hex) of the whole secret", () => {
    const s = generateSecret();
    expect(hashSecret(s)).toBe(createHash("sha256").update(s).digest("hex"));
    expect(hashSecret(s)).not.toBe(hashSecret(s + "x"));
  });

  test("the display prefix is recognisable but cannot be used as a key", () => {
    const s = generateSecret();
    const p = displayPrefix(s);
    expect(s.startsWith(p)).toBe(true);
    expect(p.startsWith("cc_")).toBe(true);
    expect(p.length).toBeLessThan(16);
    expect(looksLikeSecret(p)).toBe(false);
  });

  test("looksLikeSecret rejects what cannot be a key before any lookup", () => {
    expect(looksLikeSecret(generateSecret())).toBe(true);
    for (const bad of [
      "",
      "cc_",
      "cc_short",
      `xx_${"a".repeat(40)}`,
      `cc_${"a".repeat(31)}`,
      `cc_${"a".repeat(39)}!`,
      `cc_${"a".repeat(300)}`,
      ` cc_${"a".repeat(40)}`,
    ]) {
      expect(looksLikeSecret(bad), bad).toBe(false);
    }
  });
});

describe("verification", () => {
  let env: TestEnv;
  let clock: ReturnType<typeof manualClock>;
  let org: Awaited<ReturnType<TestEnv["org"]>>;
  let verify: ReturnType<typeof createKeyVerifier>;
  const deps = () => env.deps;

  beforeAll(async () => {
    clock = manualClock(Date.UTC(2026, 0, 1));
    env = await createTestEnv({ clock });
    org = await env.org("Acme", "enterprise");
    verify = createKeyVerifier(deps());
  });
  afterAll(() => env.close());

  test("a valid key yields its organization, plan, user, role and key id", async () => {
    const user = await createUser(deps(), { orgId: org.orgId, email: "admin@acme.test", role: "admin" });
    const k = await createKey(deps(), { orgId: org.orgId, userId: user.id, name: "ci" });
    expect(await verify(k.key)).toEqual({ status: "valid", principal: { orgId: org.orgId, plan: "enterprise", userId: user.id, role: "admin", keyId: k.id } });
  });

  test("unknown, revoked and expired are told apart internally", async () => {
    expect((await verify(generateSecret())).status).toBe("not_found");
    expect((await verify("garbage")).status).toBe("not_found");
    const revoked = await createKey(deps(), { orgId: org.orgId });
    await revokeKey(deps(), revoked.id);
    expect((await verify(revoked.key)).status).toBe("revoked");
  });

  test("expiry is exact: valid one millisecond before, expired at the instant", async () => {
    const start = clock.now();
    const k = await createKey(deps(), { orgId: org.orgId, expiresInMs: 30 * 86_400_000 });
    expect(k.expires_at).toBe(new Date(start + 30 * 86_400_000).toISOString().replace(/\.\d{3}Z$/, "Z"));
    clock.set(start + 30 * 86_400_000 - 1);
    expect((await verify(k.key)).status).toBe("valid");
    clock.set(start + 30 * 86_400_000);
    expect((await verify(k.key)).status).toBe("expired");
    clock.set(start);
  });

  test("revoking twice keeps the first revocation time", async () => {
    const k = await createKey(deps(), { orgId: org.orgId });
    const first = (await revokeKey(deps(), k.id)).revoked_at;
    clock.advance(3_600_000);
    expect((await revokeKey(deps(), k.id)).revoked_at).toBe(first);
  });

  test("last_used_at is written on first use and then at most once a minute", async () => {
    const k = await createKey(deps(), { orgId: org.orgId, name: "usage" });
    const lastUsed = async () => (await listKeys(deps(), org.orgId)).find((x) => x.id === k.id)!.last_used_at;
    expect(await lastUsed()).toBeNull();
    const t0 = clock.now();
    await verify(k.key);
    expect(await lastUsed()).toBe(new Date(t0).toISOString().replace(/\.\d{3}Z$/, "Z"));
    clock.advance(30_000);
    await verify(k.key);
    expect(await lastUsed()).toBe(new Date(t0).toISOString().replace(/\.\d{3}Z$/, "Z"));
    clock.advance(31_000);
    await verify(k.key);
    expect(await lastUsed()).toBe(new Date(t0 + 61_000).toISOString().replace(/\.\d{3}Z$/, "Z"));
  });

  // SQLite only: batches (and the guard against reads inside one) are the SQLite writer's; PostgreSQL has a transaction per unit.
  test.skipIf(ON_POSTGRES)(
    "verification (and its last-used write) refuses to run while a batch is open: it would join another request's transaction",
    async () => {
      const k = await createKey(deps(), { orgId: org.orgId, name: "guarded" });
      clock.advance(LAST_USED_RESOLUTION_MS + 1);
      const err = await env.deps.writer.write(() => failure(() => verify(k.key)));
      expect(err).toBeInstanceOf(ReadInsideBatchError);
      expect((await listKeys(deps(), org.orgId)).find((x) => x.id === k.id)!.last_used_at).toBeNull();
      expect((await verify(k.key)).status).toBe("valid");
    },
  );

  test("the secret itself is stored nowhere in the database", async () => {
    const k = await createKey(deps(), { orgId: org.orgId });
    const rows = (await env.db.all("SELECT * FROM api_keys")) as Record<string, unknown>[];
    expect(JSON.stringify(rows)).not.toContain(k.key);
    expect(rows.find((r) => r.id === k.id)!.hash).toBe(hashSecret(k.key));
  });

  test("a key stops working when its organization's plan drops to free (403), and works again after", async () => {
    const k = await createKey(deps(), { orgId: org.orgId });
    await env.db.run("UPDATE orgs SET plan = 'free' WHERE id = ?", org.orgId);
    const res = await env.request("/v1/tickets", { key: k.key });
    expect(res.status).toBe(403);
    expect(((await res.json()) as { error: string }).error).toBe("plan_required");
    await env.db.run("UPDATE orgs SET plan = 'pro' WHERE id = ?", org.orgId);
    expect((await env.request("/v1/tickets", { key: k.key })).status).toBe(200);
  });
});

describe("the Authorization header", () => {
  let env: TestEnv;
  let key: string;
  beforeAll(async () => {
    env = await createTestEnv();
    key = (await env.org("Hdr", "pro")).key;
  });
  afterAll(() => env.close());

  const call = (authorization: string | null, path = "/v1/tickets") =>
    env.app.handle(new Request(`http://localhost${path}`, { headers: authorization === null ? {} : { authorization } }));

  test("Bearer <key> works, with extra spaces around the key", async () => {
    expect((await call(`Bearer ${key}`)).status).toBe(200);
    expect((await call(`Bearer   ${key}  `)).status).toBe(200);
  });

  test("the scheme is case-insensitive (RFC 7235): bearer, BEARER, bEaReR", async () => {
    for (const scheme of ["bearer", "BEARER", "bEaReR"]) {
      const res = await call(`${scheme} ${key}`);
      expect(res.status, scheme).toBe(200);
    }
    expect((await call(`bearer\t${key}`)).status).toBe(200);
  });

  test("the key itself stays exact: a key in another case is a 401", async () => {
    const swapped = key.slice(0, 3) + [...key.slice(3)].map((c) => (c === c.toUpperCase() ? c.toLowerCase() : c.toUpperCase())).join("");
    expect(swapped).not.toBe(key);
    expect((await call(`Bearer ${swapped}`)).status).toBe(401);
    expect((await call(`bearer ${key.toUpperCase()}`)).status).toBe(401);
  });

  for (const [name, header] of [
    ["bearerx (any case)", () => `bearerx ${key}`],
    ["BEARER and nothing", () => "BEARER"],
    ["two keys, lower-case scheme", () => `bearer ${key} ${key}`],
    ["Basic", () => `Basic ${btoa(`${key}:`)}`],
    ["Token", () => `Token ${key}`],
    ["the bare key", () => key],
    ["Bearerx", () => `Bearerx ${key}`],
    ["a key with a character changed", () => `Bearer ${key.slice(0, -1)}${key.endsWith("A") ? "B" : "A"}`],
    ["a key with a suffix", () => `Bearer ${key}x`],
    ["two keys", () => `Bearer ${key} ${key}`],
    ["Bearer and nothing", () => "Bearer"],
  ] as const) {
    test(`${name} → 401 with WWW-Authenticate: Bearer`, async () => {
      const res = await call(header());
      expect(res.status).toBe(401);
      expect(res.headers.get("www-authenticate")).toBe("Bearer");
      expect(await res.json()).toEqual(UNAUTHORIZED_BODY);
    });
  }

  test("a key in the query string is not accepted", async () => {
    for (const q of [`?=${key}`, `?access_token=${key}`]) {
      const res = await call(null, `/v1/tickets${q}`);
      expect(res.status, q).toBe(401);
    }
  });

  test("/healthz and /docs need no key", async () => {
    expect((await call(null, "/healthz")).status).toBe(200);
    expect((await call(null, "/docs")).status).toBe(200);
    expect((await call(null, "/docs/json")).status).toBe(200);
  });
});
