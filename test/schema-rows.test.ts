// Row types, column lists and enums are defined once, in src/db/schema: what the stores derive from it matches the migrated database.
import { afterAll, describe, expect, test } from "bun:test";
import type { Column, Table } from "drizzle-orm";
import * as schema from "../src/db/schema";
import { columnList, columnNames, type RawRow } from "../src/db/schema/raw-row";
import type { FileRow } from "../src/files/store";
import type { FolderRow } from "../src/folders/store";
import type { TicketRow } from "../src/tickets/store";
import type { AttemptRow, DeliveryRow, EventRow, WebhookRow } from "../src/webhooks/store";
import { createSqliteTestEnv } from "./helpers";

const env = await createSqliteTestEnv();
afterAll(() => env.close());

const tables = Object.entries(schema).filter(([, v]) => typeof v === "object" && v !== null && "getSQL" in v) as [string, Table][];

/** Compile-time equality: `true` only when A and B are the same type. */
type Equal<A, B> = (<X>() => X extends A ? 1 : 2) extends <X>() => X extends B ? 1 : 2 ? true : false;
const same = <A, B>(ok: Equal<A, B>) => ok;

describe("schema: one definition of every row", () => {
  test("the scan sees every table", () => {
    expect(tables.map(([name]) => name).sort()).toEqual(
      [
        "apiKeys",
        "commentAttachments",
        "comments",
        "contacts",
        "events",
        "files",
        "folders",
        "idempotencyKeys",
        "orgs",
        "ticketCounts",
        "ticketFields",
        "ticketTags",
        "tickets",
        "users",
        "webhookAttempts",
        "webhookDeliveries",
        "webhooks",
      ].sort(),
    );
  });

  test("each table's derived column names are the migrated table's columns, in order", async () => {
    for (const [, table] of tables) {
      const name = (table as unknown as { [k: symbol]: string })[Symbol.for("drizzle:Name")]!;
      const actual = ((await env.db.all(`PRAGMA table_info(${name})`)) as { name: string }[]).map((c) => c.name);
      expect({ name, columns: columnNames(table) as string[] }).toEqual({ name, columns: actual });
    }
  });

  test("a raw SELECT of the column list returns exactly the row type's keys, with integers for booleans", async () => {
    const org = await env.org("Acme");
    const res = await env.request("/v1/webhooks", {
      method: "POST",
      headers: { authorization: `Bearer ${org.key}`, "content-type": "application/json" },
      body: JSON.stringify({ url: "https://93.184.215.14/hook", events: ["*"] }),
    });
    expect(res.status).toBe(201);
    const row = (await env.db.get(`SELECT ${columnList(schema.webhooks)} FROM webhooks`)) as WebhookRow;
    expect(Object.keys(row)).toEqual(columnNames(schema.webhooks));
    expect(row.active).toBe(1);
  });

  test("the derived row types are what bun:sqlite returns (compile-time)", () => {
    // Booleans stay 0/1, enums are the schema's tuples, nullable columns are `| null`.
    expect(same<WebhookRow["active"], number>(true)).toBe(true);
    expect(same<TicketRow["status"], schema.TicketStatus>(true)).toBe(true);
    expect(same<TicketRow["priority"], schema.TicketPriority>(true)).toBe(true);
    expect(same<DeliveryRow["status"], schema.DeliveryStatus>(true)).toBe(true);
    expect(same<EventRow["type"], schema.EventType>(true)).toBe(true);
    expect(same<FileRow["folder_id"], string | null>(true)).toBe(true);
    expect(same<AttemptRow["id"], number>(true)).toBe(true);
    expect(same<keyof FolderRow, "id" | "org_id" | "parent_id" | "parent_key" | "name" | "created_at" | "updated_at">(true)).toBe(true);
    expect(same<keyof RawRow<typeof schema.orgs>, "id" | "name" | "plan" | "created_at">(true)).toBe(true);
    expect(same<RawRow<typeof schema.users>["role"], schema.Role>(true)).toBe(true);
    expect(same<RawRow<typeof schema.orgs>["plan"], schema.Plan>(true)).toBe(true);
  });

  test("enums are the tuples beside their tables, used by the drizzle columns", () => {
    const enumOf = (c: Column) => (c as unknown as { enumValues?: string[] }).enumValues;
    expect(enumOf(schema.tickets.status)).toEqual([...schema.TICKET_STATUSES]);
    expect(enumOf(schema.ticketCounts.priority)).toEqual([...schema.TICKET_PRIORITIES]);
    expect(enumOf(schema.orgs.plan)).toEqual([...schema.PLANS]);
    expect(enumOf(schema.users.role)).toEqual([...schema.ROLES]);
    expect(enumOf(schema.webhookDeliveries.status)).toEqual([...schema.DELIVERY_STATUSES]);
    expect(enumOf(schema.webhookDeliveries.eventType)).toEqual([...schema.EVENT_TYPES]);
    expect(enumOf(schema.events.type)).toEqual([...schema.EVENT_TYPES]);
  });
});
