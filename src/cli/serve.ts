// `clientcove serve`: bind the port, lock and open the data dir, open and migrate the database (SQLite or PostgreSQL), bootstrap on first start, serve, and shut down gracefully.
import type { Server } from "bun";
import { buildApp } from "../app";
import { ConfigError, loadConfig, optionsHelp, type Config, type LoadedConfig } from "../config";
import { openPostgres } from "../db/postgres/client";
import { BOOTSTRAP_LOCK_KEY } from "../db/postgres/migrate";
import { buildDeps, type Deps } from "../deps";
import { loadDatabaseDownloadKey } from "../files/signed-url";
import { ApiError, errorResponse } from "../errors";
import { createLogger, type Logger } from "../lib/log";
import { bootstrapIfEmpty } from "../orgs/service";
import { removeUploadLeftovers } from "../files/recovery";
import { InUseError } from "../ops/errors";
import { startMetricsServer, type MetricsServer } from "../ops/metrics-http";
import { checkStorage } from "../storage";
import { createDispatcher, newInstanceId, SQLITE_INSTANCE_ID } from "../webhooks/dispatcher";
import { ABANDONED_CLAIM_MS } from "../idempotency/service";
import { startInstanceHeartbeat } from "../idempotency/instances-postgres";
import { CONFIG_FLAGS, parseArgs, UsageError } from "./args";
import { openLoadedDataContext, type DataContext, type Io } from "./context";

export const SERVE_HELP = `Usage: clientcove serve [options]
Starts the API server (the default command). Flags override environment variables, which override defaults.
A data dir is served by one process at a time (a second serve on it exits with code 2).

Options:
${optionsHelp()}
  --help                            Show this help`;

export interface RunningServer {
  port: number;
  url: string;
  /** Stops taking connections, waits up to the shutdown timeout for in-flight requests, closes the database. */
  stop(): Promise<void>;
}

/** The default host: every IPv4 and IPv6 address (dual-stack on Linux unless net.ipv6.bindv6only=1). */
const ALL_ADDRESSES_V6 = "::";
const ALL_ADDRESSES_V4 = "0.0.0.0";

/** `host:port` as it goes into a URL (IPv6 literals in brackets). */
function hostInUrl(host: string): string {
  return host.includes(":") ? `[${host}]` : host;
}

/** A URL a person on this machine can connect to: the wildcard addresses are not connectable themselves. */
function connectableUrl(host: string, port: number): string {
  if (host === ALL_ADDRESSES_V6 || host === "") return `http://localhost:${port}`;
  if (host === ALL_ADDRESSES_V4) return `http://127.0.0.1:${port}`;
  return `http://${hostInUrl(host)}:${port}`;
}

/** Answers requests that arrive in the moment between binding and the app being ready. */
function startingUp(): Response {
  return errorResponse(new ApiError(503, "not_ready", "The server is starting; try again in a moment.", undefined, { "retry-after": "1" }));
}

interface Listener {
  server: Server<undefined>;
  host: string;
  port: number;
  /** Hands every request to `fetch` from now on. */
  serveWith(fetch: (request: Request) => Response | Promise<Response>): void;
}

/**
 * Binds the API port before anything touches the data dir, so a port in use leaves nothing behind (the first
 * start's bootstrap key would otherwise be created and never printed). The real port is then known (--port 0)
 * before the final Config and the app are built. Requests get a 503 until serveWith() hands them to the app.
 */
