// Retention: deliveries (with attempts) and outbox events older than the retention period are pruned; pending and undispatched work never is.
import { afterEach, expect, test } from "bun:test";
import { createDispatcher } from "../src/webhooks/dispatcher";
import { dispatcherDeps, observeDispatch, startReceiver, until, webhookEnv, type Receiver, type WebhookEnv } from "./webhooks-fixtures";

let w: WebhookEnv;
let r: Receiver;

afterEach(async () => {
  await w?.close();
  r?.stop();
});

const DAY = 86_400_000;

test("pruning removes ended deliveries, their attempts and dispatched events older than retention-days; it keeps the rest", async () => {
  w = await webhookEnv({ config: { retentionDays: 7 } });
  r = startReceiver();
  const hook = await w.register(r.url, ["ticket.created"]);
  for (let i = 0; i < 4; i++) await w.createTicket(`T${i}`);
  await until(() => r.delivered.size === 4 && w.dispatcher.inFlight() === 0, "four deliveries");
  const db = w.env.db;
  const ids = await db.all<{ id: string; event_id: string }>("SELECT id, event_id FROM webhook_deliveries ORDER BY id");
  const old = Date.now() - 8 * DAY;
  // Two deliveries and their events are 8 days old; one old delivery is still pending (a retry in flight); one event never got fanned out.
  for (const d of ids.slice(0, 3)) {
    await db.run("UPDATE webhook_deliveries SET created_at = ? WHERE id = ?", old, d.id);
    await db.run("UPDATE events SET created_at = ?, dispatched_at = ? WHERE id = ?", old, old, d.event_id);
  }
  await db.run("UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = ? WHERE id = ?", Date.now() + 3_600_000, ids[2]!.id);
  await db.run(
    "INSERT INTO events (id, org_id, type, data, created_at, dispatched_at) VALUES ('evt_waiting', ?, 'ticket.created', '{}', ?, NULL)",
    w.orgId,
    old,
  );
  const attemptsBefore = (await db.get<{ n: number }>("SELECT COUNT(*) AS n FROM webhook_attempts"))!.n;

  // Stop the running dispatcher first, so the undispatched event stays that way, then prune with a fresh one.
  await w.dispatcher.stop(100);
  const pruner = createDispatcher({ ...dispatcherDeps(w.env), observe: observeDispatch });
  const removed = await pruner.prune();
  expect(removed).toEqual({ events: 3, deliveries: 2 });

  const left = (await db.all<{ id: string }>("SELECT id FROM webhook_deliveries")).map((x) => x.id).sort();
  expect(left).toEqual([ids[2]!.id, ids[3]!.id].sort());
  expect((await db.get<{ n: number }>("SELECT COUNT(*) AS n FROM webhook_attempts"))!.n).toBe(attemptsBefore - 2);
  expect(await db.get("SELECT id FROM events WHERE id = 'evt_waiting'")).toEqual({ id: "evt_waiting" });
  // The API log agrees.
  expect((await w.api("GET", `/v1/webhooks/${hook.id}/deliveries`)).body.meta.total).toBe(2);
  await pruner.stop(100);
});
