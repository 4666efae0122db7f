// The webhook dispatcher's scheduler: wires the stages (claim → send → decide → record, in dispatch-*.ts) and sleeps on the clock's timer until the next due attempt, woken by new outbox events. No polling.
import type { Config } from "../config";
import type { Db } from "../db/client";
import { onRecorded } from "../events/outbox";
import type { Clock, Timer } from "../lib/clock";
import type { Logger } from "../lib/log";
import { createClaimer } from "./dispatch-claim";
import { relaxedCommit } from "./dispatch-commit";
import { AUTO_DISABLE_AFTER, type Decision, type RetryPolicy } from "./dispatch-decide";
import { logOutcome, nextAttemptOf, recordOutcome, type Finished } from "./dispatch-record";
import { sendDelivery } from "./dispatch-send";
import { fanOutPending } from "./fan-out";
import { onQueued } from "./queue-signal";
import { pruneExpired } from "./retention";
import { createAddressGuard, systemResolver, type Resolver } from "./ssrf";
import { webhookStore, type DueDelivery } from "./store";
import { createAgents, type TransportOptions } from "./transport";

export { AUTO_DISABLE_AFTER } from "./dispatch-decide";

/** Retention runs at start and then at most this often, and only when there is work (an idle server does nothing). */
const PRUNE_INTERVAL_MS = 60 * 60 * 1000;
/** Events fanned out per transaction, and transactions per turn of the event loop. */
const FAN_OUT_BATCH = 500;
const FAN_OUT_BATCHES_PER_TURN = 4;
/** After an unexpected database error (e.g. busy), try again this much later rather than spin. */
const ERROR_BACKOFF_MS = 1000;

/** What the dispatcher just did; for tests that wait on it (instead of sleeping) and for tracing. */
export type DispatchStep =
  | { step: "fanned-out"; events: number }
  | { step: "started"; deliveryId: string }
  | { step: "recorded"; deliveryId: string; decision: Decision }
  /** Cut off by shutdown (or a fault) before its outcome was queued: it stays pending. */
  | { step: "dropped"; deliveryId: string };

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
  /** Time and the scheduler's timers (retries, error backoff, the shutdown grace period). */
  clock: Clock;
  log: Logger;
  /** DNS; the system resolver unless a test substitutes one. */
  resolve?: Resolver;
  /** Extra trusted CA (PEM) for HTTPS receivers; tests use it for a self-signed receiver. */
  ca?: string;
  /** Jitter source; tests may fix it. */
  random?: () => number;
  /** Told after each step; must not throw. */
  observe?: (step: DispatchStep) => void;
}

export interface Dispatcher {
  /** Resumes pending deliveries, fans out what was recorded while stopped, and starts listening for new events. */
  start(): void;
  /**
   * Stops taking new attempts, waits up to `graceMs` (on the clock) for those in flight (recording their
   * outcome), then drops the rest unrecorded: they are still pending in the database and go out again on the next start.
   */
  stop(graceMs: number): Promise<void>;
  /** Runs retention now (it also runs at start and hourly while busy). */
  prune(): Promise<{ events: number; deliveries: number }>;
  /** Attempts on the wire or awaiting their write. */
  inFlight(): number;
  /** When the timer will next wake the dispatcher (ms), or null when it sleeps until an event arrives. */
  nextWake(): number | null;
  /**
   * Resolves once nothing is queued inside the dispatcher (no pump, no outcome waiting to be written).
   * Attempts still on the wire do not count: from then on only the outside world (an answer, the timer,
   * a new event) makes it do anything.
   */
  settled(): Promise<void>;
}

/** An attempt on the wire. */
interface Flight {
  controller: AbortController;
  /** Settles when the network part is over (the outcome is queued for writing, or dropped on abort). */
  done: Promise<void>;
  onWire: boolean;
}

const describe = (err: unknown) => (err instanceof Error ? err.message : String(err));

