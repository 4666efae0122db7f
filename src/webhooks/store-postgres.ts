// The webhooks store on PostgreSQL: the WebhookStore contract over postgres.js, with the row locks that make its read-then-write units safe under READ COMMITTED.
import { hasNul } from "../db/postgres/text";
import type { Sql } from "postgres";
import type { Queryable, StoreMode } from "../db/postgres/writer";
import { events } from "../db/schema/events";
import { columnNames } from "../db/schema/raw-row";
import { type DeliveryStatus, webhookAttempts, webhookDeliveries, webhooks } from "../db/schema/webhooks";
import type { EventRow } from "../events/outbox";
import type { AttemptRow, ClaimedDelivery, ClaimRequest, DeliveryRow, DeliveryState, DueDelivery, NewDelivery, WebhookRow, WebhookStore } from "./store";

/** The channel announceDue notifies on; the payload is `{"webhook_id":…,"due_at":…}`. Heard by postgresSignals. */
export const QUEUE_CHANNEL = "clientcove_queue";

const WEBHOOK_NAMES = columnNames(webhooks);
const DELIVERY_NAMES = columnNames(webhookDeliveries);
const ATTEMPT_NAMES_A = columnNames(webhookAttempts).map((c) => `a.${c}`);
/** The attempt's id is assigned by PostgreSQL (an identity column). */
const ATTEMPT_INSERT_NAMES = columnNames(webhookAttempts).filter((c): c is Exclude<keyof AttemptRow, "id"> => c !== "id");
const EVENT_NAMES_E = columnNames(events)
  .filter((c) => c !== "dispatched_at")
  .map((c) => `e.${c}`);

/**
 * PostgreSQL refuses U+0000 in text; a receiver's response body (raw bytes from outside) may contain it. Replaced by
 * U+FFFD, as the UTF-8 decoding already does for invalid bytes, so the attempt is recorded instead of failing its unit.
 */
const withoutNul = (s: string | null): string | null => (s === null || !s.includes("\u0000") ? s : s.replaceAll("\u0000", "\uFFFD"));

/** Byte order of two ids (ASCII), the order claims lock endpoints in. */
const compareText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** One endpoint's claim inside a transaction (see WebhookStore.claimDue): its advisory lock, then one statement. */
async function claimOne(t: Queryable, c: ClaimRequest): Promise<ClaimedDelivery[]> {
  // A statement of its own, so the claim's snapshot (READ COMMITTED: one per statement) is taken after the lock and
  // sees every lease the endpoint's previous claim committed.
  await t`SELECT pg_advisory_xact_lock(hashtextextended(${`clientcove:claims:${c.webhookId}`}, 0))`;
  return await t<ClaimedDelivery[]>`
    WITH held AS (
      SELECT COUNT(*) AS n FROM webhook_deliveries
      WHERE webhook_id = ${c.webhookId} AND claimed_by IS NOT NULL AND claimed_until > ${c.now} AND claimed_by <> ${c.instanceId}
        AND status = 'pending'
    ), pick AS (
      SELECT d.id FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id
      WHERE d.webhook_id = ${c.webhookId} AND d.status = 'pending' AND d.next_attempt_at <= ${c.now} AND w.active = 1
        AND (d.claimed_by IS NULL OR d.claimed_by = ${c.instanceId} OR d.claimed_until <= ${c.now})
        AND d.id <> ALL(${t.array([...c.except])}::text[])
      ORDER BY d.next_attempt_at, d.id
      LIMIT (SELECT GREATEST(0, LEAST(${c.limit}::bigint, ${c.endpointCap}::bigint - n)) FROM held)
      FOR NO KEY UPDATE OF d SKIP LOCKED
    ), claimed AS (
      UPDATE webhook_deliveries d SET claimed_by = ${c.instanceId}, claimed_until = ${c.now + c.leaseMs}
      FROM pick WHERE d.id = pick.id
      RETURNING d.id, d.webhook_id, d.org_id, d.payload, d.next_attempt_at, d.claimed_by, d.claimed_until
    )
    SELECT c.id, c.webhook_id, c.org_id, c.payload, w.url, w.secret, w.previous_secret, w.previous_secret_expires_at, c.claimed_by, c.claimed_until
    FROM claimed c JOIN webhooks w ON w.id = c.webhook_id
    ORDER BY c.next_attempt_at, c.id`;
}

