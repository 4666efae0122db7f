// A PostgreSQL database for the wake-up tests (pg-signals, pg-queue-notify): one organization, pools on it, and a raw LISTEN on a channel that records what the engines send.
import { afterAll, beforeAll } from "bun:test";
import postgres, { type Sql } from "postgres";
import { openPostgres, type PostgresHandle } from "../src/db/postgres/client";
import { migratePostgres } from "../src/db/postgres/migrate";
import { newId } from "../src/lib/ids";
import { freshDatabase } from "./services/postgres";

export interface NotifyWorld {
  /** A new pool on the database (closed after the file's tests). */
  open(): Sql;
  /** The organization the tests write for (set before the first test). */
  orgId: string;
  /** Every payload notified on the channel, in arrival order. */
  heard: string[];
  /** Resolves once everything notified through `sql` before the call has arrived (delivery is in commit order). */
  settled(sql: Sql): Promise<void>;
}

/** Another channel on the same spy, to know when everything sent before a point has arrived. */
const MARKER = "test_marker";

/**
 * Registers, in the calling describe, a fresh migrated database with one organization (created at `createdAt`) and a
 * spy listening on `channel`; all removed after its tests.
 */
export function notifyWorld(channel: string, createdAt: number): NotifyWorld {
  let db: { url: string; drop(): Promise<void> } | undefined;
  let spy: Sql | undefined;
  const pools: PostgresHandle[] = [];
  let markers = 0;
  const world: NotifyWorld = {
    open() {
      const h = openPostgres({ url: db!.url, poolSize: 4, statementTimeoutMs: 10_000 });
      pools.push(h);
      return h.sql;
    },
    orgId: "",
    heard: [],
    async settled(sql) {
      for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
      const marker = markers;
      await sql`SELECT pg_notify(${MARKER}, '')`;
      while (markers === marker) await new Promise((r) => setTimeout(r, 2));
    },
  };
  beforeAll(async () => {
    db = await freshDatabase();
    const sql = world.open();
    await migratePostgres(sql);
    world.orgId = newId("org");
    await sql`INSERT INTO orgs (id, name, plan, created_at) VALUES (${world.orgId}, 'Acme', 'pro', ${createdAt})`;
    spy = postgres({
      ...(sql.options as object),
      max: 1,
      onnotify: (ch: string, payload: string) => (ch === MARKER ? markers++ : world.heard.push(payload)),
    } as never) as unknown as Sql;
    await spy.unsafe(`LISTEN ${channel}`);
    await spy.unsafe(`LISTEN ${MARKER}`);
  });
  afterAll(async () => {
    await spy?.end({ timeout: 1 });
    for (const p of pools) await p.close();
    await db?.drop();
  });
  return world;
}
