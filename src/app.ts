// buildApp(deps): the HTTP application — error rendering, request ids, body parsing, feature modules. No listen().
import { Elysia, type AnyElysia } from "elysia";
import type { Deps } from "./deps";
import { settledValue } from "./lib/settled";
import { settlesAtOnce } from "./stores";
import { errorResponse, logApiError } from "./errors";
import { toApiError } from "./http/error-render";
import { authPlugin } from "./auth/plugin";
import { idempotencyPlugin, releaseIdempotencyKey } from "./idempotency/plugin";
import { beginRequest, requestInfo } from "./http/request-context";
import { clientOrigin } from "./http/client-address";
import { createCors } from "./http/cors";
import { metricsRoutes } from "./ops/metrics-http";
import { parseJsonBody } from "./http/json-body";
import { createQueryRules } from "./http/query-string";
import { registerFormats } from "./http/schema";
import { createMethodTable, methodNotAllowed } from "./http/method-table";
import { docsRoutes } from "./docs";
import { healthRoutes } from "./health";
import { ticketRoutes } from "./tickets";
import { tagRoutes } from "./tickets/tags-route";
import { commentRoutes } from "./comments";
import { contactRoutes } from "./contacts";
import { ticketFieldRoutes } from "./ticket-fields";
import { userRoutes } from "./users";
import { fileRoutes, isStreamedRoute, STREAMED_BODY } from "./files";
import { folderRoutes } from "./folders";
import { webhookRoutes } from "./webhooks";
import { VERSION } from "./version";

/** Headers set before an error (rate limits, security headers) that the error response keeps. */
function carriedHeaders(headers: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) {
    if (typeof v === "string" && k !== "content-type" && k !== "content-length" && k !== "location") out[k] = v;
  }
  return out;
}

/**
 * The app over dependencies built once by the composition root (src/deps.ts: serve, or a test for its temp dir).
 * `deps` is passed to each feature module as it is: each declares, as its own type, the part it uses.
 */
export function buildApp(deps: Deps) {
  registerFormats();
  // What every /v1 module uses: authentication and rate limits, then the Idempotency-Key of POSTs.
  // SQLite's stores settle at once: the two hooks every request runs then stay synchronous (see lib/settled.ts).
  const atOnce = settlesAtOnce(deps.stores);
  const auth = idempotencyPlugin({
    auth: authPlugin({ ...deps, settlesAtOnce: atOnce }),
    store: deps.stores.idempotency,
    clock: deps.clock,
    settlesAtOnce: atOnce,
  });
  const methods = createMethodTable();
  const queryRules = createQueryRules();
  const { metrics } = deps;
  const cors = createCors(deps.config.corsOrigins);
  // The docs module describes the finished app; it reads this after buildApp returns.
  let root: AnyElysia = undefined as unknown as AnyElysia;

  /** Every error in the one shape; a path that exists with other methods is a 405. */
  const renderError = (ctx: {
    error: unknown;
    code: string | number;
    request: Request;
    path: string;
    route: string;
    set: { headers: Record<string, unknown> };
  }) => {
    const { error, code, request, path, route, set } = ctx;
    let err = toApiError(error, code);
    if (err.status === 404 && code === "NOT_FOUND") {
      const allowed = methods.allowed(path);
      if (allowed.length) {
        err = methodNotAllowed(request.method, allowed);
      }
    }
    const info = requestInfo(request);
    info.status = err.status;
    // The route pattern, as the access log has it: the raw path carries ids and signed-link filenames.
    logApiError(deps.log, err, info.id, route || null);
    return errorResponse(err, { ...carriedHeaders(set.headers), "x-request-id": info.id });
  };

  const app = new Elysia({ normalize: false })
    .onRequest(({ request, set, server }) => {
      const info = beginRequest(request);
      set.headers["x-request-id"] = info.id;
      set.headers["x-content-type-options"] = "nosniff";
      set.headers["referrer-policy"] = "no-referrer";
      info.client = clientOrigin(request, server?.requestIP(request)?.address, deps.config.trustProxy);
      if (cors) {
        const preflight = cors.preflight(request);
        if (preflight) return preflight;
        Object.assign(set.headers, cors.headersFor(request));
      }
      // A fixed path answers for itself: PATCH /v1/webhooks/event-types is a 405, not PATCH /v1/webhooks/:id.
      const shadowed = methods.refusal(request);
      if (shadowed) throw shadowed;
    })
    .onParse({ as: "global" }, ({ request, contentType, route }) => {
      // Upload routes stream request.body themselves. Returning a value (not undefined) stops Elysia's
      // default parsers, which would buffer a multipart body whole; elsewhere multipart is a 415.
      if (isStreamedRoute(request.method, route)) return STREAMED_BODY;
      return parseJsonBody(request, contentType ?? "", deps.config.maxJsonBytes);
    })
    // After authentication and the schemas: a declared query parameter given twice, or not UTF-8, is a 400.
    .onBeforeHandle({ as: "global" }, ({ request, route }) => {
      queryRules.check(request.method, route, request.url);
    })
    // Two forms, as the guard's hooks: synchronous when the release of a failed request's Idempotency-Key is done
    // by the time the store returns (SQLite), awaited otherwise, so a retry never finds the key still claimed.
    .onError(
      { as: "global" },
      atOnce
        ? (ctx) => {
            settledValue(releaseIdempotencyKey(ctx));
            const out = renderError(ctx);
            return out;
          }
        : async (ctx) => {
            await releaseIdempotencyKey(ctx);
            return renderError(ctx);
          },
    )
    .onAfterResponse({ as: "global" }, (ctx) => {
      const { request, set, route } = ctx;
      const info = requestInfo(request);
      // onError's Response does not update set.status, so the error path records the status itself.
      const status = info.status ?? (typeof set.status === "number" ? set.status : 200);
      const seconds = (performance.now() - info.start) / 1000;
      const orgId = (ctx as { principal?: { orgId?: string } }).principal?.orgId;
      // Route patterns, not raw paths (ids and query strings stay out); the path only when no route matched.
      deps.log.info("request", {
        request_id: info.id,
        method: request.method,
        route: route || null,
        ...(route ? {} : { path: new URL(request.url).pathname }),
        status,
        duration_ms: Math.round(seconds * 100_000) / 100,
        ...(orgId ? { org_id: orgId } : {}),
        ...(info.client?.ip ? { ip: info.client.ip } : {}),
        ...(info.client ? { scheme: info.client.scheme } : {}),
      });
      if (metrics) {
        metrics.observeRequest(request.method, route, status, seconds);
        const uploaded = (ctx as { responseValue?: { size_bytes?: unknown } }).responseValue?.size_bytes;
        if (status === 201 && request.method === "POST" && route === "/v1/files" && typeof uploaded === "number") metrics.addUploadedBytes(uploaded);
      }
    })
    .use(healthRoutes(deps))
    .use(metricsRoutes(deps))
    .use(docsRoutes({ config: deps.config, version: VERSION, getApp: () => root }))
    .use(ticketRoutes(deps, auth))
    .use(commentRoutes(deps, auth))
    .use(tagRoutes(deps, auth))
    .use(ticketFieldRoutes(deps, auth))
    .use(contactRoutes(deps, auth))
    .use(userRoutes(deps, auth))
    .use(fileRoutes(deps, auth))
    .use(folderRoutes(deps, auth))
    .use(webhookRoutes(deps, auth));

  root = app;
  methods.load(app.routes);
  queryRules.load(app.routes);
  return app;
}

export type App = ReturnType<typeof buildApp>;
