// resolveRequester on PostgreSQL with the race forced: a second unit looks for the same new email while the first unit's insert is uncommitted, waits on it, and then finds the committed contact (or inserts its own when the first rolls back).
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import type { Sql } from "postgres";
import { resolveRequester } from "../src/contacts/service";
import { openPostgres, type PostgresHandle } from "../src/db/postgres/client";
import { migratePostgres } from "../src/db/postgres/migrate";
import { newId } from "../src/lib/ids";
import { type Engine, postgresEngine } from "../src/stores";
import { freshDatabase, postgresUrl } from "./services/postgres";

setDefaultTimeout(30_000);
const base = await postgresUrl();
if (!base) process.stderr.write("test/contacts-requester-pg.test.ts: skipped (no PostgreSQL server; see the line above)\n");

const T0 = Date.UTC(2026, 11, 2);

describe.skipIf(!base)("resolveRequester: two units racing on one new email (PostgreSQL)", () => {
  let db: { url: string; drop(): Promise<void> };
  let handle: PostgresHandle;
  let sql: Sql;
  let engine: Engine;

  beforeAll(async () => {
    db = await freshDatabase();
    handle = openPostgres({ url: db.url, poolSize: 8, statementTimeoutMs: 10_000 });
    sql = handle.sql;
    await migratePostgres(sql);
    engine = postgresEngine(sql);
  });
  afterAll(async () => {
    await handle?.close();
    await db?.drop();
  });

  async function org(): Promise<string> {
    const id = newId("org");
    await sql`INSERT INTO orgs (id, name, plan, created_at) VALUES (${id}, 'Acme', 'pro', ${T0})`;
    return id;
  }

  /** Resolves once some backend of this database waits for a lock (the second unit's insert, behind the first's row). */
  async function someoneWaitsForALock(): Promise<void> {
    for (;;) {
      const [row] = await sql<{ n: number }[]>`SELECT COUNT(*)::int AS n FROM pg_stat_activity
        WHERE datname = current_database() AND wait_event_type = 'Lock'`;
      if (row!.n > 0) return;
    }
  }

  /**
   * Unit one resolves the email and then holds its transaction open until `finish` says commit or roll back; unit two
   * starts once unit one has inserted, and must block on that insert. Returns both outcomes.
   */
  async function race(orgId: string, email: string, firstCommits: boolean) {
    let inserted!: () => void;
    const insertedYet = new Promise<void>((r) => (inserted = r));
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const first = engine.writer.write(async (tx) => {
      const id = await resolveRequester(tx, orgId, { email, name: "First" }, T0);
      inserted();
      await gate;
      if (!firstCommits) throw new Error("first unit rolled back");
      return id;
    });
    await insertedYet;
    const second = engine.writer.write((tx) => resolveRequester(tx, orgId, { email: email.toUpperCase(), name: "Second" }, T0 + 1));
    await someoneWaitsForALock();
    release();
    const [one, two] = await Promise.allSettled([first, second]);
    return { one, two };
  }

  const contactsOf = (orgId: string) => sql<{ id: string; name: string }[]>`SELECT id, name FROM contacts WHERE org_id = ${orgId}`;
  const createdEvents = (orgId: string) => sql<{ data: string }[]>`SELECT data FROM events WHERE org_id = ${orgId} AND type = 'contact.created' ORDER BY seq`;

  test("the first commits: the second, having waited, finds its contact; one contact, one contact.created", async () => {
    const orgId = await org();
    const { one, two } = await race(orgId, "race@example.test", true);
    expect(one.status).toBe("fulfilled");
    expect(two.status).toBe("fulfilled");
    const id = (one as PromiseFulfilledResult<string>).value;
    expect((two as PromiseFulfilledResult<string>).value).toBe(id);
    expect([...(await contactsOf(orgId))]).toEqual([{ id, name: "First" }]);
    const events = await createdEvents(orgId);
    expect(events.length).toBe(1);
    expect(JSON.parse(events[0]!.data).id).toBe(id);
  });

  test("the first rolls back: the second, having waited, inserts its own; one contact, one contact.created", async () => {
    const orgId = await org();
    const { one, two } = await race(orgId, "rollback@example.test", false);
    expect(one.status).toBe("rejected");
    expect(two.status).toBe("fulfilled");
    const id = (two as PromiseFulfilledResult<string>).value;
    expect([...(await contactsOf(orgId))]).toEqual([{ id, name: "Second" }]);
    const events = await createdEvents(orgId);
    expect(events.length).toBe(1);
    expect(JSON.parse(events[0]!.data)).toMatchObject({ id, email: "ROLLBACK@EXAMPLE.TEST", name: "Second" });
  });
});
