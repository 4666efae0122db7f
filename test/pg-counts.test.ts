// Ticket counts in shards on PostgreSQL (migration 0003): concurrent units of one organization bump different rows, every total is the exact SUM, and rows written without a shard (a copy from SQLite) count as shard 0.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import type { Sql } from "postgres";
import { openPostgres, type PostgresHandle } from "../src/db/postgres/client";
import { migratePostgres } from "../src/db/postgres/migrate";
import { newId } from "../src/lib/ids";
import { postgresEngine } from "../src/stores";
import type { TicketRow } from "../src/tickets/store";
import { COUNT_SHARDS } from "../src/tickets/store-postgres";
import { freshDatabase, postgresUrl } from "./services/postgres";

setDefaultTimeout(30_000);
const base = await postgresUrl();
if (!base) process.stderr.write("test/pg-counts.test.ts: skipped (no PostgreSQL server; see the line above)\n");

const T0 = Date.UTC(2026, 11, 2);

describe.skipIf(!base)("ticket counts in shards on PostgreSQL", () => {
  let db: { url: string; drop(): Promise<void> };
  let handle: PostgresHandle;
  let sql: Sql;

  beforeAll(async () => {
    db = await freshDatabase();
    handle = openPostgres({ url: db.url, poolSize: 8, statementTimeoutMs: 10_000 });
    sql = handle.sql;
    await migratePostgres(sql);
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

  const ticket = (orgId: string, i: number): TicketRow => ({
    id: newId("tkt"),
    org_id: orgId,
    subject: `t${i}`,
    description: null,
    status: "open",
    priority: "medium",
    created_by: null,
    created_at: T0 + i,
    updated_at: T0 + i,
    requester_id: null,
    assignee_id: null,
    tags: "[]",
    custom_fields: "{}",
  });

  test("concurrent creates in one organization spread over shards; totals are the exact sums, also after moves and deletes", async () => {
    const orgId = await org();
    const { stores, writer } = postgresEngine(sql);
    await Promise.all(Array.from({ length: 64 }, (_, i) => writer.write((tx) => tx.tickets.insert(ticket(orgId, i)))));
    const rows = await sql<{ shard: number; count: number }[]>`SELECT shard, count FROM ticket_counts WHERE org_id = ${orgId} ORDER BY shard`;
    // 64 random picks of 16 shards land on one shard with probability 16^-63.
    expect(rows.length).toBeGreaterThan(1);
    expect(rows.every((r) => r.shard >= 0 && r.shard < COUNT_SHARDS)).toBe(true);
    expect(rows.reduce((n, r) => n + r.count, 0)).toBe(64);
    expect(await stores.tickets.total(orgId, {})).toBe(64);
    expect(await stores.tickets.total(orgId, { status: "open", priority: "medium" })).toBe(64);

    // Move half to resolved and delete a quarter, concurrently: each unit bumps its own shard.
    const ids = (await stores.tickets.page(orgId, {}, 100, 0)).map((t) => t.id);
    await Promise.all(
      ids.map((id, i) =>
        writer.write(async (tx) => {
          const before = (await tx.tickets.get(id, orgId))!;
          if (i % 4 === 0) return tx.tickets.remove(before);
          if (i % 2 === 1) return tx.tickets.update(before, { ...before, status: "resolved", updated_at: T0 + 1000 });
          return true;
        }),
      ),
    );
    expect(await stores.tickets.total(orgId, {})).toBe(48);
    expect(await stores.tickets.total(orgId, { status: "resolved" })).toBe(32);
    expect(await stores.tickets.total(orgId, { status: "open" })).toBe(16);
    const [counted] = await sql<{ n: number }[]>`SELECT COUNT(*) AS n FROM tickets WHERE org_id = ${orgId} AND status = 'open'`;
    expect(counted!.n).toBe(16);
  });

  test("a count row written without a shard (as a copy from SQLite writes it) is shard 0 and summed with the others", async () => {
    const orgId = await org();
    await sql`INSERT INTO ticket_counts (org_id, status, priority, count) VALUES (${orgId}, 'open', 'high', 5)`;
    const [row] = await sql<{ shard: number }[]>`SELECT shard FROM ticket_counts WHERE org_id = ${orgId}`;
    expect(row!.shard).toBe(0);
    const { stores, writer } = postgresEngine(sql);
    await Promise.all(Array.from({ length: 8 }, (_, i) => writer.write((tx) => tx.tickets.insert({ ...ticket(orgId, i), priority: "high" }))));
    expect(await stores.tickets.total(orgId, { priority: "high" })).toBe(13);
    // Per (org, status, priority), as backup and verify read them: one summed row each.
    const summed = await sql`SELECT status, priority, SUM(count) AS count FROM ticket_counts WHERE org_id = ${orgId} GROUP BY status, priority`;
    expect(summed.map((r) => ({ ...r }))).toEqual([{ status: "open", priority: "high", count: 13 }]);
  });
});
