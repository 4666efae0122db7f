// Property-based fuzzing of every route the app registers (taken from its own route list, checked against each route's
// declared responses): multipart uploads, downloads and signed links, folders, webhooks, tickets (fuzzed at depth in
// test/fuzz-tickets.test.ts), and arbitrary paths, methods, query strings and headers. Never a 5xx; documented statuses
// and shapes only; a rejected request changes nothing in the database or under <dataDir>/files and <dataDir>/tmp.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import fc from "fast-check";
import { Value } from "@sinclair/typebox/value";
import type { TSchema } from "@sinclair/typebox";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { createDownloadSigner, loadDownloadKey, type DownloadSigner } from "../src/files/signed-url";
import { createTestEnv, type TestEnv } from "./helpers";
import { BOUNDARY, listObjects, listTemp, multipartBody, sha256Hex, type Part } from "./files-fixtures";

const SEED = Number(process.env.FUZZ_SEED ?? 20261128);
/** Runs per property; FUZZ_SCALE=10 for a long soak, FUZZ_SEED=n for other inputs, FUZZ_DEBUG=<status> prints requests answered with it. */
const SCALE = Number(process.env.FUZZ_SCALE ?? 1);
const UPLOAD_RUNS = 700 * SCALE;
// Spread over every /v1 route (30-odd since the helpdesk routes): enough runs that each status the property expects is reached.
const API_RUNS = 2500 * SCALE;
const ANY_RUNS = 1200 * SCALE;
const MAX_UPLOAD = 16 * 1024;

/** Every status the API documents for these routes (429 and 507 cannot happen here: limits are off, the disk has room). */
const DOCUMENTED = new Set([200, 201, 202, 204, 206, 304, 400, 401, 403, 404, 405, 409, 413, 415, 416, 422]);

let env: TestEnv;
let signer: DownloadSigner;
export let requestsFuzzed = 0;
const statuses = new Map<number, number>();

interface Org {
  orgId: string;
  key: string;
}
let A: Org;
let B: Org;
let C: Org; // free plan: every /v1 request is a 403
/** What the fuzz knows exists (seeded, or created by a fuzzed request that succeeded). */
const pool = {
  tickets: [] as { id: string; orgId: string }[],
  folders: [] as { id: string; orgId: string }[],
  files: [] as { id: string; orgId: string; filename: string; bytes: Uint8Array }[],
  webhooks: [] as { id: string; orgId: string }[],
  deliveries: [] as { id: string; webhookId: string; orgId: string }[],
  contacts: [] as { id: string; orgId: string }[],
  comments: [] as { id: string; orgId: string }[],
  ticketFields: [] as { id: string; orgId: string }[],
  users: [] as { id: string; orgId: string }[],
};
const pick = <T>(list: T[], n: number): T | undefined => (list.length ? list[n % list.length] : undefined);
/** The organization sending the request being built: "own" ids are drawn from its resources. */
let current: Org | undefined;
const pickOwn = <T extends { orgId: string }>(list: T[], n: number): T | undefined =>
  pick(
    list.filter((x) => x.orgId === current?.orgId),
    n,
  ) ?? pick(list, n);

// ---- observing state -------------------------------------------------------------------------------------------

async function snapshot(): Promise<string> {
  const q = async (sql: string) => JSON.stringify(await env.db.all(sql));
  return [
    await q("SELECT * FROM tickets ORDER BY id"),
    // Summed: PostgreSQL spreads each counter over shard rows.
    await q("SELECT org_id, status, priority, SUM(count) AS count FROM ticket_counts GROUP BY org_id, status, priority ORDER BY 1, 2, 3"),
    await q("SELECT * FROM files ORDER BY id"),
    await q("SELECT * FROM folders ORDER BY id"),
    await q("SELECT * FROM webhooks ORDER BY id"),
    await q("SELECT id, status, attempt_count, max_attempts, next_attempt_at FROM webhook_deliveries ORDER BY id"),
    await q("SELECT COUNT(*) AS n, MAX(seq) AS last FROM events"),
    await q("SELECT key_id, idempotency_key, fingerprint, response_status FROM idempotency_keys ORDER BY 1, 2"),
    JSON.stringify(listObjects(env.dir)),
    JSON.stringify(listTemp(env.dir)),
  ].join("\n");
}

// ---- the routes: the app's own list (the same source as the route matrix) ----------------------------------------

/**
 * Success checks a route's response schema cannot express (bytes, pages, the OpenAPI document), keyed by
 * `METHOD /path` as the app registers it. Every other route is checked against its own declared response schemas.
 */
const SUCCESS_CHECKS: Record<string, { bytes?: true; kind?: "health" | "ready" | "html" | "openapi" | "js" | "icon" }> = {
  "GET /healthz": { kind: "health" },
  "GET /readyz": { kind: "ready" },
  "GET /docs": { kind: "html" },
  "GET /docs/json": { kind: "openapi" },
  "GET /docs/assets/scalar.js": { kind: "js" },
  "GET /favicon.ico": { kind: "icon" },
  "GET /v1/files/:id/content": { bytes: true },
  "GET /files/:id/:filename": { bytes: true },
};

interface FuzzRoute {
  method: string;
  path: string;
  key: string;
  re: RegExp;
  /** The route's declared response schemas by status (undefined: it declares none). */
  ok?: Record<number, TSchema | undefined>;
  /** Names of its declared query parameters, and of its JSON body's fields. */
  query: string[];
  fields: string[];
  /** Values its body schema names (enum members, literals), so generated bodies reach past validation. */
  literals: unknown[];
  bytes?: true;
  kind?: string;
}

/** Filled from `env.app.routes` in beforeAll: a route added to the app is fuzzed without an edit here. */
let ROUTES: FuzzRoute[] = [];
const routeRe = (p: string) => new RegExp(`^${p.replace(/:[a-z_]+/gi, "[^/]+")}/?$`);

/** A schema as a route declares it: inline, or the name of a model registered with `.model()`. */
function resolveSchema(app: TestEnv["app"], s: unknown): TSchema | undefined {
  if (typeof s === "string") return (app as unknown as { definitions: { type: Record<string, TSchema> } }).definitions.type[s];
  return s && typeof s === "object" ? (s as TSchema) : undefined;
}