export function createDispatcher(deps: DispatcherDeps): Dispatcher {
  const { config, clock, log } = deps;
  const observe = deps.observe ?? (() => {});
  const sqlite = deps.db.$client;
  const store = webhookStore(sqlite);
  const commit = relaxedCommit(sqlite);
  const agents = createAgents(config.webhookEndpointConcurrency);
  const transport: Omit<TransportOptions, "signal"> = {
    timeoutMs: config.webhookTimeoutMs,
    guard: createAddressGuard({ allowPrivate: config.webhookAllowPrivate, allowCidrs: config.webhookAllowCidrs }),
    resolve: deps.resolve ?? systemResolver,
    ca: deps.ca,
    agents,
  };
  const policy: RetryPolicy = { baseMs: config.webhookRetryBaseMs, autoDisableAfter: AUTO_DISABLE_AFTER, random: deps.random ?? Math.random };
  const claimer = createClaimer(store, { global: config.webhookConcurrency, org: config.webhookOrgConcurrency, endpoint: config.webhookEndpointConcurrency });

  let state: "new" | "running" | "stopping" | "stopped" = "new";
  let unsubscribe: (() => void)[] = [];
  const flights = new Map<string, Flight>();

  // ── The scheduler: one pump (fan out → claim → launch) run on the next turn when something happens, and one timer to the next due time.
  let pumpQueued = false;
  /** Set when an event may be waiting in the outbox; most pumps (after attempts) skip fan-out altogether. */
  let outboxDirty = true;
  let timer: Timer | undefined;
  let timerAt = Infinity;

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
      for (const row of claimer.claim(clock.now())) launch(row);
      armTimer();
      maybePrune();
    } catch (err) {
      log.error("webhook dispatcher error; retrying shortly", { error: describe(err) });
      outboxDirty = true;
      armTimer(clock.now() + ERROR_BACKOFF_MS);
    }
  }

  function fanOut() {
    outboxDirty = false;
    for (let i = 0; i < FAN_OUT_BATCHES_PER_TURN; i++) {
      const now = clock.now();
      const { events, queued } = fanOutPending(sqlite, now, FAN_OUT_BATCH, commit);
      for (const q of queued) claimer.noteDue(q.webhookId, now);
      if (events > 0) observe({ step: "fanned-out", events });
      if (events < FAN_OUT_BATCH) return;
    }
    outboxDirty = true;
    schedulePump(); // more waiting: continue on the next turn, after pending I/O
  }

  /** Sleeps until the earliest due hint (or `at`, if sooner); no timer when nothing is due. */
  function armTimer(at = Infinity) {
    const next = Math.min(at, claimer.nextDueAfter(clock.now()));
    if (next === timerAt) return;
    timer?.cancel();
    timer = undefined;
    timerAt = next;
    if (next === Infinity) return;
    timer = clock.setTimer(() => {
      timer = undefined;
      timerAt = Infinity;
      pump();
    }, next - clock.now());
  }

  // ── Send: each claimed delivery goes on the wire; a result that came back is queued for recording.
  function launch(row: DueDelivery) {
    const controller = new AbortController();
    const attemptedAt = clock.now();
    const flight: Flight = { controller, done: Promise.resolve(), onWire: true };
    flights.set(row.id, flight);
    observe({ step: "started", deliveryId: row.id });
    flight.done = (async () => {
      let queued = false;
      try {
        const result = await sendDelivery(row, attemptedAt, { ...transport, signal: controller.signal });
        if (!result.aborted) {
          // Keeps its slot until written, so no pump can claim the same delivery in between.
          finished.push({ row, attemptedAt, completedAt: clock.now(), result });
          queued = true;
          scheduleFlush();
        }
      } catch (err) {
        log.error("webhook attempt could not be queued for recording; it stays pending", { delivery_id: row.id, error: describe(err) });
        claimer.noteDue(row.webhook_id, clock.now() + ERROR_BACKOFF_MS);
        schedulePump();
      } finally {
        flight.onWire = false;
        // Not queued (cut off by shutdown, or a fault above): the slot comes back now; the delivery is
        // still pending in the database. A queued one frees its slot once written (flush).
        if (!queued) {
          release(row);
          observe({ step: "dropped", deliveryId: row.id });
        }
      }
    })();
  }

  function release(row: DueDelivery) {
    flights.delete(row.id);
    claimer.release(row);
  }

  // ── Decide and record: outcomes that complete in the same turn share one transaction.
  const finished: Finished[] = [];
  let flushQueued = false;

  function scheduleFlush() {
    if (flushQueued) return;
    flushQueued = true;
    setImmediate(() => {
      flushQueued = false;
      flush();
      pump();
    });
  }

  /** Writes queued outcomes in one transaction, then frees their slots and notes their retries. */
  function flush() {
    if (finished.length === 0 || state === "stopped") return;
    const batch = finished.splice(0);
    let decisions: Decision[];
    try {
      decisions = commit(() => batch.map((f) => recordOutcome(store, f, policy)));
    } catch (err) {
      finished.unshift(...batch);
      log.error("could not record webhook attempts; retrying shortly", { error: describe(err) });
      if (state === "running") clock.setTimer(scheduleFlush, ERROR_BACKOFF_MS);
      return;
    }
    // Slots first, so nothing below can keep one taken.
    for (const f of batch) release(f.row);
    batch.forEach((f, i) => {
      const d = decisions[i]!;
      const next = nextAttemptOf(d);
      if (next !== null) claimer.noteDue(f.row.webhook_id, next);
      logOutcome(log, f, d);
      observe({ step: "recorded", deliveryId: f.row.id, decision: d });
    });
  }

  // ── Retention.
  let lastPrune = 0;
  let pruning: Promise<{ events: number; deliveries: number }> | null = null;

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
        log.error("webhook retention failed", { error: describe(err) });
        return { events: 0, deliveries: 0 };
      })
      .finally(() => {
        pruning = null;
      });
    return pruning;
  }

  let stopping: Promise<void> | null = null;

  return {
    start() {
      if (state !== "new") return;
      state = "running";
      // Whatever was pending when the last process stopped or died (in flight included) is due again.
      for (const { id, next } of store.activeWithNextDue()) if (next !== null) claimer.noteDue(id, next);
      unsubscribe = [
        onRecorded(sqlite, () => {
          outboxDirty = true;
          schedulePump();
        }),
        onQueued(sqlite, (webhookId, at) => {
          claimer.noteDue(webhookId, at);
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
        timer?.cancel();
        timer = undefined;
        timerAt = Infinity;
        const onWire = [...flights.values()].map((f) => f.done);
        if (onWire.length) {
          let grace: Timer | undefined;
          await Promise.race([Promise.allSettled(onWire), new Promise<void>((r) => (grace = clock.setTimer(r, graceMs)))]);
          grace?.cancel();
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
    async settled() {
      // Turns of the event loop, not time: a queued pump or flush runs on setImmediate.
      do await new Promise<void>((r) => setImmediate(r));
      while (pumpQueued || flushQueued || finished.length > 0);
    },
  };
}
