// The access matrix: the table of every route of the app (a row per /v1 route, or a reason it is public), and the engine
// that turns each row into its 401 causes, the free-plan 403 and the cross-organization 404. test/route-coverage.test.ts
// fails when `buildApp(...).routes` has a route with no row here; test/<feature>-access.test.ts runs ROUTE_MATRIX.<feature>.
//
// A feature's spec (see ROUTE_MATRIX below):
//
//   matrixSpec({
//     seed: async ({ env, a }) => ({ ticketId: (await createTicketAs(env, a.key)).id }),  // org A's resources
//     routes: [
//       { method: "GET", path: "/v1/tickets" },                       // collection route: no placeholder
//       { method: "PATCH", path: "/v1/tickets/:ticketId", json: { status: "closed" } },
//     ],
//     snapshot: async ({ env, a }, seed) => (await env.request(`/v1/tickets/${seed.ticketId}`, { key: a.key })).json(),
//   });
//
// For each route it generates, on a fresh seed each time:
//   - a control: org A's own key gets a non-error answer (so a typo in a path cannot make the matrix pass vacuously);
//   - 401 for: no Authorization header, another scheme (Basic, with org A's valid secret inside), a malformed
//     token, a well-formed unknown key, org A's revoked key and org A's expired key — each with exactly the
//     reference's body and `WWW-Authenticate: Bearer`;
//   - 403 plan_required for a key of a free-plan organization;
//   - for routes with a JSON body: 401/403 even when the body is invalid (authentication precedes validation);
//   - 401 when the key is sent only in the query string (`?=`, `?access_token=`, ...);
//   - for routes with `:placeholders` (they address one of org A's resources): 404 not_found for org B's key,
//     with the same body as a request for an id that does not exist at all (existence does not leak).
// After every denied request, `snapshot` must equal its value before the request, and so must every resource row of
// every organization (each table with an org_id besides orgs, users and keys, plus idempotency answers and delivery
// attempts) and the files under <dataDir>/files and <dataDir>/tmp: a refused request changes nothing, for anyone.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Config } from "../src/config";
import { createKey, revokeKey } from "../src/keys/service";
import { manualClock } from "../src/lib/clock";
import { createTestEnv, type TestEnv } from "./helpers";
import { BOUNDARY, createFolder, listObjects, listTemp, multipartBody, uploadOk, type FileJson } from "./files-fixtures";

export const UNAUTHORIZED_BODY = { error: "unauthorized", message: "Invalid or expired API key. Generate a new key in Settings." };
export const PLAN_REQUIRED_BODY = { error: "plan_required", message: "API access is available on Pro and Enterprise plans." };

export interface MatrixOrg {
  orgId: string;
  userId: string;
  key: string;
}

export interface MatrixContext {
  env: TestEnv;
  clock: ReturnType<typeof manualClock>;
  /** The organization that owns the seeded resources (plan pro). */
  a: MatrixOrg;
  /** Another paying organization (plan enterprise): it must never reach org A's resources. */
  b: MatrixOrg;
}

export interface MatrixRoute {
  method: string;
  /**
   * The path, with `:name` placeholders filled from the seed (`/v1/tickets/:ticketId`). Without placeholders the
   * route is a collection route (list, create) and has no cross-organization 404 case.
   */
  path: string;
  /** A JSON body, sent with `Content-Type: application/json`. */
  json?: unknown;
  /** A body built fresh for each request (multipart uploads): wins over `json`. */
  body?: () => { body: NonNullable<RequestInit["body"]>; headers?: Record<string, string> };
  /** Statuses the control request (org A's key) may get; default: any 2xx. */
  okStatus?: number[];
}

