// The database engines every store contract suite runs against, each opening a fresh, migrated, empty database per test.
import { rmSync } from "node:fs";
import { migrate } from "../../src/db/migrate";
import { openDatabase } from "../../src/db/client";
import type { FileRow } from "../../src/files/store";
import { fileStore } from "../../src/files/store";
import { folderStore } from "../../src/folders/store";
import { onRecorded, record } from "../../src/events/outbox";
import { createIdempotencyStore, type IdempotencyStore } from "../../src/idempotency/service";
import { manualClock, type ManualClock } from "../../src/lib/clock";
import { newId } from "../../src/lib/ids";
import { ticketStore, type TicketStore } from "../../src/tickets/store";
import { webhookStore, type WebhookStore } from "../../src/webhooks/store";
import type { FileStore } from "../../src/files/store";
import type { FolderStore } from "../../src/folders/store";
import { tempDir } from "../helpers";
import type { Open, Seed } from "./fixtures";
import type { OutboxStore } from "./outbox-store.contract";

/** One engine's stores over one fresh database. */
export interface EngineWorld {
  tickets: TicketStore;
  folders: FolderStore;
  files: FileStore;
  webhooks: WebhookStore;
  outbox: OutboxStore;
  idempotency: IdempotencyStore;
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
    const tickets = ticketStore(sqlite);
    const folders = folderStore(sqlite);
    const files = fileStore(sqlite);
    const webhooks = webhookStore(sqlite);
    const seed: Seed = {
      async org(name = "Acme") {
        const orgId = newId("org");
        const userId = newId("user");
        const keyId = newId("key");
        sqlite.prepare(`INSERT INTO orgs (id, name, plan, created_at) VALUES (?, ?, 'pro', ?)`).run(orgId, name, clock.now());
        sqlite
          .prepare(`INSERT INTO users (id, org_id, email, name, role, created_at) VALUES (?, ?, ?, NULL, 'owner', ?)`)
          .run(userId, orgId, `${userId}@example.test`, clock.now());
        sqlite
          .prepare(`INSERT INTO api_keys (id, org_id, user_id, name, prefix, hash, created_at) VALUES (?, ?, ?, 'default', 'cc_test', ?, ?)`)
          .run(keyId, orgId, userId, keyId, clock.now());
        return { orgId, userId, keyId };
      },
      async ticket(orgId) {
        const id = newId("tkt");
        const now = clock.now();
        tickets.insert({
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
        folders.insert({ id, org_id: orgId, parent_id: parentId, parent_key: parentId ?? "", name, created_at: now, updated_at: now });
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
        files.insert(row);
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
      outbox: {
        record: (event, now) => record(sqlite, event, now),
        undispatched: (limit) => webhooks.undispatchedEvents(limit),
        markDispatched: (seq, now) => webhooks.markDispatched(seq, now),
        prune: (cutoff, limit) => webhooks.pruneEvents(cutoff, limit),
        onRecorded: (fn) => onRecorded(sqlite, fn),
      },
      idempotency: createIdempotencyStore({ sqlite, clock }),
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
