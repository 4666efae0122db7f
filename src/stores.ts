// The stores every service reaches the database through, and the two engines: SQLite (one connection, a guarded read view and the writer's view) and PostgreSQL (the pool and a transaction per unit).
import type { Database } from "bun:sqlite";
import type { Sql, TransactionSql } from "postgres";
import type { Guard } from "./db/async-store";
import { perDatabase } from "./db/per-database";
import { createPostgresWriter, type Queryable, type StoreMode, type UnitHooks } from "./db/postgres/writer";
import { createWriter, type Writer } from "./db/writer";
import { outboxWaker, postgresOutbox } from "./events/outbox-postgres";
import { postgresCommentStore } from "./comments/store-postgres";
import { postgresContactStore } from "./contacts/store-postgres";
import { postgresFileStore } from "./files/store-postgres";
import { postgresFolderStore } from "./folders/store-postgres";
import { postgresIdempotencyStore } from "./idempotency/store-postgres";
import { postgresOrgsStore } from "./orgs/store-postgres";
import { postgresTicketFieldStore } from "./ticket-fields/store-postgres";
import { postgresTicketStore } from "./tickets/store-postgres";
import { postgresTicketSearchStore } from "./tickets/search-store-postgres";
import { postgresSignals } from "./webhooks/signals-postgres";
import { postgresWebhookStore } from "./webhooks/store-postgres";
import { type Outbox, type OutboxSignal, sqliteOutbox, sqliteOutboxSignal } from "./events/outbox";
import { type IdempotencyStore, sqliteIdempotencyStore } from "./idempotency/store";
import { type CommentStore, sqliteCommentStore } from "./comments/store";
import { type ContactStore, sqliteContactStore } from "./contacts/store";
import { type FileStore, sqliteFileStore } from "./files/store";
import { type FolderStore, sqliteFolderStore } from "./folders/store";
import { type OrgsStore, sqliteOrgsStore } from "./orgs/store";
import { sqliteTicketFieldStore, type TicketFieldStore } from "./ticket-fields/store";
import { sqliteTicketStore, type TicketStore } from "./tickets/store";
import { sqliteTicketSearchStore, type TicketSearchStore } from "./tickets/search-store";
import { type QueueSignal, sqliteQueueSignal } from "./webhooks/queue-signal";
import { sqliteWebhookStore, type WebhookStore } from "./webhooks/store";

/** One store per aggregate, each an asynchronous contract with one implementation per engine. */
export interface Stores {
  tickets: TicketStore;
  /** The list's filters, orders and full-text search over tickets (and their comments). */
  ticketSearch: TicketSearchStore;
  contacts: ContactStore;
  comments: CommentStore;
  ticketFields: TicketFieldStore;
  folders: FolderStore;
  files: FileStore;
  webhooks: WebhookStore;
  outbox: Outbox;
  orgs: OrgsStore;
  idempotency: IdempotencyStore;
}

/**
 * The engine's wake-ups for background work (the webhook dispatcher): events recorded in the outbox, deliveries
 * made due outside fan-out. Engine-specific (SQLite: in process; PostgreSQL: LISTEN/NOTIFY), heard after commit.
 */
export interface Signals extends OutboxSignal, QueueSignal {}

/**
 * An engine: the stores for reads outside a unit of work (they see committed rows only), the writer whose units
 * get the stores bound to their transaction, and the signals that wake background work.
 */
export interface Engine {
  stores: Stores;
  writer: Writer<Stores>;
  signals: Signals;
}

function buildStores(db: Database, guard?: Guard): Stores {
  return {
    tickets: sqliteTicketStore(db, guard),
    ticketSearch: sqliteTicketSearchStore(db, guard),
    contacts: sqliteContactStore(db, guard),
    comments: sqliteCommentStore(db, guard),
    ticketFields: sqliteTicketFieldStore(db, guard),
    folders: sqliteFolderStore(db, guard),
    files: sqliteFileStore(db, guard),
    webhooks: sqliteWebhookStore(db, guard),
    outbox: sqliteOutbox(db, guard),
    orgs: sqliteOrgsStore(db, guard),
    idempotency: sqliteIdempotencyStore(db, guard),
  };
}

const atOnce = new WeakSet<Stores>();

/**
 * True for stores whose promises are already settled when returned (SQLite's): the HTTP hooks on every request can
 * then read them synchronously (lib/settled.ts) instead of awaiting.
 */