export interface RouteMatrixSpec<S extends Record<string, string>> {
  /** Config overrides for the matrix's environment (its clock is always a manual one). */
  config?: Partial<Config>;
  /** Creates fresh resources of org A (before every case); returns the values the placeholders name. */
  seed(ctx: MatrixContext): Promise<S> | S;
  routes: MatrixRoute[];
  /** Whatever would show a change to org A's seeded resources (typically GETs with org A's key). */
  snapshot(ctx: MatrixContext, seed: S): Promise<unknown> | unknown;
}

/** `path` with every `:name` replaced by `values[name]`. */
export function fillPath(path: string, values: Record<string, string>): string {
  return path.replace(/:([A-Za-z_][A-Za-z0-9_]*)/g, (_, name: string) => {
    const v = values[name];
    if (v === undefined) throw new Error(`route-matrix: seed has no value for :${name} in ${path}`);
    return encodeURIComponent(v);
  });
}

/** An id of the same kind (`tkt_…`) that certainly does not exist. */
function missingLike(id: string): string {
  const i = id.indexOf("_");
  return `${i === -1 ? "x" : id.slice(0, i)}_${"0".repeat(16)}`;
}

function send(env: TestEnv, route: MatrixRoute, path: string, authorization?: string): Promise<Response> {
  const headers = new Headers();
  if (authorization !== undefined) headers.set("authorization", authorization);
  let body: RequestInit["body"];
  if (route.body) {
    const made = route.body();
    body = made.body;
    for (const [k, v] of Object.entries(made.headers ?? {})) headers.set(k, v);
  } else if (route.json !== undefined) {
    body = JSON.stringify(route.json);
    headers.set("content-type", "application/json");
  }
  return env.request(path, { method: route.method, headers, body });
}

async function eventCount(env: TestEnv): Promise<number> {
  return ((await env.db.get("SELECT COUNT(*) AS n FROM events")) as { n: number }).n;
}

/** Tables that are not resources (who may call, not what they own): their rows are the callers, not the state. */
const NOT_STATE = new Set(["orgs", "users", "api_keys", "settings"]);

/**
 * Every organization's stored state: each table's rows (sorted, so the order of a scan cannot matter) and the bytes'
 * names on disk. Read from the database catalog (TestDb.tables), so a table added later is covered without an edit here.
 */
export async function storedStateOfAll(env: TestEnv): Promise<Record<string, string[]>> {
  const tables = (await env.db.tables()).filter((t) => !NOT_STATE.has(t));
  const out: Record<string, string[]> = {};
  for (const t of tables) out[t] = (await env.db.all(`SELECT * FROM "${t}"`)).map((r) => JSON.stringify(r)).sort();
  out["<dataDir>/files"] = listObjects(env.dir);
  out["<dataDir>/tmp"] = listTemp(env.dir);
  return out;
}

/**
 * Generates the access tests for `spec.routes` inside `describe(title)`. Each case gets a freshly seeded set of
 * org A's resources, so a case that (wrongly) changes them cannot hide another case's failure.
 */