function literalsOf(schema: unknown, out: unknown[] = []): unknown[] {
  if (!schema || typeof schema !== "object") return out;
  const s = schema as Record<string, unknown>;
  if ("const" in s) out.push(s.const);
  if (Array.isArray(s.enum)) out.push(...s.enum);
  for (const v of Object.values(s)) if (v && typeof v === "object") literalsOf(v, out);
  return out;
}

function routesOf(app: TestEnv["app"]): FuzzRoute[] {
  const routes = app.routes.map((r) => {
    const hooks = (r as unknown as { hooks?: { response?: Record<number, unknown>; query?: unknown; body?: unknown } }).hooks ?? {};
    const key = `${r.method} ${r.path}`;
    const ok = hooks.response ? Object.fromEntries(Object.entries(hooks.response).map(([status, schema]) => [status, resolveSchema(app, schema)])) : undefined;
    const query = resolveSchema(app, hooks.query) as { properties?: Record<string, unknown> } | undefined;
    const body = resolveSchema(app, hooks.body) as { properties?: Record<string, unknown> } | undefined;
    return {
      method: r.method,
      path: r.path,
      key,
      re: routeRe(r.path),
      ok,
      query: Object.keys(query?.properties ?? {}),
      fields: Object.keys(body?.properties ?? {}),
      literals: [...new Set(literalsOf(body))],
      ...SUCCESS_CHECKS[key],
    };
  });
  // A fixed segment wins over a parameter (PATCH /v1/webhooks/event-types is not /v1/webhooks/:id), as in the app.
  return routes.sort((x, y) => (x.path.match(/:/g)?.length ?? 0) - (y.path.match(/:/g)?.length ?? 0));
}

/** The route a successful request must have hit. */
function routeOf(method: string, pathname: string) {
  const m = method === "HEAD" ? "GET" : method;
  return ROUTES.find((r) => r.method === m && r.re.test(pathname));
}

interface Sent {
  method: string;
  url: string;
  headers: Headers;
  body?: NonNullable<RequestInit["body"]>;
  /** The bytes of the one file part, when the body is a well-formed upload. */
  uploaded?: Uint8Array;
  /** The organization behind the key, when the key is valid. */
  actor?: Org;
}

/**
 * Sends one request through the whole app and checks every property. Returns the parsed JSON body of a success.
 */
async function fuzzOne(r: Sent): Promise<void> {
  const before = await snapshot();
  const res = await env.app.handle(new Request(r.url, { method: r.method, headers: r.headers, body: r.body }));
  requestsFuzzed++;
  statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
  const buf = new Uint8Array(await res.arrayBuffer());
  const text = new TextDecoder().decode(buf);
  const where = `${r.method} ${r.url} → ${res.status} ${text.slice(0, 300)}`;
  if (process.env.FUZZ_DEBUG && res.status === Number(process.env.FUZZ_DEBUG)) console.log(where.slice(0, 200));
  if (res.status >= 500 || !DOCUMENTED.has(res.status)) throw new Error(`undocumented status: ${where}`);
  expect(res.headers.get("x-request-id")).toBeTruthy();
  expect(res.headers.get("x-content-type-options")).toBe("nosniff");
  const { pathname } = new URL(r.url);
  // app.handle() has no socket: a HEAD answer's body is dropped by Bun's HTTP server, not here (hardening-secrets checks it over HTTP).
  if (r.method === "HEAD") {
    if ((await snapshot()) !== before) throw new Error(`a HEAD changed state: ${where}`);
    return;
  }
  if (res.status === 204 || res.status === 304) {
    expect(buf.byteLength).toBe(0);
    if (res.status === 304) expect(await snapshot()).toBe(before);
    return;
  }

  if (res.status >= 400) {
    expect(res.headers.get("content-type") ?? "").toStartWith("application/json");
    const body = JSON.parse(text);
    expect(Object.keys(body).filter((k) => k !== "error" && k !== "message" && k !== "details")).toEqual([]);
    expect(body.error).toMatch(/^[a-z][a-z_]*$/);
    expect(typeof body.message).toBe("string");
    if (body.details !== undefined) {
      expect(Array.isArray(body.details)).toBe(true);
      for (const d of body.details) expect(Object.keys(d).sort()).toEqual(["field", "message"]);
    }
    // No internals: SQL, stack frames, paths of the machine, the download signing key.
    expect(text).not.toMatch(/SQLITE|sqlite_|at .*\.ts:\d+|\/work\/|\/tmp\/|node_modules/);
    const after = await snapshot();
    if (after !== before) throw new Error(`a rejected request changed state: ${where}`);
    return;
  }

  const route = routeOf(r.method, pathname);
  if (!route) throw new Error(`a success on no known route: ${where}`);
  if (route.bytes) {
    // Downloads: the exact stored bytes, or the requested slice of them.
    const id = decodeURIComponent(pathname.split("/")[route.path.startsWith("/v1") ? 3 : 2]!);
    const row = (await env.db.get("SELECT sha256, size_bytes, org_id FROM files WHERE id = ?", id)) as {
      sha256: string;
      size_bytes: number;
      org_id: string;
    } | null;
    expect(row).not.toBeNull();
    if (route.path.startsWith("/v1")) expect(row!.org_id).toBe(r.actor!.orgId);
    if (res.status === 200) expect(sha256Hex(buf)).toBe(row!.sha256);
    else {
      expect(res.status).toBe(206);
      const m = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(res.headers.get("content-range") ?? "");
      expect(m).not.toBeNull();
      const known = pool.files.find((f) => f.id === id);
      if (known) expect(Buffer.from(buf).equals(Buffer.from(known.bytes.subarray(Number(m![1]), Number(m![2]) + 1)))).toBe(true);
    }
    expect(await snapshot()).toBe(before);
    return;
  }
  if (route.kind === "html") return void expect(res.headers.get("content-type") ?? "").toContain("text/html");
  if (route.kind === "js") return void expect(res.headers.get("content-type") ?? "").toContain("javascript");
  if (route.kind === "icon") return void expect(res.headers.get("content-type") ?? "").toStartWith("image/");
  const body = JSON.parse(text);
  if (route.kind === "health") expect(body).toEqual({ status: "ok" });
  else if (route.kind === "ready") expect(body.status).toBe("ready");
  else if (route.kind === "openapi") expect(body.openapi).toStartWith("3.");
  if (route.ok) {
    // The route's own declared responses: a success status it does not declare, or a body off its schema, fails.
    if (!(res.status in route.ok)) throw new Error(`a success status ${route.key} does not declare: ${where}`);
    const schema = route.ok[res.status];
    if (schema && !Value.Check(schema, body)) throw new Error(`success body not in the documented shape: ${where}`);
  }
  if (r.method === "GET" || res.headers.get("idempotent-replayed") === "true") {
    if ((await snapshot()) !== before) throw new Error(`a read or a replay changed state: ${where}`);
    return;
  }
  await learn(r, route.path, res.status, body);
}

