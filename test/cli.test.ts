// The admin CLI as a person runs it (real processes, a temp --data-dir): orgs, users, keys, version, first start.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { Database } from "bun:sqlite";
import { readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { hashSecret } from "../src/keys/api-key";
import { DB_FILENAME } from "../src/storage/layout";
import { SCHEMA_VERSION } from "../src/db/migrate";
import pkg from "../package.json" with { type: "json" };
import { runCli, startServerProcess, tempDir, type CliResult, type ServerProcess } from "./helpers";
import { UNAUTHORIZED_BODY } from "./route-matrix";

// Every test here runs real processes (each `bun src/main.ts` start costs a few hundred ms on 2 shared cores).
setDefaultTimeout(30_000);

const SECRET = /^cc_[0-9A-Za-z]{32,}$/;
const dirs: string[] = [];
function freshDir(label = "cc-cli"): string {
  const d = tempDir(label);
  dirs.push(d);
  return d;
}
const servers: ServerProcess[] = [];
afterAll(async () => {
  for (const s of servers) await s.stop("SIGKILL").catch(() => {});
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Runs the CLI against `dir` and expects success; returns parsed JSON when --json is among the args. */
function ok(dir: string, args: string[]): any {
  const r = runCli([...args, "--data-dir", dir]);
  expect(r.code, `${args.join(" ")}: ${r.stderr}`).toBe(0);
  return args.includes("--json") ? JSON.parse(r.stdout) : r.stdout;
}

/** Expects a failure: non-zero exit, a one-line message on stderr matching `message`, nothing on stdout. */
function fails(r: CliResult, code: number, message: RegExp) {
  expect(r.code, r.stderr).toBe(code);
  const lines = r.stderr.trim().split("\n");
  expect(lines.length, r.stderr).toBe(1);
  expect(lines[0]).toMatch(message);
  expect(r.stdout).toBe("");
}

/** Every byte the database keeps on disk (main file, WAL, shared memory). */
function databaseBytes(dir: string): Buffer {
  return Buffer.concat(
    readdirSync(dir)
      .filter((f) => f.startsWith(DB_FILENAME))
      .map((f) => readFileSync(join(dir, f))),
  );
}

describe("orgs", () => {
  let dir: string;
  beforeAll(() => {
    dir = freshDir();
  });

  test("orgs create --json: the organization and its owner", () => {
    const org = ok(dir, ["orgs", "create", "--name", "Acme Support", "--plan", "enterprise", "--owner-email", "Boss@Acme.test", "--json"]);
    expect(org).toEqual({
      id: expect.stringMatching(/^org_[0-9a-z]{16}$/),
      name: "Acme Support",
      plan: "enterprise",
      created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/),
      owner: { id: expect.stringMatching(/^user_/), org_id: org.id, email: "boss@acme.test", name: null, role: "owner", created_at: org.created_at },
    });
  });

  test("orgs create (text): a readable line with the id; plan defaults to pro", () => {
    const out = ok(dir, ["orgs", "create", "--name", "Beta"]);
    expect(out).toMatch(/^Created organization org_[0-9a-z]{16} "Beta" \(plan pro\) with owner user_[0-9a-z]{16} <owner@localhost>\.\n$/);
  });

  test("orgs list --json: an array of every organization, oldest first", () => {
    const list = ok(dir, ["orgs", "list", "--json"]);
    expect(Array.isArray(list)).toBe(true);
    expect(list.map((o: { name: string }) => o.name)).toEqual(["Acme Support", "Beta"]);
    for (const o of list) expect(Object.keys(o).sort()).toEqual(["created_at", "id", "name", "plan"]);
  });

  test("orgs list (text): one line per organization with id, plan and name", () => {
    const lines = ok(dir, ["orgs", "list"]).trim().split("\n");
    expect(lines.length).toBe(2);
    expect(lines[0]).toMatch(/^org_[0-9a-z]{16}\s+enterprise\s+Acme Support$/);
    expect(lines[1]).toMatch(/^org_[0-9a-z]{16}\s+pro\s+Beta$/);
  });

  test("orgs list on an empty data dir says so", () => {
    expect(ok(freshDir(), ["orgs", "list"]).trim()).toBe("No organizations.");
    expect(ok(freshDir(), ["orgs", "list", "--json"])).toEqual([]);
  });

  test("errors: missing --name, an unknown plan, a bad email, an unknown subcommand", () => {
    fails(runCli(["orgs", "create", "--data-dir", dir]), 2, /--name is required/);
    fails(runCli(["orgs", "create", "--name", "X", "--plan", "gold", "--data-dir", dir]), 2, /--plan/);
    fails(runCli(["orgs", "create", "--name", "X", "--owner-email", "not-an-email", "--data-dir", dir]), 1, /email/);
    fails(runCli(["orgs", "delete", "--data-dir", dir]), 2, /orgs delete/);
    expect(ok(dir, ["orgs", "list", "--json"]).length).toBe(2);
  });
});

describe("users", () => {
  let dir: string;
  let orgId: string;
  beforeAll(() => {
    dir = freshDir();
    orgId = ok(dir, ["orgs", "create", "--name", "Acme", "--json"]).id;
  });

  test("users create --json: a member by default", () => {
    const user = ok(dir, ["users", "create", "--org", orgId, "--email", "agent@acme.test", "--name", "Agent Smith", "--json"]);
    expect(user).toEqual({
      id: expect.stringMatching(/^user_[0-9a-z]{16}$/),
      org_id: orgId,
      email: "agent@acme.test",
      name: "Agent Smith",
      role: "member",
      created_at: expect.any(String),
    });
  });

  test("users create (text) with a role", () => {
    expect(ok(dir, ["users", "create", "--org", orgId, "--email", "admin@acme.test", "--role", "admin"])).toMatch(
      /^Created user user_\S+ <admin@acme.test> \(admin\) in org_/,
    );
  });

  test("errors: missing --org, unknown org, unknown role, duplicate email", () => {
    fails(runCli(["users", "create", "--email", "x@acme.test", "--data-dir", dir]), 2, /--org is required/);
    fails(runCli(["users", "create", "--org", "org_0000000000000000", "--email", "x@acme.test", "--data-dir", dir]), 1, /org_0000000000000000.*not found/i);
    fails(runCli(["users", "create", "--org", orgId, "--email", "x@acme.test", "--role", "god", "--data-dir", dir]), 2, /--role/);
    fails(runCli(["users", "create", "--org", orgId, "--email", "agent@acme.test", "--data-dir", dir]), 1, /already exists/);
  });
});

describe("keys", () => {
  let dir: string;
  let orgId: string;
  let ownerId: string;
  let otherOrgId: string;
  let server: ServerProcess;

  beforeAll(async () => {
    dir = freshDir();
    const org = ok(dir, ["orgs", "create", "--name", "Acme", "--json"]);
    orgId = org.id;
    ownerId = org.owner.id;
    otherOrgId = ok(dir, ["orgs", "create", "--name", "Other", "--json"]).id;
    // A running server on the same data dir: keys made and revoked by the CLI must take effect there at once.
    server = await startServerProcess(["--port", "0", "--data-dir", dir]);
    servers.push(server);
  });

  const api = (key: string, path = "/v1/tickets", init: RequestInit = {}) =>
    fetch(`${server.url}${path}`, { ...init, headers: { authorization: `Bearer ${key}`, ...(init.headers as Record<string, string>) } });

  test("keys create --json: key and id; the secret's shape; only its SHA-256 is on disk", async () => {
    const k = ok(dir, ["keys", "create", "--org", orgId, "--name", "CI", "--json"]);
    expect(k.id).toMatch(/^key_[0-9a-z]{16}$/);
    expect(k.key).toMatch(SECRET);
    expect(k).toMatchObject({ org_id: orgId, user_id: ownerId, name: "CI", expires_at: null, revoked_at: null, last_used_at: null });
    expect(k.key.startsWith(k.prefix)).toBe(true);
    const bytes = databaseBytes(dir);
    expect(bytes.includes(Buffer.from(k.key))).toBe(false);
    expect(bytes.includes(Buffer.from(k.key.slice(3)))).toBe(false);
    expect(bytes.includes(Buffer.from(hashSecret(k.key)))).toBe(true);
    const db = new Database(join(dir, DB_FILENAME), { readonly: true });
    expect(db.query("SELECT hash FROM api_keys WHERE id = ?").get(k.id)).toEqual({ hash: hashSecret(k.key) });
    db.close();
    const res = await api(k.key);
    expect(res.status).toBe(200);
  });

  test("keys create (text): the secret once, on its own labelled line", () => {
    const out: string = ok(dir, ["keys", "create", "--org", orgId]);
    const secrets = out.match(/cc_[0-9A-Za-z]{32,}/g) ?? [];
    expect(secrets.length).toBe(1);
    expect(out).toMatch(/^Created API key key_[0-9a-z]{16} for user_\S+ in org_\S+\.\nSecret \(shown only now, store it safely\): cc_[0-9A-Za-z]{32,}\n$/);
  });

  test("keys create --expires-in 30d: expires exactly 30 days after creation", () => {
    const k = ok(dir, ["keys", "create", "--org", orgId, "--expires-in", "30d", "--json"]);
    expect(Date.parse(k.expires_at) - Date.parse(k.created_at)).toBe(30 * 86_400_000);
  });

  test("keys create --user: the key acts as that user (created_by)", async () => {
    const user = ok(dir, ["users", "create", "--org", orgId, "--email", "member@acme.test", "--json"]);
    const k = ok(dir, ["keys", "create", "--org", orgId, "--user", user.id, "--json"]);
    expect(k.user_id).toBe(user.id);
    const res = await api(k.key, "/v1/tickets", {
      method: "POST",
      body: JSON.stringify({ subject: "from the member" }),
      headers: { "content-type": "application/json" },
    });
    expect(res.status).toBe(201);
    expect(((await res.json()) as { created_by: string }).created_by).toBe(user.id);
  });

  test("keys list: every key with prefix and state, never a secret or a hash", () => {
    const created = ok(dir, ["keys", "create", "--org", orgId, "--name", "listed", "--json"]);
    const list = ok(dir, ["keys", "list", "--org", orgId, "--json"]);
    expect(list.length).toBeGreaterThanOrEqual(4);
    const mine = list.find((k: { id: string }) => k.id === created.id);
    expect(mine).toEqual({ ...created, key: undefined, last_used_at: null });
    expect(Object.keys(mine)).not.toContain("key");
    expect(Object.keys(mine)).not.toContain("hash");
    const text: string = ok(dir, ["keys", "list", "--org", orgId]);
    expect(text).not.toMatch(/cc_[0-9A-Za-z]{32,}/);
    expect(text).not.toContain(hashSecret(created.key));
    expect(text).toMatch(new RegExp(`^${created.id}\\s+${created.prefix}…\\s+active\\s+.*listed$`, "m"));
    expect(ok(dir, ["keys", "list", "--org", otherOrgId, "--json"])).toEqual([]);
    expect(ok(dir, ["keys", "list", "--org", otherOrgId]).trim()).toBe("No API keys.");
  });

  test("keys revoke: the key gets 401 from the running server at once; the list shows it revoked", async () => {
    const k = ok(dir, ["keys", "create", "--org", orgId, "--name", "doomed", "--json"]);
    expect((await api(k.key)).status).toBe(200);
    const revoked = ok(dir, ["keys", "revoke", k.id, "--json"]);
    expect(revoked.id).toBe(k.id);
    expect(revoked.revoked_at).toMatch(/Z$/);
    expect(revoked.key).toBeUndefined();
    const res = await api(k.key);
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toBe("Bearer");
    expect(await res.json()).toEqual(UNAUTHORIZED_BODY);
    expect(ok(dir, ["keys", "list", "--org", orgId])).toMatch(new RegExp(`^${k.id}\\s+\\S+…\\s+revoked\\s`, "m"));
    // Revoking again is harmless and keeps the first time.
    expect(ok(dir, ["keys", "revoke", k.id, "--json"]).revoked_at).toBe(revoked.revoked_at);
    expect(ok(dir, ["keys", "revoke", k.id])).toMatch(new RegExp(`^Revoked API key ${k.id} `));
  });

  test("errors: missing --org, unknown org, a user of another org, a bad duration, unknown key", () => {
    fails(runCli(["keys", "create", "--data-dir", dir]), 2, /--org is required/);
    fails(runCli(["keys", "list", "--data-dir", dir]), 2, /--org is required/);
    fails(runCli(["keys", "create", "--org", "org_0000000000000000", "--data-dir", dir]), 1, /org_0000000000000000.*not found/i);
    fails(runCli(["keys", "list", "--org", "org_0000000000000000", "--data-dir", dir]), 1, /not found/i);
    fails(runCli(["keys", "create", "--org", otherOrgId, "--user", ownerId, "--data-dir", dir]), 1, /not found/i);
    for (const bad of ["soon", "0d", "30", "-1d"]) fails(runCli(["keys", "create", "--org", orgId, "--expires-in", bad, "--data-dir", dir]), 2, /--expires-in/);
    fails(runCli(["keys", "revoke", "--data-dir", dir]), 2, /KEY_ID/);
    fails(runCli(["keys", "revoke", "key_0000000000000000", "--data-dir", dir]), 1, /key_0000000000000000.*not found/i);
    fails(runCli(["keys", "rotate", "--data-dir", dir]), 2, /keys rotate/);
  });

  test("the server log never contains a secret", () => {
    expect(server.stdout() + server.stderr()).not.toMatch(/cc_[0-9A-Za-z]{32,}/);
  });
});

describe("orgs update, duplicate names, users list", () => {
  let dir: string;
  let acme: { id: string; owner: { id: string } };
  beforeAll(() => {
    dir = freshDir();
    acme = ok(dir, ["orgs", "create", "--name", "Acme", "--json"]);
  });

  test("orgs create refuses a name another organization has, ignoring case; --allow-duplicate creates it anyway", () => {
    fails(
      runCli(["orgs", "create", "--name", "  aCME ", "--data-dir", dir]),
      1,
      new RegExp(`An organization named "Acme" already exists \\(${acme.id}\\).*--allow-duplicate`),
    );
    expect(ok(dir, ["orgs", "list", "--json"]).length).toBe(1);
    const twin = ok(dir, ["orgs", "create", "--name", "acme", "--allow-duplicate", "--json"]);
    expect(twin.name).toBe("acme");
    expect(ok(dir, ["orgs", "list", "--json"]).map((o: { name: string }) => o.name)).toEqual(["Acme", "acme"]);
  });

  test("orgs update ORG_ID --name/--plan: changes what is given, keeps the rest; --json prints the organization", () => {
    const org = ok(dir, ["orgs", "create", "--name", "Globex", "--plan", "free", "--json"]);
    expect(ok(dir, ["orgs", "update", org.id, "--plan", "enterprise", "--json"])).toEqual({
      id: org.id,
      name: "Globex",
      plan: "enterprise",
      created_at: org.created_at,
    });
    expect(ok(dir, ["orgs", "update", org.id, "--name", "Globex Corp"])).toBe(`Updated organization ${org.id} "Globex Corp" (plan enterprise).\n`);
    expect(ok(dir, ["orgs", "update", org.id, "--name", "GLOBEX corp", "--json"]).name).toBe("GLOBEX corp"); // its own name, other case
    fails(runCli(["orgs", "update", org.id, "--name", "ACME", "--data-dir", dir]), 1, /already exists/);
    expect(ok(dir, ["orgs", "update", org.id, "--name", "ACME", "--allow-duplicate", "--json"]).name).toBe("ACME");
  });

  test("orgs update errors: no ORG_ID, nothing to change, a bad plan, an unknown organization", () => {
    fails(runCli(["orgs", "update", "--name", "X", "--data-dir", dir]), 2, /orgs update needs an ORG_ID/);
    fails(runCli(["orgs", "update", acme.id, "--data-dir", dir]), 2, /--name or --plan/);
    fails(runCli(["orgs", "update", acme.id, "--plan", "gold", "--data-dir", dir]), 2, /--plan/);
    fails(runCli(["orgs", "update", "org_0000000000000000", "--plan", "pro", "--data-dir", dir]), 1, /org_0000000000000000.*not found/i);
  });

  test("a plan change takes effect on a running server at the next request", async () => {
    const d = freshDir();
    const org = ok(d, ["orgs", "create", "--name", "Planned", "--json"]);
    const key = ok(d, ["keys", "create", "--org", org.id, "--json"]).key;
    const s = await startServerProcess(["--port", "0", "--data-dir", d]);
    servers.push(s);
    const get = () => fetch(`${s.url}/v1/tickets`, { headers: { authorization: `Bearer ${key}` } });
    expect((await get()).status).toBe(200);
    ok(d, ["orgs", "update", org.id, "--plan", "free"]);
    const res = await get();
    expect(res.status).toBe(403);
    expect(((await res.json()) as { error: string }).error).toBe("plan_required");
    await s.stop();
  });

  test("users list: every user, or one organization's with --org; --json is an array; text one line each", () => {
    const member = ok(dir, ["users", "create", "--org", acme.id, "--email", "ana@acme.test", "--name", "Ana", "--role", "admin", "--json"]);
    const mine = ok(dir, ["users", "list", "--org", acme.id, "--json"]);
    expect(mine).toEqual([expect.objectContaining({ id: acme.owner.id, role: "owner" }), member]);
    const all = ok(dir, ["users", "list", "--json"]);
    expect(all.length).toBeGreaterThan(mine.length);
    expect(new Set(all.map((u: { org_id: string }) => u.org_id)).size).toBeGreaterThan(1);
    const lines = ok(dir, ["users", "list", "--org", acme.id]).trim().split("\n");
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatch(new RegExp(`^${member.id}\\s+${acme.id}\\s+admin\\s+ana@acme.test\\s+Ana$`));
    expect(ok(freshDir(), ["users", "list"]).trim()).toBe("No users.");
    fails(runCli(["users", "list", "--org", "org_0000000000000000", "--data-dir", dir]), 1, /not found/i);
  });
});

describe("keys rotate", () => {
  let dir: string;
  let orgId: string;
  let server: ServerProcess;
  beforeAll(async () => {
    dir = freshDir();
    orgId = ok(dir, ["orgs", "create", "--name", "Rotating", "--json"]).id;
    server = await startServerProcess(["--port", "0", "--data-dir", dir]);
    servers.push(server);
  });
  const status = async (key: string) => (await fetch(`${server.url}/v1/tickets`, { headers: { authorization: `Bearer ${key}` } })).status;

  test("--json: a new key (same org, user, name) with its secret once; the old one keeps working for 24 h by default", async () => {
    const old = ok(dir, ["keys", "create", "--org", orgId, "--name", "CI", "--json"]);
    const r = ok(dir, ["keys", "rotate", old.id, "--json"]);
    expect(r.id).not.toBe(old.id);
    expect(r.key).toMatch(SECRET);
    expect(r).toMatchObject({ org_id: orgId, user_id: old.user_id, name: "CI", expires_at: null, revoked_at: null });
    expect(r.previous).toMatchObject({ id: old.id, prefix: old.prefix, revoked_at: null });
    expect(r.previous.key).toBeUndefined();
    expect(Math.abs(Date.parse(r.previous.expires_at) - Date.parse(r.created_at) - 86_400_000)).toBeLessThanOrEqual(1000);
    expect(await status(r.key)).toBe(200);
    expect(await status(old.key)).toBe(200);
    expect(databaseBytes(dir).includes(Buffer.from(r.key))).toBe(false);
  });

  test("text: the secret once, and when the old key stops", () => {
    const old = ok(dir, ["keys", "create", "--org", orgId, "--json"]);
    const out: string = ok(dir, ["keys", "rotate", old.id, "--grace-seconds", "3600"]);
    expect(out.match(/cc_[0-9A-Za-z]{32,}/g)?.length).toBe(1);
    expect(out).toMatch(
      new RegExp(
        `^Rotated API key ${old.id}: new key key_[0-9a-z]{16} for user_\\S+ in ${orgId}\\.\nSecret \\(shown only now, store it safely\\): cc_\\S+\nThe old key ${old.id} \\(${old.prefix}…\\) keeps working until \\S+Z, then stops\\.\n$`,
      ),
    );
  });

  test("--grace-seconds 0: the old key stops at once on the running server; the new one works", async () => {
    const old = ok(dir, ["keys", "create", "--org", orgId, "--json"]);
    const r = ok(dir, ["keys", "rotate", old.id, "--grace-seconds", "0", "--json"]);
    expect(await status(old.key)).toBe(401);
    expect(await status(r.key)).toBe(200);
    const list = ok(dir, ["keys", "list", "--org", orgId]);
    expect(list).toMatch(new RegExp(`^${old.id}\\s+\\S+…\\s+expired\\s`, "m"));
    expect(list).toMatch(new RegExp(`^${r.id}\\s+\\S+…\\s+active\\s`, "m"));
  });

  test("a key with a lifetime passes it on; a grace period never extends the old key's own expiry", () => {
    const old = ok(dir, ["keys", "create", "--org", orgId, "--expires-in", "1h", "--json"]);
    const r = ok(dir, ["keys", "rotate", old.id, "--grace-seconds", "86400", "--json"]);
    expect(Date.parse(r.expires_at) - Date.parse(r.created_at)).toBe(3600_000);
    expect(r.previous.expires_at).toBe(old.expires_at);
  });

  test("errors: no KEY_ID, a bad --grace-seconds, an unknown key, a revoked key", () => {
    fails(runCli(["keys", "rotate", "--data-dir", dir]), 2, /keys rotate needs a KEY_ID/);
    const k = ok(dir, ["keys", "create", "--org", orgId, "--json"]);
    for (const bad of ["-1", "1.5", "soon", "99999999999"])
      fails(runCli(["keys", "rotate", k.id, `--grace-seconds=${bad}`, "--data-dir", dir]), 2, /--grace-seconds/);
    fails(runCli(["keys", "rotate", "key_0000000000000000", "--data-dir", dir]), 1, /key_0000000000000000.*not found/i);
    ok(dir, ["keys", "revoke", k.id]);
    fails(runCli(["keys", "rotate", k.id, "--data-dir", dir]), 1, /revoked/);
  });

  test("--help lists rotate and --grace-seconds", () => {
    expect(ok(dir, ["keys", "--help"])).toContain("keys rotate KEY_ID [--grace-seconds N]");
    expect(ok(dir, ["orgs", "--help"])).toContain("orgs update ORG_ID");
    expect(ok(dir, ["users", "--help"])).toContain("users list [--org ORG_ID]");
  });
});

describe("version", () => {
  test("--json: version, schema version, bun, commit", () => {
    const r = runCli(["version", "--json"]);
    expect(r.code).toBe(0);
    const v = JSON.parse(r.stdout);
    expect(v).toEqual({ version: pkg.version, schema_version: SCHEMA_VERSION, bun: Bun.version, commit: expect.any(String) });
  });

  test("text: one line", () => {
    const r = runCli(["version"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(
      `clientcove ${pkg.version} (schema ${SCHEMA_VERSION}, commit ${JSON.parse(runCli(["version", "--json"]).stdout).commit}, bun ${Bun.version})\n`,
    );
  });
});

describe("first start", () => {
  let dir: string;
  let key: string;

  test("serve on an empty data dir prints one API key on stderr, once, and it works", async () => {
    dir = freshDir("cc-first");
    const s = await startServerProcess(["--port", "0", "--data-dir", dir]);
    servers.push(s);
    await s.waitForStderr(/Try it: .*\n/);
    const found = s.stderr().match(/cc_[0-9A-Za-z]{32,}/g) ?? [];
    expect(found.length).toBeGreaterThanOrEqual(1);
    expect(new Set(found).size).toBe(1);
    key = found[0]!;
    expect(key).toMatch(SECRET);
    expect(s.stderr()).toMatch(/API key \(shown once/);
    expect(s.stderr()).toContain("Authorization: Bearer");
    const list = await fetch(`${s.url}/v1/tickets`, { headers: { authorization: `Bearer ${key}` } });
    expect(list.status).toBe(200);
    expect(await list.json()).toEqual({ data: [], meta: { page: 1, per_page: 25, total: 0 } });
    const orgs = ok(dir, ["orgs", "list", "--json"]);
    expect(orgs).toEqual([expect.objectContaining({ name: "Default", plan: "pro" })]);
    expect(s.stdout()).not.toContain(key);
    expect(await s.stop()).toBe(0);
    expect(s.stdout()).not.toContain(key);
  });

  test("a second start prints no key, and the first key still works", async () => {
    const s = await startServerProcess(["--port", "0", "--data-dir", dir]);
    servers.push(s);
    const res = await fetch(`${s.url}/v1/tickets`, { headers: { authorization: `Bearer ${key}` } });
    expect(res.status).toBe(200);
    expect(await s.stop()).toBe(0);
    expect(s.stderr()).not.toMatch(/cc_[0-9A-Za-z]{32,}/);
    expect(ok(dir, ["orgs", "list", "--json"]).length).toBe(1);
  });

  test("a data dir that already has an organization (made by the CLI) gets no bootstrap key", async () => {
    const d = freshDir("cc-first");
    ok(d, ["orgs", "create", "--name", "Made by hand"]);
    const s = await startServerProcess(["--port", "0", "--data-dir", d]);
    servers.push(s);
    // (A request first: main.ts installs its SIGTERM handler only after the "listening" line is written.)
    expect((await fetch(`${s.url}/healthz`)).status).toBe(200);
    expect(await s.stop()).toBe(0);
    expect(s.stderr()).not.toMatch(/cc_[0-9A-Za-z]{32,}/);
    expect(ok(d, ["orgs", "list", "--json"]).map((o: { name: string }) => o.name)).toEqual(["Made by hand"]);
  });

  test("with --port 0, links use the port actually bound (the default public URL follows the real port)", async () => {
    const d = freshDir("cc-first");
    const s = await startServerProcess(["--port", "0", "--data-dir", d]);
    servers.push(s);
    const k = (await s.waitForStderr(/cc_[0-9A-Za-z]{32,}/))[0];
    const res = await fetch(`${s.url}/v1/tickets`, {
      method: "POST",
      headers: { authorization: `Bearer ${k}`, "content-type": "application/json" },
      body: '{"subject":"where am I"}',
    });
    expect(res.status).toBe(201);
    const port = new URL(s.url).port;
    expect(new URL(res.headers.get("location")!).port).toBe(port);
    expect(s.stderr()).not.toContain("localhost:0/");
    await s.stop();
  });
});