/**
 * The PostgreSQL implementation on `q` (the pool, or a unit's transaction: see StoreMode).
 *
 * Locks, in `tx` mode (PostgreSQL runs READ COMMITTED with many writers, where SQLite has one), always an endpoint
 * before its deliveries, so no two units wait for each other:
 * - `webhook` locks the endpoint (FOR NO KEY UPDATE): every unit that reads it before writing it (PATCH, rotate, the
 *   test ping, a manual retry, an outcome's failure count) works on the row as it is.
 * - `deliveryState` (an outcome's first read) locks the delivery's endpoint, then the delivery — the order of PATCH,
 *   a manual retry and a delete (an endpoint, then its deliveries) — so outcomes of one endpoint, a disable and a
 *   delete queue up behind each other instead of deadlocking, and each counts on the rows as they are.
 * - `delivery` locks the delivery (a manual retry, after its endpoint).
 * - `webhookCount` takes a per-organization advisory lock first, so a unit that counts before it inserts (the limit
 *   of endpoints per organization) sees every endpoint a concurrent unit inserted.
 * - `insertDelivery` inserts only for an endpoint that is active at that moment, share-locking it (see there).
 * - `pruneDeliveries` skips deliveries another unit holds (as the outbox's `undispatched` skips events).
 * - `claimDue` (a short transaction of its own) takes a per-endpoint advisory lock (claims of one endpoint, from any
 *   instance, one at a time, so the count of live leases it checks the limit against is exact) and skips delivery
 *   rows another unit has locked; it waits on nothing else, and locks its endpoints in id order, so claims cannot
 *   deadlock. `releaseClaim` is one statement.
 */
