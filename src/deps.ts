// The composition root: builds, once, every dependency the app and the background work share, from the final Config and an open database (SQLite or PostgreSQL).
import type { Sql } from "postgres";
import type { Config } from "./config";
import type { Db } from "./db/client";
import type { Writer } from "./db/writer";
import { createDownloadSigner, loadDownloadKey, type DownloadSigner } from "./files/signed-url";
import { systemClock, type Clock } from "./lib/clock";
import type { Logger } from "./lib/log";
import type { DatabaseRef } from "./db/database-ref";
import { createMetrics, type Metrics } from "./ops/metrics";
import { openStorage, type Storage } from "./storage";
import { type Engine, postgresEngine, type Signals, sqliteEngine, type Stores } from "./stores";

/**
 * Everything `buildApp` and serve's background work (dispatcher, upload sweep, metrics listener) are given. Route
 * factories each declare the part they use (TicketRoutesDeps, FileRoutesDeps, …); this satisfies all of them.
 */
export interface Deps {
  /** Final and frozen: the public URL is resolved (also for `--port 0`) before anything captures it. */
  readonly config: Readonly<Config>;
  /** The open database, whichever engine: for readiness and metrics; services use `stores`. */
  readonly database: DatabaseRef;
  /** Every store, for reads outside a unit of work: they see committed rows only. */
  readonly stores: Stores;
  /**
   * The one way to make an acknowledged write; each unit gets the stores bound to its transaction and its promise
   * resolves only after the commit. SQLite: the writes that arrive together commit in one transaction and one fsync
   * (group commit), each in a savepoint of its own. PostgreSQL: a transaction per unit on a pooled connection.
   */
  readonly writer: Writer<Stores>;
  /** The engine's wake-up signals (an event recorded, a delivery due) for the webhook dispatcher. */
  readonly signals: Signals;
  readonly storage: Storage;
  /** Mints and checks signed download links with the install's key (the data dir's file, or the database's row). */
  readonly signer: DownloadSigner;
  /** Request and data metrics; undefined when metrics are off (`--metrics false`). */
  readonly metrics: Metrics | undefined;
  readonly clock: Clock;
  readonly log: Logger;
}

interface DepsCommon {
  /** The final Config. Frozen here if the caller has not (a copy, so the caller's object stays as it was). */
  config: Config;
  log: Logger;
  clock?: Clock;
  /** A metrics instance to share; by default one is made when metrics are on. */
  metrics?: Metrics;
}

/** The database: exactly one of the two. Its lifetime is the caller's: buildDeps opens nothing that needs closing. */
export type DepsInput = DepsCommon &
  (
    | {
        /** The open, migrated SQLite database of the data dir; the signing key is the data dir's file. */
        db: Db;
        postgres?: undefined;
      }
    | {
        db?: undefined;
        /** The migrated PostgreSQL pool and the signing key read from it (loadDatabaseDownloadKey: async, so done before). */
        postgres: { sql: Sql; downloadKey: Buffer };
      }
  );

/**
 * Builds the dependencies for one data dir and one database. On SQLite reads (or creates, 0600) the download signing
 * key; picks the storage driver; call it once per process (serve) or per app under test, never per request.
 */
export function buildDeps(input: DepsInput): Deps {
  const config: Readonly<Config> = Object.isFrozen(input.config) ? input.config : Object.freeze({ ...input.config });
  const clock = input.clock ?? systemClock;
  let database: DatabaseRef;
  let engine: Engine;
  let key: Buffer;
  if (input.postgres) {
    database = Object.freeze({ kind: "postgres", sql: input.postgres.sql });
    engine = postgresEngine(input.postgres.sql);
    key = input.postgres.downloadKey;
  } else {
    database = Object.freeze({ kind: "sqlite", db: input.db });
    engine = sqliteEngine(input.db.$client);
    key = loadDownloadKey(config.dataDir);
  }
  return Object.freeze({
    config,
    database,
    stores: engine.stores,
    writer: engine.writer,
    signals: engine.signals,
    storage: openStorage(config),
    signer: createDownloadSigner({ key, publicUrl: config.publicUrl, ttlSeconds: config.downloadUrlTtlSeconds }),
    metrics: config.metrics ? (input.metrics ?? createMetrics()) : undefined,
    clock,
    log: input.log,
  });
}
