// Users over HTTP: the organization's users (oldest first, pages, exact total), one user, the user behind the key (/me), organization isolation and authentication.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createKey } from "../src/keys/service";
import { manualClock } from "../src/lib/clock";
import { createUser } from "../src/orgs/service";
import { createTestEnv, type TestEnv } from "./helpers";

interface UserJson {
  id: string;
  name: string | null;
  email: string;
  role: string;
  created_at: string;
}
interface Page {
  data: UserJson[];
  meta: { page: number; per_page: number; total: number };
}
type Org = Awaited<ReturnType<TestEnv["org"]>>;

const clock = manualClock(Date.UTC(2026, 3, 1, 8, 0, 0));
let env: TestEnv;
let a: Org;
let b: Org;
/** Org A's users in list order: the owner, then the ones created here (ids break the tie of the last two). */
const aUsers: UserJson[] = [];
let memberKey: string;

const iso = (ms: number) => new Date(ms).toISOString().slice(0, 19) + "Z";

beforeAll(async () => {
  env = await createTestEnv({ clock });
  a = await env.org("Alpha");
  const owner = (await (await env.request("/v1/users/me", { key: a.key })).json()) as UserJson;
  aUsers.push(owner);
  b = await env.org("Beta");
  const made: UserJson[] = [];
  for (const [email, name, role] of [
    ["admin@alpha.test", "Ada Admin", "admin"],
    ["member@alpha.test", null, "member"],
    ["second@alpha.test", "Zed Second", "member"],
  ] as const) {
    if (email !== "second@alpha.test") clock.advance(1000);
    const u = await createUser(env.deps, { orgId: a.orgId, email, name: name ?? undefined, role });
    made.push({ id: u.id, name: u.name, email: u.email, role: u.role, created_at: iso(clock.now()) });
  }
  const [admin, member, second] = made as [UserJson, UserJson, UserJson];
  aUsers.push(admin, ...[member, second].sort((x, y) => (x.id < y.id ? -1 : 1)));
  memberKey = (await createKey(env.deps, { orgId: a.orgId, userId: member.id })).key;
});
afterAll(() => env.close());

describe("GET /v1/users", () => {
  test("the organization's users, oldest first (ties by id), with their fields and the exact total", async () => {
    const res = await env.request("/v1/users", { key: a.key });
    expect(res.status).toBe(200);
    const body = (await res.json()) as Page;
    expect(body).toEqual({ data: aUsers, meta: { page: 1, per_page: 25, total: 4 } });
    expect(Object.keys(body.data[0]!).sort()).toEqual(["created_at", "email", "id", "name", "role"]);
    expect(body.data.map((u) => u.role)).toEqual(["owner", "admin", "member", "member"]);
    expect(res.headers.get("link")).toBeNull();
  });

  test("pages with a Link to the next; walking them gives every user once; past the end is empty", async () => {
    const seen: UserJson[] = [];
    for (let page = 1; page <= 2; page++) {
      const res = await env.request(`/v1/users?per_page=3&page=${page}`, { key: a.key });
      const body = (await res.json()) as Page;
      expect(body.meta).toEqual({ page, per_page: 3, total: 4 });
      seen.push(...body.data);
      expect(res.headers.get("link")).toBe(page === 1 ? `<${env.config.publicUrl}/v1/users?per_page=3&page=2>; rel="next"` : null);
    }
    expect(seen).toEqual(aUsers);
    const past = (await (await env.request("/v1/users?page=5", { key: a.key })).json()) as Page;
    expect(past).toEqual({ data: [], meta: { page: 5, per_page: 25, total: 4 } });
  });

  test("another organization sees only its own users", async () => {
    const body = (await (await env.request("/v1/users", { key: b.key })).json()) as Page;
    expect(body.meta.total).toBe(1);
    expect(body.data.map((u) => u.email)).toEqual(["owner@beta.test"]);
  });

  test("bad paging → 400 naming the parameter", async () => {
    for (const [q, field] of [
      ["per_page=0", "per_page"],
      ["per_page=101", "per_page"],
      ["page=-1", "page"],
    ] as const) {
      const res = await env.request(`/v1/users?${q}`, { key: a.key });
      expect(res.status).toBe(400);
      const body = (await res.json()) as { error: string; details: { field: string }[] };
      expect(body.error).toBe("validation_error");
      expect(body.details.map((d) => d.field)).toEqual([field]);
    }
  });
});

describe("GET /v1/users/me and /v1/users/{id}", () => {
  test("/me is the user behind the key: the owner's key, a member's key", async () => {
    expect(await (await env.request("/v1/users/me", { key: a.key })).json()).toEqual(aUsers[0]!);
    const member = aUsers.find((u) => u.email === "member@alpha.test")!;
    expect(await (await env.request("/v1/users/me", { key: memberKey })).json()).toEqual(member);
    expect(((await (await env.request("/v1/users/me", { key: b.key })).json()) as UserJson).email).toBe("owner@beta.test");
  });

  test("/{id}: a user of the organization; another organization's or an unknown id is the same 404", async () => {
    for (const u of aUsers) expect(await (await env.request(`/v1/users/${u.id}`, { key: a.key })).json()).toEqual(u);
    const theirs = (await (await env.request("/v1/users/me", { key: b.key })).json()) as UserJson;
    for (const [id, key] of [
      [theirs.id, a.key],
      [aUsers[1]!.id, b.key],
      ["user_0000000000000000", a.key],
      ["user_%00", a.key],
      ["ME", a.key],
    ] as const) {
      const res = await env.request(`/v1/users/${id}`, { key });
      expect(res.status, id).toBe(404);
      expect(await res.json()).toEqual({ error: "not_found", message: "User was not found." });
    }
  });
});

describe("authentication", () => {
  test("every users route without a key → 401, with a free plan's key → 403 plan_required", async () => {
    const free = await env.org("Free Co", "free");
    for (const path of ["/v1/users", "/v1/users/me", `/v1/users/${aUsers[0]!.id}`]) {
      const res = await env.request(path);
      expect(res.status, path).toBe(401);
      expect(res.headers.get("www-authenticate")).toBe("Bearer");
      expect(await res.json()).toEqual({ error: "unauthorized", message: "Invalid or expired API key. Generate a new key in Settings." });
      const denied = await env.request(path, { key: free.key });
      expect(denied.status, path).toBe(403);
      expect(await denied.json()).toEqual({ error: "plan_required", message: "API access is available on Pro and Enterprise plans." });
    }
  });

  test("the users routes are read-only: POST, PATCH and DELETE → 405, nothing changed", async () => {
    for (const [method, path] of [
      ["POST", "/v1/users"],
      ["PATCH", `/v1/users/${aUsers[1]!.id}`],
      ["DELETE", `/v1/users/${aUsers[1]!.id}`],
    ] as const) {
      const res = await env.request(path, { method, key: a.key, json: {} });
      expect(res.status, `${method} ${path}`).toBe(405);
    }
    expect(((await (await env.request("/v1/users", { key: a.key })).json()) as Page).data).toEqual(aUsers);
  });
});