export function postgresWebhookStore(q: Queryable, mode: StoreMode): WebhookStore {
  const tx = mode === "tx";
  const webhookColumns = q(WEBHOOK_NAMES);
  const deliveryColumns = q(DELIVERY_NAMES);
  const attemptColumnsA = q(ATTEMPT_NAMES_A);
  const eventColumnsE = q(EVENT_NAMES_E);

  return {
    // ── Endpoints.
    async insertWebhook(r: WebhookRow): Promise<void> {
      await q`INSERT INTO webhooks ${q(r, WEBHOOK_NAMES)}`;
    },
    async webhook(id: string, orgId: string): Promise<WebhookRow | null> {
      if (hasNul(id)) return null;
      const rows = tx
        ? await q<WebhookRow[]>`SELECT ${webhookColumns} FROM webhooks WHERE id = ${id} AND org_id = ${orgId} FOR NO KEY UPDATE`
        : await q<WebhookRow[]>`SELECT ${webhookColumns} FROM webhooks WHERE id = ${id} AND org_id = ${orgId}`;
      return rows[0] ?? null;
    },
    async webhookPage(orgId: string, limit: number, offset: number): Promise<WebhookRow[]> {
      return await q<WebhookRow[]>`
        SELECT ${webhookColumns} FROM webhooks WHERE org_id = ${orgId} ORDER BY created_at DESC, id DESC LIMIT ${limit} OFFSET ${offset}`;
    },
    async webhookCount(orgId: string): Promise<number> {
      // In a unit the count decides an insert: serialize the organization's counting units first. The count is a
      // statement of its own, so its snapshot is taken after the lock (READ COMMITTED: one snapshot per statement).
      if (tx) await q`SELECT pg_advisory_xact_lock(hashtextextended(${`clientcove:webhooks:${orgId}`}, 0))`;
      const [row] = await q<{ n: number }[]>`SELECT COUNT(*) AS n FROM webhooks WHERE org_id = ${orgId}`;
      return row?.n ?? 0;
    },
    async activeWebhooksOf(orgId: string): Promise<Pick<WebhookRow, "id" | "events">[]> {
      return await q<Pick<WebhookRow, "id" | "events">[]>`SELECT id, events FROM webhooks WHERE org_id = ${orgId} AND active = 1`;
    },
    async updateWebhook(r: WebhookRow): Promise<boolean> {
      const result = await q`
        UPDATE webhooks SET url = ${r.url}, events = ${r.events}, description = ${r.description}, active = ${r.active},
          disabled_reason = ${r.disabled_reason}, disabled_at = ${r.disabled_at}, consecutive_failures = ${r.consecutive_failures},
          updated_at = ${r.updated_at}
        WHERE id = ${r.id} AND org_id = ${r.org_id}`;
      return result.count > 0;
    },
    async rotateSecret(id: string, orgId: string, secret: string, previousExpiresAt: number, now: number): Promise<boolean> {
      if (hasNul(id)) return false;
      const result = await q`
        UPDATE webhooks SET previous_secret = secret, previous_secret_expires_at = ${previousExpiresAt}, secret = ${secret}, updated_at = ${now}
        WHERE id = ${id} AND org_id = ${orgId}`;
      return result.count > 0;
    },
    async deleteWebhook(id: string, orgId: string): Promise<boolean> {
      if (hasNul(id)) return false;
      // Its deliveries and their attempts go with it (ON DELETE CASCADE), locked after the endpoint.
      const result = await q`DELETE FROM webhooks WHERE id = ${id} AND org_id = ${orgId}`;
      return result.count > 0;
    },
    async disableWebhook(id: string, orgId: string, reason: string, now: number): Promise<boolean> {
      // One statement, so atomic on the pool too (a data-modifying WITH always runs to completion): the endpoint
      // first, since the deliveries' update reads its result.
      const [row] = await q<{ n: number }[]>`
        WITH w AS (
          UPDATE webhooks SET active = 0, disabled_reason = ${reason}, disabled_at = ${now}, updated_at = ${now}
          WHERE id = ${id} AND org_id = ${orgId} RETURNING id
        ), c AS (
          UPDATE webhook_deliveries SET status = 'cancelled', next_attempt_at = NULL, updated_at = ${now}
          WHERE webhook_id IN (SELECT id FROM w) AND org_id = ${orgId} AND status = 'pending'
        )
        SELECT COUNT(*) AS n FROM w`;
      return (row?.n ?? 0) > 0;
    },
    async setConsecutiveFailures(id: string, orgId: string, n: number): Promise<void> {
      // The guard skips the write when nothing changes (every success resets the count).
      await q`UPDATE webhooks SET consecutive_failures = ${n} WHERE id = ${id} AND org_id = ${orgId} AND consecutive_failures != ${n}`;
    },

    // ── Deliveries.
    async insertDelivery(r: NewDelivery): Promise<void> {
      // Callers insert for an endpoint they have just read as active in the same unit. Under READ COMMITTED a
      // concurrent unit may have disabled or deleted it since (SQLite's single writer rules that out), so the row is
      // inserted only if the endpoint is active now, share-locked until this unit commits: a concurrent disable waits
      // for this unit and then cancels the new delivery, or this insert waits for it and makes none — as if one unit
      // had run after the other. (A deleted endpoint is skipped the same way instead of failing the foreign key.)
      //
      // Every instance hears of the new due delivery (QUEUE_CHANNEL, on commit), not only the one fanning out, so
      // they share the work; PostgreSQL folds the identical notifications of one transaction (one per endpoint and
      // due time) into one.
      await q`
        WITH ins AS (
          INSERT INTO webhook_deliveries (id, org_id, webhook_id, event_id, event_type, payload, status, attempt_count, max_attempts,
            next_attempt_at, created_at, updated_at)
          SELECT ${r.id}::text, ${r.org_id}::text, w.id, ${r.event_id}::text, ${r.event_type}::text, ${r.payload}::text, 'pending', 0,
            ${r.max_attempts}::bigint, ${r.next_attempt_at}::bigint, ${r.created_at}::bigint, ${r.updated_at}::bigint
          FROM webhooks w WHERE w.id = ${r.webhook_id} AND w.active = 1
          FOR SHARE
          RETURNING webhook_id, next_attempt_at
        )
        SELECT pg_notify(${QUEUE_CHANNEL}, json_build_object('webhook_id', webhook_id, 'due_at', next_attempt_at)::text) FROM ins`;
    },
    async delivery(id: string, webhookId: string, orgId: string): Promise<DeliveryRow | null> {
      if (hasNul(id, webhookId)) return null;
      const rows = tx
        ? await q<DeliveryRow[]>`
            SELECT ${deliveryColumns} FROM webhook_deliveries WHERE id = ${id} AND webhook_id = ${webhookId} AND org_id = ${orgId} FOR NO KEY UPDATE`
        : await q<DeliveryRow[]>`SELECT ${deliveryColumns} FROM webhook_deliveries WHERE id = ${id} AND webhook_id = ${webhookId} AND org_id = ${orgId}`;
      return rows[0] ?? null;
    },
    async deliveryState(id: string, orgId: string): Promise<DeliveryState | null> {
      if (hasNul(id)) return null;
      const rows = tx
        ? // The endpoint is locked first (inside the CTE, read before the delivery's own lock is taken), then the delivery.
          await q<DeliveryState[]>`
            WITH w AS MATERIALIZED (
              SELECT id FROM webhooks WHERE id = (SELECT webhook_id FROM webhook_deliveries WHERE id = ${id} AND org_id = ${orgId})
              FOR NO KEY UPDATE
            )
            SELECT id, webhook_id, status, attempt_count, max_attempts, claimed_by, claimed_until FROM webhook_deliveries
            WHERE id = ${id} AND org_id = ${orgId} AND webhook_id IN (SELECT id FROM w)
            FOR NO KEY UPDATE`
        : await q<DeliveryState[]>`
            SELECT id, webhook_id, status, attempt_count, max_attempts, claimed_by, claimed_until FROM webhook_deliveries WHERE id = ${id} AND org_id = ${orgId}`;
      return rows[0] ?? null;
    },
    async deliveryPage(webhookId: string, orgId: string, status: DeliveryStatus | undefined, limit: number, offset: number): Promise<DeliveryRow[]> {
      if (hasNul(webhookId)) return [];
      return status
        ? await q<DeliveryRow[]>`
            SELECT ${deliveryColumns} FROM webhook_deliveries WHERE webhook_id = ${webhookId} AND org_id = ${orgId} AND status = ${status}
            ORDER BY created_at DESC, id DESC LIMIT ${limit} OFFSET ${offset}`
        : await q<DeliveryRow[]>`
            SELECT ${deliveryColumns} FROM webhook_deliveries WHERE webhook_id = ${webhookId} AND org_id = ${orgId}
            ORDER BY created_at DESC, id DESC LIMIT ${limit} OFFSET ${offset}`;
    },
    async deliveryCount(webhookId: string, orgId: string, status: DeliveryStatus | undefined): Promise<number> {
      if (hasNul(webhookId)) return 0;
      const [row] = status
        ? await q<{ n: number }[]>`SELECT COUNT(*) AS n FROM webhook_deliveries WHERE webhook_id = ${webhookId} AND org_id = ${orgId} AND status = ${status}`
        : await q<{ n: number }[]>`SELECT COUNT(*) AS n FROM webhook_deliveries WHERE webhook_id = ${webhookId} AND org_id = ${orgId}`;
      return row?.n ?? 0;
    },
    async finishAttempt(id: string, orgId: string, status: DeliveryStatus, attemptCount: number, nextAttemptAt: number | null, now: number): Promise<boolean> {
      const result = await q`
        UPDATE webhook_deliveries SET status = ${status}, attempt_count = ${attemptCount}, next_attempt_at = ${nextAttemptAt}, updated_at = ${now},
          claimed_by = NULL, claimed_until = NULL
        WHERE id = ${id} AND org_id = ${orgId}`;
      return result.count > 0;
    },
    async cancelPending(webhookId: string, orgId: string, now: number): Promise<number> {
      const result = await q`
        UPDATE webhook_deliveries SET status = 'cancelled', next_attempt_at = NULL, updated_at = ${now}
        WHERE webhook_id = ${webhookId} AND org_id = ${orgId} AND status = 'pending'`;
      return result.count;
    },
    async requeue(id: string, orgId: string, nextAttemptAt: number, maxAttempts: number, now: number): Promise<boolean> {
      const result = await q`
        UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = ${nextAttemptAt}, max_attempts = ${maxAttempts}, updated_at = ${now}
        WHERE id = ${id} AND org_id = ${orgId}`;
      return result.count > 0;
    },
    async requeueCancelledSince(webhookId: string, orgId: string, since: number, extraAttempts: number, now: number): Promise<number> {
      const result = await q`
        UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = ${now}, max_attempts = attempt_count + ${extraAttempts}, updated_at = ${now}
        WHERE webhook_id = ${webhookId} AND org_id = ${orgId} AND status = 'cancelled' AND updated_at >= ${since}`;
      return result.count;
    },
    async missedEvents(webhookId: string, orgId: string, since: number): Promise<EventRow[]> {
      // Uses events_org_created and deliveries_event.
      return await q<EventRow[]>`
        SELECT ${eventColumnsE} FROM events e
        WHERE e.org_id = ${orgId} AND e.created_at >= ${since} AND e.dispatched_at IS NOT NULL AND e.type != 'webhook.test'
          AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = e.id AND d.webhook_id = ${webhookId})
        ORDER BY e.seq`;
    },
    async announceDue(webhookId: string, dueAt: number): Promise<void> {
      // Delivered to every instance's listeners when the unit commits; never if it rolls back.
      await q`SELECT pg_notify(${QUEUE_CHANNEL}, ${JSON.stringify({ webhook_id: webhookId, due_at: dueAt })})`;
    },

    // ── Attempts.
    async insertAttempt(a: Omit<AttemptRow, "id">): Promise<void> {
      const row = { ...a, error: withoutNul(a.error), response_body: withoutNul(a.response_body) };
      await q`INSERT INTO webhook_attempts ${q(row, ATTEMPT_INSERT_NAMES)}`;
    },
    async attemptsOf(deliveryId: string, orgId: string): Promise<AttemptRow[]> {
      if (hasNul(deliveryId)) return [];
      // Through the delivery, for its organization (attempts_delivery, then the delivery's primary key).
      return await q<AttemptRow[]>`
        SELECT ${attemptColumnsA} FROM webhook_attempts a JOIN webhook_deliveries d ON d.id = a.delivery_id
        WHERE a.delivery_id = ${deliveryId} AND d.org_id = ${orgId} ORDER BY a.id`;
    },

    // ── The dispatcher and retention: cross-organization by design.
    async webhookOrg(id: string): Promise<string | null> {
      if (hasNul(id)) return null;
      const [row] = await q<{ org_id: string }[]>`SELECT org_id FROM webhooks WHERE id = ${id}`;
      return row?.org_id ?? null;
    },
    async activeWithNextDue(): Promise<{ id: string; next: number | null }[]> {
      return await q<{ id: string; next: number | null }[]>`
        SELECT w.id, (SELECT MIN(d.next_attempt_at) FROM webhook_deliveries d WHERE d.webhook_id = w.id AND d.status = 'pending') AS next
        FROM webhooks w WHERE w.active = 1`;
    },
    async dueFor(webhookId: string, now: number, limit: number): Promise<DueDelivery[]> {
      // Uses deliveries_webhook_due (webhook_id, status, next_attempt_at, id): only this endpoint's due rows, in order.
      return await q<DueDelivery[]>`
        SELECT d.id, d.webhook_id, d.org_id, d.payload, w.url, w.secret, w.previous_secret, w.previous_secret_expires_at
        FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id
        WHERE d.webhook_id = ${webhookId} AND d.status = 'pending' AND d.next_attempt_at <= ${now} AND w.active = 1
        ORDER BY d.next_attempt_at, d.id LIMIT ${limit}`;
    },
    async claimDue(claims: readonly ClaimRequest[]): Promise<ClaimedDelivery[][]> {
      const out = claims.map((): ClaimedDelivery[] => []);
      // Endpoints in id order: each one's advisory lock is held until the claim commits, so every claim (any
      // instance's) takes them in the same order.
      const order = [...claims.keys()].filter((i) => claims[i]!.limit > 0).sort((x, y) => compareText(claims[x]!.webhookId, claims[y]!.webhookId));
      if (order.length === 0) return out;
      const run = async (t: Queryable) => {
        for (const i of order) out[i] = await claimOne(t, claims[i]!);
        return out;
      };
      // A short transaction of its own (the lease is committed before any attempt goes out), or the unit's.
      return tx ? await run(q) : ((await (q as Sql).begin((t) => run(t))) as ClaimedDelivery[][]);
    },
    async releaseClaim(id: string, instanceId: string): Promise<boolean> {
      const result = await q`UPDATE webhook_deliveries SET claimed_by = NULL, claimed_until = NULL WHERE id = ${id} AND claimed_by = ${instanceId}`;
      return result.count > 0;
    },
    async nextDueAfter(webhookId: string, now: number, instanceId: string): Promise<number | null> {
      // The soonest pending due time after now (deliveries_webhook_due), or the end of another instance's live lease
      // (deliveries_webhook_claimed).
      const [row] = await q<{ next: number | null }[]>`
        SELECT LEAST(
          (SELECT MIN(next_attempt_at) FROM webhook_deliveries WHERE webhook_id = ${webhookId} AND status = 'pending' AND next_attempt_at > ${now}),
          (SELECT MIN(claimed_until) FROM webhook_deliveries
           WHERE webhook_id = ${webhookId} AND claimed_by IS NOT NULL AND claimed_until > ${now} AND claimed_by <> ${instanceId} AND status = 'pending')
        ) AS next`;
      return row?.next ?? null;
    },
    async webhookIds(): Promise<string[]> {
      return (await q<{ id: string }[]>`SELECT id FROM webhooks`).map((r) => r.id);
    },
    async pruneDeliveries(webhookId: string, cutoff: number, limit: number): Promise<number> {
      // By primary key (no rowid on PostgreSQL). Rows another unit holds (an outcome being recorded, a manual retry)
      // are skipped, and the outer condition is checked again on the row as it is when deleted: a delivery put back
      // in line meanwhile is never deleted.
      const result = await q`
        DELETE FROM webhook_deliveries WHERE id IN (
          SELECT id FROM webhook_deliveries WHERE webhook_id = ${webhookId} AND created_at < ${cutoff} AND status != 'pending'
          LIMIT ${limit} FOR UPDATE SKIP LOCKED
        ) AND status != 'pending'`;
      return result.count;
    },
  };
}
