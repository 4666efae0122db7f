// The webhook dispatcher's scheduler: wires the stages (claim → send → decide → record, in dispatch-*.ts) and sleeps on the clock's timer until the next due attempt, woken by the engine's signals (events recorded, deliveries queued). No polling. Its bookkeeping is units of the group-commit writer.
import type { Config } from "../config";
import type { Writer } from "../db/writer";
import type { Outbox, OutboxSignal } from "../events/outbox";
import type { Clock, Timer } from "../lib/clock";
import { randomBase62 } from "../lib/ids";
import type { Logger } from "../lib/log";
import { createClaimer } from "./dispatch-claim";
import { AUTO_DISABLE_AFTER, type Decision, type RetryPolicy } from "./dispatch-decide";
import { logOutcome, nextAttemptOf, recordOutcome, type Finished } from "./dispatch-record";
import { sendDelivery } from "./dispatch-send";
import { fanOutPending } from "./fan-out";
import type { QueueSignal } from "./queue-signal";
import { pruneExpired } from "./retention";
import { createAddressGuard, systemResolver, type Resolver } from "./ssrf";
import type { ClaimedDelivery, WebhookStore } from "./store";
import { createAgents, type TransportOptions } from "./transport";

export { AUTO_DISABLE_AFTER } from "./dispatch-decide";

/** The instance id serve gives the one process a SQLite data dir allows (its lock): see DispatcherDeps.instanceId. */
export const SQLITE_INSTANCE_ID = "local";

/** A new instance id, random per process (`inst_` + 16 base62 characters), for an instance on a shared database. */
export function newInstanceId(): string {
  return `inst_${randomBase62(16)}`;
}

/** Retention runs at start and then at most this often, and only when there is work (an idle server does nothing). */
const PRUNE_INTERVAL_MS = 60 * 60 * 1000;
/** Events fanned out per write (one savepoint of a writer batch); a full one is followed by the next once it commits. */
const FAN_OUT_BATCH = 500;
/** After an unexpected database error (e.g. busy, a failed commit), try again this much later rather than spin. */
const ERROR_BACKOFF_MS = 1000;
/**
 * A claim's lease lasts the webhook timeout plus this margin. The attempt itself ends at the timeout (aborted), so the
 * margin only has to cover recording its outcome and the clocks' disagreement: an outcome later than that is kept in
 * the attempts log only ('superseded') and the delivery goes out again (at least once), never two attempts at once.
 * 15 s, as long as an instance's heartbeat may be silent before it is taken for dead (idempotency claims): a crashed
 * instance's deliveries go out again within the timeout + 15 s. The instances' clocks must agree to well within it (NTP).
 */
export const LEASE_MARGIN_MS = 15_000;

/** What the dispatcher just did; for tests that wait on it (instead of sleeping) and for tracing. */
export type DispatchStep =
  | { step: "fanned-out"; events: number }
  | { step: "started"; deliveryId: string }
  | { step: "recorded"; deliveryId: string; decision: Decision }
  /** Cut off by shutdown (or a fault) before its outcome was written, or its write failed while stopping: it stays pending. */
  | { step: "dropped"; deliveryId: string };

