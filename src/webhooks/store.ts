// The webhooks store: its contract (endpoints, deliveries, attempts; asynchronous, what the service and the dispatcher use) and its SQLite implementation (statements prepared once per database).
import type { Database } from "bun:sqlite";
import { asyncStore, type Guard } from "../db/async-store";
import { perDatabase } from "../db/per-database";
import { type EventType, events } from "../db/schema/events";
import { columnList, columnNames, placeholders, type RawRow } from "../db/schema/raw-row";
import { type DeliveryStatus, webhookAttempts, webhookDeliveries, webhooks } from "../db/schema/webhooks";
import type { EventRow } from "../events/outbox";
import { announceOn } from "./queue-signal";

export type { EventRow } from "../events/outbox";

/** Rows as SQL reads them (snake_case keys, integer times, `active` 0/1), derived from the schema. */
export type WebhookRow = RawRow<typeof webhooks>;
export type DeliveryRow = RawRow<typeof webhookDeliveries>;
export type AttemptRow = RawRow<typeof webhookAttempts>;
/** A delivery as fan-out, a test ping or a replay creates it: pending and not yet attempted. */
export type NewDelivery = Omit<DeliveryRow, "status" | "attempt_count">;
/**
 * What recording an outcome needs to know of the delivery as it is now, with its claim: who holds it and until when
 * (null when nobody does), so an outcome can tell whether its attempt is still the holder's. The claim is no column of
 * the shared schema: PostgreSQL keeps it in two columns of its own, SQLite in memory (see claimDue).
 */
export type DeliveryState = Pick<DeliveryRow, "id" | "webhook_id" | "status" | "attempt_count" | "max_attempts"> & {
  claimed_by: string | null;
  claimed_until: number | null;
};

/** A due delivery with what the attempt needs from its endpoint. */
export type DueDelivery = Pick<DeliveryRow, "id" | "webhook_id" | "org_id" | "payload"> &
  Pick<WebhookRow, "url" | "secret" | "previous_secret" | "previous_secret_expires_at">;

/** A due delivery this instance has just claimed: the lease it holds on it (`claimed_by`, `claimed_until`). */
export type ClaimedDelivery = DueDelivery & { claimed_by: string; claimed_until: number };

/** What one claim of one endpoint asks for (`claimDue`). */
export interface ClaimRequest {
  webhookId: string;
  /** The claiming instance (random per process). */
  instanceId: string;
  now: number;
  /** The lease: no other instance may attempt a claimed delivery before `now + leaseMs`. */
  leaseMs: number;
  /**
   * What the per-endpoint limit (webhookEndpointConcurrency) leaves this instance after its own attempts there; the
   * live leases of other instances count against it too, so the limit holds across instances.
   */
  endpointCap: number;
  /** At most this many (the claiming instance's own free slots). */
  limit: number;
  /** Deliveries the claiming instance already holds (on the wire or awaiting their write): never claimed again, even when their lease has run out. */
  except: readonly string[];
}

/**
 * Webhook endpoints, their deliveries (one per event and endpoint) and the attempts log. Every method a request
 * reaches takes the organization id, and no call of one organization reads or changes another's rows. The
 * dispatcher's and retention's methods (the last group) are cross-organization by design: one background worker
 * serves every tenant's endpoints, and it claims work by endpoint (its fairness between organizations lives in
 * dispatch-claim.ts, not in SQL). Used inside a writer unit (its `tx`), calls run in that unit's transaction; used
 * elsewhere, they see committed rows only.
 */
export interface WebhookStore {
  // ── Endpoints.
  insertWebhook(r: WebhookRow): Promise<void>;
  webhook(id: string, orgId: string): Promise<WebhookRow | null>;
  /** A page in list order (created_at DESC, id DESC), by offset. */
  webhookPage(orgId: string, limit: number, offset: number): Promise<WebhookRow[]>;
  webhookCount(orgId: string): Promise<number>;
  /** The organization's active endpoints and what they subscribe to (fan-out's targets). */
  activeWebhooksOf(orgId: string): Promise<Pick<WebhookRow, "id" | "events">[]>;
  /** Writes the editable fields (url, events, description, active, disabled_*, consecutive_failures, updated_at). True when a row was updated. */
  updateWebhook(r: WebhookRow): Promise<boolean>;
  /** The current secret becomes the previous one (signing beside the new one until `previousExpiresAt`). True when a row was updated. */
  rotateSecret(id: string, orgId: string, secret: string, previousExpiresAt: number, now: number): Promise<boolean>;
  /** Deletes the endpoint with its deliveries and their attempts. True when it existed. */
  deleteWebhook(id: string, orgId: string): Promise<boolean>;
  /** Disables the endpoint with `reason` and cancels its pending deliveries (use inside one unit). True when it existed. */
  disableWebhook(id: string, orgId: string, reason: string, now: number): Promise<boolean>;
  setConsecutiveFailures(id: string, orgId: string, n: number): Promise<void>;

