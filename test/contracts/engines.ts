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
import { type Signals, sqliteEngine as sqliteStoresEngine } from "../../src/stores";
import type { WebhookStore } from "../../src/webhooks/store";
import type { FileStore } from "../../src/files/store";
import type { FolderStore } from "../../src/folders/store";
import { tempDir } from "../helpers";
import type { Open, Seed } from "./fixtures";

/** One engine's stores over one fresh database. */
export interface EngineWorld {
  tickets: TicketStore;
  folders: FolderStore;
  files: FileStore;
  webhooks: WebhookStore;
  outbox: Outbox;
  /** The engine's wake-ups (outbox recorded, deliveries queued), beside its stores. */
  signals: Signals;
  idempotency: IdempotencyStore;
  orgs: OrgsStore;
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
        const id = newId("file");
        const row: FileRow = {
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
      folders,
      files,
      webhooks,
      outbox: engine.stores.outbox,
      signals: engine.signals,
      idempotency: engine.stores.idempotency,
      orgs: engine.stores.orgs,
      seed,
      clock,
      close() {
        handle.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
};

/**
 * Every engine the contracts run against. The PostgreSQL engine goes here, after SQLite: a fresh schema (or database)
 * per open, migrated with the PostgreSQL migrations, its stores built on the pool, its Seed inserting the same rows.
 */
export const ENGINES: Engine[] = [sqliteEngine];

/** A suite's `open` for one engine: a new world each time, of which the suite sees one store. */
export function opener<S>(engine: Engine, pick: (w: EngineWorld) => S): Open<S> {
  return async () => {
    const w = await engine.open();
    return { store: pick(w), seed: w.seed, clock: w.clock, close: () => w.close() };
  };
}
