// The webhooks store contract (endpoints, deliveries and their attempts log), written against the interface so every engine runs it unchanged.
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import type { DeliveryStatus } from "../../src/db/schema/webhooks";
import type { Writer } from "../../src/db/writer";
import { AUTO_DISABLE_AFTER, type RetryPolicy } from "../../src/webhooks/dispatch-decide";
import { recordOutcome } from "../../src/webhooks/dispatch-record";
import type { DispatchTx } from "../../src/webhooks/dispatcher";
import { fanOutEvent, fanOutPending } from "../../src/webhooks/fan-out";
import { DELIVERY_STATUSES } from "../../src/db/schema/webhooks";
import { newId } from "../../src/lib/ids";
import type { QueueSignal } from "../../src/webhooks/queue-signal";
import type { AttemptRow, DeliveryRow, DueDelivery, NewDelivery, WebhookRow, WebhookStore } from "../../src/webhooks/store";
import { compareIds, expectSameRow, newestFirst, type Open, type Opened, type SeededOrg, T0, TEXTS } from "./fixtures";

const byNewest = newestFirst<{ id: string; created_at: number }>((r) => r.created_at);
/** Two instances claiming deliveries on one database. */
const ME = "inst_me";
const OTHER = "inst_other";

/** What the suite runs against: the engine's webhooks store, the signal its `announceDue` reaches, and its writer. */
export interface WebhooksUnderTest {
  webhooks: WebhookStore;
  queued: QueueSignal;
  /** Units whose `tx` stores run in their transaction (the signal's timing, concurrent units). */
  writer: Writer<DispatchTx>;
}