  // ── Deliveries.
  /** A new delivery: pending, not yet attempted. */
  /** Queues a delivery, only while its endpoint exists and is active (otherwise nothing is inserted). */
  insertDelivery(r: NewDelivery): Promise<void>;
  delivery(id: string, webhookId: string, orgId: string): Promise<DeliveryRow | null>;
  deliveryState(id: string, orgId: string): Promise<DeliveryState | null>;
  /** A page of the endpoint's deliveries (all, or of one status) in list order (created_at DESC, id DESC), by offset. */
  deliveryPage(webhookId: string, orgId: string, status: DeliveryStatus | undefined, limit: number, offset: number): Promise<DeliveryRow[]>;
  deliveryCount(webhookId: string, orgId: string, status: DeliveryStatus | undefined): Promise<number>;
  /**
   * Counts an attempt: the new status, attempt count and next due time (null once it has ended), and so ends the
   * attempt's claim once it commits (the caller, recordOutcome, has checked in the same unit that the claim is its
   * own). True when a row was updated.
   */
  finishAttempt(id: string, orgId: string, status: DeliveryStatus, attemptCount: number, nextAttemptAt: number | null, now: number): Promise<boolean>;
  /** Cancels the endpoint's pending deliveries; returns how many. */
  cancelPending(webhookId: string, orgId: string, now: number): Promise<number>;
  /** Puts the delivery back in line (pending, due at `nextAttemptAt`, with `maxAttempts`). True when a row was updated. */
  requeue(id: string, orgId: string, nextAttemptAt: number, maxAttempts: number, now: number): Promise<boolean>;
  /** Requeues the endpoint's deliveries cancelled at or after `since`, due now, with `extraAttempts` more than they made; returns how many. */
  requeueCancelledSince(webhookId: string, orgId: string, since: number, extraAttempts: number, now: number): Promise<number>;
  /** The organization's events fanned out at or after `since` (test pings aside) this endpoint has no delivery for, in record order. */
  missedEvents(webhookId: string, orgId: string, since: number): Promise<EventRow[]>;
  /**
   * Tells the dispatcher (QueueSignal.onQueued) that the endpoint has a delivery due at `dueAt`, once this unit has
   * committed: for deliveries made due outside fan-out (retry, test ping, replay).
   */
  announceDue(webhookId: string, dueAt: number): Promise<void>;

  // ── Attempts.
  /** Appends to the attempts log (the dispatcher's, for a delivery it claimed); the id is assigned, increasing. */
  insertAttempt(a: Omit<AttemptRow, "id">): Promise<void>;
  /** The delivery's attempts in the order made (by id). */
  attemptsOf(deliveryId: string, orgId: string): Promise<AttemptRow[]>;