/** What the dispatcher's units of work are given: the stores bound to their transaction. */
export interface DispatchTx {
  webhooks: WebhookStore;
  outbox: Outbox;
}

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
  /** For reads outside a unit (what to resume at start, claims, the endpoints retention walks): committed rows only. */
  stores: { webhooks: WebhookStore };
  /**
   * The bookkeeping (fan-out, attempt outcomes, retention): units of the one writer, in the batches of the API's
   * writes, `synchronous=FULL` like them. (They once committed on their own with `synchronous=NORMAL` toggled around
   * them to skip an fsync; a pragma cannot apply to one unit of a shared batch, and it is not needed: the outcomes and
   * fan-outs that finish together, and whatever the API writes in the same turn, share the batch's one fsync. So a
   * committed outcome or fan-out survives a power cut too.)
   */
  writer: Writer<DispatchTx>;
  /** The engine's wake-ups: events recorded (fan out), deliveries queued outside fan-out (retry, test ping, replay). */
  signals: OutboxSignal & QueueSignal;
  /** Time and the scheduler's timers (retries, error backoff, the shutdown grace period). */
  clock: Clock;
  /**
   * Whose claims (leases: WebhookStore.claimDue) this dispatcher's are; random when absent (`newInstanceId`). On
   * PostgreSQL every instance on the database needs its own (serve makes one per process). On SQLite the leases live
   * in memory and die with the process, so any id does (serve passes `SQLITE_INSTANCE_ID`): a restart after a crash
   * takes over what the dead process had on the wire at once.
   */
  instanceId?: string;
  log: Logger;
  /** DNS; the system resolver unless a test substitutes one. */
  resolve?: Resolver;
  /** Extra trusted CA (PEM) for HTTPS receivers; tests use it for a self-signed receiver. */
  ca?: string;
  /** Jitter source; tests may fix it. */
  random?: () => number;
  /** Told after each step (a write's step once it has committed); must not throw. */
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
   * Resolves once nothing is queued inside the dispatcher: no pump, no write of its own (fan-out, outcome,
   * retention) waiting for its batch to commit or for what follows the commit. Attempts still on the wire do not
   * count, nor an outcome whose write failed and waits on the clock for its retry: from then on only the outside
   * world (an answer, the timer, a new event) makes it do anything.
   */
  settled(): Promise<void>;
}

/** An attempt on the wire. */
interface Flight {
  controller: AbortController;
  /** Settles when the network part is over (the outcome's write is queued, or it was dropped on abort). */
  done: Promise<void>;
  onWire: boolean;
}

const describe = (err: unknown) => (err instanceof Error ? err.message : String(err));

