// The shared access matrix: for every /v1 route, the 401 causes, the free-plan 403 and the cross-organization 404.
//
// Usage (one describe block per feature; see test/tickets-access.test.ts):
//
//   describeRouteMatrix("tickets", {
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
// After every denied request, `snapshot` must equal its value before the request and the outbox (`events`) must
// have no new row: a refused request changes nothing.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Config } from "../src/config";
import { createKey, revokeKey } from "../src/keys/service";
import { manualClock } from "../src/lib/clock";
import { createTestEnv, type TestEnv } from "./helpers";

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

function eventCount(env: TestEnv): number {
  return (env.handle.sqlite.query("SELECT COUNT(*) AS n FROM events").get() as { n: number }).n;
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

    beforeAll(() => {
      const clock = manualClock(Date.UTC(2026, 1, 25, 14, 30));
      // createTestEnv turns rate limits off (they would turn a long matrix into 429s; they have tests of their own).
      const env = createTestEnv({ clock, config: spec.config });
      ctx = { env, clock, a: env.org("Org A", "pro"), b: env.org("Org B", "enterprise") };
      free = env.org("Free Org", "free");
      const deps = { db: env.handle.db, clock };
      const revoked = createKey(deps, { orgId: ctx.a.orgId, name: "revoked" });
      revokeKey(deps, revoked.id);
      revokedKey = revoked.key;
      const ttl = 60_000;
      expiredKey = createKey(deps, { orgId: ctx.a.orgId, name: "expiring", expiresInMs: ttl }).key;
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
        const eventsBefore = eventCount(ctx.env);
        const res = await send(ctx.env, route, fillPath(route.path, seed), authorization);
        const text = await res.text();
        expect(res.status, `${label}: ${text}`).toBe(expectStatus);
        expect(res.headers.get("content-type") ?? "").toStartWith("application/json");
        expect(res.headers.get("x-request-id")).toBeTruthy();
        expect(JSON.parse(text)).toEqual(await expectBody(seed));
        expect(eventCount(ctx.env)).toBe(eventsBefore);
        expect(await spec.snapshot(ctx, seed)).toEqual(before);
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
        for (const name of ["", "access_token", "key", "api_key"]) {
          const res = await send(ctx.env, route, `${path}${path.includes("?") ? "&" : "?"}${name}=${ctx.a.key}`);
          expect(res.status, `?${name}=<key>`).toBe(401);
          expect(await res.json()).toEqual(UNAUTHORIZED_BODY);
        }
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
          const anonymous = await send(ctx.env, invalid, path);
          expect(anonymous.status).toBe(401);
          expect(await anonymous.json()).toEqual(UNAUTHORIZED_BODY);
          const freePlan = await send(ctx.env, invalid, path, `Bearer ${free.key}`);
          expect(freePlan.status).toBe(403);
          expect(await freePlan.json()).toEqual(PLAN_REQUIRED_BODY);
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