  // ── The dispatcher and retention: cross-organization by design (see above).
  /** The organization of an endpoint (any state), or null when it no longer exists. */
  webhookOrg(id: string): Promise<string | null>;
  /**
   * Every active endpoint with its soonest pending due time (null: nothing pending): what to resume at start. A
   * delivery another instance holds counts at its `next_attempt_at` all the same: the claim then finds it held and
   * learns when the lease ends (nextDueAfter).
   */
  activeWithNextDue(): Promise<{ id: string; next: number | null }[]>;
  /**
   * The claim's plan (a read, claims nothing): up to `limit` pending deliveries of an active endpoint due by `now`,
   * soonest first and, among those due at the same moment, by id — a defined order, so every engine claims the same ones.
   */
  dueFor(webhookId: string, now: number, limit: number): Promise<DueDelivery[]>;
  /**
   * The claim, per request (one endpoint each; the answer has one list per request, in order): takes up to `limit`
   * of the endpoint's due deliveries in dueFor's order, skipping those another claimer holds a live lease on
   * (`claimed_until > now`) and those in `except`, and no more than `endpointCap` minus the live leases other claimers
   * hold on the endpoint; marks them claimed by `instanceId` until `now + leaseMs`, atomically with respect to every
   * other claim of the endpoint, and returns them in that order. A lease of `instanceId` itself that is not in
   * `except` is a leftover (its attempt ended) and is claimed like a free delivery. A lease that ran out stays its
   * holder's (deliveryState shows it) until another claim takes the delivery.
   *
   * Called outside a writer unit; the claim is an engine concern, and what it guarantees differs:
   * - PostgreSQL (any number of instances on one database): the lease is in the database (claimed_by, claimed_until),
   *   written by a short transaction of its own with a per-endpoint advisory lock, so the guarantees hold across
   *   instances and across a crash (another instance takes the delivery over once the lease has run out).
   * - SQLite (one process per data dir, by its lock): the lease is in memory, shared by every view of the connection,
   *   and costs no write. The guarantees hold between any claimers of this process; a restart forgets every lease, so
   *   what the dead process had on the wire is claimable at once, as it must be. A lease ends when an outcome that
   *   counts the attempt commits (the delivery's attempt count moves on), so a rolled-back outcome leaves it held.
   */
  claimDue(claims: readonly ClaimRequest[]): Promise<ClaimedDelivery[][]>;
  /**
   * Ends `instanceId`'s claim on the delivery (an attempt dropped unrecorded: it stays pending, due as it was), outside
   * a writer unit, as claimDue. False when it held none.
   */
  releaseClaim(id: string, instanceId: string): Promise<boolean>;
  /**
   * The soonest moment after `now` at which one of the endpoint's pending deliveries may be claimed by `instanceId`:
   * a pending due time, or the end of a live lease another instance holds (a crashed instance's deliveries are taken
   * over then). Null when there is none.
   */
  nextDueAfter(webhookId: string, now: number, instanceId: string): Promise<number | null>;
  /** Every endpoint's id (retention walks them one by one). */
  webhookIds(): Promise<string[]>;
  /** Deletes up to `limit` of the endpoint's ended deliveries created before `cutoff` (pending ones stay); returns how many. */
  pruneDeliveries(webhookId: string, cutoff: number, limit: number): Promise<number>;
}

const WEBHOOK_NAMES = columnNames(webhooks);
const WEBHOOK_COLUMNS = columnList(webhooks);
const DELIVERY_NAMES = columnNames(webhookDeliveries);
const DELIVERY_COLUMNS = columnList(webhookDeliveries);
const ATTEMPT_COLUMNS_A = columnList(webhookAttempts, "a");
/** The attempt's id is assigned by SQLite (autoincrement). */
const ATTEMPT_INSERT_NAMES = columnNames(webhookAttempts).filter((c): c is Exclude<keyof AttemptRow, "id"> => c !== "id");
const EVENT_COLUMNS_E = columnNames(events)
  .filter((c) => c !== "dispatched_at")
  .map((c) => `e.${c}`)
  .join(", ");

/** Values of the schema's closed lists as SQL literals: a typo is a type error, not a query that matches nothing. */
const statusSql = (s: DeliveryStatus) => `'${s}'`;
const eventTypeSql = (t: EventType) => `'${t}'`;

/**
 * SQLite's claims (see WebhookStore.claimDue): one lease per delivery, in memory. A lease is taken at the delivery's
 * attempt count; an outcome that counts the attempt commits a higher one, which ends it. So nothing is written to end
 * a lease, and an outcome whose batch rolled back leaves it held, as on PostgreSQL.
 */
interface Lease {
  by: string;
  until: number;
  attempts: number;
}

