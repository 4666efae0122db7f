// The composition root: builds, once, every dependency the app and the background work share, from the final Config and an open database.
import type { Config } from "./config";
import type { Db } from "./db/client";
import { writerFor, type Writer } from "./db/writer";
import { createDownloadSigner, loadDownloadKey, type DownloadSigner } from "./files/signed-url";
import { createIdempotencyStore, type IdempotencyStore } from "./idempotency/service";
import { systemClock, type Clock } from "./lib/clock";
import type { Logger } from "./lib/log";
import { createMetrics, type Metrics } from "./ops/metrics";
import { openStorage, type Storage } from "./storage";

/**
 * Everything `buildApp` and serve's background work (dispatcher, upload sweep, metrics listener) are given. Route
 * factories each declare the part they use (TicketRoutesDeps, FileRoutesDeps, …); this satisfies all of them.
 */
export interface Deps {
  /** Final and frozen: the public URL is resolved (also for `--port 0`) before anything captures it. */
  readonly config: Readonly<Config>;
  readonly db: Db;
  /**
   * The one way to make an acknowledged write: the writes that arrive together commit in one transaction and one
   * fsync (group commit), each in a savepoint of its own; a write's promise resolves only after that commit.
   */
  readonly writer: Writer;
  readonly storage: Storage;
  /** Mints and checks signed download links with the data dir's key (read, or created, once here). */
  readonly signer: DownloadSigner;
  readonly idempotency: IdempotencyStore;
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
  return Object.freeze({
    config,
    db: input.db,
    writer: writerFor(input.db.$client),
    storage: openStorage(config),
    signer: createDownloadSigner({ key: loadDownloadKey(config.dataDir), publicUrl: config.publicUrl, ttlSeconds: config.downloadUrlTtlSeconds }),
    idempotency: createIdempotencyStore({ sqlite: input.db.$client, clock }),
    metrics: config.metrics ? (input.metrics ?? createMetrics()) : undefined,
    clock,
    log: input.log,
  });
}