/** Adds what a successful write created to the pools (and checks an upload's bytes and references). */
async function learn(r: Sent, route: string, status: number, body: any): Promise<void> {
  const orgId = r.actor!.orgId;
  if (route === "/v1/files" && status === 201) {
    expect(r.uploaded).toBeDefined();
    expect(body.size_bytes).toBe(r.uploaded!.byteLength);
    expect(body.sha256).toBe(sha256Hex(r.uploaded!));
    const row = (await env.db.get("SELECT org_id, storage_key FROM files WHERE id = ?", body.id)) as { org_id: string; storage_key: string };
    expect(row.org_id).toBe(orgId);
    expect(Buffer.from(readFileSync(join(env.dir, "files", row.storage_key))).equals(Buffer.from(r.uploaded!))).toBe(true);
    // A folder or ticket named in an upload is always the uploader's own.
    for (const [table, id] of [
      ["folders", body.folder_id],
      ["tickets", body.ticket_id],
    ] as const) {
      if (id !== null) expect(((await env.db.get(`SELECT org_id FROM ${table} WHERE id = ?`, id)) as { org_id: string }).org_id).toBe(orgId);
    }
    pool.files.push({ id: body.id, orgId, filename: body.filename, bytes: r.uploaded! });
  } else if (route === "/v1/folders" && status === 201) pool.folders.push({ id: body.id, orgId });
  else if (route === "/v1/tickets" && status === 201) pool.tickets.push({ id: body.id, orgId });
  else if (route === "/v1/webhooks" && status === 201) pool.webhooks.push({ id: body.id, orgId });
  else if (route === "/v1/contacts" && status === 201) pool.contacts.push({ id: body.id, orgId });
  else if (route === "/v1/tickets/:id/comments" && status === 201) pool.comments.push({ id: body.id, orgId });
  else if (route === "/v1/ticket-fields" && status === 201) pool.ticketFields.push({ id: body.id, orgId });
  else if (route.endsWith("/test") && status === 202) pool.deliveries.push({ id: body.id, webhookId: body.webhook_id, orgId });
  if (route === "/v1/folders/:id" && status === 200 && body.parent_id !== null) {
    expect(((await env.db.get("SELECT org_id FROM folders WHERE id = ?", body.parent_id)) as { org_id: string }).org_id).toBe(orgId);
  }
}

// ---- setup -----------------------------------------------------------------------------------------------------

async function post(key: string, path: string, json: unknown): Promise<any> {
  const res = await env.request(path, { method: "POST", key, json });
  if (res.status >= 300) throw new Error(`${path}: ${res.status} ${await res.text()}`);
  return res.json();
}

async function seedUpload(org: Org, bytes: Uint8Array, filename: string, fields: Record<string, string> = {}) {
  const parts: Part[] = [{ name: "file", filename, content: bytes }, ...Object.entries(fields).map(([name, value]) => ({ name, value }))];
  const res = await env.request("/v1/files", {
    method: "POST",
    key: org.key,
    body: multipartBody(parts),
    headers: { "content-type": `multipart/form-data; boundary=${BOUNDARY}` },
  });
  if (res.status !== 201) throw new Error(`seed upload: ${res.status} ${await res.text()}`);
  const f: any = await res.json();
  pool.files.push({ id: f.id, orgId: org.orgId, filename: f.filename, bytes });
}

beforeAll(async () => {
  env = await createTestEnv({ config: { maxJsonBytes: 4096, maxUploadBytes: MAX_UPLOAD, webhookAllowPrivate: true } });
  ROUTES = routesOf(env.app);
  signer = createDownloadSigner({ key: loadDownloadKey(env.dir), publicUrl: env.config.publicUrl, ttlSeconds: env.config.downloadUrlTtlSeconds });
  A = await env.org("Acme");
  B = await env.org("Beta", "enterprise");
  C = await env.org("Freeloader", "free");
  for (const org of [A, B]) {
    const top = await post(org.key, "/v1/folders", { name: "Contracts" });
    const sub = await post(org.key, "/v1/folders", { name: "2026", parent_id: top.id });
    pool.folders.push({ id: top.id, orgId: org.orgId }, { id: sub.id, orgId: org.orgId });
    const t = await post(org.key, "/v1/tickets", { subject: `${org.orgId}'s ticket` });
    pool.tickets.push({ id: t.id, orgId: org.orgId });
    const contact = await post(org.key, "/v1/contacts", { email: `req@${org.orgId}.example`, name: "Requester" });
    pool.contacts.push({ id: contact.id, orgId: org.orgId });
    const comment = await post(org.key, `/v1/tickets/${t.id}/comments`, { body: "first reply" });
    pool.comments.push({ id: comment.id, orgId: org.orgId });
    const field = await post(org.key, "/v1/ticket-fields", { key: "order_id", title: "Order", type: "text" });
    pool.ticketFields.push({ id: field.id, orgId: org.orgId });
    const me: any = await (await env.request("/v1/users/me", { key: org.key })).json();
    pool.users.push({ id: me.id, orgId: org.orgId });
    await seedUpload(org, new TextEncoder().encode("%PDF-1.7\n" + "p".repeat(3000)), "contract.pdf", { folder_id: sub.id });
    await seedUpload(org, new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3, 4, 5]), "screen shot.png", { ticket_id: t.id });
    const wh = await post(org.key, "/v1/webhooks", { url: "http://127.0.0.1:9/hook", events: ["*"] });
    pool.webhooks.push({ id: wh.id, orgId: org.orgId });
    const res = await env.request(`/v1/webhooks/${wh.id}/test`, { method: "POST", key: org.key });
    const d: any = await res.json();
    pool.deliveries.push({ id: d.id, webhookId: wh.id, orgId: org.orgId });
  }
});

