// `clientcove serve`: open the data dir, migrate, bootstrap on first start, listen, and shut down gracefully.
import { buildApp } from "../app";
import { optionsHelp } from "../config";
import { createLogger } from "../lib/log";
import { createIdempotencyStore } from "../idempotency/service";
import { bootstrapIfEmpty } from "../orgs/service";
import { removeUploadLeftovers } from "../files/recovery";
import { openStorage } from "../storage";
import { createMetrics } from "../ops/metrics";
import { startMetricsServer, type MetricsServer } from "../ops/metrics-http";
import { createDispatcher } from "../webhooks/dispatcher";
import { CONFIG_FLAGS, parseArgs, UsageError } from "./args";
import { openDataContext, type Io } from "./context";

export const SERVE_HELP = `Usage: clientcove serve [options]
Starts the API server (the default command). Flags override environment variables, which override defaults.

Options:
${optionsHelp()}
  --help                            Show this help`;

export interface RunningServer {
  port: number;
  url: string;
  /** Stops taking connections, waits up to the shutdown timeout for in-flight requests, closes the database. */
  stop(): Promise<void>;
}

export function startServer(argv: string[], io: Io): RunningServer {
  const args = parseArgs(argv, { ...CONFIG_FLAGS, help: "boolean" });
  if (args.positionals.length) throw new UsageError(`unexpected argument ${args.positionals[0]}`);
  const ctx = openDataContext(args, io);
  const { config } = ctx;
  const log = createLogger({ level: config.logLevel, format: config.logFormat });
  if (ctx.migration.applied.length) log.info("database migrated", { applied: ctx.migration.applied, schema_version: ctx.migration.schemaVersion });

  const boot = bootstrapIfEmpty(ctx.deps);
  // Idempotency claims of requests that were running when a previous process died can never complete.
  const abandoned = createIdempotencyStore({ sqlite: ctx.handle.sqlite, clock: ctx.clock }).releaseAbandoned();
  if (abandoned) log.info("released abandoned idempotency keys", { count: abandoned });
  const metrics = config.metrics ? createMetrics() : undefined;
  if (!config.metrics && (config.metricsAddr || config.metricsToken)) log.warn("metrics are off (CLIENTCOVE_METRICS=false): metrics-addr and metrics-token have no effect");
  const app = buildApp({ config, db: ctx.handle.db, clock: ctx.clock, log, metrics });
  // Webhook deliveries: resumes what was pending (or in flight) when the last process stopped, then wakes on new events.
  const dispatcher = createDispatcher({ config, db: ctx.handle.db, clock: ctx.clock, log });
  dispatcher.start();
  // Partial uploads and unfinished file writes/deletes of a previous process (listed now, before listen).
  removeUploadLeftovers({ dataDir: config.dataDir, sqlite: ctx.handle.sqlite, storage: openStorage(config), log }).catch((err) =>
    log.error("could not remove upload leftovers", { error: String(err) }),
  );
  // No Bun body limit: Bun would answer an over-size body with an empty 413 before our handlers run. The JSON
  // parser (maxJsonBytes) and the upload route (maxUploadBytes) check Content-Length and count bytes themselves.
  app.listen({ hostname: config.host, port: config.port, reusePort: false, maxRequestBodySize: Number.MAX_SAFE_INTEGER });
  const server = app.server!;
  const port = server.port!;
  // With --port 0 the default public URL named port 0; links must name the port actually bound.
  if (ctx.loaded.sources.publicUrl === "default") config.publicUrl = `http://localhost:${port}`;
  const url = `http://${config.host === "0.0.0.0" ? "localhost" : config.host}:${port}`;
  log.info("listening", { url, data_dir: config.dataDir, public_url: config.publicUrl });
  let metricsServer: MetricsServer | undefined;
  if (metrics && config.metricsAddr) {
    metricsServer = startMetricsServer({ config, metrics, sqlite: ctx.handle.sqlite });
    log.info("metrics listening", { url: metricsServer.url, auth: config.metricsToken ? "bearer" : "none" });
  } else if (metrics) {
    log.info("metrics served", { url: `${url}/metrics`, auth: config.metricsToken ? "bearer" : "none" });
  }
  if (boot) {
    io.err(
      [
        "",
        `First start: created organization "${boot.org.name}" (${boot.org.id}) and an API key for its owner.`,
        `API key (shown once, store it now): ${boot.key.key}`,
        `Try it: curl ${config.publicUrl}/v1/tickets -H "Authorization: Bearer ${boot.key.key}"`,
        "",
      ].join("\n"),
    );
  }

  let stopping: Promise<void> | null = null;
  return {
    port,
    url,
    stop() {
      stopping ??= (async () => {
        log.info("shutting down", { timeout_ms: config.shutdownTimeoutMs });
        // In parallel with the HTTP drain, so both share one timeout. Events recorded after this wait in the outbox.
        const dispatcherStopped = dispatcher.stop(config.shutdownTimeoutMs);
        const graceful = app.stop(false).then(() => true);
        const timeout = new Promise<boolean>((r) => setTimeout(() => r(false), config.shutdownTimeoutMs).unref());
        if (!(await Promise.race([graceful, timeout]))) {
          log.warn("shutdown timeout reached; closing remaining connections");
          await app.stop(true);
        }
        // Background work stops next, while the database is still open: the webhook dispatcher takes no new
        // attempts; in-flight ones finished or are left pending for the next start.
        await dispatcherStopped;
        metricsServer?.stop();
        // Checkpoints the WAL into the database file (TRUNCATE) and closes it: a clean, single-file data dir.
        ctx.handle.close();
        log.info("stopped");
      })();
      return stopping;
    },
  };
}