export function createDispatcher(deps: DispatcherDeps): Dispatcher {
  const { config, clock, log, stores, writer, signals } = deps;
  const observe = deps.observe ?? (() => {});
  const agents = createAgents(config.webhookEndpointConcurrency);
  const transport: Omit<TransportOptions, "signal"> = {
    timeoutMs: config.webhookTimeoutMs,
    guard: createAddressGuard({ allowPrivate: config.webhookAllowPrivate, allowCidrs: config.webhookAllowCidrs }),
    resolve: deps.resolve ?? systemResolver,
    ca: deps.ca,
    agents,
  };
  const policy: RetryPolicy = { baseMs: config.webhookRetryBaseMs, autoDisableAfter: AUTO_DISABLE_AFTER, random: deps.random ?? Math.random };
  const instanceId = deps.instanceId ?? newInstanceId();
  const claimer = createClaimer(
    stores.webhooks,
    { global: config.webhookConcurrency, org: config.webhookOrgConcurrency, endpoint: config.webhookEndpointConcurrency },
    { instanceId, leaseMs: config.webhookTimeoutMs + LEASE_MARGIN_MS },
  );

  let state: "new" | "running" | "stopping" | "stopped" = "new";
  let unsubscribe: (() => void)[] = [];
  const flights = new Map<string, Flight>();

  // ── Own writes: each goes to the writer and is tracked until its commit and what follows it (slots, hints, steps)
  // have run, so `settled()` and `stop()` can wait for them. A tracked task never rejects: it handles its own failure.
  const writing = new Set<Promise<void>>();

  function track(task: () => Promise<void>) {
    const p: Promise<void> = task()
      .catch((err) => log.error("webhook dispatcher error", { error: describe(err) }))
      .finally(() => writing.delete(p));
    writing.add(p);
  }

  // ── The scheduler: one pump (fan out → claim → launch) run on the next turn when something happens, and one timer to the next due time.
  let pumpQueued = false;
  /** Set when an event may be waiting in the outbox; most pumps (after attempts) skip fan-out altogether. */
  let outboxDirty = true;
  /** A fan-out write is queued and not yet committed: the next waits for it (and for its deliveries' hints). */
  let fanningOut = false;
  let timer: Timer | undefined;
  let timerAt = Infinity;

  function schedulePump() {
    if (pumpQueued || state !== "running") return;
    pumpQueued = true;
    // setImmediate, not a microtask: a burst of commits in one turn is fanned out in one write.
    setImmediate(() => {
      pumpQueued = false;
      pump();
    });
  }

  /** The pump running now (its reads are asynchronous), and whether something asked for another meanwhile. */
  let pumping: Promise<void> | null = null;
  let pumpAgain = false;
  /** Whether the pending deliveries of the last process have been read (at the first pump; again after a failure). */
  let resumed = false;

  /** Runs the pump now, or right after the one running (claims are never concurrent). */
  function pump() {
    if (state !== "running") return;
    if (pumping) {
      pumpAgain = true;
      return;
    }
    pumping = (async () => {
      try {
        do {
          pumpAgain = false;
          await pumpOnce();
        } while (pumpAgain && state === "running");
      } finally {
        pumping = null;
      }
    })();
  }

  async function pumpOnce() {
    try {
      if (!resumed) {
        // Whatever was pending when the last process stopped or died (in flight included) is due again.
        for (const { id, next } of await stores.webhooks.activeWithNextDue()) if (next !== null) claimer.noteDue(id, next);
        resumed = true;
      }
      if (outboxDirty && !fanningOut) fanOut();
      const { claimed, short } = await claimer.claim(clock.now());
      if (state !== "running") {
        // Stopped while claiming: the slots and the claims come back, the deliveries stay pending.
        for (const row of claimed) claimer.release(row);
        releaseClaims(claimed);
        return;
      }
      for (const row of claimed) launch(row);
      // Another instance held some of what was planned: plan once more for the slots left (those endpoints now wait
      // for the leases to end, so this converges).
      if (short && claimer.held() < config.webhookConcurrency) pumpAgain = true;
      armTimer();
      maybePrune();
    } catch (err) {
      backOff(err);
    }
  }

  function backOff(err: unknown) {
    log.error("webhook dispatcher error; retrying shortly", { error: describe(err) });
    outboxDirty = true;
    if (state === "running") armTimer(clock.now() + ERROR_BACKOFF_MS);
  }

  /** One fan-out write; once it commits, its deliveries are due and the pump claims them (and fans out the rest, if it was full). */
  function fanOut() {
    outboxDirty = false;
    fanningOut = true;
    track(async () => {
      const now = clock.now();
      let events: number;
      try {
        const done = await fanOutPending(writer, now, FAN_OUT_BATCH);
        events = done.events;
        for (const q of done.queued) claimer.noteDue(q.webhookId, now);
      } catch (err) {
        // Nothing of it was written (its savepoint or its batch rolled back): the events are still undispatched.
        fanningOut = false;
        backOff(err);
        return;
      }
      fanningOut = false;
      if (events >= FAN_OUT_BATCH) outboxDirty = true; // more waiting: the next write follows
      if (events > 0) observe({ step: "fanned-out", events });
      pump();
    });
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
  function launch(row: ClaimedDelivery) {
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
          // Keeps its slot until its outcome has committed, so no pump can claim the same delivery in between.
          record({ row, claim: { by: row.claimed_by, until: row.claimed_until }, attemptedAt, completedAt: clock.now(), result });
          queued = true;
        }
      } catch (err) {
        log.error("webhook attempt could not be queued for recording; it stays pending", { delivery_id: row.id, error: describe(err) });
        claimer.noteDue(row.webhook_id, clock.now() + ERROR_BACKOFF_MS);
        schedulePump();
      } finally {
        flight.onWire = false;
        // Not queued (cut off by shutdown, or a fault above): the slot comes back now; the delivery is
        // still pending in the database. A queued one frees its slot once its outcome has committed (record).
        if (!queued) {
          release(row);
          releaseClaims([row]);
          observe({ step: "dropped", deliveryId: row.id });
        }
      }
    })();
  }

  function release(row: Pick<ClaimedDelivery, "id" | "webhook_id" | "org_id">) {
    flights.delete(row.id);
    claimer.release(row);
  }

  /**
   * Gives the claims of attempts dropped unrecorded back (the engine's: a statement each on PostgreSQL, memory on
   * SQLite; not the writer's), so the deliveries may go out again at once, here or on another instance. If that
   * fails, the leases simply run out.
   */
  function releaseClaims(rows: Pick<ClaimedDelivery, "id">[]) {
    if (rows.length === 0) return;
    track(async () => {
      for (const r of rows) await stores.webhooks.releaseClaim(r.id, instanceId);
    });
  }

  // ── Decide and record: each outcome is one write (decided inside it, on the delivery as it is then); the writer
  // commits the outcomes that finish together in one batch, and one failing undoes only its own savepoint.
  /** Outcomes whose write failed, waiting (slot held) for `retryTimer` to write them again. */
  const retries: Finished[] = [];
  let retryTimer: Timer | undefined;

  function record(f: Finished) {
    track(async () => {
      let d: Decision;
      try {
        d = await writer.write((tx) => recordOutcome(tx.webhooks, f, policy));
      } catch (err) {
        log.error("could not record a webhook attempt; retrying shortly", { delivery_id: f.row.id, error: describe(err) });
        if (state === "running") {
          retries.push(f);
          retryTimer ??= clock.setTimer(retryRecords, ERROR_BACKOFF_MS);
        } else {
          // Shutting down: it stays pending in the database and goes out again on the next start (or elsewhere).
          release(f.row);
          releaseClaims([f.row]);
          observe({ step: "dropped", deliveryId: f.row.id });
        }
        return;
      }
      // Slot first, so nothing below can keep one taken.
      release(f.row);
      const next = nextAttemptOf(d);
      if (next !== null) claimer.noteDue(f.row.webhook_id, next);
      logOutcome(log, f, d);
      observe({ step: "recorded", deliveryId: f.row.id, decision: d });
      // The outcomes of one batch resolve together: one pump for all of them, on the next turn.
      schedulePump();
    });
  }

  function retryRecords() {
    retryTimer = undefined;
    for (const f of retries.splice(0)) record(f);
  }

  /** Until no write of this dispatcher is left (each may queue another: a full fan-out, a pump after an outcome). */
  async function drainWrites() {
    while (writing.size > 0) await Promise.allSettled([...writing]);
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
    pruning = pruneExpired(deps, lastPrune, config.retentionDays, () => state === "running" || state === "new")
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
      // The first pump reads what was pending when the last process stopped; listening starts first, so nothing recorded meanwhile is missed.
      unsubscribe = [
        signals.onRecorded(() => {
          outboxDirty = true;
          schedulePump();
        }),
        signals.onQueued((webhookId, at) => {
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
          await pruning; // a prune() called before start still writes
          return;
        }
        state = "stopping";
        unsubscribe.forEach((u) => u());
        timer?.cancel();
        timer = undefined;
        timerAt = Infinity;
        // The grace period starts now, on the clock; a claim in progress ends first (what it claims from now on is
        // released, not sent), then the attempts on the wire get what is left of it.
        let graceOver!: () => void;
        const graceDone = new Promise<void>((r) => (graceOver = r));
        const grace = clock.setTimer(() => graceOver(), graceMs);
        if (pumping) await pumping;
        const onWire = [...flights.values()].map((f) => f.done);
        if (onWire.length) await Promise.race([Promise.allSettled(onWire), graceDone]);
        grace.cancel();
        const late = [...flights.values()].filter((f) => f.onWire);
        for (const f of late) f.controller.abort();
        await Promise.allSettled(late.map((f) => f.done));
        // Outcomes whose write failed get one more try now; then every write of ours commits (or fails) before
        // the database may close.
        retryTimer?.cancel();
        retryRecords();
        await drainWrites();
        if (late.length) log.info("webhook dispatcher stopped with attempts in flight; they stay pending", { count: late.length });
        await pruning;
        await drainWrites();
        agents.destroy();
        state = "stopped";
      })();
      return stopping;
    },

    prune: () => runPrune(),
    inFlight: () => flights.size,
    nextWake: () => (timerAt === Infinity ? null : timerAt),
    async settled() {
      // Turns of the event loop, not time: a queued pump runs, and a writer batch commits, on setImmediate.
      do await new Promise<void>((r) => setImmediate(r));
      while (pumpQueued || pumping !== null || writing.size > 0 || pruning !== null);
    },
  };
}
