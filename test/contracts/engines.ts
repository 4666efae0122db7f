// The database engines every store contract suite runs against, each opening a fresh, migrated, empty database per test.
import { rmSync } from "node:fs";
import { migrate } from "../../src/db/migrate";
import { openDatabase } from "../../src/db/client";
import type { FileRow } from "../../src/files/store";
import type { Outbox } from "../../src/events/outbox";
import type { IdempotencyStore } from "../../src/idempotency/store";
import { manualClock, type ManualClock } from "../../src/lib/clock";
import { newId } from "../../src/lib/ids";
import type { OrgsStore } from "../../src/orgs/store";
import type { TicketStore } from "../../src/tickets/store";
import type { ContactStore } from "../../src/contacts/store";
import type { TicketSearchStore } from "../../src/tickets/search-store";
import type { CommentStore } from "../../src/comments/store";
import type { TicketFieldStore } from "../../src/ticket-fields/store";
import { postgresEngine as postgresStoresEngine, type Signals, sqliteEngine as sqliteStoresEngine, type Stores } from "../../src/stores";
import type { Writer } from "../../src/db/writer";
import { openPostgres } from "../../src/db/postgres/client";
import { migratePostgres } from "../../src/db/postgres/migrate";
import { freshDatabase, postgresUrl } from "../services/postgres";
import type { Sql } from "postgres";
import type { WebhookStore } from "../../src/webhooks/store";
import type { FileStore } from "../../src/files/store";
import type { FolderStore } from "../../src/folders/store";
import { tempDir } from "../helpers";
import type { Open, Seed } from "./fixtures";

/** The file row every engine's Seed.file inserts: a 3-byte text file of the organization. */
function seedFileRow(orgId: string, folderId: string | null, uploadedAt: number): FileRow {
  const id = newId("file");
  return {
    id,
    org_id: orgId,
    folder_id: folderId,
    ticket_id: null,
    filename: `${id}.txt`,
    size_bytes: 3,
    mime_type: "text/plain",
    sha256: "0".repeat(64),
    storage_key: `files/${id}`,
    uploaded_by: null,
    uploaded_at: uploadedAt,
  };
}

/** One engine's stores over one fresh database. */
export interface EngineWorld {
  tickets: TicketStore;
  ticketSearch: TicketSearchStore;
  contacts: ContactStore;
  comments: CommentStore;
  ticketFields: TicketFieldStore;
  folders: FolderStore;
  files: FileStore;
  webhooks: WebhookStore;
  outbox: Outbox;
  /** The engine's wake-ups (outbox recorded, deliveries queued), beside its stores. */
  signals: Signals;
  idempotency: IdempotencyStore;
  orgs: OrgsStore;
  /** The engine's writer: units get the stores bound to their transaction (for suites that test concurrent units). */
  writer: Writer<Stores>;
  seed: Seed;
  clock: ManualClock;
  close(): Promise<void> | void;
}

export interface Engine {
  name: string;
  open(): Promise<EngineWorld>;
}

/**
 * SQLite as the product opens it (a data dir in a temp folder, WAL, foreign keys, all migrations), except that commits
 * do not fsync: the contracts prove behaviour, not durability (the crash tests do), and an fsync per statement outside
 * the group-commit writer would make them slow.
 */