export function describeRouteMatrix<S extends Record<string, string>>(title: string, spec: RouteMatrixSpec<S>): void {
  describe(`${title}: access matrix`, () => {
    let ctx: MatrixContext;
    let free: MatrixOrg;
    let revokedKey: string;
    let expiredKey: string;
    let unknownKey: string;

    beforeAll(async () => {
      const clock = manualClock(Date.UTC(2026, 1, 25, 14, 30));
      // createTestEnv turns rate limits off (they would turn a long matrix into 429s; they have tests of their own).
      const env = await createTestEnv({ clock, config: spec.config });
      ctx = { env, clock, a: await env.org("Org A", "pro"), b: await env.org("Org B", "enterprise") };
      free = await env.org("Free Org", "free");
      const deps = env.deps;
      const revoked = await createKey(deps, { orgId: ctx.a.orgId, name: "revoked" });
      await revokeKey(deps, revoked.id);
      revokedKey = revoked.key;
      const ttl = 60_000;
      expiredKey = (await createKey(deps, { orgId: ctx.a.orgId, name: "expiring", expiresInMs: ttl })).key;
      clock.advance(ttl); // expires_at == now: expired from this instant on
      unknownKey = `cc_${"Z".repeat(40)}`;
    });

    afterAll(() => ctx?.env.close());

    for (const route of spec.routes) {
      const label = `${route.method} ${route.path}`;
      const addressesResource = /:[A-Za-z_]/.test(route.path);

      test(`${label}: org A's own key is served (control)`, async () => {
        const seed = await spec.seed(ctx);
        const res = await send(ctx.env, route, fillPath(route.path, seed), `Bearer ${ctx.a.key}`);
        const ok = route.okStatus ?? [];
        if (ok.length) expect(ok).toContain(res.status);
        else expect(res.status >= 200 && res.status < 300, `${label} answered ${res.status}: ${await res.clone().text()}`).toBe(true);
      });

      /** Sends a request that must be refused, then checks nothing changed. */
      async function refused(authorization: string | undefined, expectStatus: number, expectBody: (seed: S) => Promise<unknown> | unknown) {
        const seed = await spec.seed(ctx);
        const before = await spec.snapshot(ctx, seed);
        const eventsBefore = await eventCount(ctx.env);
        const stateBefore = await storedStateOfAll(ctx.env);
        const res = await send(ctx.env, route, fillPath(route.path, seed), authorization);
        const text = await res.text();
        expect(res.status, `${label}: ${text}`).toBe(expectStatus);
        expect(res.headers.get("content-type") ?? "").toStartWith("application/json");
        expect(res.headers.get("x-request-id")).toBeTruthy();
        expect(await eventCount(ctx.env)).toBe(eventsBefore);
        expect(await storedStateOfAll(ctx.env)).toEqual(stateBefore);
        expect(await spec.snapshot(ctx, seed)).toEqual(before);
        // Last: the expected body of a 404 comes from a request of its own (org A asking for a missing id).
        expect(JSON.parse(text)).toEqual(await expectBody(seed));
        return res;
      }

      const causes: [string, () => string | undefined][] = [
        ["no Authorization header", () => undefined],
        ["another scheme (Basic, with a valid secret inside)", () => `Basic ${btoa(`${ctx.a.key}:`)}`],
        ["a scheme that merely starts with Bearer", () => `Bearerx ${ctx.a.key}`],
        ["an empty Bearer token", () => "Bearer "],
        ["a malformed token", () => "Bearer not-a-key"],
        ["an unknown key", () => `Bearer ${unknownKey}`],
        ["a revoked key", () => `Bearer ${revokedKey}`],
        ["an expired key", () => `Bearer ${expiredKey}`],
      ];
      for (const [cause, authorization] of causes) {
        test(`${label}: 401 for ${cause}`, async () => {
          const res = await refused(authorization(), 401, () => UNAUTHORIZED_BODY);
          expect(res.headers.get("www-authenticate")).toBe("Bearer");
        });
      }

      test(`${label}: 401 when the key is only in the query string`, async () => {
        const seed = await spec.seed(ctx);
        const path = fillPath(route.path, seed);
        const before = await spec.snapshot(ctx, seed);
        const stateBefore = await storedStateOfAll(ctx.env);
        for (const name of ["", "access_token", "key", "api_key"]) {
          const res = await send(ctx.env, route, `${path}${path.includes("?") ? "&" : "?"}${name}=${ctx.a.key}`);
          expect(res.status, `?${name}=<key>`).toBe(401);
          expect(await res.json()).toEqual(UNAUTHORIZED_BODY);
        }
        expect(await storedStateOfAll(ctx.env)).toEqual(stateBefore);
        expect(await spec.snapshot(ctx, seed)).toEqual(before);
      });

      test(`${label}: 403 plan_required for a free-plan organization`, async () => {
        await refused(`Bearer ${free.key}`, 403, () => PLAN_REQUIRED_BODY);
      });

      if (route.json !== undefined && !route.body) {
        // Authentication comes before validation: an anonymous caller learns nothing about the schema.
        const invalid: MatrixRoute = { ...route, json: { __not_a_field__: true } };
        test(`${label}: 401 and 403 come before validation of an invalid body`, async () => {
          const seed = await spec.seed(ctx);
          const path = fillPath(route.path, seed);
          const stateBefore = await storedStateOfAll(ctx.env);
          const anonymous = await send(ctx.env, invalid, path);
          expect(anonymous.status).toBe(401);
          expect(await anonymous.json()).toEqual(UNAUTHORIZED_BODY);
          const freePlan = await send(ctx.env, invalid, path, `Bearer ${free.key}`);
          expect(freePlan.status).toBe(403);
          expect(await freePlan.json()).toEqual(PLAN_REQUIRED_BODY);
          expect(await storedStateOfAll(ctx.env)).toEqual(stateBefore);
        });
      }

      if (addressesResource) {
        test(`${label}: 404 for org B's key, indistinguishable from a missing id`, async () => {
          await refused(`Bearer ${ctx.b.key}`, 404, async (seed) => {
            const missing = Object.fromEntries(Object.entries(seed).map(([k, v]) => [k, missingLike(v)]));
            const res = await send(ctx.env, route, fillPath(route.path, missing), `Bearer ${ctx.a.key}`);
            expect(res.status).toBe(404);
            return res.json();
          });
        });
      }
    }
  });
}