function bind(loaded: LoadedConfig, log: Logger): Listener {
  let handler: (request: Request) => Response | Promise<Response> = startingUp;
  const attempt = (host: string) =>
    Bun.serve({
      hostname: host,
      port: loaded.config.port,
      // A second copy must not share the port silently (Elysia's default is SO_REUSEPORT).
      reusePort: false,
      development: false,
      idleTimeout: 30,
      // No Bun body limit: Bun would answer an over-size body with an empty 413 before our handlers run. The JSON
      // parser (maxJsonBytes) and the upload route (maxUploadBytes) check Content-Length and count bytes themselves.
      maxRequestBodySize: Number.MAX_SAFE_INTEGER,
      fetch: (request) => handler(request),
    });
  const describe = (host: string, err: unknown) => {
    const code = (err as { code?: string }).code;
    if (code === "EADDRINUSE") return new InUseError(`port ${loaded.config.port} on ${host} is already in use`);
    if (code === "EACCES") return new InUseError(`not allowed to listen on port ${loaded.config.port} on ${host} (EACCES; ports below 1024 need a capability)`);
    return new InUseError(`cannot listen on port ${loaded.config.port} on ${host}: ${err instanceof Error ? err.message : String(err)}`);
  };
  let host = loaded.config.host;
  let server: Server<undefined>;
  try {
    server = attempt(host);
  } catch (err) {
    const code = (err as { code?: string }).code;
    // A kernel without IPv6: the default falls back to every IPv4 address. An explicit --host never changes.
    if (host !== ALL_ADDRESSES_V6 || loaded.sources.host !== "default" || code === "EADDRINUSE" || code === "EACCES") throw describe(host, err);
    log.warn("IPv6 is not available; listening on IPv4 only", { host: ALL_ADDRESSES_V4, error: String(err) });
    host = ALL_ADDRESSES_V4;
    try {
      server = attempt(host);
    } catch (err2) {
      throw describe(host, err2);
    }
  }
  return {
    server,
    host,
    port: server.port!,
    serveWith(fetch) {
      handler = fetch;
    },
  };
}

export async function startServer(argv: string[], io: Io): Promise<RunningServer> {
  const args = parseArgs(argv, { ...CONFIG_FLAGS, help: "boolean" });
  if (args.positionals.length) throw new UsageError(`unexpected argument ${args.positionals[0]}`);
  const loaded = loadConfig(args.flags, io.env);
  const log = createLogger({ level: loaded.config.logLevel, format: loaded.config.logFormat });

  const listener = bind(loaded, log);
  let ctx: DataContext | undefined;
  try {
    // Lock (before migrating, sweeping or bootstrapping), tighten modes, open and migrate.
    ctx = await openLoadedDataContext(loaded, { lock: "serve", tighten: true });
    if (ctx.tightened) log.warn("tightened data dir permissions (directories 0700, files 0600)", { changed: ctx.tightened, data_dir: ctx.config.dataDir });
    if (ctx.migration.applied.length) log.info("database migrated", { applied: ctx.migration.applied, schema_version: ctx.migration.schemaVersion });

    // The final Config, built once the port is bound: with --port 0 the default public URL names the real port.
    // Frozen: everything built from it (signed download links, Location headers, the docs) sees one value.
    const config: Config = Object.freeze({
      ...ctx.config,
      host: listener.host,
      publicUrl: loaded.sources.publicUrl === "default" ? `http://localhost:${listener.port}` : ctx.config.publicUrl,
    });
    // Every dependency, once: the app, the upload sweep, the dispatcher and the metrics listener share these.
    const { database } = ctx;
    const deps =
      database.kind === "sqlite"
        ? buildDeps({ config, db: database.handle.db, clock: ctx.clock, log })
        : buildDeps({ config, postgres: { sql: database.handle.sql, downloadKey: await loadDatabaseDownloadKey(database.handle.sql) }, clock: ctx.clock, log });
    // An unreachable bucket is a configuration problem: one line, exit 2 (the data dir is always reachable here).
    const storageDown = await checkStorage(deps.storage);
    if (storageDown) throw new ConfigError(storageDown);
    return await serveOn(deps, ctx, listener, io);
  } catch (err) {
    listener.server.stop(true);
    await ctx?.close();
    throw err;
  }
}

/** The advisory lock instances starting together on one PostgreSQL database take around the first-start bootstrap. */

/**
 * The first organization and key, when the database has none. On PostgreSQL several instances may start at once: the
 * check and the insert run under a session advisory lock (on a connection of its own, so that a pool of one cannot
 * deadlock), and the lock is released only after the unit committed, so exactly one instance bootstraps.
 */
async function bootstrapOnce(deps: Deps): Promise<Awaited<ReturnType<typeof bootstrapIfEmpty>>> {
  if (deps.database.kind === "sqlite") return bootstrapIfEmpty(deps);
  const { config } = deps;
  const lock = openPostgres({ url: config.databaseUrl, poolSize: 1, statementTimeoutMs: 0, applicationName: "clientcove (start-up)" });
  try {
    await lock.sql`SELECT pg_advisory_lock(${BOOTSTRAP_LOCK_KEY}::bigint)`;
    return await bootstrapIfEmpty(deps);
  } finally {
    // Ending the session releases the lock (also if the unlock is never sent).
    await lock.sql`SELECT pg_advisory_unlock(${BOOTSTRAP_LOCK_KEY}::bigint)`.catch(() => {});
    await lock.close();
  }
}

