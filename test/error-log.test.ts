// The error log names the route pattern, never the raw path: no ids, signed-link filenames or signatures reach it.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { buildApp } from "../src/app";
import { createLogger } from "../src/lib/log";
import { createSqliteTestEnv, type SqliteTestEnv, testDeps } from "./helpers";
import { uploadOk } from "./files-fixtures";

const settle = () => new Promise<void>((r) => setImmediate(r));

let env: SqliteTestEnv;
let key: string;
let fileId: string;
let ticketId: string;
let signedPath: string;
const raw: string[] = [];
let app: ReturnType<typeof buildApp>;

const send = (path: string, init: RequestInit = {}) => app.handle(new Request(`http://localhost${path}`, init));
const lines = () => raw.map((l) => JSON.parse(l) as Record<string, unknown>);

beforeAll(async () => {
  env = await createSqliteTestEnv();
  key = (await env.org("Logs")).key;
  const file = await uploadOk(env, key, { filename: "quarterly-secret-report.pdf", content: "%PDF-1.4 hello" });
  fileId = file.id;
  const ticket = await env.request("/v1/tickets", { method: "POST", key, json: { subject: "log me" } });
  ticketId = ((await ticket.json()) as { id: string }).id;
  const url = new URL(file.download_url);
  signedPath = url.pathname + url.search;
  expect(signedPath).toContain("quarterly-secret-report.pdf");
  app = buildApp(testDeps(env, { log: createLogger({ level: "info", write: (l) => raw.push(l) }) }));
  // A fault the code cannot expect: the files table disappears under the running app, so file routes answer 500.
  env.handle.sqlite.exec("PRAGMA foreign_keys = OFF; DROP TABLE files;");
});
afterAll(() => env?.close());

/** Every id, filename and signature a request carried must be absent from every line it logged. */
function expectNoRawPath(logged: string[], secrets: string[]) {
  for (const line of logged) for (const s of secrets) expect(line, `log line leaks ${s}`).not.toContain(s);
}

describe("error log (5xx)", () => {
  test("a 500 on /v1/files/:id logs the route pattern with the request id, not the file id", async () => {
    raw.length = 0;
    const res = await send(`/v1/files/${fileId}`, { headers: { authorization: `Bearer ${key}`, "x-request-id": "fault-get-file" } });
    expect(res.status).toBe(500);
    await settle();
    const failed = lines().find((l) => l.msg === "request failed");
    expect(failed).toMatchObject({ level: "error", request_id: "fault-get-file", route: "/v1/files/:id", error: "internal_error" });
    expect(JSON.stringify(failed!.cause)).toContain("no such table");
    const access = lines().find((l) => l.msg === "request");
    expect(access).toMatchObject({ route: "/v1/files/:id", status: 500 });
    expectNoRawPath(raw, [fileId]);
  });

  test("a 500 on a signed download link logs /files/:id/:filename: no id, filename, expiry or signature", async () => {
    raw.length = 0;
    const res = await send(signedPath, { headers: { "x-request-id": "fault-signed-link" } });
    expect(res.status).toBe(500);
    await settle();
    const failed = lines().find((l) => l.msg === "request failed");
    expect(failed).toMatchObject({ request_id: "fault-signed-link", route: "/files/:id/:filename" });
    expect(failed).not.toHaveProperty("path");
    const url = new URL(signedPath, "http://localhost");
    expectNoRawPath(raw, [fileId, "quarterly-secret-report", url.searchParams.get("signature")!, url.searchParams.get("expires")!]);
  });
});

describe("4xx lines", () => {
  test("a 404 for a ticket id and a 403 for a tampered link log route patterns only", async () => {
    raw.length = 0;
    const missing = "tkt_0000000000000000";
    const r1 = await send(`/v1/tickets/${missing}`, { headers: { authorization: `Bearer ${key}` } });
    expect(r1.status).toBe(404);
    const r2 = await send(`/v1/tickets/${ticketId}`, {
      method: "PATCH",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: "{",
    });
    expect(r2.status).toBe(400);
    const tampered = signedPath.replace(/signature=[^&]+/, "signature=AAAAtampered");
    const r3 = await send(tampered);
    expect(r3.status).toBe(403);
    await settle();
    const routes = lines().map((l) => l.route);
    expect(routes).toEqual(["/v1/tickets/:id", "/v1/tickets/:id", "/files/:id/:filename"]);
    expectNoRawPath(raw, [missing, ticketId, fileId, "quarterly-secret-report", "AAAAtampered"]);
  });

  test("an unmatched path: route is null; the path appears only on the access line, without its query", async () => {
    raw.length = 0;
    const res = await send("/v2/nowhere/abc123?token=zzz");
    expect(res.status).toBe(404);
    await settle();
    const logged = lines();
    expect(logged.every((l) => l.route === null)).toBe(true);
    expect(logged.filter((l) => "path" in l).map((l) => [l.msg, l.path])).toEqual([["request", "/v2/nowhere/abc123"]]);
    expectNoRawPath(raw, ["zzz"]);
  });
});
