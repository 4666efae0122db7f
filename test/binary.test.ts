// End to end: build the executable, run it alone in an empty directory, and answer the reference's curl calls exactly.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BUN, freePort, REPO_ROOT, runCli, startServerProcess, tempDir, type ServerProcess } from "./helpers";
import { UNAUTHORIZED_BODY } from "./route-matrix";

setDefaultTimeout(30_000);

let buildDir: string;
let runDir: string;
let exe: string;
let port: number;
let server: ServerProcess;
let key: string;

/** Runs curl and returns status, headers (lower-case names) and body. */
function curl(args: string[]) {
  const p = Bun.spawnSync(["curl", "-sS", "-D", "-", ...args], { stdout: "pipe", stderr: "pipe" });
  expect(p.exitCode, p.stderr.toString()).toBe(0);
  const text = p.stdout.toString();
  const split = text.indexOf("\r\n\r\n");
  const head = text.slice(0, split).split("\r\n");
  const headers: Record<string, string> = {};
  for (const line of head.slice(1)) {
    const i = line.indexOf(":");
    headers[line.slice(0, i).toLowerCase()] = line.slice(i + 1).trim();
  }
  return { status: Number(head[0]!.split(" ")[1]), headers, body: text.slice(split + 4) };
}

beforeAll(async () => {
  buildDir = tempDir("cc-build");
  const built = Bun.spawnSync([BUN, "run", "scripts/build.ts", join(buildDir, "clientcove")], { cwd: REPO_ROOT, stdout: "pipe", stderr: "pipe" });
  expect(built.exitCode, built.stderr.toString() + built.stdout.toString()).toBe(0);
  // The executable alone, in an empty directory: no node_modules, no source, no drizzle/ beside it.
  runDir = tempDir("cc-run");
  exe = join(runDir, "clientcove");
  copyFileSync(join(buildDir, "clientcove"), exe);
  chmodSync(exe, 0o755);
  expect(readdirSync(runDir)).toEqual(["clientcove"]);
  port = freePort();
  server = await startServerProcess(["--port", String(port), "--data-dir", "./data"], { cmd: [exe], cwd: runDir });
  key = (await server.waitForStderr(/cc_[0-9A-Za-z]{32,}/))[0];
}, 120_000);

afterAll(async () => {
  await server?.stop("SIGKILL").catch(() => {});
  for (const d of [buildDir, runDir]) if (d) rmSync(d, { recursive: true, force: true });
});