async function serveOn(deps: Deps, ctx: DataContext, listener: Listener, io: Io): Promise<RunningServer> {
  const { config, log, metrics } = deps;
  const boot = await bootstrapOnce(deps);
  // The instance id the dispatcher's leases and the idempotency claims are held under: random on PostgreSQL (instances
  // share the database), fixed on SQLite.
  const instanceId = deps.database.kind === "postgres" ? newInstanceId() : SQLITE_INSTANCE_ID;
  // PostgreSQL: this instance's heartbeat row; the idempotency claims of its requests are its own, and another
  // instance releases them once the heartbeat stops (a crash), instead of an hour later.
  const heartbeat = deps.database.kind === "postgres" ? await startInstanceHeartbeat({ sql: deps.database.sql, clock: deps.clock, id: instanceId, log }) : null;
  // Idempotency claims of requests that were running when a previous process died can never complete. On SQLite the
  // data dir's lock guarantees no other process runs: every open claim is abandoned. On PostgreSQL other instances may
  // be running and their claims are live: only claims of dead instances, and claims without an owner older than any
  // live request (ABANDONED_CLAIM_MS), are dropped.
  const now = deps.clock.now();
  const claimedBefore = deps.database.kind === "sqlite" ? now + 1 : now - ABANDONED_CLAIM_MS;
  const abandoned = await deps.stores.idempotency.releaseAbandoned(claimedBefore, now);
  if (abandoned) log.info("released abandoned idempotency keys", { count: abandoned });
  if (!config.metrics && (config.metricsAddr || config.metricsToken))
    log.warn("metrics are off (CLIENTCOVE_METRICS=false): metrics-addr and metrics-token have no effect");
  const app = buildApp(deps);
  await app.modules;
  // Partial uploads and unfinished file writes/deletes of a previous process (listed now, before the app serves).
  removeUploadLeftovers({ dataDir: config.dataDir, stores: deps.stores, storage: deps.storage, log }).catch((err) =>
    log.error("could not remove upload leftovers", { error: String(err) }),
  );
  // Webhook deliveries: resumes what was pending (or in flight) when the last process stopped, then wakes on new events.
  const { signals } = deps;
  const dispatcher = createDispatcher({ config, stores: deps.stores, writer: deps.writer, signals, clock: deps.clock, log, instanceId });
  dispatcher.start();
  // The app reads the socket through app.server (client address); app.stop() stops this server.
  app.server = listener.server as unknown as typeof app.server;
  listener.serveWith(app.fetch);

  const { port } = listener;
  const url = connectableUrl(listener.host, port);
  const address = `http://${hostInUrl(listener.host)}:${port}`;
  const database = ctx.database.kind === "sqlite" ? ctx.database.handle.path : ctx.database.url;
  log.info("listening", { url, address, data_dir: config.dataDir, database, public_url: config.publicUrl });
  let metricsServer: MetricsServer | undefined;
  if (metrics && config.metricsAddr) {
    metricsServer = startMetricsServer({ ...deps, metrics });
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
        const graceful = listener.server.stop(false).then(() => true);
        const timeout = new Promise<boolean>((r) => setTimeout(() => r(false), config.shutdownTimeoutMs).unref());
        if (!(await Promise.race([graceful, timeout]))) {
          log.warn("shutdown timeout reached; closing remaining connections");
          await listener.server.stop(true);
        }
        // Background work stops next, while the database is still open: the webhook dispatcher takes no new
        // attempts; in-flight ones finished or are left pending for the next start.
        await dispatcherStopped;
        metricsServer?.stop();
        // Nothing should be queued once requests and the dispatcher are done; commit whatever is, before closing.
        await deps.writer.flush();
        // The instance's heartbeat row goes: any claim it still holds is released at once.
        await heartbeat?.stop().catch((err) => log.warn("could not remove the instance heartbeat", { error: String(err) }));
        // SQLite: checkpoints the WAL into the database file (TRUNCATE), closes it (a clean, single-file data dir).
        // PostgreSQL: ends the pool (running queries get up to 5 s). Then releases the data dir's lock.
        await ctx.close();
        log.info("stopped");
      })();
      return stopping;
    },
  };
}
