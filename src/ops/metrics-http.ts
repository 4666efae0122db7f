// Serving /metrics: on the API listener or a separate address, optionally behind a bearer token.
import type { Writer } from "../db/writer";
import { createHash, timingSafeEqual } from "node:crypto";
import { Elysia } from "elysia";
import { versionInfo } from "../version";
import type { Config } from "../config";
import type { DatabaseRef } from "../db/database-ref";
import { ApiError, errorResponse } from "../errors";
import type { Metrics, ScrapeSources } from "./metrics";
import { sqliteStats } from "./stats-store";
import { postgresStats } from "./stats-store-postgres";

const CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

function digest(s: string): Buffer {
  return createHash("sha256").update(s).digest();
}

/** Constant-time check of `Authorization: Bearer <token>` (hashing first makes the lengths equal). */
export function hasMetricsToken(request: Request, token: string): boolean {
  if (!token) return true;
  const header = request.headers.get("authorization") ?? "";
  const m = /^Bearer\s+(\S+)\s*$/.exec(header);
  return !!m && timingSafeEqual(digest(m[1]!), digest(token));
}

/** What a scrape reports on: the data gauges are read from the engine in use at scrape time (stats-store). */
function sourcesOf(database: DatabaseRef, writer: Pick<Writer, "stats">): ScrapeSources {
  const { version, commit } = versionInfo();
  const stats = database.kind === "sqlite" ? sqliteStats(database.db.$client) : postgresStats(database.sql);
  return { stats, writes: writer.stats(), version, commit };
}

function unauthorized(): Response {
  return errorResponse(new ApiError(401, "unauthorized", "This metrics endpoint needs its bearer token.", undefined, { "www-authenticate": "Bearer" }));
}

/** What serving /metrics needs: where and behind which token, the metrics, and the database it reports on. */
export interface MetricsRoutesDeps {
  config: Pick<Config, "metrics" | "metricsAddr" | "metricsToken">;
  metrics: Metrics | undefined;
  database: DatabaseRef;
  /** The group-commit writer whose counters /metrics reports. */
  writer: Pick<Writer, "stats">;
}

/** GET /metrics on the API listener, only when metrics are on and no separate address is set. Hidden from the API docs. */
export function metricsRoutes(deps: MetricsRoutesDeps) {
  const app = new Elysia({ name: "metrics" });
  const { config, metrics } = deps;
  if (!config.metrics || config.metricsAddr || !metrics) return app;
  return app.get(
    "/metrics",
    async ({ request }) => {
      if (!hasMetricsToken(request, config.metricsToken)) return unauthorized();
      return new Response(await metrics.render(sourcesOf(deps.database, deps.writer)), {
        headers: { "content-type": CONTENT_TYPE, "cache-control": "no-store" },
      });
    },
    { detail: { hide: true } },
  );
}

export interface MetricsServer {
  url: string;
  stop(): void;
}

/** A second, bare listener for /metrics (CLIENTCOVE_METRICS_ADDR), e.g. on a private interface only Prometheus reaches. */
export function startMetricsServer(deps: MetricsRoutesDeps & { metrics: Metrics }): MetricsServer {
  const addr = deps.config.metricsAddr;
  const cut = addr.lastIndexOf(":");
  const hostname = addr.slice(0, cut).replace(/^\[(.*)\]$/, "$1");
  const server = Bun.serve({
    hostname,
    port: Number(addr.slice(cut + 1)),
    reusePort: false,
    async fetch(request) {
      const { pathname } = new URL(request.url);
      if (pathname !== "/metrics") return errorResponse(new ApiError(404, "not_found", "Only /metrics is served here."));
      if (request.method !== "GET" && request.method !== "HEAD")
        return errorResponse(new ApiError(405, "method_not_allowed", `${request.method} is not allowed here; use GET.`, undefined, { allow: "GET, HEAD" }));
      if (!hasMetricsToken(request, deps.config.metricsToken)) return unauthorized();
      return new Response(await deps.metrics.render(sourcesOf(deps.database, deps.writer)), {
        headers: { "content-type": CONTENT_TYPE, "cache-control": "no-store" },
      });
    },
  });
  const host = hostname.includes(":") ? `[${hostname}]` : hostname;
  return { url: `http://${host}:${server.port}/metrics`, stop: () => void server.stop(true) };
}