describe("the compiled executable, alone in an empty directory", () => {
  test("it migrated an empty ./data relative to its working directory", () => {
    expect(existsSync(join(runDir, "data", "clientcove.db"))).toBe(true);
    expect(readdirSync(runDir).sort()).toEqual(["clientcove", "data"]);
  });

  test("the first start printed a key with a curl line for this port", () => {
    expect(server.stderr()).toContain(`curl http://localhost:${port}/v1/tickets -H "Authorization: Bearer ${key}"`);
  });

  test("the reference's list call, on an empty organization", () => {
    const r = curl(["-X", "GET", `http://localhost:${port}/v1/tickets`, "-H", `Authorization: Bearer ${key}`, "-H", "Content-Type: application/json"]);
    expect(r.status).toBe(200);
    expect(r.headers["content-type"]).toStartWith("application/json");
    expect(r.headers["x-request-id"]).toBeTruthy();
    expect(JSON.parse(r.body)).toEqual({ data: [], meta: { page: 1, per_page: 25, total: 0 } });
  });

  let created: Record<string, unknown>;

  test("the reference's create call: 201, the ticket, an absolute Location", () => {
    const r = curl([
      "-X",
      "POST",
      `http://localhost:${port}/v1/tickets`,
      "-H",
      `Authorization: Bearer ${key}`,
      "-H",
      "Content-Type: application/json",
      "-d",
      `{
"subject": "Cannot upload files over 10MB",
"description": "When I try to upload a PDF larger than 10MB, the upload fails silently.",
"priority": "medium"
}`,
    ]);
    expect(r.status).toBe(201);
    created = JSON.parse(r.body);
    expect(Object.keys(created).sort()).toEqual([
      "assignee_id",
      "created_at",
      "created_by",
      "custom_fields",
      "description",
      "id",
      "priority",
      "requester_id",
      "status",
      "subject",
      "tags",
      "updated_at",
    ]);
    expect(created).toEqual({
      id: expect.stringMatching(/^tkt_[0-9a-z]+$/),
      subject: "Cannot upload files over 10MB",
      description: "When I try to upload a PDF larger than 10MB, the upload fails silently.",
      status: "open",
      priority: "medium",
      created_by: expect.stringMatching(/^user_[0-9a-z]+$/),
      requester_id: null,
      assignee_id: null,
      tags: [],
      custom_fields: {},
      created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/),
      updated_at: created.created_at,
    });
    expect(r.headers.location).toBe(`http://localhost:${port}/v1/tickets/${created.id}`);
  });

  test("the list call again: the documented shape with the new ticket", () => {
    const r = curl(["-X", "GET", `http://localhost:${port}/v1/tickets`, "-H", `Authorization: Bearer ${key}`, "-H", "Content-Type: application/json"]);
    expect(r.status).toBe(200);
    const body = JSON.parse(r.body);
    expect(Object.keys(body)).toEqual(["data", "meta"]);
    expect(body).toEqual({ data: [created], meta: { page: 1, per_page: 25, total: 1 } });
    // The reference's list item fields are all there.
    for (const f of ["id", "subject", "status", "priority", "created_at"]) expect(body.data[0]).toHaveProperty(f);
  });

  test("the reference's 401 for a bad key", () => {
    const r = curl([`http://localhost:${port}/v1/tickets`, "-H", "Authorization: Bearer YOUR_API_KEY"]);
    expect(r.status).toBe(401);
    expect(r.headers["www-authenticate"]).toBe("Bearer");
    expect(JSON.parse(r.body)).toEqual(UNAUTHORIZED_BODY);
  });

  test("/healthz answers without a key", () => {
    const r = curl([`http://localhost:${port}/healthz`]);
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toEqual({ status: "ok" });
  });

  test("/docs is an HTML page whose script is served by the executable itself", () => {
    const page = curl([`http://localhost:${port}/docs`]);
    expect(page.status).toBe(200);
    expect(page.headers["content-type"]).toStartWith("text/html");
    expect(page.body).toContain('src="/docs/assets/scalar.js"');
    expect(page.body).not.toMatch(/https?:\/\/(cdn|unpkg|fonts)\./);
    const asset = curl([`http://localhost:${port}/docs/assets/scalar.js`]);
    expect(asset.status).toBe(200);
    expect(asset.headers["content-type"]).toMatch(/javascript/);
    expect(asset.body.length).toBeGreaterThan(100_000);
  });

  test("/docs: the embedded Scalar bundle byte for byte, cloud features off, and a favicon", async () => {
    const page = await (await fetch(`http://127.0.0.1:${port}/docs`)).text();
    expect(page).toContain('"showDeveloperTools":"never"');
    expect(page).toContain('"agent":{"disabled":true}');
    expect(page).toContain('<link rel="icon" href="/favicon.ico"');
    const asset = new Uint8Array(await (await fetch(`http://127.0.0.1:${port}/docs/assets/scalar.js`)).arrayBuffer());
    const bundled = await Bun.file(join(REPO_ROOT, "node_modules", "@scalar", "api-reference", "dist", "browser", "standalone.js")).bytes();
    expect(Bun.hash(asset)).toBe(Bun.hash(bundled));
    const icon = await fetch(`http://127.0.0.1:${port}/favicon.ico`);
    expect(icon.status).toBe(200);
    expect(icon.headers.get("content-type")).toBe("image/x-icon");
    expect((await icon.arrayBuffer()).byteLength).toBeGreaterThan(100);
  });

  test("/docs/json is OpenAPI 3 with the bearer scheme and the ticket routes", () => {
    const r = curl([`http://localhost:${port}/docs/json`]);
    expect(r.status).toBe(200);
    const spec = JSON.parse(r.body);
    expect(spec.openapi).toMatch(/^3\./);
    const schemes = Object.values(spec.components.securitySchemes) as { type: string; scheme: string }[];
    expect(schemes).toContainEqual(expect.objectContaining({ type: "http", scheme: "bearer" }));
    expect(Object.keys(spec.paths)).toEqual(expect.arrayContaining(["/v1/tickets", "/v1/tickets/{id}"]));
  });

  test("SIGTERM stops it cleanly: exit code 0", async () => {
    expect(await server.stop("SIGTERM")).toBe(0);
  });

  test("the executable is also the CLI, from the same empty directory", () => {
    const v = runCli(["version", "--json"], { cmd: [exe], cwd: runDir });
    expect(v.code, v.stderr).toBe(0);
    expect(JSON.parse(v.stdout).commit).not.toBe("unknown");
    const m = runCli(["migrate", "--data-dir", "./data2", "--json"], { cmd: [exe], cwd: runDir });
    expect(m.code, m.stderr).toBe(0);
    expect(JSON.parse(m.stdout).applied.length).toBeGreaterThan(0);
    const orgs = runCli(["orgs", "list", "--json", "--data-dir", "./data"], { cmd: [exe], cwd: runDir });
    expect(JSON.parse(orgs.stdout).map((o: { name: string }) => o.name)).toEqual(["Default"]);
  });

  test("a .env or bunfig.toml in the working directory is not read", () => {
    const dir = join(runDir, "with-dotenv");
    mkdirSync(dir);
    writeFileSync(join(dir, ".env"), "CLIENTCOVE_LOG_LEVEL=loud\nCLIENTCOVE_DATA_DIR=/nonexistent/forbidden\n");
    writeFileSync(join(dir, "bunfig.toml"), 'preload = ["./nope.ts"]\n');
    const r = runCli(["migrate", "--data-dir", "./d", "--json"], { cmd: [exe], cwd: dir });
    expect(r.code, r.stderr).toBe(0);
  });
});
