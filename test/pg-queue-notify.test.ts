// The PostgreSQL queue wake-up of fan-out: a unit's new deliveries announced once it commits (nothing while it is open, nothing on rollback), heard by every engine on the database.
import { beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { newId } from "../src/lib/ids";
import { postgresEngine } from "../src/stores";
import type { NewDelivery, WebhookRow } from "../src/webhooks/store";
import { QUEUE_CHANNEL } from "../src/webhooks/store-postgres";
import { notifyWorld } from "./pg-notify-fixtures";
import { postgresUrl } from "./services/postgres";

setDefaultTimeout(30_000);
const base = await postgresUrl();
if (!base) process.stderr.write("test/pg-queue-notify.test.ts: skipped (no PostgreSQL server; see the line above)\n");

const T0 = Date.UTC(2026, 11, 2);

describe.skipIf(!base)("queue wake-ups of fan-out on PostgreSQL", () => {
  const w = notifyWorld(QUEUE_CHANNEL, T0);
  const { open, heard, settled } = w;
  let webhookId: string;
  const delivery = (dueAt: number): NewDelivery => ({
    id: newId("dlv"),
    org_id: w.orgId,
    webhook_id: webhookId,
    event_id: newId("evt"),
    event_type: "ticket.created",
    payload: "{}",
    max_attempts: 8,
    next_attempt_at: dueAt,
    created_at: dueAt,
    updated_at: dueAt,
  });
  beforeAll(async () => {
    webhookId = newId("wh");
    const row: WebhookRow = {
      id: webhookId,
      org_id: w.orgId,
      url: "https://example.com/hook",
      events: '["*"]',
      description: null,
      secret: "whsec_test",
      previous_secret: null,
      previous_secret_expires_at: null,
      active: 1,
      disabled_reason: null,
      disabled_at: null,
      consecutive_failures: 0,
      created_at: T0,
      updated_at: T0,
    } as WebhookRow;
    await postgresEngine(open()).stores.webhooks.insertWebhook(row);
  });

  test("a delivery queued in one instance's unit is heard by another instance's listener, once the unit commits", async () => {
    const a = postgresEngine(open());
    const b = postgresEngine(open());
    let resolve!: (v: [string, number]) => void;
    const got = new Promise<[string, number]>((r) => (resolve = r));
    const off = b.signals.onQueued((id, at) => resolve([id, at]));
    // b's LISTEN is in place once a notification sent after subscribing arrives; its catch-up may call first.
    const before = heard.length;
    await a.writer.write(async (tx) => {
      await tx.webhooks.insertDelivery(delivery(T0 + 5));
      // Nothing is sent while the transaction is open.
      await new Promise((r) => setImmediate(r));
      await settled(open());
      expect(heard.length).toBe(before);
    });
    expect(await got).toEqual([webhookId, expect.any(Number)]);
    off();
    await settled(open());
    expect(heard.slice(before).map((p) => JSON.parse(p))).toEqual([{ webhook_id: webhookId, due_at: T0 + 5 }]);
  });

  test("a unit that queues and rolls back announces nothing; the units committed together are announced", async () => {
    const sql = open();
    const a = postgresEngine(sql);
    const before = heard.length;
    await expect(
      a.writer.write(async (tx) => {
        await tx.webhooks.insertDelivery(delivery(T0 + 10));
        throw new Error("rolled back");
      }),
    ).rejects.toThrow("rolled back");
    await settled(sql);
    expect(heard.length).toBe(before);
    // Six units at once over two due times: every notice says one of them, and both are sent.
    await Promise.all(Array.from({ length: 6 }, (_, i) => a.writer.write((tx) => tx.webhooks.insertDelivery(delivery(T0 + 20 + (i % 2))))));
    await settled(sql);
    const sent = heard.slice(before).map((p) => JSON.parse(p) as { webhook_id: string; due_at: number });
    expect(sent.every((n) => n.webhook_id === webhookId)).toBe(true);
    expect(new Set(sent.map((n) => n.due_at))).toEqual(new Set([T0 + 20, T0 + 21]));
  });
});