export const sqliteEngine: Engine = {
  name: "sqlite",
  async open() {
    const dir = tempDir("cc-contract");
    const handle = openDatabase(dir);
    migrate(handle.sqlite);
    const sqlite = handle.sqlite;
    sqlite.exec("PRAGMA synchronous = OFF");
    const clock = manualClock();
    const engine = sqliteStoresEngine(sqlite);
    const tickets = engine.stores.tickets;
    const folders = engine.stores.folders;
    const files = engine.stores.files;
    const webhooks = engine.stores.webhooks;
    const seed: Seed = {
      async org(name = "Acme") {
        const orgId = newId("org");
        const userId = newId("user");
        const keyId = newId("key");
        const now = clock.now();
        const orgs = engine.stores.orgs;
        await orgs.createOrgWithOwner(
          { id: orgId, name, plan: "pro", created_at: now },
          { id: userId, org_id: orgId, email: `${userId}@example.test`, name: null, role: "owner", created_at: now },
        );
        await orgs.insertKey({
          id: keyId,
          org_id: orgId,
          user_id: userId,
          name: "default",
          prefix: "cc_test",
          hash: keyId,
          created_at: now,
          last_used_at: null,
          expires_at: null,
          revoked_at: null,
        });
        return { orgId, userId, keyId };
      },
      async ticket(orgId) {
        const id = newId("tkt");
        const now = clock.now();
        await tickets.insert({
          id,
          org_id: orgId,
          subject: "seed",
          description: null,
          status: "open",
          priority: "medium",
          created_by: null,
          created_at: now,
          updated_at: now,
          requester_id: null,
          assignee_id: null,
          tags: "[]",
          custom_fields: "{}",
        });
        return id;
      },
      async folder(orgId, parentId, name) {
        const id = newId("fld");
        const now = clock.now();
        await folders.insert({ id, org_id: orgId, parent_id: parentId, parent_key: parentId ?? "", name, created_at: now, updated_at: now });
        return id;
      },
      async file(orgId, folderId, uploadedAt) {
        const row = seedFileRow(orgId, folderId, uploadedAt);
        await files.insert(row);
        return row;
      },
      async event(e) {
        const id = newId("evt");
        const r = sqlite
          .prepare(`INSERT INTO events (id, org_id, type, data, changed_fields, created_at, dispatched_at) VALUES (?, ?, ?, '{}', NULL, ?, ?)`)
          .run(id, e.orgId, e.type, e.createdAt, e.dispatchedAt);
        return { id, seq: Number(r.lastInsertRowid) };
      },
    };
    return {
      tickets,
      ticketSearch: engine.stores.ticketSearch,
      contacts: engine.stores.contacts,
      comments: engine.stores.comments,
      ticketFields: engine.stores.ticketFields,
      folders,
      files,
      webhooks,
      outbox: engine.stores.outbox,
      signals: engine.signals,
      idempotency: engine.stores.idempotency,
      orgs: engine.stores.orgs,
      writer: engine.writer,
      seed,
      clock,
      close() {
        handle.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
};

let shared: Promise<Sql> | undefined;
/** One database for all contract suites of this process, migrated once; each open() empties it (suites run one at a time). */
function sharedDatabase(): Promise<Sql> {
  shared ??= (async () => {
    const db = await freshDatabase();
    const { sql } = openPostgres({ url: db.url, poolSize: 8, statementTimeoutMs: 30_000 });
    await migratePostgres(sql);
    return sql;
  })();
  return shared;
}

/** Every table of the schema, emptied between worlds (children first is not needed: one TRUNCATE … CASCADE). */
const TABLES = [
  "orgs",
  "users",
  "api_keys",
  "tickets",
  "ticket_counts",
  "ticket_tags",
  "ticket_search",
  "contacts",
  "ticket_fields",
  "comments",
  "comment_attachments",
  "folders",
  "files",
  "events",
  "webhooks",
  "webhook_deliveries",
  "webhook_attempts",
  "idempotency_keys",
];

/**
 * PostgreSQL as the product uses it: the PostgreSQL migrations, the stores on a pool, a transaction per writer unit.
 * The Seed inserts the same rows as SQLite's, with plain SQL, so a suite depends on no other store.
 */
export const postgresEngine: Engine = {
  name: "postgres",
  async open() {
    const sql = await sharedDatabase();
    await sql.unsafe(`TRUNCATE ${TABLES.join(", ")} RESTART IDENTITY CASCADE`);
    const clock = manualClock();
    const engine = postgresStoresEngine(sql);
    const seed: Seed = {
      async org(name = "Acme") {
        const orgId = newId("org");
        const userId = newId("user");
        const keyId = newId("key");
        const now = clock.now();
        await sql`INSERT INTO orgs (id, name, plan, created_at) VALUES (${orgId}, ${name}, 'pro', ${now})`;
        await sql`INSERT INTO users (id, org_id, email, name, role, created_at) VALUES (${userId}, ${orgId}, ${`${userId}@example.test`}, NULL, 'owner', ${now})`;
        await sql`INSERT INTO api_keys (id, org_id, user_id, name, prefix, hash, created_at) VALUES (${keyId}, ${orgId}, ${userId}, 'default', 'cc_test', ${keyId}, ${now})`;
        return { orgId, userId, keyId };
      },
      async ticket(orgId) {
        const id = newId("tkt");
        const now = clock.now();
        await sql`INSERT INTO tickets (id, org_id, subject, description, status, priority, created_by, created_at, updated_at)
          VALUES (${id}, ${orgId}, 'seed', NULL, 'open', 'medium', NULL, ${now}, ${now})`;
        await sql`INSERT INTO ticket_counts (org_id, status, priority, count) VALUES (${orgId}, 'open', 'medium', 1)
          ON CONFLICT (org_id, status, priority, shard) DO UPDATE SET count = ticket_counts.count + 1`;
        return id;
      },
      async folder(orgId, parentId, name) {
        const id = newId("fld");
        const now = clock.now();
        await sql`INSERT INTO folders (id, org_id, parent_id, parent_key, name, created_at, updated_at)
          VALUES (${id}, ${orgId}, ${parentId}, ${parentId ?? ""}, ${name}, ${now}, ${now})`;
        return id;
      },
      async file(orgId, folderId, uploadedAt) {
        const row = seedFileRow(orgId, folderId, uploadedAt);
        await sql`INSERT INTO files ${sql(row)}`;
        return row;
      },
      async event(e) {
        const id = newId("evt");
        const [r] = await sql<{ seq: number }[]>`INSERT INTO events (id, org_id, type, data, changed_fields, created_at, dispatched_at)
          VALUES (${id}, ${e.orgId}, ${e.type}, '{}', NULL, ${e.createdAt}, ${e.dispatchedAt}) RETURNING seq`;
        return { id, seq: r!.seq };
      },
    };
    return {
      ...engine.stores,
      signals: engine.signals,
      writer: engine.writer,
      seed,
      clock,
      close() {},
    };
  },
};

/**
 * Every engine the contracts run against: SQLite always; PostgreSQL when a server is available (test/services/
 * postgres.ts starts one, or says on stderr why not).
 */
export const ENGINES: Engine[] = [sqliteEngine, ...((await postgresUrl()) ? [postgresEngine] : [])];

/** A suite's `open` for one engine: a new world each time, of which the suite sees one store. */
export function opener<S>(engine: Engine, pick: (w: EngineWorld) => S): Open<S> {
  return async () => {
    const w = await engine.open();
    return { store: pick(w), seed: w.seed, clock: w.clock, close: () => w.close() };
  };
}
