// The webhooks store contract (endpoints, deliveries and their attempts log), written against the interface so every engine runs it unchanged.
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import type { DeliveryStatus } from "../../src/db/schema/webhooks";
import { DELIVERY_STATUSES } from "../../src/db/schema/webhooks";
import { newId } from "../../src/lib/ids";
import type { QueueSignal } from "../../src/webhooks/queue-signal";
import type { AttemptRow, DeliveryRow, NewDelivery, WebhookRow, WebhookStore } from "../../src/webhooks/store";
import { compareIds, expectSameRow, newestFirst, type Open, type Opened, type SeededOrg, T0, TEXTS } from "./fixtures";

const byNewest = newestFirst<{ id: string; created_at: number }>((r) => r.created_at);

/** What the suite runs against: the engine's webhooks store and the signal its `announceDue` reaches. */
export interface WebhooksUnderTest {
  webhooks: WebhookStore;
  queued: QueueSignal;
}

export function describeWebhooksStoreContract(engineName: string, open: Open<WebhooksUnderTest>) {
  describe(`webhooks store contract (${engineName})`, () => {
    let w: Opened<WebhooksUnderTest>;
    let store: WebhookStore;
    let queued: QueueSignal;
    let a: SeededOrg;
    let b: SeededOrg;
    beforeEach(async () => {
      w = await open();
      store = w.store.webhooks;
      queued = w.store.queued;
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

    describe("deliveries", () => {
      test("insertDelivery stores a pending, unattempted delivery; delivery() returns it exactly for its endpoint and organization only", async () => {
        const h = await putHook(hook(a));
        const other = await putHook(hook(a));
        const d = await putDelivery(
          delivery(h, { payload: JSON.stringify({ text: TEXTS }), max_attempts: 9, next_attempt_at: T0 + 1, created_at: T0 + 2, updated_at: T0 + 3 }),
        );
        expectSameRow(await store.delivery(d.id, h.id, a.orgId), d);
        expect(await store.deliveryState(d.id, a.orgId)).toEqual({ id: d.id, webhook_id: h.id, status: "pending", attempt_count: 0, max_attempts: 9 });
        expect(await store.delivery(d.id, other.id, a.orgId)).toBeNull();
        expect(await store.delivery(d.id, h.id, b.orgId)).toBeNull();
        expect(await store.deliveryState(newId("dlv"), a.orgId)).toBeNull();
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
        expect(await store.nextDueAfter(h.id, T0 + 40)).toBe(T0 + 50);
        expect(await store.nextDueAfter(h.id, T0 + 50)).toBeNull();
        expect(await store.nextDueAfter(h.id, T0)).toBe(T0 + 20);
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

      test("announceDue is heard by onQueued listeners after the call, with the endpoint and the due time, until they unsubscribe", async () => {
        const h = await putHook(hook(a));
        const heard: [string, number][] = [];
        let wake!: () => void;
        const first = new Promise<void>((resolve) => (wake = resolve));
        const off = queued.onQueued((webhookId, at) => {
          heard.push([webhookId, at]);
          wake();
        });
        await store.announceDue(h.id, T0 + 7);
        // Never inside the call (on SQLite it would run while the unit's batch is still open).
        expect(heard).toEqual([]);
        await first;
        expect(heard).toEqual([[h.id, T0 + 7]]);
        off();
        await store.announceDue(h.id, T0 + 8);
        for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
        expect(heard).toEqual([[h.id, T0 + 7]]);
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
  });
}
