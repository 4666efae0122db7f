// buildApp(deps): the HTTP application — error rendering, request ids, body parsing, feature modules. No listen().
import { Elysia, type AnyElysia } from "elysia";
import type { Config } from "./config";
import type { Db } from "./db/client";
import { ApiError, errorResponse, logApiError, toApiError } from "./errors";
import type { Clock } from "./lib/clock";
import type { Logger } from "./lib/log";
import { authPlugin } from "./auth/plugin";
import { createIdempotencyClaims, createIdempotencyStore } from "./idempotency/service";
import { beginRequest, requestInfo } from "./http/request-context";
import { parseJsonBody } from "./http/json-body";
import { createMethodTable } from "./http/method-table";
import { docsRoutes } from "./docs";
import { healthRoutes } from "./health";
import { ticketRoutes } from "./tickets";
import { VERSION } from "./version";

export interface AppDeps {
  config: Config;
  db: Db;
  clock: Clock;
  log: Logger;
}

/** Headers set before an error (rate limits, security headers) that the error response keeps. */
function carriedHeaders(headers: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) {
    if (typeof v === "string" && k !== "content-type" && k !== "content-length" && k !== "location") out[k] = v;
  }
  return out;
}

export function buildApp(deps: AppDeps) {
  const claims = createIdempotencyClaims(createIdempotencyStore({ sqlite: deps.db.$client, clock: deps.clock }));
  const auth = authPlugin(deps, claims);
  const methods = createMethodTable();
  // The docs module describes the finished app; it reads this after buildApp returns.
  let root: AnyElysia = undefined as unknown as AnyElysia;

  const app = new Elysia({ normalize: false })
    .onRequest(({ request, set }) => {
      set.headers["x-request-id"] = beginRequest(request).id;
      set.headers["x-content-type-options"] = "nosniff";
      set.headers["referrer-policy"] = "no-referrer";
    })
    .onParse({ as: "global" }, ({ request, contentType }) => {
      if (contentType?.toLowerCase().startsWith("multipart/form-data")) return;
      return parseJsonBody(request, contentType ?? "", deps.config.maxJsonBytes);
    })
    .onError({ as: "global" }, ({ error, code, request, path, set }) => {
      claims.releaseFor(request);
      let err = toApiError(error, code);
      if (err.status === 404 && code === "NOT_FOUND") {
        const allowed = methods.allowed(path);
        if (allowed.length) {
          err = new ApiError(405, "method_not_allowed", `${request.method} is not allowed here; use ${allowed.join(", ")}.`, undefined, { allow: allowed.join(", ") });
        }
      }
      const info = requestInfo(request);
      logApiError(deps.log, err, info.id, path);
      return errorResponse(err, { ...carriedHeaders(set.headers), "x-request-id": info.id });
    })
    .onAfterResponse({ as: "global" }, ({ request, set, route }) => {
      const info = requestInfo(request);
      deps.log.info("request", {
        request_id: info.id,
        method: request.method,
        route: route || new URL(request.url).pathname,
        status: typeof set.status === "number" ? set.status : 200,
        duration_ms: Math.round((performance.now() - info.start) * 100) / 100,
      });
    })
    .use(healthRoutes())
    .use(docsRoutes({ version: VERSION, publicUrl: deps.config.publicUrl, getApp: () => root }))
    .use(ticketRoutes(deps, auth));

  root = app;
  methods.load(app.routes);
  return app;
}

export type App = ReturnType<typeof buildApp>;
