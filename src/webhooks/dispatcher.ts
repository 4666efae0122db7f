// The webhook dispatcher: fans out the outbox, runs due attempts under global, per-organization and per-endpoint limits (round-robin between organizations), records outcomes, schedules retries. Timers, no polling.
import type { Config } from "../config";
import type { Db } from "../db/client";
import { onRecorded } from "../events/outbox";
import type { Clock } from "../lib/clock";
import type { Logger } from "../lib/log";
import { toIso } from "../lib/time";
import { fanOutPending } from "./fan-out";
import { onQueued } from "./queue-signal";
import { pruneExpired } from "./retention";
import { retryDelay } from "./retry-policy";
import { deliveryHeaders, liveSecrets } from "./signing";
import { createAddressGuard, systemResolver, type Resolver } from "./ssrf";
import { webhookStore, type DueDelivery } from "./store";
import { createAgents, isSuccess, sendAttempt, type AttemptResult } from "./transport";

/** An endpoint whose last this-many deliveries all ended failed is disabled. */
export const AUTO_DISABLE_AFTER = 20;
/** Retention runs at start and then at most this often, and only when there is work (an idle server does nothing). */
const PRUNE_INTERVAL_MS = 60 * 60 * 1000;
/** Events fanned out per transaction, and transactions per turn of the event loop. */
const FAN_OUT_BATCH = 500;
const FAN_OUT_BATCHES_PER_TURN = 4;
/** After an unexpected database error (e.g. busy), try again this much later rather than spin. */
const ERROR_BACKOFF_MS = 1000;
/** setTimeout's ceiling; a later due time is reached in more than one hop. */
const MAX_TIMER_MS = 2_147_483_647;

export interface DispatcherDeps {
  config: Pick<
    Config,
    | "webhookTimeoutMs"
    | "webhookRetryBaseMs"
    | "webhookAllowPrivate"
    | "webhookAllowCidrs"
    | "webhookConcurrency"
    | "webhookOrgConcurrency"
    | "webhookEndpointConcurrency"
    | "retentionDays"
  >;
  db: Db;
  clock: Clock;
  log: Logger;
  /** DNS; the system resolver unless a test substitutes one. */
  resolve?: Resolver;
  /** Extra trusted CA (PEM) for HTTPS receivers; tests use it for a self-signed receiver. */
  ca?: string;
  /** Jitter source; tests may fix it. */
  random?: () => number;
}

export interface Dispatcher {
  /** Resumes pending deliveries, fans out what was recorded while stopped, and starts listening for new events. */
  start(): void;
  /**
   * Stops taking new attempts, waits up to `graceMs` for those in flight (recording their outcome), then
   * drops the rest unrecorded: they are still pending in the database and go out again on the next start.
   */
  stop(graceMs: number): Promise<void>;
  /** Runs retention now (it also runs at start and hourly while busy). */
  prune(): Promise<{ events: number; deliveries: number }>;
  /** Attempts on the wire or awaiting their write. */
  inFlight(): number;
  /** When the timer will next wake the dispatcher (ms), or null when it sleeps until an event arrives. */
  nextWake(): number | null;
}

interface Flight {
  webhookId: string;
  orgId: string;
  controller: AbortController;
  /** Settles when the network part is over (the outcome is queued for writing, or dropped on abort). */
  done: Promise<void>;
  onWire: boolean;
}

interface Finished {
  row: DueDelivery;
  attemptedAt: number;
  completedAt: number;
  result: AttemptResult;
}