// ---- the table: every route of the app, in the matrix or public with its reason ------------------------------------

/** A spec with its seed's type erased, so the features fit in one table. */
export function matrixSpec<S extends Record<string, string>>(spec: RouteMatrixSpec<S>): RouteMatrixSpec<Record<string, string>> {
  return spec as unknown as RouteMatrixSpec<Record<string, string>>;
}

async function json(res: Response): Promise<{ status: number; body: unknown }> {
  return { status: res.status, body: await res.json() };
}

async function createdId(res: Response, what: string): Promise<string> {
  if (res.status !== 201 && res.status !== 202) throw new Error(`route-matrix seed (${what}): ${res.status} ${await res.text()}`);
  return ((await res.json()) as { id: string }).id;
}

const MULTIPART = () => ({
  body: multipartBody([{ name: "file", filename: "n.txt", content: "new" }]),
  headers: { "content-type": `multipart/form-data; boundary=${BOUNDARY}` },
});

/** download_url is minted per response: compare everything else. */
const withoutUrl = ({ download_url: _d, ...rest }: FileJson) => rest;

/** The ticket the tickets spec seeded last: POST /v1/tickets/bulk names it in its body (read when the body is sent). */
const seededTicket = { id: "" };

/**
 * The matrix rows, by feature: test/<feature>-access.test.ts runs each. A route of the app is covered when a row has
 * its method and its path's shape (fixed segments equal, `:placeholders` in the same places; the query is ignored).
 */
