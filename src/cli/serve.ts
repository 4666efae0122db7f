// `clientcove serve`: open the data dir, migrate, bootstrap on first start, listen, and shut down gracefully.
import { buildApp } from "../app";
import { optionsHelp } from "../config";
import { createLogger } from "../lib/log";
import { createIdempotencyStore } from "../idempotency/service";
import { bootstrapIfEmpty } from "../orgs/service";
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
  const app = buildApp({ config, db: ctx.handle.db, clock: ctx.clock, log });
  app.listen({ hostname: config.host, port: config.port, reusePort: false, maxRequestBodySize: Math.max(config.maxUploadBytes, config.maxJsonBytes) + 1024 * 1024 });
  const server = app.server!;
  const port = server.port!;
  const url = `http://${config.host === "0.0.0.0" ? "localhost" : config.host}:${port}`;
  log.info("listening", { url, data_dir: config.dataDir, public_url: config.publicUrl });
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
        const graceful = app.stop(false).then(() => true);
        const timeout = new Promise<boolean>((r) => setTimeout(() => r(false), config.shutdownTimeoutMs).unref());
        if (!(await Promise.race([graceful, timeout]))) {
          log.warn("shutdown timeout reached; closing remaining connections");
          await app.stop(true);
        }
        ctx.handle.close();
        log.info("stopped");
      })();
      return stopping;
    },
  };
}
