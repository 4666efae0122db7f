// The SQLite engine (src/stores.ts): one connection, a guarded read view and the writer's transaction view, on a real data dir.
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { openDatabase } from "../src/db/client";
import { migrate } from "../src/db/migrate";
import { newId } from "../src/lib/ids";
import { type Engine, ReadInsideBatchError, sqliteEngine } from "../src/stores";
import type { TicketRow } from "../src/tickets/store";
import { tempDir } from "./helpers";

let dir: string;
let handle: ReturnType<typeof openDatabase>;
let engine: Engine;
const orgId = newId("org");

beforeEach(() => {
  dir = tempDir("cc-engine");
  handle = openDatabase(dir);
  migrate(handle.sqlite);
  handle.sqlite.prepare(`INSERT INTO orgs (id, name, plan, created_at) VALUES (?, 'Acme', 'pro', 0)`).run(orgId);
  engine = sqliteEngine(handle.sqlite);
});

afterEach(() => {
  handle.close();
  rmSync(dir, { recursive: true, force: true });
});

const ticket = (subject: string): TicketRow => ({
  id: newId("tkt"),
  org_id: orgId,
  subject,
  description: null,
  status: "open",
  priority: "medium",
  created_by: null,
  created_at: 1,
  updated_at: 1,
  requester_id: null,
  assignee_id: null,
  tags: "[]",
  custom_fields: "{}",
});

describe("the SQLite engine", () => {
  test("one engine per connection: the app, the dispatcher and the CLI share its writer and its batches", () => {
    expect(sqliteEngine(handle.sqlite)).toBe(engine);
  });

  test("a unit reads its own writes through tx; the read view sees them only after the commit", async () => {
    const row = ticket("mine");
    const pending = engine.writer.write(async (tx) => {
      await tx.tickets.insert(row);
      return (await tx.tickets.get(row.id, orgId))?.subject;
    });
    expect(await engine.stores.tickets.get(row.id, orgId)).toBeNull();
    expect(await pending).toBe("mine");
    expect((await engine.stores.tickets.get(row.id, orgId))?.subject).toBe("mine");
    expect(await engine.stores.tickets.total(orgId, {})).toBe(1);
  });

  test("the read view refuses to run while a batch is open (it would see rows that may still roll back)", async () => {
    let inside: unknown;
    await engine.writer.write(async (tx) => {
      await tx.tickets.insert(ticket("rolled back?"));
      inside = await engine.stores.tickets.total(orgId, {}).catch((err) => err);
    });
    expect(inside).toBeInstanceOf(ReadInsideBatchError);
    expect(await engine.stores.tickets.total(orgId, {})).toBe(1);
  });

  test("a unit that fails after its first write leaves nothing, and its neighbours in the batch commit", async () => {
    const ok = engine.writer.write((tx) => tx.tickets.insert(ticket("kept")));
    const bad = engine.writer.write(async (tx) => {
      await tx.tickets.insert(ticket("half"));
      throw new Error("second step fails");
    });
    const settled = await Promise.allSettled([ok, bad]);
    expect(settled.map((r) => r.status)).toEqual(["fulfilled", "rejected"]);
    const page = await engine.stores.tickets.page(orgId, {}, 10, 0);
    expect(page.map((r) => r.subject)).toEqual(["kept"]);
    expect(await engine.stores.tickets.total(orgId, {})).toBe(1);
  });
});