export function settlesAtOnce(stores: Stores): boolean {
  return atOnce.has(stores);
}

/** Thrown by a read outside the writer while a batch is open: it would have seen uncommitted rows. */
export class ReadInsideBatchError extends Error {
  override name = "ReadInsideBatchError";
  constructor() {
    super("a store was used outside the writer while a batch's transaction was open (it would see uncommitted rows)");
  }
}

/**
 * SQLite: one connection for everything. The writer batches units (group commit) and gives them the unguarded stores;
 * `stores`, for everything else, is guarded: the writer's batches run on microtasks alone (see Writer.write), so no
 * other code can call a store while a batch is open — and if some code ever did, it fails loudly instead of reading
 * rows that may still roll back. One engine per connection, so the app, the dispatcher and the CLI share batches.
 */
export const sqliteEngine: (db: Database) => Engine = perDatabase((db) => {
  const tx = buildStores(db);
  const writer = createWriter<Stores>(db, { tx });
  const stores = buildStores(db, () => {
    if (writer.inBatch()) throw new ReadInsideBatchError();
  });
  const signals: Signals = { ...sqliteOutboxSignal(db), ...sqliteQueueSignal(db) };
  atOnce.add(stores);
  return { stores, writer, signals };
});

/** The PostgreSQL stores on `q`; `recorded` is what the outbox calls after recording an event (see postgresEngine). */
function buildPostgresStores(q: Queryable, mode: StoreMode, recorded: () => void): Stores {
  return {
    tickets: postgresTicketStore(q, mode),
    ticketSearch: postgresTicketSearchStore(q, mode),
    contacts: postgresContactStore(q, mode),
    comments: postgresCommentStore(q, mode),
    ticketFields: postgresTicketFieldStore(q, mode),
    folders: postgresFolderStore(q, mode),
    files: postgresFileStore(q, mode),
    webhooks: postgresWebhookStore(q, mode),
    outbox: postgresOutbox(q, mode, recorded),
    orgs: postgresOrgsStore(q, mode),
    idempotency: postgresIdempotencyStore(q, mode),
  };
}

/**
 * A unit's stores, each built on first use: a unit touches two or three of the eleven (a ticket create: tickets and
 * the outbox), and building one prepares its column lists on the transaction.
 */
function lazyPostgresStores(q: Queryable, recorded: () => void): Stores {
  const made: Partial<Stores> = {};
  const once = <K extends keyof Stores>(key: K, build: () => Stores[K]) => ({
    enumerable: true,
    get: () => (made[key] ??= build()) as Stores[K],
  });
  return Object.defineProperties({} as Stores, {
    tickets: once("tickets", () => postgresTicketStore(q, "tx")),
    ticketSearch: once("ticketSearch", () => postgresTicketSearchStore(q, "tx")),
    contacts: once("contacts", () => postgresContactStore(q, "tx")),
    comments: once("comments", () => postgresCommentStore(q, "tx")),
    ticketFields: once("ticketFields", () => postgresTicketFieldStore(q, "tx")),
    folders: once("folders", () => postgresFolderStore(q, "tx")),
    files: once("files", () => postgresFileStore(q, "tx")),
    webhooks: once("webhooks", () => postgresWebhookStore(q, "tx")),
    outbox: once("outbox", () => postgresOutbox(q, "tx", recorded)),
    orgs: once("orgs", () => postgresOrgsStore(q, "tx")),
    idempotency: once("idempotency", () => postgresIdempotencyStore(q, "tx")),
  });
}

/**
 * PostgreSQL: reads on the pool (committed rows only, READ COMMITTED); each unit of the writer is a transaction of
 * its own on one pooled connection, with stores bound to it (their reads that decide a write lock their rows); the
 * signals are LISTEN/NOTIFY, so every instance on the database hears every other's commits. A unit that recorded an
 * event asks, after its COMMIT, for the outbox's wake-up: one NOTIFY per turn for all the units that committed in it,
 * sent outside their transactions (outboxWaker), with the signals' periodic outbox check behind it.
 */
export function postgresEngine(sql: Sql): Engine {
  const wake = outboxWaker(sql);
  return {
    stores: buildPostgresStores(sql, "read", wake),
    writer: createPostgresWriter<Stores>(sql, (tx: TransactionSql, unit: UnitHooks) => lazyPostgresStores(tx, () => unit.afterCommit(wake))),
    signals: postgresSignals(sql),
  };
}