afterAll(() => {
  env.close();
  const byStatus = [...statuses]
    .sort(([a], [b]) => a - b)
    .map(([s, n]) => `${s}×${n}`)
    .join(" ");
  console.log(`fuzz-routes: ${requestsFuzzed} requests, seed ${SEED} (${byStatus})`);
});

// ---- arbitraries shared by the properties -----------------------------------------------------------------------

type Thunk = () => string;
const keyOf = { A: () => A, B: () => B };

/** Who sends it: mostly org A or B; sometimes a free plan, a bogus key or no key. */
const authArb = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.constantFrom("A", "B").map((w) => ({ header: () => `Bearer ${keyOf[w as "A" | "B"]().key}`, actor: () => keyOf[w as "A" | "B"]() })),
  },
  {
    weight: 1,
    arbitrary: fc.oneof(
      fc.constant({ header: () => `Bearer ${C.key}`, actor: () => undefined }),
      fc.constant({ header: () => "Bearer cc_" + "0".repeat(40), actor: () => undefined }),
      fc.constant({ header: () => "", actor: () => undefined }),
      fc.string({ maxLength: 20 }).map((s) => ({ header: () => `Bearer ${s}`, actor: () => undefined })),
      fc.constant({ header: () => `Basic ${btoa(`user:${A.key}`)}`, actor: () => undefined }),
    ),
  },
);

const garbageId = fc.oneof(
  fc.constantFrom(
    "file_0000000000000000",
    "fld_0000000000000000",
    "tkt_0000000000000000",
    "wh_0000000000000000",
    "dlv_0000000000000000",
    "root",
    "",
    "null",
    "..",
    "%2e%2e",
    "%2F",
    "%00",
    "x".repeat(300),
    "'%20OR%201=1--",
    "%F0%9F%92%A9",
  ),
  fc.string({ maxLength: 30 }).map(encodeURIComponent),
);
/** An id from a pool (either org's), or garbage; resolved when the request is built, since pools grow. */
const idOf = (kind: keyof typeof pool): fc.Arbitrary<Thunk> =>
  fc.oneof(
    { weight: 4, arbitrary: fc.nat().map((n) => () => encodeURIComponent(pickOwn(pool[kind] as { id: string; orgId: string }[], n)?.id ?? "none")) },
    { weight: 2, arbitrary: fc.nat().map((n) => () => encodeURIComponent(pick(pool[kind] as { id: string }[], n)?.id ?? "none")) },
    { weight: 1, arbitrary: garbageId.map((g) => () => g) },
  );

/** A field value for folder_id / ticket_id / parent_id: either org's real ids, other kinds, or nonsense. */
const refArb: fc.Arbitrary<Thunk> = fc.oneof(
  fc.nat().map((n) => () => pickOwn(pool.folders, n)!.id),
  fc.nat().map((n) => () => pickOwn(pool.tickets, n)!.id),
  fc.nat().map((n) => () => pick(pool.folders, n)!.id),
  fc.nat().map((n) => () => pick(pool.tickets, n)!.id),
  fc.nat().map((n) => () => pick(pool.files, n)?.id ?? "x"),
  fc.constantFrom("", "root", "fld_0000000000000000", "tkt_0000000000000000", " ", "x".repeat(2000), "fld_ä😀").map((v) => () => v),
  fc.string({ maxLength: 20 }).map((v) => () => v),
);

const pageArb = fc.oneof(fc.integer({ min: -3, max: 200 }).map(String), fc.constantFrom("", "1e2", "0x10", "NaN", "1.5", "01", "99999999999999999999"));
const queryArb = (names: string[]) =>
  fc
    .array(
      fc.tuple(
        fc.constantFrom(...names, "page", "per_page", "unknown", "page[]"),
        fc.oneof(
          pageArb.map((v) => () => v),
          refArb,
          fc.constantFrom("true", "false", "1", "yes", "pending", "succeeded", "bogus").map((v) => () => v),
        ),
      ),
      { maxLength: 4 },
    )
    .map((pairs) => () => new URLSearchParams(pairs.map(([k, v]): [string, string] => [k, v()])).toString());

const idemArb = fc.option(fc.oneof(fc.constantFrom("k1", "k2", "k3"), fc.constant("x".repeat(256)), fc.string({ maxLength: 8 })), { nil: undefined, freq: 3 });

function setHeader(h: Headers, name: string, value: string): void {
  try {
    h.set(name, value);
  } catch {
    // Not a legal header value: no client could send it either.
  }
}

// ---- 1. multipart uploads ---------------------------------------------------------------------------------------

const filenameArb = fc.oneof(
  fc.constantFrom(
    "report.pdf",
    "../../etc/passwd",
    "..\\..\\boot.ini",
    "/etc/shadow",
    "con.txt",
    "",
    " ",
    ".",
    "..",
    "a/b/c.txt",
    "😀 résumé.png",
    "x".repeat(300),
    "nul\u0000byte.txt",
    "tab\tname",
    "%2e%2e%2f",
    "<script>alert(1)</script>.html",
    ".htaccess",
    "image.svg",
    'quote"d.txt',
    "crlf\r\nX-Evil: 1.txt",
  ),
  fc.string({ maxLength: 24, unit: "binary" }),
);
const contentArb = fc.oneof(
  { weight: 5, arbitrary: fc.uint8Array({ maxLength: 1500 }) },
  { weight: 1, arbitrary: fc.constant(new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13])) },
  { weight: 1, arbitrary: fc.constant(new TextEncoder().encode("<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>")) },
  { weight: 1, arbitrary: fc.constantFrom(MAX_UPLOAD, MAX_UPLOAD + 1).map((n) => new Uint8Array(n).fill(7)) },
  { weight: 1, arbitrary: fc.constant(new TextEncoder().encode(`\r\n--${BOUNDARY}\r\nnot really the end`)) },
);
type Disposition = "quoted" | "extended" | "malformed";
type PartSpec =
  | { kind: "file"; name: string; filename: string; disposition: Disposition; content: Uint8Array; type: string }
  | { kind: "field"; name: string; value: Thunk };
