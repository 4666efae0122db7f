// The route matrix cannot drift: every route the app registers has a row in test/route-matrix.ts or is listed as
// public with its reason, every row and listing names a route that exists, and every feature's rows are run.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { createTestEnv, type TestEnv } from "./helpers";
import { matrixCoverage, OUTSIDE_MATRIX, ROUTE_MATRIX } from "./route-matrix";

let env: TestEnv;
let routes: { method: string; path: string }[];

beforeAll(async () => {
  // Metrics on the API listener, so that every route the app can register is registered.
  env = await createTestEnv({ config: { metrics: true, metricsAddr: "" } });
  routes = env.app.routes.map((r) => ({ method: r.method, path: r.path }));
});
afterAll(() => env.close());

/** One line per offender, so the failure names the routes. */
const lines = (list: string[]) => list.join("\n");

describe("the route matrix covers the app's own route list", () => {
  test("the app registers routes at all (the list is not read from somewhere empty)", () => {
    expect(routes.filter((r) => r.path.startsWith("/v1/")).length).toBeGreaterThan(20);
  });

  test("every route has a matrix row or is listed in OUTSIDE_MATRIX with its reason", () => {
    const { unlisted } = matrixCoverage(routes);
    expect(lines(unlisted), `routes with no row in ROUTE_MATRIX (test/route-matrix.ts), nor listed in OUTSIDE_MATRIX:\n${lines(unlisted)}`).toBe("");
  });

  test("every matrix row addresses a route the app has", () => {
    const { staleRows } = matrixCoverage(routes);
    expect(lines(staleRows), `matrix rows for routes the app does not have:\n${lines(staleRows)}`).toBe("");
  });

  test("every OUTSIDE_MATRIX entry is a route the app has, is not also in the matrix, and is not under /v1", () => {
    const { staleOutside, both, publicApi } = matrixCoverage(routes);
    expect(lines(staleOutside), `OUTSIDE_MATRIX lists routes that no longer exist:\n${lines(staleOutside)}`).toBe("");
    expect(lines(both), `routes both in the matrix and in OUTSIDE_MATRIX:\n${lines(both)}`).toBe("");
    expect(lines(publicApi), `OUTSIDE_MATRIX lists API routes (every /v1 route needs a key):\n${lines(publicApi)}`).toBe("");
    for (const o of OUTSIDE_MATRIX) expect(o.why.length, `${o.method} ${o.path} needs its reason`).toBeGreaterThan(20);
  });

  test("every feature of the matrix is run by test/<feature>-access.test.ts", () => {
    for (const feature of Object.keys(ROUTE_MATRIX)) {
      const file = join(import.meta.dir, `${feature}-access.test.ts`);
      expect(existsSync(file), `${file} runs ROUTE_MATRIX.${feature}`).toBe(true);
      expect(readFileSync(file, "utf8"), `${file} runs ROUTE_MATRIX.${feature}`).toContain(`describeRouteMatrix("${feature}", ROUTE_MATRIX.${feature})`);
    }
  });
});

describe("the coverage check itself", () => {
  test("a new route without a row is named; so are a row and a listing whose route went away", () => {
    const drifted = [
      ...routes.filter((r) => r.path !== "/healthz" && !(r.method === "DELETE" && r.path === "/v1/tickets/:id")),
      { method: "GET", path: "/v1/no-such-feature/:id" },
    ];
    const c = matrixCoverage(drifted);
    expect(c.unlisted).toEqual(["GET /v1/no-such-feature/:id"]);
    expect(c.staleRows).toEqual(["tickets: DELETE /v1/tickets/:ticketId"]);
    expect(c.staleOutside).toEqual(["GET /healthz"]);
  });

  test("placeholder names do not matter, fixed segments and methods do", () => {
    const outside = [{ method: "GET", path: "/public/:x", why: "a test listing with a long enough reason" }];
    const matrix = { t: { seed: () => ({}), snapshot: () => null, routes: [{ method: "GET", path: "/v1/x/:xId?page=1" }] } };
    expect(
      matrixCoverage(
        [
          { method: "GET", path: "/v1/x/:id" },
          { method: "GET", path: "/public/:name" },
        ],
        matrix,
        outside,
      ),
    ).toEqual({ unlisted: [], staleRows: [], staleOutside: [], both: [], publicApi: [] });
    const c = matrixCoverage(
      [
        { method: "POST", path: "/v1/x/:id" },
        { method: "GET", path: "/v1/x/fixed" },
      ],
      matrix,
      [],
    );
    expect(c.unlisted).toEqual(["POST /v1/x/:id", "GET /v1/x/fixed"]);
    expect(c.staleRows).toEqual(["t: GET /v1/x/:xId?page=1"]);
  });
});