export function describeWebhooksStoreContract(engineName: string, open: Open<WebhooksUnderTest>) {
  describe(`webhooks store contract (${engineName})`, () => {
    let w: Opened<WebhooksUnderTest>;
    let store: WebhookStore;
    let queued: QueueSignal;
    let writer: Writer<DispatchTx>;
    let a: SeededOrg;
    let b: SeededOrg;
    beforeEach(async () => {
      w = await open();
      store = w.store.webhooks;
      queued = w.store.queued;
      writer = w.store.writer;
      a = await w.seed.org("A");
      b = await w.seed.org("B");
    });
    afterEach(() => w.close());

    const hook = (org: SeededOrg, over: Partial<WebhookRow> = {}): WebhookRow => ({
      id: newId("wh"),
      org_id: org.orgId,
      url: "https://hooks.example.test/in",
      events: JSON.stringify(["ticket.created", "ticket.updated"]),
      description: null,
      secret: "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ=",
      previous_secret: null,
      previous_secret_expires_at: null,
      active: 1,
      disabled_reason: null,
      disabled_at: null,
      consecutive_failures: 0,
      created_at: T0,
      updated_at: T0,
      ...over,
    });
    const putHook = async (r: WebhookRow) => {
      await store.insertWebhook(r);
      return r;
    };
    const delivery = (h: WebhookRow, over: Partial<NewDelivery> = {}): NewDelivery => ({
      id: newId("dlv"),
      org_id: h.org_id,
      webhook_id: h.id,
      event_id: newId("evt"),
      event_type: "ticket.created",
      payload: JSON.stringify({ type: "ticket.created", data: { subject: TEXTS[1] } }),
      max_attempts: 4,
      next_attempt_at: T0,
      created_at: T0,
      updated_at: T0,
      ...over,
    });
    const putDelivery = async (d: NewDelivery): Promise<DeliveryRow> => {
      await store.insertDelivery(d);
      return { ...d, status: "pending", attempt_count: 0 };
    };
    const ids = (rows: { id: string }[]) => rows.map((r) => r.id);

    describe("endpoints", () => {
      test("insert then webhook returns every field exactly", async () => {
        const rows = [
          hook(a, { description: TEXTS[1], url: "https://例え.テスト/フック?q=🎫&x=1", created_at: T0 + 1, updated_at: T0 + 2 }),
          hook(a, {
            events: JSON.stringify(["*"]),
            previous_secret: "whsec_b2xk",
            previous_secret_expires_at: T0 + 86_400_000,
            active: 0,
            disabled_reason: TEXTS[2],
            disabled_at: T0 + 3,
            consecutive_failures: 20,
          }),
        ];
        for (const r of rows) await putHook(r);
        for (const r of rows) {
          expectSameRow(await store.webhook(r.id, a.orgId), r);
        }
      });

      test("webhookPage is newest first with an id tie-break; offset pages tile it; webhookCount is exact", async () => {
        const rows: WebhookRow[] = [];
        for (let i = 0; i < 7; i++) rows.push(await putHook(hook(a, { created_at: T0 + Math.floor(i / 3) })));
        const want = ids([...rows].sort(byNewest));
        expect(ids(await store.webhookPage(a.orgId, 100, 0))).toEqual(want);
        const seen: string[] = [];
        for (let off = 0; off < 9; off += 2) seen.push(...ids(await store.webhookPage(a.orgId, 2, off)));
        expect(seen).toEqual(want);
        expect(await store.webhookCount(a.orgId)).toBe(7);
        await store.deleteWebhook(rows[0]!.id, a.orgId);
        expect(await store.webhookCount(a.orgId)).toBe(6);
      });

      test("updateWebhook writes the editable fields; rotateSecret keeps the old secret until the given time", async () => {
        const h = await putHook(hook(a));
        const edited: WebhookRow = {
          ...h,
          url: "https://other.example.test/x",
          events: JSON.stringify(["*"]),
          description: TEXTS[0],
          active: 0,
          disabled_reason: "paused by a person",
          disabled_at: T0 + 5,
          consecutive_failures: 3,
          updated_at: T0 + 5,
        };
        expect(await store.updateWebhook(edited)).toBe(true);
        expectSameRow(await store.webhook(h.id, a.orgId), edited);
        expect(await store.rotateSecret(h.id, a.orgId, "whsec_bmV3", T0 + 86_400_000, T0 + 6)).toBe(true);
        expectSameRow(await store.webhook(h.id, a.orgId), {
          ...edited,
          secret: "whsec_bmV3",
          previous_secret: h.secret,
          previous_secret_expires_at: T0 + 86_400_000,
          updated_at: T0 + 6,
        });
        await store.setConsecutiveFailures(h.id, a.orgId, 0);
        expect((await store.webhook(h.id, a.orgId))!.consecutive_failures).toBe(0);
        await store.setConsecutiveFailures(h.id, a.orgId, 7);
        expect((await store.webhook(h.id, a.orgId))!.consecutive_failures).toBe(7);
      });

      test("activeWebhooksOf, webhookIds and webhookOrg see what exists; deleteWebhook is true once", async () => {
        const on = await putHook(hook(a));
        const off = await putHook(hook(a, { active: 0 }));
        const theirs = await putHook(hook(b));
        expect(await store.activeWebhooksOf(a.orgId)).toEqual([{ id: on.id, events: on.events }]);
        expect([...(await store.webhookIds())].sort()).toEqual([on.id, off.id, theirs.id].sort());
        expect(await store.webhookOrg(off.id)).toBe(a.orgId);
        expect(await store.deleteWebhook(off.id, a.orgId)).toBe(true);
        expect(await store.deleteWebhook(off.id, a.orgId)).toBe(false);
        expect(await store.webhookOrg(off.id)).toBeNull();
        expect(await store.webhook(off.id, a.orgId)).toBeNull();
      });

      test("organizations are isolated: another organization's endpoints are never returned, listed, counted, updated, rotated, disabled or deleted", async () => {
        const mine = await putHook(hook(a));
        const theirs = await putHook(hook(b, { created_at: T0 + 1 }));
        expect(await store.webhook(theirs.id, a.orgId)).toBeNull();
        expect(ids(await store.webhookPage(a.orgId, 10, 0))).toEqual([mine.id]);
        expect(await store.webhookCount(a.orgId)).toBe(1);
        expect(await store.activeWebhooksOf(a.orgId)).toEqual([{ id: mine.id, events: mine.events }]);
        expect(await store.updateWebhook({ ...theirs, org_id: a.orgId, url: "https://evil.example.test/" })).toBe(false);
        expect(await store.rotateSecret(theirs.id, a.orgId, "whsec_ZXZpbA==", T0 + 1, T0 + 1)).toBe(false);
        expect(await store.disableWebhook(theirs.id, a.orgId, "not yours", T0 + 1)).toBe(false);
        await store.setConsecutiveFailures(theirs.id, a.orgId, 19);
        expect(await store.deleteWebhook(theirs.id, a.orgId)).toBe(false);
        expectSameRow(await store.webhook(theirs.id, b.orgId), theirs);
      });
    });

    test("a looked-up id holding U+0000 matches nothing, and is no error", async () => {
      const h = await putHook(hook(a));
      const d = await putDelivery(delivery(h));
      for (const bad of [`${h.id}\0`, "\0"]) {
        expect(await store.webhook(bad, a.orgId)).toBeNull();
        expect(await store.webhookOrg(bad)).toBeNull();
        expect(await store.rotateSecret(bad, a.orgId, "whsec_ZXZpbA==", T0 + 1, T0 + 1)).toBe(false);
        expect(await store.deleteWebhook(bad, a.orgId)).toBe(false);
        expect(await store.deliveryPage(bad, a.orgId, undefined, 10, 0)).toEqual([]);
        expect(await store.deliveryCount(bad, a.orgId, undefined)).toBe(0);
        expect(await store.delivery(d.id, bad, a.orgId)).toBeNull();
      }
      for (const bad of [`${d.id}\0`, "\0"]) {
        expect(await store.delivery(bad, h.id, a.orgId)).toBeNull();
        expect(await store.deliveryState(bad, a.orgId)).toBeNull();
        expect(await store.attemptsOf(bad, a.orgId)).toEqual([]);
      }
      expectSameRow(await store.webhook(h.id, a.orgId), h);
    });

    describe("deliveries", () => {
      test("insertDelivery stores a pending, unattempted delivery; delivery() returns it exactly for its endpoint and organization only", async () => {
        const h = await putHook(hook(a));
        const other = await putHook(hook(a));
        const d = await putDelivery(
          delivery(h, { payload: JSON.stringify({ text: TEXTS }), max_attempts: 9, next_attempt_at: T0 + 1, created_at: T0 + 2, updated_at: T0 + 3 }),
        );
        expectSameRow(await store.delivery(d.id, h.id, a.orgId), d);
        expect(await store.deliveryState(d.id, a.orgId)).toEqual({
          id: d.id,
          webhook_id: h.id,
          status: "pending",
          attempt_count: 0,
          max_attempts: 9,
          claimed_by: null,
          claimed_until: null,
        });
        expect(await store.delivery(d.id, other.id, a.orgId)).toBeNull();
        expect(await store.delivery(d.id, h.id, b.orgId)).toBeNull();
        expect(await store.deliveryState(newId("dlv"), a.orgId)).toBeNull();
      });

      test("insertDelivery inserts nothing for a disabled or deleted endpoint", async () => {
        const off = await putHook(hook(a));
        const gone = await putHook(hook(a));
        expect(await store.disableWebhook(off.id, a.orgId, "disabled for the test", T0 + 1)).toBe(true);
        expect(await store.deleteWebhook(gone.id, a.orgId)).toBe(true);
        const d1 = delivery(off);
        const d2 = delivery(gone);
        await store.insertDelivery(d1);
        await store.insertDelivery(d2);
        expect(await store.delivery(d1.id, off.id, a.orgId)).toBeNull();
        expect(await store.delivery(d2.id, gone.id, a.orgId)).toBeNull();
        expect(await store.deliveryCount(off.id, a.orgId, undefined)).toBe(0);
      });

      test("deliveryPage is newest first with an id tie-break, per status; counts per status equal the pages through every transition", async () => {
        const h = await putHook(hook(a));
        const other = await putHook(hook(a));
        const rows: DeliveryRow[] = [];
        for (let i = 0; i < 12; i++) rows.push(await putDelivery(delivery(h, { created_at: T0 + Math.floor(i / 3), next_attempt_at: T0 + i })));
        await putDelivery(delivery(other));
        const expectPages = async () => {
          for (const status of [undefined, ...DELIVERY_STATUSES]) {
            const want = ids(rows.filter((r) => !status || r.status === status).sort(byNewest));
            expect({ status, n: await store.deliveryCount(h.id, a.orgId, status) }).toEqual({ status, n: want.length });
            expect(ids(await store.deliveryPage(h.id, a.orgId, status, 100, 0))).toEqual(want);
            const seen: string[] = [];
            for (let off = 0; off < want.length + 5; off += 5) seen.push(...ids(await store.deliveryPage(h.id, a.orgId, status, 5, off)));
            expect(seen).toEqual(want);
          }
        };
        await expectPages();
        const finish = async (i: number, status: DeliveryStatus, next: number | null) => {
          const r = rows[i]!;
          await store.finishAttempt(r.id, a.orgId, status, r.attempt_count + 1, next, T0 + 100);
          rows[i] = { ...r, status, attempt_count: r.attempt_count + 1, next_attempt_at: next, updated_at: T0 + 100 };
        };
        await finish(0, "succeeded", null);
        await finish(1, "failed", null);
        await finish(2, "pending", T0 + 5000);
        await finish(3, "succeeded", null);
        await expectPages();
        for (const i of [0, 1, 2]) expectSameRow(await store.delivery(rows[i]!.id, h.id, a.orgId), rows[i]!);
        const cancelled = await store.cancelPending(h.id, a.orgId, T0 + 200);
        expect(cancelled).toBe(rows.filter((r) => r.status === "pending").length);
        for (const [i, r] of rows.entries()) if (r.status === "pending") rows[i] = { ...r, status: "cancelled", next_attempt_at: null, updated_at: T0 + 200 };
        await expectPages();
        for (const r of rows) expectSameRow(await store.delivery(r.id, h.id, a.orgId), r);
        expect(await store.deliveryCount(other.id, a.orgId, "pending")).toBe(1);
      });

      test("dueFor returns pending deliveries due by now, soonest first, up to the limit, with the endpoint's url and secrets", async () => {
        const h = await putHook(hook(a, { previous_secret: "whsec_b2xk", previous_secret_expires_at: T0 + 9 }));
        const other = await putHook(hook(a));
        const times = [T0 + 30, T0 + 10, T0 + 20, T0 + 40, T0 + 50];
        const rows: DeliveryRow[] = [];
        for (const t of times) rows.push(await putDelivery(delivery(h, { next_attempt_at: t })));
        await putDelivery(delivery(other, { next_attempt_at: T0 }));
        await store.finishAttempt(rows[1]!.id, a.orgId, "succeeded", 1, null, T0 + 11);
        const due = await store.dueFor(h.id, T0 + 40, 10);
        expect(ids(due)).toEqual([rows[2]!.id, rows[0]!.id, rows[3]!.id]);
        expect(due[0]).toEqual({
          id: rows[2]!.id,
          webhook_id: h.id,
          org_id: a.orgId,
          payload: rows[2]!.payload,
          url: h.url,
          secret: h.secret,
          previous_secret: h.previous_secret,
          previous_secret_expires_at: h.previous_secret_expires_at,
        });
        expect(ids(await store.dueFor(h.id, T0 + 40, 2))).toEqual([rows[2]!.id, rows[0]!.id]);
        expect(await store.dueFor(h.id, T0 + 19, 10)).toEqual([]);
        expect(await store.nextDueAfter(h.id, T0 + 40, ME)).toBe(T0 + 50);
        expect(await store.nextDueAfter(h.id, T0 + 50, ME)).toBeNull();
        expect(await store.nextDueAfter(h.id, T0, ME)).toBe(T0 + 20);
        // An inactive endpoint has nothing due.
        await store.updateWebhook({ ...h, active: 0, updated_at: T0 + 1 });
        expect(await store.dueFor(h.id, T0 + 100, 10)).toEqual([]);
      });

      test("activeWithNextDue gives each active endpoint its soonest pending due time, or null", async () => {
        const h1 = await putHook(hook(a));
        const h2 = await putHook(hook(b));
        const off = await putHook(hook(a, { active: 0 }));
        await putDelivery(delivery(h1, { next_attempt_at: T0 + 70 }));
        await putDelivery(delivery(h1, { next_attempt_at: T0 + 60 }));
        const done = await putDelivery(delivery(h1, { next_attempt_at: T0 + 1 }));
        await store.finishAttempt(done.id, a.orgId, "failed", 4, null, T0 + 2);
        await putDelivery(delivery(off, { next_attempt_at: T0 }));
        const got = [...(await store.activeWithNextDue())].sort((x, y) => x.id.localeCompare(y.id));
        expect(got).toEqual(
          [
            { id: h1.id, next: T0 + 60 },
            { id: h2.id, next: null },
          ].sort((x, y) => x.id.localeCompare(y.id)),
        );
      });

      test("dueFor has a defined order: deliveries due at the same moment come by id, whatever the order they were made in", async () => {
        const h = await putHook(hook(a));
        const made = Array.from({ length: 6 }, () => newId("dlv")).sort((x, y) => compareIds(y, x));
        const rows: DeliveryRow[] = [];
        // Made in descending id order, half of them due a moment later, one made earlier but due with the first group.
        for (const [i, id] of made.entries()) rows.push(await putDelivery(delivery(h, { id, next_attempt_at: T0 + (i % 2), created_at: T0 + 10 - i })));
        const want = [...rows].sort((x, y) => x.next_attempt_at! - y.next_attempt_at! || compareIds(x.id, y.id)).map((r) => r.id);
        expect(ids(await store.dueFor(h.id, T0 + 1, 10))).toEqual(want);
        // A limit takes the first ones of that order, so every engine claims the same deliveries.
        expect(ids(await store.dueFor(h.id, T0 + 1, 2))).toEqual(want.slice(0, 2));
        expect(ids(await store.dueFor(h.id, T0, 10))).toEqual(want.slice(0, 3));
      });

      test("organizations are isolated: another organization's deliveries and attempts are never read, counted or changed", async () => {
        const h = await putHook(hook(a));
        const d = await putDelivery(delivery(h));
        const ended = await putDelivery(delivery(h));
        expect(await store.finishAttempt(ended.id, a.orgId, "failed", 1, null, T0 + 1)).toBe(true);
        await store.insertAttempt({ delivery_id: d.id, attempted_at: T0, status_code: 500, error: null, duration_ms: 1, response_body: "no" });
        const other = b.orgId;
        expect(await store.delivery(d.id, h.id, other)).toBeNull();
        expect(await store.deliveryState(d.id, other)).toBeNull();
        expect(await store.deliveryCount(h.id, other, undefined)).toBe(0);
        expect(await store.deliveryPage(h.id, other, undefined, 10, 0)).toEqual([]);
        expect(await store.attemptsOf(d.id, other)).toEqual([]);
        expect(await store.finishAttempt(d.id, other, "succeeded", 1, null, T0 + 2)).toBe(false);
        expect(await store.requeue(ended.id, other, T0 + 3, 9, T0 + 3)).toBe(false);
        expect(await store.cancelPending(h.id, other, T0 + 4)).toBe(0);
        expect(await store.requeueCancelledSince(h.id, other, T0, 4, T0 + 5)).toBe(0);
        expect(await store.missedEvents(h.id, other, T0)).toEqual([]);
        expectSameRow(await store.delivery(d.id, h.id, a.orgId), d);
        expectSameRow(await store.delivery(ended.id, h.id, a.orgId), {
          ...ended,
          status: "failed",
          attempt_count: 1,
          next_attempt_at: null,
          updated_at: T0 + 1,
        });
        expect((await store.attemptsOf(d.id, a.orgId)).length).toBe(1);
        expect(await store.finishAttempt(newId("dlv"), a.orgId, "succeeded", 1, null, T0)).toBe(false);
      });

      test("announceDue is heard by onQueued listeners once its unit has committed, with the endpoint and the due time, until they unsubscribe", async () => {
        // The signal is a hint (the dispatcher reads the table): an engine may tell a due time more than once, but
        // never before the unit that made the delivery due has committed, and never after unsubscribing.
        const h = await putHook(hook(a));
        const heard: [string, number][] = [];
        let wake!: () => void;
        const first = new Promise<void>((resolve) => (wake = resolve));
        const off = queued.onQueued((webhookId, at) => {
          heard.push([webhookId, at]);
          wake();
        });
        // As its callers do: the delivery is made due and announced in one unit.
        await writer.write(async (tx) => {
          await tx.webhooks.insertDelivery(delivery(h, { next_attempt_at: T0 + 7 }));
          await tx.webhooks.announceDue(h.id, T0 + 7);
          expect(heard).toEqual([]);
        });
        await first;
        expect(heard.length).toBeGreaterThanOrEqual(1);
        expect(new Set(heard.map(([id, at]) => `${id}@${at}`))).toEqual(new Set([`${h.id}@${T0 + 7}`]));
        off();
        const before = heard.length;
        await writer.write((tx) => tx.webhooks.announceDue(h.id, T0 + 8));
        for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
        await new Promise((r) => setTimeout(r, 0));
        expect(heard.length).toBe(before);
      });

      test("requeue puts an ended delivery back in line with a new due time and attempt budget", async () => {
        const h = await putHook(hook(a));
        const d = await putDelivery(delivery(h));
        await store.finishAttempt(d.id, a.orgId, "failed", 4, null, T0 + 1);
        expect(await store.dueFor(h.id, T0 + 1000, 10)).toEqual([]);
        expect(await store.requeue(d.id, a.orgId, T0 + 500, 5, T0 + 2)).toBe(true);
        expectSameRow(await store.delivery(d.id, h.id, a.orgId), {
          ...d,
          status: "pending",
          attempt_count: 4,
          max_attempts: 5,
          next_attempt_at: T0 + 500,
          updated_at: T0 + 2,
        });
        expect(ids(await store.dueFor(h.id, T0 + 500, 10))).toEqual([d.id]);
      });

      test("cancelPending and disableWebhook cancel only that endpoint's pending deliveries; requeueCancelledSince brings back those cancelled since", async () => {
        const h = await putHook(hook(a));
        const other = await putHook(hook(a));
        const early = await putDelivery(delivery(h, { next_attempt_at: T0 + 1 }));
        const sent = await putDelivery(delivery(h, { next_attempt_at: T0 + 2 }));
        await store.finishAttempt(sent.id, a.orgId, "succeeded", 1, null, T0 + 3);
        const keep = await putDelivery(delivery(other));
        expect(await store.cancelPending(h.id, a.orgId, T0 + 10)).toBe(1);
        expect(await store.cancelPending(h.id, a.orgId, T0 + 11)).toBe(0);
        const late = await putDelivery(delivery(h, { next_attempt_at: T0 + 20, max_attempts: 4 }));
        await store.finishAttempt(late.id, a.orgId, "pending", 2, T0 + 30, T0 + 21);
        expect(await store.disableWebhook(h.id, a.orgId, TEXTS[0], T0 + 40)).toBe(true);
        const disabled = await store.webhook(h.id, a.orgId);
        expect({ active: disabled!.active, reason: disabled!.disabled_reason, at: disabled!.disabled_at, updated: disabled!.updated_at }).toEqual({
          active: 0,
          reason: TEXTS[0],
          at: T0 + 40,
          updated: T0 + 40,
        });
        expectSameRow(await store.delivery(late.id, h.id, a.orgId), {
          ...late,
          status: "cancelled",
          attempt_count: 2,
          next_attempt_at: null,
          updated_at: T0 + 40,
        });
        expect((await store.deliveryState(early.id, a.orgId))!.status).toBe("cancelled");
        expect((await store.deliveryState(sent.id, a.orgId))!.status).toBe("succeeded");
        expect((await store.deliveryState(keep.id, a.orgId))!.status).toBe("pending");
        // Re-enabled: the deliveries cancelled at or after T0+40 come back with `extra` attempts more than they had.
        await store.updateWebhook({ ...disabled!, active: 1, disabled_reason: null, disabled_at: null, updated_at: T0 + 50 });
        expect(await store.requeueCancelledSince(h.id, a.orgId, T0 + 40, 4, T0 + 50)).toBe(1);
        expectSameRow(await store.delivery(late.id, h.id, a.orgId), {
          ...late,
          status: "pending",
          attempt_count: 2,
          max_attempts: 6,
          next_attempt_at: T0 + 50,
          updated_at: T0 + 50,
        });
        expect((await store.deliveryState(early.id, a.orgId))!.status).toBe("cancelled");
        expect(ids(await store.dueFor(h.id, T0 + 50, 10))).toEqual([late.id]);
      });

      test("missedEvents lists the organization's dispatched events since a time that this endpoint has no delivery for, in record order", async () => {
        const h = await putHook(hook(a));
        const e1 = await w.seed.event({ orgId: a.orgId, type: "ticket.created", createdAt: T0 + 10, dispatchedAt: T0 + 11 });
        const delivered = await w.seed.event({ orgId: a.orgId, type: "ticket.updated", createdAt: T0 + 12, dispatchedAt: T0 + 13 });
        await putDelivery(delivery(h, { event_id: delivered.id, event_type: "ticket.updated" }));
        await w.seed.event({ orgId: a.orgId, type: "webhook.test", createdAt: T0 + 14, dispatchedAt: T0 + 15 });
        await w.seed.event({ orgId: a.orgId, type: "ticket.deleted", createdAt: T0 + 16, dispatchedAt: null });
        await w.seed.event({ orgId: b.orgId, type: "ticket.created", createdAt: T0 + 17, dispatchedAt: T0 + 18 });
        await w.seed.event({ orgId: a.orgId, type: "ticket.created", createdAt: T0 + 1, dispatchedAt: T0 + 2 });
        // Recorded later but stamped earlier than e1: record order (seq) decides, not the timestamp.
        const e2 = await w.seed.event({ orgId: a.orgId, type: "file.uploaded", createdAt: T0 + 10, dispatchedAt: T0 + 20 });
        const missed = await store.missedEvents(h.id, a.orgId, T0 + 10);
        expect(missed.map((e) => e.id)).toEqual([e1.id, e2.id]);
        expect(missed[0]).toEqual({ seq: e1.seq, id: e1.id, org_id: a.orgId, type: "ticket.created", data: "{}", changed_fields: null, created_at: T0 + 10 });
      });

      test("pruneDeliveries deletes this endpoint's ended deliveries created before the cutoff, at most `limit`; pending ones stay", async () => {
        const h = await putHook(hook(a));
        const other = await putHook(hook(a));
        const old: DeliveryRow[] = [];
        for (let i = 0; i < 4; i++) {
          const d = await putDelivery(delivery(h, { created_at: T0 + i }));
          await store.finishAttempt(d.id, a.orgId, i % 2 ? "failed" : "succeeded", 1, null, T0 + 100);
          old.push(d);
        }
        const oldPending = await putDelivery(delivery(h, { created_at: T0 }));
        const recent = await putDelivery(delivery(h, { created_at: T0 + 1000 }));
        await store.finishAttempt(recent.id, a.orgId, "succeeded", 1, null, T0 + 1001);
        const elsewhere = await putDelivery(delivery(other, { created_at: T0 }));
        await store.finishAttempt(elsewhere.id, a.orgId, "succeeded", 1, null, T0 + 1);
        expect(await store.pruneDeliveries(h.id, T0 + 500, 3)).toBe(3);
        expect(await store.pruneDeliveries(h.id, T0 + 500, 3)).toBe(1);
        expect(await store.pruneDeliveries(h.id, T0 + 500, 3)).toBe(0);
        expect(ids(await store.deliveryPage(h.id, a.orgId, undefined, 10, 0))).toEqual([recent.id, oldPending.id]);
        expect((await store.deliveryState(elsewhere.id, a.orgId))!.status).toBe("succeeded");
      });
    });

    // Several instances on one database: each claim is a lease (claimed_by, claimed_until). The claims here are two or
    // more claimers (ids) on one store: on PostgreSQL the concurrent ones really run at once, in transactions of their
    // own; on SQLite the lease is in memory and these claimers share it, as every claimer of one process does.
    describe("claims", () => {
      const LEASE = 1000;
      /** One claim outside any unit, as the dispatcher makes it. */
      const claim = async (h: WebhookRow, instanceId: string, now: number, limit: number, endpointCap = 100, except: string[] = []) =>
        (await store.claimDue([{ webhookId: h.id, instanceId, now, leaseMs: LEASE, endpointCap, limit, except }]))[0]!;
      const dueAll = async (h: WebhookRow, n: number, at = T0) => {
        const rows: DeliveryRow[] = [];
        for (let i = 0; i < n; i++) rows.push(await putDelivery(delivery(h, { next_attempt_at: at })));
        return rows.sort((x, y) => compareIds(x.id, y.id));
      };
      const policy: RetryPolicy = { baseMs: 1000, autoDisableAfter: AUTO_DISABLE_AFTER, random: () => 0.5 };
      const outcome = (c: DueDelivery & { claimed_by: string; claimed_until: number }, statusCode: number, at: number) =>
        writer.write((tx) =>
          recordOutcome(
            tx.webhooks,
            {
              row: c,
              claim: { by: c.claimed_by, until: c.claimed_until },
              attemptedAt: at,
              completedAt: at + 5,
              result: { statusCode, error: null, responseBody: null, durationMs: 5, retryAfterMs: null, aborted: false },
            },
            policy,
          ),
        );

      test("claimDue takes due deliveries in dueFor's order, marks them with the lease, and returns what the attempt needs", async () => {
        const h = await putHook(hook(a, { previous_secret: "whsec_b2xk", previous_secret_expires_at: T0 + 9 }));
        const rows = await dueAll(h, 3);
        const later = await putDelivery(delivery(h, { next_attempt_at: T0 + 50 }));
        const got = await claim(h, ME, T0 + 10, 2);
        expect(got).toEqual(
          rows.slice(0, 2).map((r) => ({
            id: r.id,
            webhook_id: h.id,
            org_id: a.orgId,
            payload: r.payload,
            url: h.url,
            secret: h.secret,
            previous_secret: h.previous_secret,
            previous_secret_expires_at: h.previous_secret_expires_at,
            claimed_by: ME,
            claimed_until: T0 + 10 + LEASE,
          })),
        );
        const state = await store.deliveryState(rows[0]!.id, a.orgId);
        expect({ by: state!.claimed_by, until: state!.claimed_until }).toEqual({ by: ME, until: T0 + 10 + LEASE });
        // Nothing not yet due, nothing of an inactive endpoint, nothing when asked for none.
        expect(ids(await claim(h, OTHER, T0 + 10, 10))).toEqual([rows[2]!.id]);
        // ME and OTHER hold everything due: a third instance gets nothing, nor OTHER what it holds.
        expect(await claim(h, "inst_third", T0 + 10, 10)).toEqual([]);
        expect(await claim(h, OTHER, T0 + 10, 10, 100, [rows[2]!.id])).toEqual([]);
        expect(await claim(h, OTHER, T0 + 49, 0)).toEqual([]);
        await store.updateWebhook({ ...h, active: 0, updated_at: T0 + 1 });
        expect(await claim(h, OTHER, T0 + 60, 10)).toEqual([]);
        expect((await store.deliveryState(later.id, a.orgId))!.claimed_by).toBeNull();
      });

      test("two instances claiming one endpoint's due deliveries at once never get the same one, and together get the earliest", async () => {
        for (let round = 0; round < 4; round++) {
          const h = await putHook(hook(a));
          const rows = await dueAll(h, 12);
          const now = T0 + round;
          const claimers = [ME, OTHER, "inst_third", "inst_fourth"];
          const got = await Promise.all(claimers.map((id, i) => claim(h, id, now, i < 2 ? 3 : 2)));
          const all = got.flat();
          expect({ round, n: all.length, distinct: new Set(ids(all)).size }).toEqual({ round, n: 10, distinct: 10 });
          expect(ids(all).sort(compareIds)).toEqual(ids(rows.slice(0, 10)));
          for (const [i, list] of got.entries()) {
            expect(list.every((c) => c.claimed_by === claimers[i])).toBe(true);
            // Each instance's share comes in due order (here: by id).
            expect(ids(list)).toEqual([...ids(list)].sort(compareIds));
          }
        }
      });

      test("the per-endpoint limit holds across instances: live leases of the others count against it", async () => {
        for (let round = 0; round < 4; round++) {
          const h = await putHook(hook(a));
          await dueAll(h, 10);
          const now = T0 + round;
          // Four instances at once, each with 3 free slots of its own, under a limit of 3 for the endpoint.
          const got = await Promise.all(["i1", "i2", "i3", "i4"].map((id) => claim(h, id, now, 3, 3)));
          const all = got.flat();
          expect({ round, n: all.length, distinct: new Set(ids(all)).size }).toEqual({ round, n: 3, distinct: 3 });
          // With those leases live nobody else gets one; the holder may take more only within its own slots (the limit is
          // its caller's: leases of its own are not counted here).
          expect(await claim(h, "i5", now + LEASE - 1, 3, 3)).toEqual([]);
          // Once they run out, the limit is free again.
          expect((await claim(h, "i5", now + LEASE, 3, 3)).length).toBe(3);
        }
      });

      test("a lease that runs out (the holder crashed) is claimable by another instance; until then nextDueAfter says when", async () => {
        const h = await putHook(hook(a));
        const [d] = await dueAll(h, 1);
        expect(ids(await claim(h, OTHER, T0, 1))).toEqual([d!.id]);
        expect(await claim(h, ME, T0 + LEASE - 1, 1)).toEqual([]);
        // For the other instance the delivery is due when the lease ends; for its holder nothing is (it has it).
        expect(await store.nextDueAfter(h.id, T0 + 1, ME)).toBe(T0 + LEASE);
        expect(await store.nextDueAfter(h.id, T0 + 1, OTHER)).toBeNull();
        const taken = await claim(h, ME, T0 + LEASE, 1);
        expect(taken.map((c) => [c.id, c.claimed_by, c.claimed_until])).toEqual([[d!.id, ME, T0 + 2 * LEASE]]);
        expect(await store.nextDueAfter(h.id, T0 + LEASE, OTHER)).toBe(T0 + 2 * LEASE);
      });

      test("a late outcome from a lost lease is logged and clobbers nothing; the new holder's outcome decides", async () => {
        const h = await putHook(hook(a));
        const [d] = await dueAll(h, 1);
        const [lost] = await claim(h, OTHER, T0, 1);
        const [held] = await claim(h, ME, T0 + LEASE, 1);
        expect(await outcome(lost!, 500, T0 + LEASE + 10)).toEqual({ kind: "superseded" });
        const state = await store.deliveryState(d!.id, a.orgId);
        expect(state).toEqual({
          id: d!.id,
          webhook_id: h.id,
          status: "pending",
          attempt_count: 0,
          max_attempts: 4,
          claimed_by: ME,
          claimed_until: T0 + 2 * LEASE,
        });
        expect((await store.webhook(h.id, a.orgId))!.consecutive_failures).toBe(0);
        expect((await store.attemptsOf(d!.id, a.orgId)).map((x) => x.status_code)).toEqual([500]);
        // Even a late success decides nothing: the holder's attempt is on the wire and its own outcome counts.
        expect(await outcome(lost!, 204, T0 + LEASE + 20)).toEqual({ kind: "superseded" });
        expect((await store.deliveryState(d!.id, a.orgId))!.status).toBe("pending");
        expect(await outcome(held!, 204, T0 + LEASE + 30)).toMatchObject({ kind: "succeeded", attempt: 1 });
        expect(await store.deliveryState(d!.id, a.orgId)).toMatchObject({ status: "succeeded", attempt_count: 1, claimed_by: null, claimed_until: null });
        // And after the holder's outcome, a lost attempt still changes nothing.
        expect(await outcome(lost!, 500, T0 + LEASE + 40)).toEqual({ kind: "superseded" });
        expect(await store.deliveryState(d!.id, a.orgId)).toMatchObject({ status: "succeeded", attempt_count: 1 });
        expect((await store.attemptsOf(d!.id, a.orgId)).map((x) => x.status_code)).toEqual([500, 204, 204, 500]);
      });

      test("an outcome under a lease that ran out but nobody took is still its holder's, and ends the claim", async () => {
        const h = await putHook(hook(a));
        const [d] = await dueAll(h, 1);
        const [c] = await claim(h, ME, T0, 1);
        expect(await outcome(c!, 503, T0 + 5 * LEASE)).toMatchObject({ kind: "retry", attempt: 1 });
        expect(await store.deliveryState(d!.id, a.orgId)).toMatchObject({ status: "pending", attempt_count: 1, claimed_by: null, claimed_until: null });
      });

      test("what the claimer holds (except) is never claimed again, even after its lease ran out; its other leases are (an earlier process's)", async () => {
        const h = await putHook(hook(a));
        const [d1, d2] = await dueAll(h, 2);
        await claim(h, ME, T0, 2);
        // Both leases ran out; d1 is still on the wire here, d2 was left by an earlier process with the same id.
        expect(ids(await claim(h, ME, T0 + 2 * LEASE, 5, 100, [d1!.id]))).toEqual([d2!.id]);
        expect(await claim(h, ME, T0 + 2 * LEASE, 5, 100, [d1!.id, d2!.id])).toEqual([]);
        // Live leases of its own are not held off by the endpoint limit here (the claimer counts its own slots).
        expect(ids(await claim(h, ME, T0 + 2 * LEASE + 1, 5, 1, [d1!.id]))).toEqual([d2!.id]);
      });

      test("one claimDue call claims several endpoints, one answer per request in order", async () => {
        const h1 = await putHook(hook(a));
        const h2 = await putHook(hook(b));
        const [x1, x2] = await dueAll(h1, 2);
        const [y1] = await dueAll(h2, 1);
        const got = await store.claimDue([
          { webhookId: h2.id, instanceId: ME, now: T0, leaseMs: LEASE, endpointCap: 10, limit: 5, except: [] },
          { webhookId: h1.id, instanceId: ME, now: T0, leaseMs: LEASE, endpointCap: 10, limit: 0, except: [] },
          { webhookId: h1.id, instanceId: ME, now: T0, leaseMs: LEASE, endpointCap: 10, limit: 5, except: [x1!.id] },
        ]);
        expect(got.map(ids)).toEqual([[y1!.id], [], [x2!.id]]);
        expect(await store.claimDue([])).toEqual([]);
      });

      test("an outcome that counts the attempt ends the claim: the retry is another claimer's to take when due; a rolled-back outcome ends nothing", async () => {
        const h = await putHook(hook(a));
        const [d] = await dueAll(h, 1);
        const [c] = await claim(h, ME, T0, 1);
        // The outcome's unit fails after writing it: rolled back, the claim is still ME's.
        const failed = writer.write(async (tx) => {
          await recordOutcome(
            tx.webhooks,
            {
              row: c!,
              claim: { by: c!.claimed_by, until: c!.claimed_until },
              attemptedAt: T0,
              completedAt: T0 + 5,
              result: { statusCode: 503, error: null, responseBody: null, durationMs: 5, retryAfterMs: null, aborted: false },
            },
            policy,
          );
          throw new Error("rolled back");
        });
        expect(
          await failed.then(
            () => "committed",
            (e: Error) => e.message,
          ),
        ).toBe("rolled back");
        expect(await store.deliveryState(d!.id, a.orgId)).toMatchObject({ attempt_count: 0, claimed_by: ME, claimed_until: T0 + LEASE });
        expect(await claim(h, OTHER, T0 + 10, 1)).toEqual([]);
        // Written again, it commits: a retry at T0 + 5 + 1000 (policy: base 1000, no jitter at 0.5), claimed by nobody.
        const decided = await outcome(c!, 503, T0);
        expect(decided).toMatchObject({ kind: "retry", attempt: 1 });
        const at = (decided as { at: number }).at;
        expect(await store.deliveryState(d!.id, a.orgId)).toMatchObject({ attempt_count: 1, claimed_by: null, claimed_until: null });
        expect(await store.nextDueAfter(h.id, T0 + 10, OTHER)).toBe(at);
        expect(await claim(h, OTHER, at - 1, 1)).toEqual([]);
        expect(ids(await claim(h, OTHER, at, 1))).toEqual([d!.id]);
      });

      test("releaseClaim ends only the holder's claim; a released delivery is claimable at once", async () => {
        const h = await putHook(hook(a));
        const [d] = await dueAll(h, 1);
        await claim(h, OTHER, T0, 1);
        expect(await store.releaseClaim(d!.id, ME)).toBe(false);
        expect(await claim(h, ME, T0 + 1, 1)).toEqual([]);
        expect(await store.releaseClaim(d!.id, OTHER)).toBe(true);
        expect(await store.deliveryState(d!.id, a.orgId)).toMatchObject({ status: "pending", claimed_by: null, claimed_until: null });
        expect(ids(await claim(h, ME, T0 + 1, 1))).toEqual([d!.id]);
      });
    });

    describe("attempts", () => {
      test("the attempts log keeps every attempt of a delivery in the order made, each field exactly; deleting the endpoint removes its deliveries and attempts", async () => {
        const h = await putHook(hook(a));
        const d = await putDelivery(delivery(h));
        const d2 = await putDelivery(delivery(h));
        const made: Omit<AttemptRow, "id">[] = [
          { delivery_id: d.id, attempted_at: T0 + 5, status_code: null, error: "connect ECONNREFUSED 127.0.0.1:9 🔌", duration_ms: 3, response_body: null },
          { delivery_id: d.id, attempted_at: T0 + 5, status_code: 500, error: null, duration_ms: 1500, response_body: TEXTS[1] },
          { delivery_id: d2.id, attempted_at: T0 + 6, status_code: 204, error: null, duration_ms: 0, response_body: "" },
          { delivery_id: d.id, attempted_at: T0 + 4, status_code: 200, error: null, duration_ms: 12, response_body: "ok" },
        ];
        for (const m of made) await store.insertAttempt(m);
        const log = await store.attemptsOf(d.id, a.orgId);
        expect(log.map(({ id, ...rest }) => rest)).toEqual([made[0]!, made[1]!, made[3]!]);
        for (const [i, r] of log.entries()) expectSameRow(r, { ...made[[0, 1, 3][i]!]!, id: r.id });
        const attemptIds = log.map((r) => r.id);
        expect(attemptIds.every((x) => typeof x === "number")).toBe(true);
        expect(attemptIds).toEqual([...attemptIds].sort((x, y) => x - y));
        expect((await store.attemptsOf(d2.id, a.orgId)).length).toBe(1);
        expect(await store.attemptsOf(newId("dlv"), a.orgId)).toEqual([]);
        expect(await store.deleteWebhook(h.id, a.orgId)).toBe(true);
        expect(await store.delivery(d.id, h.id, a.orgId)).toBeNull();
        expect(await store.deliveryState(d2.id, a.orgId)).toBeNull();
        expect(await store.attemptsOf(d.id, a.orgId)).toEqual([]);
        expect(await store.attemptsOf(d2.id, a.orgId)).toEqual([]);
      });
    });

    describe("attempts from outside", () => {
      test("an attempt whose response body holds U+0000 (a receiver's raw bytes) is recorded with the rest of its text intact", async () => {
        // PostgreSQL refuses U+0000 in text; the attempt must be recorded all the same (its unit carries the outcome).
        // An engine may store U+0000 as U+FFFD (the transport is the place that makes both engines store the same).
        const h = await putHook(hook(a));
        const d = await putDelivery(delivery(h));
        const body = `a\u0000b ${TEXTS[0]} \u0000`;
        await store.insertAttempt({ delivery_id: d.id, attempted_at: T0, status_code: 500, error: "x\u0000y", duration_ms: 1, response_body: body });
        const [got] = await store.attemptsOf(d.id, a.orgId);
        const same = (stored: string | null, sent: string) => stored?.replaceAll("\u0000", "\uFFFD") === sent.replaceAll("\u0000", "\uFFFD");
        expect(same(got!.response_body, body)).toBe(true);
        expect(same(got!.error, "x\u0000y")).toBe(true);
      });
    });

    // Units that overlap: on SQLite they run one after the other; on PostgreSQL at once (READ COMMITTED). Each case
    // runs what the service or the dispatcher runs in its unit, and checks what any serial order would leave.
    describe("concurrent units", () => {
      const policy: RetryPolicy = { baseMs: 1000, autoDisableAfter: AUTO_DISABLE_AFTER, random: () => 0.5 };
      const due = (h: WebhookRow, d: { id: string; payload: string }): DueDelivery => ({
        id: d.id,
        webhook_id: h.id,
        org_id: h.org_id,
        payload: d.payload,
        url: h.url,
        secret: h.secret,
        previous_secret: null,
        previous_secret_expires_at: null,
      });
      /** One attempt's outcome recorded in its own unit, as the dispatcher does. */
      const record = (h: WebhookRow, d: { id: string; payload: string }, statusCode: number, at = T0 + 1000) =>
        writer.write((tx) =>
          recordOutcome(
            tx.webhooks,
            {
              row: due(h, d),
              attemptedAt: at,
              completedAt: at + 5,
              result: { statusCode, error: null, responseBody: `HTTP ${statusCode}`, durationMs: 5, retryAfterMs: null, aborted: false },
            },
            policy,
          ),
        );
      /** A test ping's unit (sendTestEvent): the endpoint read, an event recorded and fanned out to it alone. */
      const ping = (h: WebhookRow, now: number) =>
        writer.write(async (tx) => {
          const w = await tx.webhooks.webhook(h.id, h.org_id);
          if (w?.active !== 1) return 0;
          const data = { webhook_id: h.id };
          const e = await tx.outbox.record({ type: "webhook.test", orgId: h.org_id, data }, now);
          const row = { seq: e.seq, id: e.id, org_id: h.org_id, type: e.type, data: JSON.stringify(data), changed_fields: null, created_at: now };
          return (await fanOutEvent(tx, row, now)).length;
        });
      const recordEvents = (org: SeededOrg, n: number) =>
        writer.write(async (tx) => {
          for (let i = 0; i < n; i++) await tx.outbox.record({ type: "ticket.created", orgId: org.orgId, data: { i } }, T0 + i);
        });

      test("the limit of endpoints per organization holds when many units count and insert at once", async () => {
        const max = 3;
        for (let round = 0; round < 4; round++) {
          const org = await w.seed.org(`limit ${round}`);
          const results = await Promise.allSettled(
            Array.from({ length: 10 }, () =>
              writer.write(async (tx) => {
                if ((await tx.webhooks.webhookCount(org.orgId)) >= max) throw new Error("limit reached");
                await tx.webhooks.insertWebhook(hook(org));
              }),
            ),
          );
          expect({ round, inserted: results.filter((r) => r.status === "fulfilled").length }).toEqual({ round, inserted: max });
          expect(results.filter((r) => r.status === "rejected").every((r) => (r as PromiseRejectedResult).reason.message === "limit reached")).toBe(true);
          expect(await store.webhookCount(org.orgId)).toBe(max);
        }
      });

      test("outcomes recorded at once for one endpoint count every failed delivery; outcomes of one delivery count every attempt", async () => {
        const h = await putHook(hook(a));
        const ending = [];
        for (let i = 0; i < 12; i++) ending.push(await putDelivery(delivery(h, { max_attempts: 1 })));
        const retried = await putDelivery(delivery(h, { max_attempts: 100 }));
        const decisions = await Promise.all([...ending.map((d) => record(h, d, 500)), ...Array.from({ length: 10 }, () => record(h, retried, 503))]);
        expect(decisions.filter((d) => d.kind === "give-up").length).toBe(12);
        expect(decisions.filter((d) => d.kind === "retry").length).toBe(10);
        expect((await store.webhook(h.id, a.orgId))!.consecutive_failures).toBe(12);
        expect(await store.deliveryCount(h.id, a.orgId, "failed")).toBe(12);
        const state = await store.deliveryState(retried.id, a.orgId);
        expect({ status: state!.status, attempts: state!.attempt_count }).toEqual({ status: "pending", attempts: 10 });
        expect((await store.attemptsOf(retried.id, a.orgId)).length).toBe(10);
        // Each attempt got its own number.
        expect(
          decisions
            .filter((d) => d.kind === "retry")
            .map((d) => (d as { attempt: number }).attempt)
            .sort((x, y) => x - y),
        ).toEqual(Array.from({ length: 10 }, (_, i) => i + 1));
      });

      test("disabling an endpoint while its outcomes are recorded and events fanned out leaves none of its deliveries pending", async () => {
        for (let round = 0; round < 4; round++) {
          const h = await putHook(hook(a, { events: JSON.stringify(["*"]) }));
          const pending: DeliveryRow[] = [];
          for (let i = 0; i < 6; i++) pending.push(await putDelivery(delivery(h)));
          await recordEvents(a, 3);
          const units: Promise<unknown>[] = [
            // A 410 disables the endpoint and cancels its pending deliveries (when round is odd, a PATCH does).
            round % 2
              ? writer.write(async (tx) => {
                  const w = (await tx.webhooks.webhook(h.id, a.orgId))!;
                  await tx.webhooks.updateWebhook({ ...w, active: 0, disabled_reason: "by PATCH", disabled_at: T0 + 2000, updated_at: T0 + 2000 });
                  await tx.webhooks.cancelPending(h.id, a.orgId, T0 + 2000);
                })
              : record(h, pending[0]!, 410),
            ...pending.slice(1, 4).map((d) => record(h, d, 500)),
            fanOutPending(writer, T0 + 1500, 10),
            ping(h, T0 + 1600),
          ];
          await Promise.all(units);
          expect((await store.webhook(h.id, a.orgId))!.active).toBe(0);
          expect({ round, pending: await store.deliveryCount(h.id, a.orgId, "pending") }).toEqual({ round, pending: 0 });
          expect(await store.dueFor(h.id, Number.MAX_SAFE_INTEGER, 100)).toEqual([]);
        }
      });

      test("test pings to several endpoints of one organization at once all succeed, each delivered to its endpoint alone", async () => {
        const hooks: WebhookRow[] = [];
        for (let i = 0; i < 4; i++) hooks.push(await putHook(hook(a, { events: JSON.stringify(["*"]) })));
        for (let round = 0; round < 3; round++) {
          await recordEvents(a, 2);
          const [queued] = await Promise.all([Promise.all(hooks.map((h) => ping(h, T0 + round))), fanOutPending(writer, T0 + round, 10)]);
          expect(queued).toEqual([1, 1, 1, 1]);
        }
        // Per endpoint: 3 pings, and the 6 ticket events fanned out to every endpoint.
        for (const h of hooks) expect(await store.deliveryCount(h.id, a.orgId, undefined)).toBe(3 + 6);
        expect(await w.store.writer.write((tx) => tx.outbox.undispatched(10))).toEqual([]);
      });

      test("deleting an endpoint while its outcomes are recorded and events fanned out: every unit succeeds and nothing of it is left", async () => {
        for (let round = 0; round < 3; round++) {
          const h = await putHook(hook(a, { events: JSON.stringify(["*"]) }));
          const pending: DeliveryRow[] = [];
          for (let i = 0; i < 5; i++) pending.push(await putDelivery(delivery(h)));
          await recordEvents(a, 3);
          const [deleted, ...rest] = await Promise.all([
            writer.write((tx) => tx.webhooks.deleteWebhook(h.id, a.orgId)),
            ...pending.map((d, i) => record(h, d, i % 2 ? 500 : 200)),
            fanOutPending(writer, T0 + 1500, 10),
          ]);
          expect(deleted).toBe(true);
          expect(rest.length).toBe(6);
          expect(await store.webhook(h.id, a.orgId)).toBeNull();
          for (const d of pending) {
            expect(await store.deliveryState(d.id, a.orgId)).toBeNull();
            expect(await store.attemptsOf(d.id, a.orgId)).toEqual([]);
          }
        }
      });

      test("retention and manual retries of the same ended deliveries at once: a retried delivery is never pruned", async () => {
        for (let round = 0; round < 5; round++) {
          const h = await putHook(hook(a));
          const ended: DeliveryRow[] = [];
          for (let i = 0; i < 8; i++) {
            const d = await putDelivery(delivery(h, { created_at: T0 + i }));
            await store.finishAttempt(d.id, a.orgId, "failed", 4, null, T0 + 100);
            ended.push(d);
          }
          const retried = ended.filter((_, i) => i % 2 === round % 2);
          // A manual retry's unit (retryDelivery): the endpoint, the delivery, then requeue.
          const retry = (d: DeliveryRow) =>
            writer.write(async (tx) => {
              await tx.webhooks.webhook(h.id, a.orgId);
              if (await tx.webhooks.delivery(d.id, h.id, a.orgId)) await tx.webhooks.requeue(d.id, a.orgId, T0 + 600, 5, T0 + 600);
            });
          await Promise.all([...retried.map(retry), writer.write((tx) => tx.webhooks.pruneDeliveries(h.id, T0 + 500, 100))]);
          // Whichever came first, every delivery left is one that was put back in line (pending), and nothing ended is.
          const left = await store.deliveryPage(h.id, a.orgId, undefined, 100, 0);
          expect(left.every((r) => r.status === "pending" && retried.some((d) => d.id === r.id))).toBe(true);
          await writer.write((tx) => tx.webhooks.pruneDeliveries(h.id, T0 + 500, 100));
          expect((await store.deliveryPage(h.id, a.orgId, undefined, 100, 0)).map((r) => r.id).sort()).toEqual(left.map((r) => r.id).sort());
        }
      });

      test("a PATCH of an endpoint while its outcomes are recorded keeps every failure counted", async () => {
        const h = await putHook(hook(a));
        const ending: DeliveryRow[] = [];
        for (let i = 0; i < 10; i++) ending.push(await putDelivery(delivery(h, { max_attempts: 1 })));
        // updateWebhook (the service's PATCH): the endpoint read in the unit, written back with one field changed.
        const patch = (i: number) =>
          writer.write(async (tx) => {
            const row = (await tx.webhooks.webhook(h.id, a.orgId))!;
            await tx.webhooks.updateWebhook({ ...row, description: `edit ${i}`, updated_at: T0 + 3000 + i });
          });
        await Promise.all([...ending.map((d) => record(h, d, 500)), ...Array.from({ length: 6 }, (_, i) => patch(i))]);
        const after = (await store.webhook(h.id, a.orgId))!;
        expect(after.consecutive_failures).toBe(10);
        expect(after.description).toMatch(/^edit \d$/);
      });
    });
  });
}