const partArb: fc.Arbitrary<PartSpec> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant("file" as const),
      name: fc.constantFrom("file", "file", "file", "file", "File", "attachment", ""),
      filename: filenameArb,
      disposition: fc.constantFrom<Disposition>("quoted", "quoted", "quoted", "extended", "extended", "malformed"),
      content: contentArb,
      type: fc.constantFrom("application/octet-stream", "text/html", "image/png", "application/x-msdownload"),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant("field" as const),
      name: fc.constantFrom("folder_id", "folder_id", "ticket_id", "ticket_id", "file", "x", "", "folder_id[]"),
      value: refArb,
    }),
  },
);
const mutationArb = fc.oneof(
  { weight: 8, arbitrary: fc.constant({ kind: "none" as const }) },
  { weight: 2, arbitrary: fc.double({ min: 0, max: 1, noNaN: true }).map((at) => ({ kind: "truncate" as const, at })) },
  {
    weight: 1,
    arbitrary: fc.constantFrom("no-close", "wrong-boundary", "no-boundary", "not-multipart", "json", "lying-length", "empty").map((kind) => ({ kind })),
  },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 200 }).map((bytes) => ({ kind: "garbage" as const, bytes })) },
);
const uploadArb = fc.record({
  parts: fc.oneof(
    { weight: 4, arbitrary: fc.tuple(partArb.filter((p) => p.kind === "file")).map((p) => p as PartSpec[]) },
    { weight: 4, arbitrary: fc.array(partArb, { maxLength: 4 }) },
  ),
  fieldsFirst: fc.boolean(),
  mutation: fc.oneof({ weight: 2, arbitrary: fc.constant({ kind: "none" as const }) }, { weight: 1, arbitrary: mutationArb }),
  auth: authArb,
  idem: idemArb,
});

type UploadSpec = typeof uploadArb extends fc.Arbitrary<infer U> ? U : never;