export const ROUTE_MATRIX = {
  tickets: matrixSpec({
    seed: async ({ env, a }) => {
      const ticketId = await createdId(
        await env.request("/v1/tickets", {
          method: "POST",
          key: a.key,
          json: { subject: "Org A's secret refund ticket", priority: "high", tags: ["vip", "secret"] },
        }),
        "ticket",
      );
      seededTicket.id = ticketId;
      return { ticketId };
    },
    routes: [
      { method: "GET", path: "/v1/tickets" },
      { method: "GET", path: "/v1/tickets?status=open&priority=high&page=1&per_page=10" },
      { method: "GET", path: "/v1/tickets?q=refund&tag=vip&sort=-updated_at" },
      { method: "POST", path: "/v1/tickets", json: { subject: "New", priority: "low" } },
      // The body names the ticket just seeded (bulk has no path placeholder): serialized when sent, after the seed.
      { method: "POST", path: "/v1/tickets/bulk", json: { toJSON: () => ({ ids: [seededTicket.id], set: { status: "closed", add_tags: ["x"] } }) } },
      { method: "GET", path: "/v1/tags" },
      { method: "GET", path: "/v1/tags?q=v&page=1&per_page=10" },
      { method: "GET", path: "/v1/tickets/:ticketId" },
      { method: "PATCH", path: "/v1/tickets/:ticketId", json: { subject: "Changed", status: "closed", priority: "low", description: "x" } },
      { method: "DELETE", path: "/v1/tickets/:ticketId" },
    ],
    snapshot: async ({ env, a }, seed) => ({
      ticket: await json(await env.request(`/v1/tickets/${seed.ticketId}`, { key: a.key })),
      list: await json(await env.request("/v1/tickets?per_page=100", { key: a.key })),
      tags: await json(await env.request("/v1/tags?per_page=100", { key: a.key })),
    }),
  }),

  contacts: matrixSpec({
    seed: async ({ env, a }) => ({
      contactId: await createdId(
        await env.request("/v1/contacts", {
          method: "POST",
          key: a.key,
          json: { email: `secret-${crypto.randomUUID()}@org-a.test`, name: "Org A's secret requester", external_id: crypto.randomUUID() },
        }),
        "contact",
      ),
    }),
    routes: [
      { method: "GET", path: "/v1/contacts" },
      { method: "GET", path: "/v1/contacts?q=secret&include_deleted=true&per_page=10" },
      { method: "POST", path: "/v1/contacts", json: { email: "new.requester@example.test", name: "New" }, okStatus: [201, 409] },
      { method: "GET", path: "/v1/contacts/:contactId" },
      { method: "PATCH", path: "/v1/contacts/:contactId", json: { name: "Renamed", phone: null } },
      { method: "DELETE", path: "/v1/contacts/:contactId" },
    ],
    snapshot: async ({ env, a }, seed) => ({
      contact: await json(await env.request(`/v1/contacts/${seed.contactId}`, { key: a.key })),
      list: await json(await env.request("/v1/contacts?per_page=100&include_deleted=true", { key: a.key })),
    }),
  }),

  users: matrixSpec({
    // Users are read-only over the API: the seed names org A's own user (env.org made it with the key).
    seed: ({ a }) => ({ userId: a.userId }),
    routes: [
      { method: "GET", path: "/v1/users" },
      { method: "GET", path: "/v1/users?page=1&per_page=10" },
      { method: "GET", path: "/v1/users/me" },
      { method: "GET", path: "/v1/users/:userId" },
    ],
    snapshot: async ({ env, a }) => json(await env.request("/v1/users?per_page=100", { key: a.key })),
  }),

  comments: matrixSpec({
    // A ticket of org A with one comment that attaches one of org A's files (redact deletes it: the snapshot shows it).
    seed: async ({ env, a }) => {
      const ticketId = await createdId(
        await env.request("/v1/tickets", { method: "POST", key: a.key, json: { subject: "Org A's secret conversation" } }),
        "ticket",
      );
      const fileId = (await uploadOk(env, a.key, { content: "Org A's secret attachment", filename: "secret.txt" })).id;
      const commentId = await createdId(
        await env.request(`/v1/tickets/${ticketId}/comments`, {
          method: "POST",
          key: a.key,
          json: { body: "Org A's secret reply", attachments: [fileId] },
        }),
        "comment",
      );
      return { ticketId, commentId, fileId };
    },
    routes: [
      { method: "GET", path: "/v1/tickets/:ticketId/comments" },
      { method: "GET", path: "/v1/tickets/:ticketId/comments?public=true&page=1&per_page=10" },
      { method: "POST", path: "/v1/tickets/:ticketId/comments", json: { body: "matrix" } },
      { method: "GET", path: "/v1/tickets/:ticketId/comments/:commentId" },
      { method: "POST", path: "/v1/tickets/:ticketId/comments/:commentId/redact", json: {} },
    ],
    snapshot: async ({ env, a }, seed) => {
      const list = (await (await env.request(`/v1/tickets/${seed.ticketId}/comments?per_page=100`, { key: a.key })).json()) as {
        data: { attachments: FileJson[] }[];
        meta: unknown;
      };
      const file = await env.request(`/v1/files/${seed.fileId}`, { key: a.key });
      const fileBody = (await file.json()) as FileJson;
      return {
        comments: list.data.map((c) => ({ ...c, attachments: c.attachments.map(withoutUrl) })),
        meta: list.meta,
        file: { status: file.status, body: file.status === 200 ? withoutUrl(fileBody) : fileBody },
        objects: listObjects(env.dir),
      };
    },
  }),

  fields: matrixSpec({
    // An organization has at most 50 fields and the matrix seeds one per case: the seed first deletes org A's fields.
    seed: async ({ env, a }) => {
      const existing = (await (await env.request("/v1/ticket-fields?per_page=100", { key: a.key })).json()) as { data: { id: string }[] };
      for (const f of existing.data) {
        const res = await env.request(`/v1/ticket-fields/${f.id}`, { method: "DELETE", key: a.key });
        if (res.status !== 204) throw new Error(`route-matrix seed (ticket field cleanup): ${res.status} ${await res.text()}`);
      }
      return {
        fieldId: await createdId(
          await env.request("/v1/ticket-fields", {
            method: "POST",
            key: a.key,
            json: { key: "secret_order", title: "Org A's secret field", type: "dropdown", options: ["one", "two"] },
          }),
          "ticket field",
        ),
      };
    },
    routes: [
      { method: "GET", path: "/v1/ticket-fields" },
      { method: "GET", path: "/v1/ticket-fields?page=1&per_page=10" },
      { method: "POST", path: "/v1/ticket-fields", json: { key: "new_field", title: "New", type: "text" } },
      { method: "GET", path: "/v1/ticket-fields/:fieldId" },
      { method: "PATCH", path: "/v1/ticket-fields/:fieldId", json: { title: "Renamed", options: ["three"], required: true } },
      { method: "DELETE", path: "/v1/ticket-fields/:fieldId" },
    ],
    snapshot: async ({ env, a }, seed) => ({
      field: await json(await env.request(`/v1/ticket-fields/${seed.fieldId}`, { key: a.key })),
      list: await json(await env.request("/v1/ticket-fields?per_page=100", { key: a.key })),
    }),
  }),

  files: matrixSpec({
    seed: async ({ env, a }) => {
      const folderId = (await createFolder(env, a.key, `F-${crypto.randomUUID()}`)).id;
      const file = await uploadOk(env, a.key, { content: "Org A's secret", filename: "secret.txt", fields: { folder_id: folderId } });
      return { fileId: file.id, folderId };
    },
    routes: [
      { method: "GET", path: "/v1/files" },
      { method: "GET", path: "/v1/files?folder_id=root&page=1&per_page=10" },
      { method: "POST", path: "/v1/files", body: MULTIPART },
      { method: "GET", path: "/v1/files/:fileId" },
      { method: "GET", path: "/v1/files/:fileId/content" },
      { method: "DELETE", path: "/v1/files/:fileId" },
    ],
    snapshot: async ({ env, a }, seed) => {
      const one = await env.request(`/v1/files/${seed.fileId}`, { key: a.key });
      const body = (await one.json()) as FileJson;
      const list = (await (await env.request("/v1/files?per_page=100", { key: a.key })).json()) as { data: FileJson[]; meta: unknown };
      return {
        status: one.status,
        file: one.status === 200 ? withoutUrl(body) : body,
        list: list.data.map(withoutUrl),
        meta: list.meta,
        objects: listObjects(env.dir),
      };
    },
  }),

  folders: matrixSpec({
    seed: async ({ env, a }) => {
      const folder = await createFolder(env, a.key, `A-${crypto.randomUUID()}`);
      const child = await createFolder(env, a.key, "child", folder.id);
      await uploadOk(env, a.key, { content: "inside", fields: { folder_id: child.id } });
      return { folderId: folder.id, childId: child.id };
    },
    routes: [
      { method: "GET", path: "/v1/folders" },
      { method: "GET", path: "/v1/folders?parent_id=root&page=1&per_page=10" },
      { method: "POST", path: "/v1/folders", json: { name: "New folder" }, okStatus: [201, 409] },
      { method: "GET", path: "/v1/folders/:folderId" },
      { method: "PATCH", path: "/v1/folders/:folderId", json: { name: `Renamed ${Date.now()}` } },
      { method: "PATCH", path: "/v1/folders/:childId", json: { parent_id: null } },
      { method: "DELETE", path: "/v1/folders/:folderId?recursive=true" },
    ],
    snapshot: async ({ env, a }, seed) => {
      const files = await env.request(`/v1/files?folder_id=${seed.folderId}`, { key: a.key });
      return {
        folder: await json(await env.request(`/v1/folders/${seed.folderId}`, { key: a.key })),
        list: await json(await env.request("/v1/folders?per_page=100", { key: a.key })),
        files: ((await files.json()) as { meta: unknown }).meta,
        objects: listObjects(env.dir),
      };
    },
  }),

  webhooks: matrixSpec({
    // Loopback endpoints are refused by default (SSRF guard); no dispatcher runs, so deliveries stay pending.
    // Every case registers a fresh endpoint: the per-organization limit would end the matrix half-way.
    config: { webhookAllowPrivate: true, webhookMaxPerOrg: 100_000 },
    seed: async ({ env, a }) => {
      const webhookId = await createdId(
        await env.request("/v1/webhooks", { method: "POST", key: a.key, json: { url: "http://127.0.0.1:9/org-a-secret-hook", events: ["*"] } }),
        "webhook",
      );
      const deliveryId = await createdId(await env.request(`/v1/webhooks/${webhookId}/test`, { method: "POST", key: a.key }), "test delivery");
      return { webhookId, deliveryId };
    },
    routes: [
      { method: "GET", path: "/v1/webhooks/event-types" },
      { method: "GET", path: "/v1/webhooks" },
      { method: "GET", path: "/v1/webhooks?page=1&per_page=10" },
      { method: "POST", path: "/v1/webhooks", json: { url: "http://127.0.0.1:9/new", events: ["ticket.created"] } },
      { method: "GET", path: "/v1/webhooks/:webhookId" },
      {
        method: "PATCH",
        path: "/v1/webhooks/:webhookId",
        json: { url: "http://127.0.0.1:9/mine-now", description: "mine now", events: ["ticket.deleted"], active: false },
      },
      { method: "DELETE", path: "/v1/webhooks/:webhookId" },
      { method: "POST", path: "/v1/webhooks/:webhookId/rotate-secret" },
      { method: "POST", path: "/v1/webhooks/:webhookId/test" },
      { method: "GET", path: "/v1/webhooks/:webhookId/deliveries" },
      { method: "GET", path: "/v1/webhooks/:webhookId/deliveries?status=pending&page=1&per_page=10" },
      { method: "GET", path: "/v1/webhooks/:webhookId/deliveries/:deliveryId" },
      { method: "POST", path: "/v1/webhooks/:webhookId/deliveries/:deliveryId/retry" },
    ],
    snapshot: async ({ env, a }, seed) => ({
      webhook: await json(await env.request(`/v1/webhooks/${seed.webhookId}`, { key: a.key })),
      list: await json(await env.request("/v1/webhooks?per_page=100", { key: a.key })),
      deliveries: await json(await env.request(`/v1/webhooks/${seed.webhookId}/deliveries?per_page=100`, { key: a.key })),
      delivery: await json(await env.request(`/v1/webhooks/${seed.webhookId}/deliveries/${seed.deliveryId}`, { key: a.key })),
    }),
  }),
};