/** The leases of one connection: endpoint → delivery → lease. */
function leaseBook(state: (id: string) => Pick<DeliveryRow, "status" | "attempt_count"> | null) {
  const byEndpoint = new Map<string, Map<string, Lease>>();
  const endpointOf = new Map<string, string>();

  /** The lease if it still holds the delivery as it is now (no outcome has counted the attempt since), forgetting it otherwise. */
  function live(webhookId: string, id: string, lease: Lease): Pick<DeliveryRow, "status" | "attempt_count"> | null {
    const row = state(id);
    if (row && row.attempt_count === lease.attempts) return row;
    forget(webhookId, id);
    return null;
  }

  function forget(webhookId: string, id: string) {
    const held = byEndpoint.get(webhookId);
    if (!held) return;
    held.delete(id);
    endpointOf.delete(id);
    if (held.size === 0) byEndpoint.delete(webhookId);
  }

  /** Other claimers' leases on the endpoint: every other claimer's live one to pass over, and how many of them count against its limit (pending). */
  function othersOn(webhookId: string, instanceId: string, except: ReadonlySet<string>, now: number) {
    const skip = new Set<string>();
    let others = 0;
    for (const [id, lease] of byEndpoint.get(webhookId) ?? []) {
      if (except.has(id)) continue;
      // Its own, not in `except`: its attempt has ended (recorded, or dropped and released). Nothing to keep.
      if (lease.by === instanceId) {
        forget(webhookId, id);
        continue;
      }
      const row = live(webhookId, id, lease);
      // Ran out (its holder may be stuck): claimable, and its holder's until another claim takes the delivery.
      if (!row || lease.until <= now) continue;
      skip.add(id);
      if (row.status === "pending") others++;
    }
    return { skip, others };
  }

  return {
    othersOn,
    /** The delivery's lease as deliveryState shows it (`attempts`: its attempt count now), or null. */
    current(webhookId: string, id: string, attempts: number): Lease | null {
      const lease = byEndpoint.get(webhookId)?.get(id);
      if (!lease) return null;
      if (lease.attempts === attempts) return lease;
      forget(webhookId, id);
      return null;
    },
    set(webhookId: string, id: string, lease: Lease) {
      let held = byEndpoint.get(webhookId);
      if (!held) byEndpoint.set(webhookId, (held = new Map()));
      held.set(id, lease);
      endpointOf.set(id, webhookId);
    },
    release(id: string, instanceId: string): boolean {
      const webhookId = endpointOf.get(id);
      const lease = webhookId === undefined ? undefined : byEndpoint.get(webhookId)?.get(id);
      if (!lease || lease.by !== instanceId) return false;
      forget(webhookId!, id);
      return true;
    },
    /** When the soonest live lease of another claimer on the endpoint ends (after `now`), or null. */
    nextEndOn(webhookId: string, instanceId: string, now: number): number | null {
      let next: number | null = null;
      for (const [id, lease] of byEndpoint.get(webhookId) ?? []) {
        if (lease.by === instanceId || lease.until <= now) continue;
        const row = live(webhookId, id, lease);
        if (row?.status === "pending" && (next === null || lease.until < next)) next = lease.until;
      }
      return next;
    },
  };
}

