// The composition root: builds, once, every dependency the app and the background work share, from the final Config and an open database.
import type { Config } from "./config";
import type { Db } from "./db/client";
import type { Writer } from "./db/writer";
import { createDownloadSigner, loadDownloadKey, type DownloadSigner } from "./files/signed-url";
import { systemClock, type Clock } from "./lib/clock";
import type { Logger } from "./lib/log";
import { createMetrics, type Metrics } from "./ops/metrics";
import { openStorage, type Storage } from "./storage";
import { type Signals, sqliteEngine, type Stores } from "./stores";

/**
 * Everything `buildApp` and serve's background work (dispatcher, upload sweep, metrics listener) are given. Route
 * factories each declare the part they use (TicketRoutesDeps, FileRoutesDeps, …); this satisfies all of them.
 */
export interface Deps {
  /** Final and frozen: the public URL is resolved (also for `--port 0`) before anything captures it. */
  readonly config: Readonly<Config>;
  /** The open database, for what is engine-specific (backup, verify, data metrics); services use `stores`. */
  readonly db: Db;
  /** Every store, for reads outside a unit of work: they see committed rows only. */
  readonly stores: Stores;
  /**
   * The one way to make an acknowledged write: the writes that arrive together commit in one transaction and one
   * fsync (group commit), each in a savepoint of its own; a write's promise resolves only after that commit. Each
   * unit gets the stores bound to its transaction.
   */
  readonly writer: Writer<Stores>;
  /** The engine's wake-up signals (an event recorded, a delivery due) for the webhook dispatcher. */
  readonly signals: Signals;
  readonly storage: Storage;
  /** Mints and checks signed download links with the data dir's key (read, or created, once here). */
  readonly signer: DownloadSigner;
  /** Request and data metrics; undefined when metrics are off (`--metrics false`). */
  readonly metrics: Metrics | undefined;
  readonly clock: Clock;
  readonly log: Logger;
}

export interface DepsInput {
  /** The final Config. Frozen here if the caller has not (a copy, so the caller's object stays as it was). */
  config: Config;
  /** The open, migrated database. Its lifetime is the caller's: buildDeps opens nothing that needs closing. */
  db: Db;
  log: Logger;
  clock?: Clock;
  /** A metrics instance to share; by default one is made when metrics are on. */
  metrics?: Metrics;
}

/**
 * Builds the dependencies for one data dir. Reads (or creates, 0600) the download signing key and picks the storage
 * driver; call it once per process (serve) or per app under test, never per request.
 */
export function buildDeps(input: DepsInput): Deps {
  const config: Readonly<Config> = Object.isFrozen(input.config) ? input.config : Object.freeze({ ...input.config });
  const clock = input.clock ?? systemClock;
  const engine = sqliteEngine(input.db.$client);
  return Object.freeze({
    config,
    db: input.db,
    stores: engine.stores,
    writer: engine.writer,
    signals: engine.signals,
    storage: openStorage(config),
    signer: createDownloadSigner({ key: loadDownloadKey(config.dataDir), publicUrl: config.publicUrl, ttlSeconds: config.downloadUrlTtlSeconds }),
    metrics: config.metrics ? (input.metrics ?? createMetrics()) : undefined,
    clock,
    log: input.log,
  });
}