export type MatrixFeature = keyof typeof ROUTE_MATRIX;

export interface OutsideRoute {
  method: string;
  path: string;
  /** Why no API key guards it, and where its own access rule is tested. */
  why: string;
}

/** Routes deliberately outside the matrix: public by design. Exact method and path as the app registers them. */
export const OUTSIDE_MATRIX: OutsideRoute[] = [
  { method: "GET", path: "/healthz", why: "liveness probe for load balancers: public by design, answers only {status: ok} (test/ops-http.test.ts)" },
  { method: "GET", path: "/readyz", why: "readiness probe: public by design, says only whether the database and data dir answer (test/ops-readiness.test.ts)" },
  {
    method: "GET",
    path: "/metrics",
    why: "Prometheus scrape, off by default and guarded by its own --metrics-token, not an API key (test/ops-metrics.test.ts)",
  },
  { method: "GET", path: "/docs", why: "the API reference page: public by design, describes the API and holds no data (test/openapi.test.ts)" },
  { method: "GET", path: "/docs/json", why: "the served OpenAPI document: public by design (test/openapi.test.ts)" },
  { method: "GET", path: "/docs/assets/scalar.js", why: "the reference page's embedded script: public by design (test/docs-browser.test.ts)" },
  { method: "GET", path: "/favicon.ico", why: "the reference page's icon: public by design (test/docs-browser.test.ts)" },
  {
    method: "GET",
    path: "/files/:id/:filename",
    why: "signed download links: the signature in the URL is the credential, not a key (test/files-download.test.ts)",
  },
];