function buildStore(db: Database) {
  const q = {
    insertWebhook: db.prepare(`INSERT INTO webhooks (${WEBHOOK_COLUMNS}) VALUES (${placeholders(webhooks)})`),
    webhookById: db.prepare<WebhookRow, [string, string]>(`SELECT ${WEBHOOK_COLUMNS} FROM webhooks WHERE id = ? AND org_id = ?`),
    webhookPage: db.prepare<WebhookRow, [string, number, number]>(
      `SELECT ${WEBHOOK_COLUMNS} FROM webhooks WHERE org_id = ? ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?`,
    ),
    webhookCount: db.prepare<{ n: number }, [string]>(`SELECT COUNT(*) AS n FROM webhooks WHERE org_id = ?`),
    activeForOrg: db.prepare<Pick<WebhookRow, "id" | "events">, [string]>(`SELECT id, events FROM webhooks WHERE org_id = ? AND active = 1`),
    updateWebhook: db.prepare(
      `UPDATE webhooks SET url = ?, events = ?, description = ?, active = ?, disabled_reason = ?, disabled_at = ?, consecutive_failures = ?, updated_at = ? WHERE id = ? AND org_id = ?`,
    ),
    rotateSecret: db.prepare(
      `UPDATE webhooks SET previous_secret = secret, previous_secret_expires_at = ?, secret = ?, updated_at = ? WHERE id = ? AND org_id = ?`,
    ),
    deleteWebhook: db.prepare(`DELETE FROM webhooks WHERE id = ? AND org_id = ?`),
    disableWebhook: db.prepare(`UPDATE webhooks SET active = 0, disabled_reason = ?, disabled_at = ?, updated_at = ? WHERE id = ? AND org_id = ?`),
    // The guard skips the write when nothing changes (every success resets the count).
    setFailures: db.prepare(`UPDATE webhooks SET consecutive_failures = ? WHERE id = ? AND org_id = ? AND consecutive_failures != ?`),

    // Only while its endpoint exists and is active (as on PostgreSQL, where a fan-out can race a disable or delete).
    insertDelivery: db.prepare(
      `INSERT INTO webhook_deliveries (${DELIVERY_COLUMNS}) SELECT ${placeholders(webhookDeliveries)} WHERE EXISTS (SELECT 1 FROM webhooks WHERE id = ? AND active = 1)`,
    ),
    deliveryById: db.prepare<DeliveryRow, [string, string, string]>(
      `SELECT ${DELIVERY_COLUMNS} FROM webhook_deliveries WHERE id = ? AND webhook_id = ? AND org_id = ?`,
    ),
    deliveryState: db.prepare<Omit<DeliveryState, "claimed_by" | "claimed_until">, [string, string]>(
      `SELECT id, webhook_id, status, attempt_count, max_attempts FROM webhook_deliveries WHERE id = ? AND org_id = ?`,
    ),
    deliveryPage: db.prepare<DeliveryRow, [string, string, number, number]>(
      `SELECT ${DELIVERY_COLUMNS} FROM webhook_deliveries WHERE webhook_id = ? AND org_id = ? ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?`,
    ),
    deliveryPageByStatus: db.prepare<DeliveryRow, [string, string, string, number, number]>(
      `SELECT ${DELIVERY_COLUMNS} FROM webhook_deliveries WHERE webhook_id = ? AND org_id = ? AND status = ? ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?`,
    ),
    deliveryCount: db.prepare<{ n: number }, [string, string]>(`SELECT COUNT(*) AS n FROM webhook_deliveries WHERE webhook_id = ? AND org_id = ?`),
    deliveryCountByStatus: db.prepare<{ n: number }, [string, string, string]>(
      `SELECT COUNT(*) AS n FROM webhook_deliveries WHERE webhook_id = ? AND org_id = ? AND status = ?`,
    ),
    finishAttempt: db.prepare(`UPDATE webhook_deliveries SET status = ?, attempt_count = ?, next_attempt_at = ?, updated_at = ? WHERE id = ? AND org_id = ?`),
    cancelPending: db.prepare(
      `UPDATE webhook_deliveries SET status = ${statusSql("cancelled")}, next_attempt_at = NULL, updated_at = ? WHERE webhook_id = ? AND org_id = ? AND status = ${statusSql("pending")}`,
    ),
    requeue: db.prepare(
      `UPDATE webhook_deliveries SET status = ${statusSql("pending")}, next_attempt_at = ?, max_attempts = ?, updated_at = ? WHERE id = ? AND org_id = ?`,
    ),
    requeueCancelledSince: db.prepare(
      `UPDATE webhook_deliveries SET status = ${statusSql("pending")}, next_attempt_at = ?, max_attempts = attempt_count + ?, updated_at = ? WHERE webhook_id = ? AND org_id = ? AND status = ${statusSql("cancelled")} AND updated_at >= ?`,
    ),
    // Events of the org since `since` this endpoint has no delivery for (uses events_org_created and deliveries_event).
    missedEvents: db.prepare<EventRow, [string, number, string]>(
      `SELECT ${EVENT_COLUMNS_E} FROM events e
       WHERE e.org_id = ? AND e.created_at >= ? AND e.dispatched_at IS NOT NULL AND e.type != ${eventTypeSql("webhook.test")}
         AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = e.id AND d.webhook_id = ?)
       ORDER BY e.seq`,
    ),

    insertAttempt: db.prepare(`INSERT INTO webhook_attempts (${ATTEMPT_INSERT_NAMES.join(", ")}) VALUES (${ATTEMPT_INSERT_NAMES.map(() => "?").join(", ")})`),
    // Through the delivery, for its organization (attempts_delivery, then the delivery's primary key).
    attemptsOf: db.prepare<AttemptRow, [string, string]>(
      `SELECT ${ATTEMPT_COLUMNS_A} FROM webhook_attempts a JOIN webhook_deliveries d ON d.id = a.delivery_id WHERE a.delivery_id = ? AND d.org_id = ? ORDER BY a.id`,
    ),

    webhookOrg: db.prepare<{ org_id: string }, [string]>(`SELECT org_id FROM webhooks WHERE id = ?`),
    activeWithNextDue: db.prepare<{ id: string; next: number | null }, []>(
      `SELECT w.id, (SELECT MIN(d.next_attempt_at) FROM webhook_deliveries d WHERE d.webhook_id = w.id AND d.status = ${statusSql("pending")}) AS next FROM webhooks w WHERE w.active = 1`,
    ),
    // Uses deliveries_webhook_due (webhook_id, status, next_attempt_at): reads only this endpoint's due rows, soonest first.
    dueFor: db.prepare<DueDelivery, [string, number, number]>(
      `SELECT d.id, d.webhook_id, d.org_id, d.payload, w.url, w.secret, w.previous_secret, w.previous_secret_expires_at
       FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id
       WHERE d.webhook_id = ? AND d.status = ${statusSql("pending")} AND d.next_attempt_at <= ? AND w.active = 1
       ORDER BY d.next_attempt_at, d.id LIMIT ?`,
    ),
    // dueFor with each row's attempt count (what its lease is taken at: see Lease).
    dueForClaim: db.prepare<DueDelivery & { attempt_count: number }, [string, number, number]>(
      `SELECT d.id, d.webhook_id, d.org_id, d.payload, w.url, w.secret, w.previous_secret, w.previous_secret_expires_at, d.attempt_count
       FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id
       WHERE d.webhook_id = ? AND d.status = ${statusSql("pending")} AND d.next_attempt_at <= ? AND w.active = 1
       ORDER BY d.next_attempt_at, d.id LIMIT ?`,
    ),
    leaseState: db.prepare<Pick<DeliveryRow, "status" | "attempt_count">, [string]>(`SELECT status, attempt_count FROM webhook_deliveries WHERE id = ?`),
    nextDueAfter: db.prepare<{ next: number | null }, [string, number]>(
      `SELECT MIN(next_attempt_at) AS next FROM webhook_deliveries WHERE webhook_id = ? AND status = ${statusSql("pending")} AND next_attempt_at > ?`,
    ),
    webhookIds: db.prepare<{ id: string }, []>(`SELECT id FROM webhooks`),
    pruneDeliveries: db.prepare(
      `DELETE FROM webhook_deliveries WHERE rowid IN (SELECT rowid FROM webhook_deliveries WHERE webhook_id = ? AND created_at < ? AND status != ${statusSql("pending")} LIMIT ?)`,
    ),
  };
  const leases = leaseBook((id) => q.leaseState.get(id));

  return {
    insertWebhook(r: WebhookRow): void {
      q.insertWebhook.run(...WEBHOOK_NAMES.map((c) => r[c]));
    },
    webhook: (id: string, orgId: string): WebhookRow | null => q.webhookById.get(id, orgId),
    webhookPage: (orgId: string, limit: number, offset: number): WebhookRow[] => q.webhookPage.all(orgId, limit, offset),
    webhookCount: (orgId: string): number => q.webhookCount.get(orgId)?.n ?? 0,
    activeWebhooksOf: (orgId: string): Pick<WebhookRow, "id" | "events">[] => q.activeForOrg.all(orgId),
    updateWebhook: (r: WebhookRow): boolean =>
      q.updateWebhook.run(r.url, r.events, r.description, r.active, r.disabled_reason, r.disabled_at, r.consecutive_failures, r.updated_at, r.id, r.org_id)
        .changes > 0,
    rotateSecret: (id: string, orgId: string, secret: string, previousExpiresAt: number, now: number): boolean =>
      q.rotateSecret.run(previousExpiresAt, secret, now, id, orgId).changes > 0,
    deleteWebhook: (id: string, orgId: string): boolean => q.deleteWebhook.run(id, orgId).changes > 0,
    disableWebhook(id: string, orgId: string, reason: string, now: number): boolean {
      if (q.disableWebhook.run(reason, now, now, id, orgId).changes === 0) return false;
      q.cancelPending.run(now, id, orgId);
      return true;
    },
    setConsecutiveFailures(id: string, orgId: string, n: number): void {
      q.setFailures.run(n, id, orgId, n);
    },

    insertDelivery(r: NewDelivery): void {
      const row: DeliveryRow = { ...r, status: "pending", attempt_count: 0 };
      q.insertDelivery.run(...DELIVERY_NAMES.map((c) => row[c]), row.webhook_id);
    },
    delivery: (id: string, webhookId: string, orgId: string): DeliveryRow | null => q.deliveryById.get(id, webhookId, orgId),
    deliveryState(id: string, orgId: string): DeliveryState | null {
      const row = q.deliveryState.get(id, orgId);
      if (!row) return null;
      const lease = leases.current(row.webhook_id, row.id, row.attempt_count);
      return { ...row, claimed_by: lease?.by ?? null, claimed_until: lease?.until ?? null };
    },
    deliveryPage(webhookId: string, orgId: string, status: DeliveryStatus | undefined, limit: number, offset: number): DeliveryRow[] {
      return status ? q.deliveryPageByStatus.all(webhookId, orgId, status, limit, offset) : q.deliveryPage.all(webhookId, orgId, limit, offset);
    },
    deliveryCount(webhookId: string, orgId: string, status: DeliveryStatus | undefined): number {
      return (status ? q.deliveryCountByStatus.get(webhookId, orgId, status) : q.deliveryCount.get(webhookId, orgId))?.n ?? 0;
    },
    finishAttempt: (id: string, orgId: string, status: DeliveryStatus, attemptCount: number, nextAttemptAt: number | null, now: number): boolean =>
      q.finishAttempt.run(status, attemptCount, nextAttemptAt, now, id, orgId).changes > 0,
    cancelPending: (webhookId: string, orgId: string, now: number): number => q.cancelPending.run(now, webhookId, orgId).changes,
    requeue: (id: string, orgId: string, nextAttemptAt: number, maxAttempts: number, now: number): boolean =>
      q.requeue.run(nextAttemptAt, maxAttempts, now, id, orgId).changes > 0,
    requeueCancelledSince: (webhookId: string, orgId: string, since: number, extraAttempts: number, now: number): number =>
      q.requeueCancelledSince.run(now, extraAttempts, now, webhookId, orgId, since).changes,
    missedEvents: (webhookId: string, orgId: string, since: number): EventRow[] => q.missedEvents.all(orgId, since, webhookId),
    announceDue(webhookId: string, dueAt: number): void {
      announceOn(db, webhookId, dueAt);
    },

    insertAttempt(a: Omit<AttemptRow, "id">): void {
      q.insertAttempt.run(...ATTEMPT_INSERT_NAMES.map((c) => a[c]));
    },
    attemptsOf: (deliveryId: string, orgId: string): AttemptRow[] => q.attemptsOf.all(deliveryId, orgId),

    webhookOrg: (id: string): string | null => q.webhookOrg.get(id)?.org_id ?? null,
    activeWithNextDue: (): { id: string; next: number | null }[] => q.activeWithNextDue.all(),
    dueFor: (webhookId: string, now: number, limit: number): DueDelivery[] => q.dueFor.all(webhookId, now, limit),
    claimDue(claims: readonly ClaimRequest[]): ClaimedDelivery[][] {
      // Synchronous, on one connection: nothing comes between the count, the read and the leases.
      return claims.map((c) => {
        const except = new Set(c.except);
        const { skip, others } = leases.othersOn(c.webhookId, c.instanceId, except, c.now);
        const n = Math.min(c.limit, c.endpointCap - others);
        if (n <= 0) return [];
        const until = c.now + c.leaseMs;
        const out: ClaimedDelivery[] = [];
        for (const { attempt_count, ...row } of q.dueForClaim.all(c.webhookId, c.now, n + except.size + skip.size)) {
          if (out.length >= n) break;
          if (except.has(row.id) || skip.has(row.id)) continue;
          leases.set(c.webhookId, row.id, { by: c.instanceId, until, attempts: attempt_count });
          out.push({ ...row, claimed_by: c.instanceId, claimed_until: until });
        }
        return out;
      });
    },
    releaseClaim: (id: string, instanceId: string): boolean => leases.release(id, instanceId),
    nextDueAfter(webhookId: string, now: number, instanceId: string): number | null {
      const due = q.nextDueAfter.get(webhookId, now)?.next ?? null;
      const leaseEnd = leases.nextEndOn(webhookId, instanceId, now);
      return due === null ? leaseEnd : leaseEnd === null ? due : Math.min(due, leaseEnd);
    },
    webhookIds: (): string[] => q.webhookIds.all().map((r) => r.id),
    pruneDeliveries: (webhookId: string, cutoff: number, limit: number): number => q.pruneDeliveries.run(webhookId, cutoff, limit).changes,
  };
}

const statements = perDatabase(buildStore);

/** The SQLite implementation over one connection (its statements shared by every view of it); `guard` see async-store.ts. */
export function sqliteWebhookStore(db: Database, guard?: Guard): WebhookStore {
  return asyncStore(statements(db), guard) satisfies WebhookStore;
}