/** RFC 5987 ext-value: UTF-8, percent-encoding everything outside attr-char (encodeURIComponent leaves ( ) ' * ! as they are). */
const rfc5987 = (s: string) => encodeURIComponent(s).replace(/[()'*!]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
/** A quoted filename as browsers send it (WHATWG form encoding: " CR LF percent-encoded). */
const quoted = (s: string) => s.replace(/"/g, "%22").replace(/\r/g, "%0D").replace(/\n/g, "%0A");
/**
 * Content-Disposition headers busboy cannot parse. It skips such parts silently (as if they were not
 * there), so the oracle below counts only well-formed file parts.
 */
const MALFORMED = [
  `form-data; name="file"; filename*=UTF-8''a(b).txt`,
  `attachment; name="file"; filename="x.txt"`,
  `form-data; name="file"; filename="unterminated`,
  `form-data;`,
];

function multipart(parts: PartSpec[], n: number, fields: string[]): Uint8Array {
  const chunks: (Uint8Array | string)[] = [];
  let f = 0;
  for (const p of parts) {
    chunks.push(`--${BOUNDARY}\r\n`);
    if (p.kind === "file") {
      const disposition =
        p.disposition === "malformed"
          ? MALFORMED[(n + f) % MALFORMED.length]!
          : `form-data; name="${p.name}"; ${p.disposition === "extended" ? `filename*=UTF-8''${rfc5987(p.filename)}` : `filename="${quoted(p.filename)}"`}`;
      chunks.push(`Content-Disposition: ${disposition}\r\nContent-Type: ${p.type}\r\n\r\n`, p.content, "\r\n");
    } else {
      chunks.push(`Content-Disposition: form-data; name="${p.name}"\r\n\r\n${fields[f]}\r\n`);
    }
    f++;
  }
  return new Uint8Array(Buffer.concat(chunks.map((c) => Buffer.from(c as never))));
}

function buildUpload(u: UploadSpec): Sent {
  const parts = u.fieldsFirst ? [...u.parts.filter((p) => p.kind === "field"), ...u.parts.filter((p) => p.kind === "file")] : u.parts;
  const fields = parts.map((p) => (p.kind === "field" ? p.value() : ""));
  let body = multipart(parts, u.parts.length, fields);
  if (u.mutation.kind !== "no-close") body = new Uint8Array(Buffer.concat([body, Buffer.from(`--${BOUNDARY}--\r\n`)]));
  let type = `multipart/form-data; boundary=${BOUNDARY}`;
  const headers = new Headers();
  switch (u.mutation.kind) {
    case "truncate":
      body = body.subarray(0, Math.floor(body.byteLength * u.mutation.at));
      break;
    case "wrong-boundary":
      type = "multipart/form-data; boundary=not-the-one";
      break;
    case "no-boundary":
      type = "multipart/form-data";
      break;
    case "not-multipart":
      type = "application/octet-stream";
      break;
    case "json":
      type = "application/json";
      break;
    case "lying-length":
      setHeader(headers, "content-length", String(MAX_UPLOAD * 100));
      break;
    case "empty":
      body = new Uint8Array(0);
      break;
    case "garbage":
      body = u.mutation.bytes;
      break;
  }
  headers.set("content-type", type);
  const auth = u.auth.header();
  if (auth) headers.set("authorization", auth);
  if (u.idem !== undefined) setHeader(headers, "idempotency-key", u.idem);
  const files = parts.filter((p): p is Extract<PartSpec, { kind: "file" }> => p.kind === "file" && p.disposition !== "malformed");
  return {
    method: "POST",
    url: "http://localhost/v1/files",
    headers,
    body,
    uploaded: files.length === 1 ? files[0]!.content : undefined,
    actor: u.auth.actor(),
  };
}

// ---- 2. the JSON and download routes of files, folders and webhooks ----------------------------------------------

const folderBody = fc.record(
  {
    name: fc.oneof(
      fc.string({ maxLength: 20 }),
      fc.constantFrom("Contracts", "2026", "a/b", "  ", "", "x".repeat(256), "tab\tname", "😀"),
      fc.integer(),
      fc.constant(null),
    ),
    parent_id: fc.oneof(
      refArb,
      fc.constant(() => null as unknown as string),
    ),
    extra: fc.anything({ maxDepth: 1 }),
  },
  { requiredKeys: [] },
);
const webhookBody = fc.record(
  {
    url: fc.oneof(
      fc.constantFrom(
        "http://127.0.0.1:9/hook",
        "https://10.1.2.3/x",
        "http://localhost:9/y",
        "ftp://127.0.0.1/",
        "http://127.0.0.1/#frag",
        "http://[::1]:9/",
        "not a url",
        "",
        "http://0.0.0.0/",
        "http://169.254.169.254/latest",
        "javascript:alert(1)",
      ),
      fc.string({ maxLength: 30 }),
    ),
    events: fc.oneof(
      fc.subarray(["ticket.created", "ticket.updated", "ticket.deleted", "file.uploaded", "file.deleted", "webhook.test", "*"]),
      fc.array(fc.string({ maxLength: 12 }), { maxLength: 3 }),
      fc.constant("ticket.created"),
    ),
    description: fc.oneof(fc.string({ maxLength: 30 }), fc.constant(null), fc.constant("d".repeat(501))),
    active: fc.oneof(fc.boolean(), fc.constant("yes")),
    replay_missed: fc.boolean(),
    extra: fc.anything({ maxDepth: 1 }),
  },
  { requiredKeys: [] },
);
type BodySpec = { text: Thunk; type: string } | undefined;
const noBody = fc.constant<BodySpec>(undefined);
const jsonBody = (shape: fc.Arbitrary<Record<string, unknown>>): fc.Arbitrary<BodySpec> =>
  fc.oneof(
    {
      weight: 6,
      arbitrary: shape.map((o) => ({
        text: () => JSON.stringify(Object.fromEntries(Object.entries(o).map(([k, v]) => [k, typeof v === "function" ? (v as Thunk)() : v]))),
        type: "application/json",
      })),
    },
    { weight: 1, arbitrary: fc.json({ maxDepth: 3 }).map((t) => ({ text: () => t, type: "application/json" })) },
    {
      weight: 1,
      arbitrary: fc
        .constantFrom(`{"name":${"[".repeat(200)}${"]".repeat(200)}}`, "x".repeat(5000), "{", "null", '"str"')
        .map((t) => ({ text: () => t, type: "application/json" })),
    },
    { weight: 1, arbitrary: fc.string({ maxLength: 30 }).map((t) => ({ text: () => t, type: "text/plain" })) },
    { weight: 1, arbitrary: fc.constant(undefined) },
  );

const linkArb: fc.Arbitrary<Thunk> = fc
  .tuple(
    fc.nat(),
    fc.nat(),
    fc.constantFrom("valid", "valid", "tampered", "expired", "other-id", "no-signature", "no-expires", "garbage"),
    fc.string({ maxLength: 12 }),
  )
  .map(([i, j, how, name]) => () => {
    const f = pick(pool.files, i)!;
    const g = pick(pool.files, j)!;
    const now = Date.now();
    const url = new URL(signer.url(f.id, name || f.filename, how === "expired" ? now - 2 * env.config.downloadUrlTtlSeconds * 1000 : now));
    const sig = url.searchParams.get("signature")!;
    if (how === "tampered") url.searchParams.set("signature", (sig[0] === "A" ? "B" : "A") + sig.slice(1));
    if (how === "other-id") url.pathname = `/files/${g.id}/${encodeURIComponent(g.filename)}`;
    if (how === "no-signature") url.searchParams.delete("signature");
    if (how === "no-expires") url.searchParams.delete("expires");
    if (how === "garbage") url.search = `?expires=${encodeURIComponent(name)}&signature=${encodeURIComponent(name)}`;
    return url.pathname + url.search;
  });

/** Present one time in six. */
const rarely = <T>(arb: fc.Arbitrary<T>) => fc.oneof({ weight: 5, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: arb });
/** Range half the time; the conditional headers (which turn most answers into a 304) now and then. */
const downloadHeadersArb = fc
  .record({
    range: fc.option(
      fc.oneof(
        fc.constantFrom("bytes=0-0", "bytes=0-99", "bytes=-5", "bytes=5-", "bytes=99999-", "bytes=0-1,3-4", "bytes=5-1", "items=0-1", "bytes=-0"),
        fc.string({ maxLength: 12 }),
      ),
      { freq: 2 },
    ),
    "if-none-match": rarely(fc.constantFrom("*", '"nope"', 'W/"x"', "")),
    "if-modified-since": rarely(fc.constantFrom(new Date(Date.now() + 86_400_000).toUTCString(), "yesterday", new Date(0).toUTCString())),
    "if-range": rarely(fc.constantFrom('"nope"', new Date(0).toUTCString())),
  })
  .map((h) => Object.fromEntries(Object.entries(h).filter(([, v]) => v !== null)) as Record<string, string>);

/** Which pool a `:param` draws its ids from, by the path segment before it (`/v1/files/:id` → files). */
const PARAM_POOLS: Record<string, keyof typeof pool> = {
  tickets: "tickets",
  files: "files",
  folders: "folders",
  webhooks: "webhooks",
  deliveries: "deliveries",
  contacts: "contacts",
  comments: "comments",
  "ticket-fields": "ticketFields",
  users: "users",
};

/** A delivery under its own webhook, or under another one (crossing by the delivery alone must be a 404 too). */
const deliveryPathArb = (tail: string): fc.Arbitrary<Thunk> =>
  fc.tuple(fc.nat(), fc.boolean()).map(([n, cross]) => () => {
    const d = pickOwn(pool.deliveries, n)!;
    const other = pool.webhooks.find((w) => w.id !== d.webhookId)!;
    return `/v1/webhooks/${cross ? other.id : d.webhookId}/deliveries/${d.id}${tail}`;
  });

/** Routes whose whole path is generated together, because its parts must fit each other (a signed link, a delivery). */
const PATH_GENERATORS: Record<string, fc.Arbitrary<Thunk>> = {
  "GET /files/:id/:filename": linkArb,
  "GET /v1/webhooks/:id/deliveries/:delivery_id": deliveryPathArb(""),
  "POST /v1/webhooks/:id/deliveries/:delivery_id/retry": deliveryPathArb("/retry"),
};

/** Bodies shaped by hand where the generic one (the schema's own field names and literals) reaches too little. */
const BODY_SHAPES: Record<string, fc.Arbitrary<Record<string, unknown>>> = {
  "POST /v1/folders": folderBody,
  "PATCH /v1/folders/:id": folderBody,
  "POST /v1/webhooks": webhookBody,
  "PATCH /v1/webhooks/:id": webhookBody,
};

/** Why a route cannot be fuzzed yet (a `:param` with no pool), or null. */
function missingGenerator(route: FuzzRoute): string | null {
  if (!route.ok && !route.bytes && !route.kind) return `${route.key}: declares no response schema and has no SUCCESS_CHECKS entry`;
  for (const [status, schema] of Object.entries(route.ok ?? {})) if (!schema) return `${route.key}: its ${status} response names no registered model`;
  if (PATH_GENERATORS[route.key]) return null;
  const segs = route.path.split("/");
  for (const [i, seg] of segs.entries()) {
    if (seg.startsWith(":") && !PARAM_POOLS[segs[i - 1] ?? ""]) return `${route.key}: no pool for ${seg} (PARAM_POOLS) and no PATH_GENERATORS entry`;
  }
  return null;
}

/** The path of `route` with every `:param` drawn from its pool (either organization's ids, or garbage). */
function pathArb(route: FuzzRoute): fc.Arbitrary<Thunk> {
  const whole = PATH_GENERATORS[route.key];
  if (whole) return whole;
  const segs = route.path.split("/");
  const parts = segs.map((seg, i) => (seg.startsWith(":") ? idOf(PARAM_POOLS[segs[i - 1]!]!) : fc.constant(() => seg)));
  return fc.tuple(...parts).map((ps) => () => ps.map((p) => p()).join("/"));
}

function bodyArb(route: FuzzRoute): fc.Arbitrary<BodySpec> {
  if (route.method === "GET") return noBody;
  const shape = BODY_SHAPES[route.key];
  if (shape) return jsonBody(shape);
  if (!route.fields.length) return fc.oneof(noBody, jsonBody(fc.record({ extra: fc.anything({ maxDepth: 1 }) }, { requiredKeys: [] })));
  const value = fc.oneof(
    fc.string({ maxLength: 20 }),
    fc.integer(),
    fc.boolean(),
    fc.constant(null),
    ...(route.literals.length ? [fc.constantFrom(...route.literals), fc.constantFrom(...route.literals)] : []),
  );
  return jsonBody(fc.record(Object.fromEntries([...route.fields, "extra"].map((f) => [f, value])), { requiredKeys: [] }));
}

type Target = { key: string; path: Thunk; query: Thunk; body: BodySpec; methods: string[] };
/** A request for one of the app's routes, chosen from its own list: a new route is fuzzed without an edit here. */
const targetArb = (): fc.Arbitrary<Target> =>
  fc.oneof(
    ...ROUTES.map((route) =>
      // Now and then a trailing slash or one segment too many, which must route the same or be a 404.
      fc.tuple(pathArb(route), fc.constantFrom("", "", "", "", "", "/", "/x"), queryArb(route.query), bodyArb(route)).map(([path, tail, query, body]) => ({
        key: route.key,
        path: () => path() + tail,
        query,
        body,
        methods: [route.method],
      })),
    ),
  );
/** Mostly a method the route has (so requests get past routing), sometimes any. */
const apiRequestArb = () =>
  targetArb().chain((target) =>
    fc.record({
      target: fc.constant(target),
      method: fc.oneof(
        { weight: 5, arbitrary: fc.constantFrom(...target.methods) },
        { weight: 1, arbitrary: fc.constantFrom("GET", "POST", "PATCH", "DELETE", "HEAD", "PUT") },
      ),
      auth: authArb,
      idem: idemArb,
      download: downloadHeadersArb,
    }),
  );

// ---- 3. anything: paths, methods, query strings and headers -----------------------------------------------------

const segmentArb = fc.oneof(
  {
    weight: 6,
    arbitrary: fc
      .constantFrom(
        "v1",
        "tickets",
        "files",
        "folders",
        "webhooks",
        "deliveries",
        "retry",
        "test",
        "rotate-secret",
        "content",
        "event-types",
        "docs",
        "json",
        "assets",
        "healthz",
        "readyz",
        "metrics",
      )
      .map((s) => () => s),
  },
  { weight: 3, arbitrary: fc.constantFrom<keyof typeof pool>("tickets", "files", "folders", "webhooks", "deliveries").chain((k) => idOf(k)) },
  { weight: 1, arbitrary: fc.string({ maxLength: 10, unit: "binary" }).map((s) => () => encodeURIComponent(s)) },
  { weight: 1, arbitrary: fc.constantFrom("", ".", "..", "%2e%2e", "%2f", "%", "%zz", ";", "*", "~").map((s) => () => s) },
);
const anyPathArb = fc.oneof(
  { weight: 3, arbitrary: fc.array(segmentArb, { minLength: 1, maxLength: 5 }).map((segs) => () => "/" + segs.map((s) => s()).join("/")) },
  {
    weight: 2,
    arbitrary: fc.tuple(fc.constantFrom("/v1/tickets", "/v1/files", "/v1/folders", "/v1/webhooks"), segmentArb).map(
      ([p, s]) =>
        () =>
          `${p}/${s()}`,
    ),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom("/", "//v1//tickets", "/v1/", "/V1/TICKETS", "/v1/tickets?", "/v1/files/../tickets", "/v1/%74ickets").map((p) => () => p),
  },
);
const headerNameArb = fc.oneof(
  fc.constantFrom(
    "accept",
    "accept-encoding",
    "content-type",
    "content-length",
    "transfer-encoding",
    "range",
    "if-none-match",
    "if-range",
    "origin",
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-request-id",
    "idempotency-key",
    "cookie",
    "expect",
    "host",
    "authorization",
    "access-control-request-method",
    "x-http-method-override",
  ),
  fc.stringMatching(/^[a-z][a-z0-9-]{0,15}$/),
);
const headerValueArb = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.constantFrom(
    "application/json",
    "multipart/form-data",
    "multipart/form-data; boundary=",
    "text/plain; charset=utf-16",
    "*/*",
    "chunked",
    "-1",
    "99999999999999",
    "gzip",
    "bytes=0-1",
    "Bearer",
    "Bearer  ",
    "DELETE",
    "x".repeat(4000),
  ),
);
const anyRequestArb = fc.record({
  method: fc.constantFrom("GET", "POST", "PATCH", "DELETE", "PUT", "HEAD", "OPTIONS", "TRACE", "PROPFIND"),
  path: anyPathArb,
  query: fc.oneof(
    queryArb(["status", "priority", "folder_id", "ticket_id", "parent_id", "recursive", "expires", "signature"]),
    fc.string({ maxLength: 40 }).map((s) => () => encodeURI(s).replace(/#/g, "%23")),
    fc
      .constantFrom("a=1&a=2&a=3", "page=1&page=2", "=x", "&&&", "%", "%zz=1", "__proto__=1", "constructor[prototype][x]=1", "x=" + "y".repeat(8000))
      .map((s) => () => s),
  ),
  auth: authArb,
  headers: fc.array(fc.tuple(headerNameArb, headerValueArb), { maxLength: 5 }),
  body: fc.option(fc.oneof(fc.json({ maxDepth: 2 }), fc.string({ maxLength: 50 })), { nil: undefined }),
});

// ---- the properties ---------------------------------------------------------------------------------------------

describe("fuzzing files, folders, webhooks and the request pipeline", () => {
  test("every route of the app can be fuzzed: a success check and a generator for each of its parameters", () => {
    expect(ROUTES.length).toBeGreaterThan(20);
    const missing = ROUTES.map(missingGenerator).filter((m) => m !== null);
    expect(missing.join("\n"), `routes the fuzz cannot generate or check yet:\n${missing.join("\n")}`).toBe("");
    const keys = new Set(ROUTES.map((r) => r.key));
    const stale = [...Object.keys(SUCCESS_CHECKS), ...Object.keys(PATH_GENERATORS), ...Object.keys(BODY_SHAPES)].filter((k) => !keys.has(k));
    expect(stale.join("\n"), `fuzz entries for routes the app does not have:\n${stale.join("\n")}`).toBe("");
  });

  test(`multipart uploads (${UPLOAD_RUNS} runs): missing, duplicate and unknown parts, truncated bodies, odd filenames, other organizations' folders and tickets`, async () => {
    const before = pool.files.length;
    await fc.assert(
      fc.asyncProperty(uploadArb, async (u) => {
        current = u.auth.actor();
        await fuzzOne(buildUpload(u));
      }),
      { seed: SEED, numRuns: UPLOAD_RUNS },
    );
    // Not vacuous: a good share of the generated uploads were well-formed and stored.
    expect(pool.files.length - before).toBeGreaterThan(UPLOAD_RUNS / 20);
  }, 60_000);

  test(`files, folders and webhooks routes (${API_RUNS} runs): ids of both organizations and garbage, bodies, queries, signed links, ranges`, async () => {
    await fc.assert(
      fc.asyncProperty(apiRequestArb(), async (r) => {
        current = r.auth.actor();
        const headers = new Headers();
        const auth = r.auth.header();
        if (auth) headers.set("authorization", auth);
        if (r.idem !== undefined) setHeader(headers, "idempotency-key", r.idem);
        for (const [k, v] of Object.entries(r.download)) setHeader(headers, k, v);
        const path = r.target.path();
        const query = r.target.query();
        let body: string | undefined;
        if (r.target.body && r.method !== "GET" && r.method !== "HEAD") {
          body = r.target.body.text();
          headers.set("content-type", r.target.body.type);
        }
        const url = `http://localhost${path}${query ? (path.includes("?") ? "&" : "?") + query : ""}`;
        await fuzzOne({ method: r.method, url, headers, body, actor: r.auth.actor() });
      }),
      { seed: SEED + 1, numRuns: API_RUNS },
    );
    // Not vacuous: every resource kind was created and reached through the fuzz.
    // 304 is no longer asked of this property: spread over the helpdesk routes too, its draws reach a conditional
    // download of an own file too rarely (test/files-download.test.ts checks 304 deterministically).
    for (const s of [200, 201, 202, 204, 400, 403, 404, 405]) expect(statuses.get(s) ?? 0, `status ${s}: ${JSON.stringify([...statuses])}`).toBeGreaterThan(0);
  }, 60_000);

  test(`any path, method, query string and header (${ANY_RUNS} runs)`, async () => {
    await fc.assert(
      fc.asyncProperty(anyRequestArb, async (r) => {
        current = r.auth.actor();
        const headers = new Headers();
        const auth = r.auth.header();
        if (auth) headers.set("authorization", auth);
        for (const [k, v] of r.headers) setHeader(headers, k, v);
        const query = r.query();
        const url = `http://localhost${r.path()}${query ? `?${query}` : ""}`;
        let parsed: URL;
        try {
          parsed = new URL(url);
        } catch {
          return; // not a URL a client could send
        }
        const withBody = r.body !== undefined && r.method !== "GET" && r.method !== "HEAD";
        await fuzzOne({ method: r.method, url: parsed.href, headers, body: withBody ? r.body : undefined, actor: r.auth.actor() });
      }),
      { seed: SEED + 2, numRuns: ANY_RUNS },
    );
  }, 60_000);

  test("unknown query parameters are ignored the same way on every list route", async () => {
    const wh = await post(A.key, "/v1/webhooks", { url: "http://127.0.0.1:9/hook", events: ["*"] });
    await env.request(`/v1/webhooks/${wh.id}/test`, { method: "POST", key: A.key });
    for (const path of ["/v1/tickets", "/v1/files", "/v1/folders", "/v1/webhooks", "/v1/webhooks/event-types", `/v1/webhooks/${wh.id}/deliveries`]) {
      const plain = await env.request(path, { key: A.key });
      const extra = await env.request(`${path}?utm_source=x&limit=5&order=desc&fields=id`, { key: A.key });
      requestsFuzzed += 2;
      expect(plain.status).toBe(200);
      expect(extra.status).toBe(200);
      const strip = (b: any) => JSON.stringify(b, (k, v) => (k === "download_url" ? undefined : v));
      expect(strip(await extra.json())).toBe(strip(await plain.json()));
    }
  });

  test("state on disk stayed consistent: every row has its bytes, nothing else is stored, no temp files", async () => {
    const rows = (await env.db.all("SELECT storage_key, sha256 FROM files ORDER BY storage_key")) as { storage_key: string; sha256: string }[];
    expect(listObjects(env.dir)).toEqual(rows.map((r) => r.storage_key).sort());
    for (const r of rows) expect(sha256Hex(readFileSync(join(env.dir, "files", r.storage_key)))).toBe(r.sha256);
    expect(listTemp(env.dir)).toEqual([]);
    expect(existsSync(join(env.dir, "files"))).toBe(true);
  });
});