export function createDispatcher(deps: DispatcherDeps): Dispatcher {
  const { config, clock, log } = deps;
  const sqlite = deps.db.$client;
  const store = webhookStore(sqlite);
  const guard = createAddressGuard({ allowPrivate: config.webhookAllowPrivate, allowCidrs: config.webhookAllowCidrs });
  const resolve = deps.resolve ?? systemResolver;
  const random = deps.random ?? Math.random;
  const agents = createAgents(config.webhookEndpointConcurrency);
  // The connection's configured durability (FULL), restored after each relaxed commit.
  const synchronous = Number((sqlite.query("PRAGMA synchronous").get() as { synchronous: number }).synchronous);

  /** Endpoint → earliest time it may have a due delivery (a hint: the database is the truth). */
  const due = new Map<string, number>();
  const flights = new Map<string, Flight>();
  /** Attempts in flight per endpoint and per organization. */
  const busy = new Map<string, number>();
  const orgBusy = new Map<string, number>();
  /** Endpoint → its organization (it never changes), so scheduling needs no query per endpoint and pump. */
  const orgOf = new Map<string, string>();
  /** Organization → when it last got a slot (a counter): the least recently served goes first. */
  const served = new Map<string, number>();
  let serveSeq = 0;
  const finished: Finished[] = [];
  let state: "new" | "running" | "stopping" | "stopped" = "new";
  let unsubscribe: (() => void)[] = [];
  let timer: ReturnType<typeof setTimeout> | undefined;
  let timerAt = Infinity;
  let pumpQueued = false;
  /** Set when an event may be waiting in the outbox; most pumps (after attempts) skip fan-out altogether. */
  let outboxDirty = true;
  let flushQueued = false;
  let lastPrune = 0;
  let pruning: Promise<{ events: number; deliveries: number }> | null = null;
  let stopping: Promise<void> | null = null;

  function noteDue(webhookId: string, at: number) {
    const current = due.get(webhookId);
    if (current === undefined || at < current) due.set(webhookId, at);
  }

  function schedulePump() {
    if (pumpQueued || state !== "running") return;
    pumpQueued = true;
    // setImmediate, not a microtask: a burst of commits in one turn is fanned out in one transaction.
    setImmediate(() => {
      pumpQueued = false;
      pump();
    });
  }

  function pump() {
    if (state !== "running") return;
    try {
      if (outboxDirty) fanOut();
      startDue();
      armTimer();
      maybePrune();
    } catch (err) {
      log.error("webhook dispatcher error; retrying shortly", { error: err instanceof Error ? err.message : String(err) });
      outboxDirty = true;
      armTimer(clock.now() + ERROR_BACKOFF_MS);
    }
  }

  function fanOut() {
    outboxDirty = false;
    for (let i = 0; i < FAN_OUT_BATCHES_PER_TURN; i++) {
      const now = clock.now();
      const { events, queued } = fanOutPending(sqlite, now, FAN_OUT_BATCH, commitRelaxed);
      for (const q of queued) noteDue(q.webhookId, now);
      if (events < FAN_OUT_BATCH) return;
    }
    outboxDirty = true;
    schedulePump(); // more waiting: continue on the next turn, after pending I/O
  }

  function orgFor(webhookId: string): string | null {
    let org = orgOf.get(webhookId);
    if (org === undefined) {
      const found = store.webhookOrg(webhookId);
      if (found === null) return null;
      orgOf.set(webhookId, (org = found));
    }
    return org;
  }

  /** Due rows of one endpoint read in this pump, and how far they were used. */
  interface Batch {
    rows: DueDelivery[];
    used: number;
    limit: number;
  }

  /**
   * Starts due attempts. Slots go round-robin between organizations (one attempt per organization per
   * round, the least recently served first) and, inside one, between its endpoints; no organization holds
   * more than webhookOrgConcurrency of them and no endpoint more than webhookEndpointConcurrency. So one
   * tenant's dead endpoints cannot take the slots another tenant's deliveries need.
   */
  function startDue() {
    if (flights.size >= config.webhookConcurrency) return;
    const now = clock.now();
    const byOrg = new Map<string, string[]>();
    for (const [webhookId, at] of [...due].sort((a, b) => a[1] - b[1])) {
      if (at > now) break;
      const org = orgFor(webhookId);
      if (org === null) {
        due.delete(webhookId); // deleted meanwhile
        continue;
      }
      const list = byOrg.get(org);
      if (list) list.push(webhookId);
      else byOrg.set(org, [webhookId]);
    }
    const batches = new Map<string, Batch>();
    let turn = [...byOrg.keys()].sort((a, b) => (served.get(a) ?? -1) - (served.get(b) ?? -1));
    while (turn.length > 0 && flights.size < config.webhookConcurrency) {
      const again: string[] = [];
      for (const org of turn) {
        if (flights.size >= config.webhookConcurrency) break;
        if (startOne(org, byOrg.get(org)!, batches, now)) again.push(org);
      }
      turn = again;
    }
    for (const [webhookId, b] of batches) {
      if (b.rows.length < b.limit && b.used >= b.rows.length) {
        // Everything due now is on the wire; remember only the endpoint's next future attempt.
        const next = store.nextDueAfter(webhookId, now);
        if (next === null) due.delete(webhookId);
        else due.set(webhookId, next);
      }
    }
  }

  /** Starts one attempt of this organization, from the first of its endpoints that can take one; false when none can. */
  function startOne(org: string, endpoints: string[], batches: Map<string, Batch>, now: number): boolean {
    if ((orgBusy.get(org) ?? 0) >= config.webhookOrgConcurrency) return false;
    while (endpoints.length > 0) {
      const webhookId = endpoints[0]!;
      const running = busy.get(webhookId) ?? 0;
      if (running >= config.webhookEndpointConcurrency) {
        endpoints.shift();
        continue;
      }
      let b = batches.get(webhookId);
      if (!b) {
        const free = Math.min(
          config.webhookEndpointConcurrency - running,
          config.webhookOrgConcurrency - (orgBusy.get(org) ?? 0),
          config.webhookConcurrency - flights.size,
        );
        // Ask for enough rows to find `free` that are not already in flight.
        const limit = free + running;
        b = { rows: store.dueFor(webhookId, now, limit), used: 0, limit };
        batches.set(webhookId, b);
      }
      while (b.used < b.rows.length && flights.has(b.rows[b.used]!.id)) b.used++;
      if (b.used >= b.rows.length) {
        endpoints.shift();
        continue;
      }
      launch(b.rows[b.used++]!);
      endpoints.push(endpoints.shift()!); // this organization's next turn goes to its next endpoint
      served.set(org, ++serveSeq);
      return true;
    }
    return false;
  }

  function armTimer(at?: number) {
    const now = clock.now();
    let next = at ?? Infinity;
    for (const t of due.values()) if (t > now && t < next) next = t;
    if (next === timerAt) return;
    if (timer) clearTimeout(timer);
    timer = undefined;
    timerAt = next;
    if (next === Infinity) return;
    timer = setTimeout(
      () => {
        timer = undefined;
        timerAt = Infinity;
        pump();
      },
      Math.min(Math.max(0, next - now), MAX_TIMER_MS),
    );
    timer.unref?.();
  }

  function launch(row: DueDelivery) {
    const controller = new AbortController();
    const attemptedAt = clock.now();
    busy.set(row.webhook_id, (busy.get(row.webhook_id) ?? 0) + 1);
    orgBusy.set(row.org_id, (orgBusy.get(row.org_id) ?? 0) + 1);
    const flight: Flight = { webhookId: row.webhook_id, orgId: row.org_id, controller, done: Promise.resolve(), onWire: true };
    flights.set(row.id, flight);
    flight.done = (async () => {
      let queued = false;
      let faulted = false;
      try {
        let result: AttemptResult;
        try {
          const headers = deliveryHeaders({ deliveryId: row.id, timestampSeconds: Math.floor(attemptedAt / 1000), body: row.payload, secrets: liveSecrets(row, attemptedAt) });
          result = await sendAttempt(
            { url: row.url, body: row.payload, headers },
            { timeoutMs: config.webhookTimeoutMs, guard, resolve, ca: deps.ca, signal: controller.signal, agents },
          );
        } catch (err) {
          // sendAttempt does not reject; this is the belt to its braces: a fault is a failed attempt like any other.
          result = { statusCode: null, error: `could not send: ${err instanceof Error ? err.message : String(err)}`, responseBody: null, durationMs: 0, retryAfterMs: null, aborted: false };
        }
        if (!result.aborted) {
          // Stays "in flight" until written, so no pump can pick the same delivery up in between.
          finished.push({ row, attemptedAt, completedAt: clock.now(), result });
          queued = true;
          scheduleFlush();
        }
      } catch (err) {
        log.error("webhook attempt could not be queued for recording; it stays pending", { delivery_id: row.id, error: err instanceof Error ? err.message : String(err) });
        noteDue(row.webhook_id, clock.now() + ERROR_BACKOFF_MS);
        faulted = true;
      } finally {
        flight.onWire = false;
        // Not queued for writing (cut off by shutdown, or a fault above): the slot comes back now; the
        // delivery is still pending in the database. A queued one frees its slot once written (flush).
        if (!queued) release(row);
        if (faulted) schedulePump();
      }
    })();
  }

  function release(row: DueDelivery) {
    if (!flights.delete(row.id)) return;
    const n = (busy.get(row.webhook_id) ?? 1) - 1;
    if (n > 0) busy.set(row.webhook_id, n);
    else busy.delete(row.webhook_id);
    const o = (orgBusy.get(row.org_id) ?? 1) - 1;
    if (o > 0) orgBusy.set(row.org_id, o);
    else orgBusy.delete(row.org_id);
  }

  function scheduleFlush() {
    if (flushQueued) return;
    flushQueued = true;
    // Outcomes that complete in the same turn share one transaction.
    setImmediate(() => {
      flushQueued = false;
      flush();
      pump();
    });
  }

  /** Writes queued outcomes in one transaction, then frees their slots. */
  function flush() {
    if (finished.length === 0 || state === "stopped") return;
    const batch = finished.splice(0);
    let outcomes: Outcome[];
    try {
      outcomes = commitRelaxed(() => batch.map(recordOutcome));
    } catch (err) {
      finished.unshift(...batch);
      log.error("could not record webhook attempts; retrying shortly", { error: err instanceof Error ? err.message : String(err) });
      if (state === "running") setTimeout(scheduleFlush, ERROR_BACKOFF_MS).unref?.();
      return;
    }
    // Slots first, so nothing below can keep one taken.
    for (const f of batch) release(f.row);
    batch.forEach((f, i) => {
      const o = outcomes[i]!;
      if (o.nextAttemptAt !== null) noteDue(f.row.webhook_id, o.nextAttemptAt);
      logOutcome(f, o);
    });
  }

  /**
   * Commits the dispatcher's own bookkeeping (fan-out, attempt outcomes) without an fsync: WAL with
   * synchronous=NORMAL. The events themselves were committed with FULL by the API. A power cut can lose only
   * the last few such commits (the next FULL commit by anyone makes them durable too), and losing one only
   * means work is done again: events are fanned out again into the same delivery ids (deliveryIdFor), and
   * deliveries whose outcome was lost are sent again with the same webhook-id, which at-least-once delivery
   * allows and receivers de-duplicate. The fsyncs were the largest cost of delivering.
   */
  function commitRelaxed<T>(fn: () => T): T {
    sqlite.exec("PRAGMA synchronous = NORMAL");
    try {
      return sqlite.transaction(fn).immediate();
    } finally {
      sqlite.exec(`PRAGMA synchronous = ${synchronous}`);
    }
  }

  interface Outcome {
    status: "succeeded" | "failed" | "retrying" | "cancelled" | "deleted";
    attempt: number;
    nextAttemptAt: number | null;
    disabledReason: string | null;
  }

  function recordOutcome(f: Finished): Outcome {
    const { row, result } = f;
    const current = store.deliveryState(row.id);
    if (!current) return { status: "deleted", attempt: 0, nextAttemptAt: null, disabledReason: null }; // its webhook was deleted meanwhile
    const attempt = current.attempt_count + 1;
    const now = f.completedAt;
    store.insertAttempt({
      delivery_id: row.id,
      attempted_at: f.attemptedAt,
      status_code: result.statusCode,
      error: result.error,
      duration_ms: result.durationMs,
      response_body: result.responseBody,
    });
    if (isSuccess(result.statusCode)) {
      store.finishAttempt(row.id, "succeeded", attempt, null, now);
      store.setConsecutiveFailures(row.webhook_id, 0);
      return { status: "succeeded", attempt, nextAttemptAt: null, disabledReason: null };
    }
    if (current.status !== "pending") {
      // Cancelled while on the wire (the endpoint was disabled): keep it cancelled.
      store.finishAttempt(row.id, current.status, attempt, null, now);
      return { status: "cancelled", attempt, nextAttemptAt: null, disabledReason: null };
    }
    if (result.statusCode === 410) {
      store.finishAttempt(row.id, "failed", attempt, null, now);
      const reason = "The endpoint answered 410 Gone.";
      const w = store.webhookAnyOrg(row.webhook_id);
      if (w?.active === 1) store.disableWebhook(row.webhook_id, reason, now);
      return { status: "failed", attempt, nextAttemptAt: null, disabledReason: w?.active === 1 ? reason : null };
    }
    if (attempt >= current.max_attempts) {
      store.finishAttempt(row.id, "failed", attempt, null, now);
      const w = store.webhookAnyOrg(row.webhook_id);
      if (!w) return { status: "failed", attempt, nextAttemptAt: null, disabledReason: null };
      const failures = w.consecutive_failures + 1;
      store.setConsecutiveFailures(row.webhook_id, failures);
      if (failures >= AUTO_DISABLE_AFTER && w.active === 1) {
        const last = result.statusCode !== null ? `HTTP ${result.statusCode}` : (result.error ?? "no response");
        const reason = `The last ${failures} deliveries failed after every retry (last: ${last}).`;
        store.disableWebhook(row.webhook_id, reason, now);
        return { status: "failed", attempt, nextAttemptAt: null, disabledReason: reason };
      }
      return { status: "failed", attempt, nextAttemptAt: null, disabledReason: null };
    }
    const next = now + retryDelay(config.webhookRetryBaseMs, attempt, result.retryAfterMs, random);
    store.finishAttempt(row.id, "pending", attempt, next, now);
    return { status: "retrying", attempt, nextAttemptAt: next, disabledReason: null };
  }

  function logOutcome(f: Finished, o: Outcome) {
    const fields = {
      delivery_id: f.row.id,
      webhook_id: f.row.webhook_id,
      attempt: o.attempt,
      outcome: o.status,
      status_code: f.result.statusCode,
      error: f.result.error,
      duration_ms: f.result.durationMs,
      next_attempt_at: o.nextAttemptAt === null ? null : toIso(o.nextAttemptAt),
    };
    if (o.status === "succeeded" || o.status === "deleted") log.debug("webhook attempt", fields);
    else log.warn("webhook attempt failed", fields);
    if (o.disabledReason) log.warn("webhook disabled", { webhook_id: f.row.webhook_id, reason: o.disabledReason });
  }

  function maybePrune() {
    if (pruning || clock.now() - lastPrune < PRUNE_INTERVAL_MS) return;
    void runPrune();
  }

  function runPrune(): Promise<{ events: number; deliveries: number }> {
    if (pruning) return pruning;
    lastPrune = clock.now();
    pruning = pruneExpired(sqlite, lastPrune, config.retentionDays, () => state === "running" || state === "new")
      .then((removed) => {
        if (removed.events || removed.deliveries) log.info("webhook retention pruned", { ...removed, retention_days: config.retentionDays });
        return removed;
      })
      .catch((err) => {
        log.error("webhook retention failed", { error: err instanceof Error ? err.message : String(err) });
        return { events: 0, deliveries: 0 };
      })
      .finally(() => {
        pruning = null;
      });
    return pruning;
  }

  return {
    start() {
      if (state !== "new") return;
      state = "running";
      // Whatever was pending when the last process stopped or died (in flight included) is due again.
      for (const { id, next } of store.activeWithNextDue()) if (next !== null) noteDue(id, next);
      unsubscribe = [
        onRecorded(sqlite, () => {
          outboxDirty = true;
          schedulePump();
        }),
        onQueued(sqlite, (webhookId, at) => {
          noteDue(webhookId, at);
          schedulePump();
        }),
      ];
      schedulePump();
      void runPrune();
    },

    stop(graceMs) {
      stopping ??= (async () => {
        if (state === "new") {
          state = "stopped";
          return;
        }
        state = "stopping";
        unsubscribe.forEach((u) => u());
        if (timer) clearTimeout(timer);
        timer = undefined;
        timerAt = Infinity;
        const onWire = [...flights.values()].map((f) => f.done);
        if (onWire.length) {
          let wait: ReturnType<typeof setTimeout> | undefined;
          await Promise.race([Promise.allSettled(onWire), new Promise<void>((r) => (wait = setTimeout(r, graceMs)))]);
          clearTimeout(wait);
        }
        const late = [...flights.values()].filter((f) => f.onWire);
        for (const f of late) f.controller.abort();
        await Promise.allSettled(late.map((f) => f.done));
        flush();
        if (late.length) log.info("webhook dispatcher stopped with attempts in flight; they stay pending", { count: late.length });
        await pruning;
        agents.destroy();
        state = "stopped";
      })();
      return stopping;
    },

    prune: () => runPrune(),
    inFlight: () => flights.size,
    nextWake: () => (timerAt === Infinity ? null : timerAt),
  };
}