/** `METHOD /path` with the query dropped and every `:name` written `:`, so `/v1/x/:xId` and `/v1/x/:id` are one route. */
export function routeShape(method: string, path: string): string {
  return `${method} ${path.split("?")[0]!.replace(/:[^/]+/g, ":")}`;
}

export interface MatrixCoverage {
  /** Routes of the app with neither a matrix row nor an OUTSIDE_MATRIX entry. */
  unlisted: string[];
  /** Matrix rows whose route the app no longer has. */
  staleRows: string[];
  /** OUTSIDE_MATRIX entries whose route the app no longer has. */
  staleOutside: string[];
  /** Routes both in the matrix and listed as outside it. */
  both: string[];
  /** OUTSIDE_MATRIX entries under /v1: the API is never public. */
  publicApi: string[];
}

/** Compares the app's own route list with the table. Pure, so its own test can feed it a route list that drifted. */
export function matrixCoverage(
  routes: readonly { method: string; path: string }[],
  matrix: Record<string, RouteMatrixSpec<Record<string, string>>> = ROUTE_MATRIX,
  outside: readonly OutsideRoute[] = OUTSIDE_MATRIX,
): MatrixCoverage {
  const app = new Set(routes.map((r) => routeShape(r.method, r.path)));
  const rows = new Map<string, string>();
  for (const [feature, spec] of Object.entries(matrix))
    for (const r of spec.routes) rows.set(routeShape(r.method, r.path), `${feature}: ${r.method} ${r.path}`);
  const out = new Map(outside.map((o) => [routeShape(o.method, o.path), `${o.method} ${o.path}`]));
  return {
    unlisted: routes.filter((r) => !rows.has(routeShape(r.method, r.path)) && !out.has(routeShape(r.method, r.path))).map((r) => `${r.method} ${r.path}`),
    staleRows: [...rows].filter(([shape]) => !app.has(shape)).map(([, label]) => label),
    staleOutside: [...out].filter(([shape]) => !app.has(shape)).map(([, label]) => label),
    both: [...out].filter(([shape]) => rows.has(shape)).map(([, label]) => label),
    publicApi: outside.filter((o) => o.path.startsWith("/v1/")).map((o) => `${o.method} ${o.path}`),
  };
}
