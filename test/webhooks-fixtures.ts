// Shared fixtures of the webhook tests: a real local receiver (Bun.serve on 127.0.0.1), an app + started dispatcher on a temp dir, and waiting on events (not sleeps).
import type { Config } from "../src/config";
import type { Clock, ManualClock } from "../src/lib/clock";
import { silentLogger, type Logger } from "../src/lib/log";
import { createDispatcher, type Dispatcher, type DispatcherDeps, type DispatchStep } from "../src/webhooks/dispatcher";
import { createTestEnv, type TestEnv } from "./helpers";

export interface Received {
  at: number;
  method: string;
  path: string;
  headers: Record<string, string>;
  body: string;
  json: any;
}

export type Handler = (req: Received, n: number) => Response | Promise<Response>;

export interface Receiver {
  url: string;
  port: number;
  requests: Received[];
  /** Requests whose webhook-id has been answered with a 2xx at least once. */
  delivered: Set<string>;
  handle(fn: Handler): void;
  stop(): void;
}

/** Waiters of `until`, woken whenever something webhook-related happens in this process. */
const waiters = new Set<() => void>();

/** Wakes every `until` to check its condition again. */
export function pulse(): void {
  const woken = [...waiters];
  waiters.clear();
  woken.forEach((wake) => wake());
}

/** A dispatcher `observe` dep that wakes the waiters after each step (fan-out, start, record, drop). */
export const observeDispatch = (_step: DispatchStep): void => pulse();

/**
 * Resolves with `check()`'s first truthy value. It checks again after each receiver request and answer and
 * each dispatcher step (of dispatchers built with `observeDispatch`), never on a timer; `timeoutMs` only
 * turns a hang into a failure that names `what`.
 */
export async function until<T>(check: () => T | Promise<T>, what: string, timeoutMs = 10_000): Promise<NonNullable<T>> {
  let failed = false;
  let giveUp = () => {};
  const deadline = setTimeout(() => {
    failed = true;
    giveUp();
  }, timeoutMs);
  try {
    for (;;) {
      // Subscribe before checking, so a change during an async check is not missed.
      const changed = new Promise<void>((resolve) => {
        waiters.add(resolve);
        giveUp = resolve;
      });
      const v = await check();
      if (v) return v as NonNullable<T>;
      await changed;
      if (failed) throw new Error(`timed out waiting for ${what}`);
    }
  } finally {
    clearTimeout(deadline);
  }
}

/** A real HTTP receiver; the handler decides each answer (default 204). */
export function startReceiver(handler: Handler = () => new Response(null, { status: 204 })): Receiver {
  let fn = handler;
  const requests: Received[] = [];
  const delivered = new Set<string>();
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    idleTimeout: 0,
    async fetch(request) {
      const body = await request.text();
      let json: any = null;
      try {
        json = JSON.parse(body);
      } catch {}
      const rec: Received = {
        at: Date.now(),
        method: request.method,
        path: new URL(request.url).pathname,
        headers: Object.fromEntries(request.headers),
        body,
        json,
      };
      requests.push(rec);
      pulse();
      const res = await fn(rec, requests.length);
      if (res.status >= 200 && res.status < 300) delivered.add(rec.headers["webhook-id"]!);
      pulse();
      return res;
    },
  });
  return {
    url: `http://127.0.0.1:${server.port}`,
    port: server.port!,
    requests,
    delivered,
    handle(next) {
      fn = next;
    },
    stop() {
      server.stop(true);
    },
  };
}

/** Receivers a test file starts, stopped together in its afterEach: `pool.start(handler)`, then `pool.stopAll()`. */
export function receiverPool() {
  const started: Receiver[] = [];
  return {
    start(handler?: Handler): Receiver {
      const r = startReceiver(handler);
      started.push(r);
      return r;
    },
    stopAll(): void {
      started.splice(0).forEach((r) => r.stop());
    },
  };
}

/** Polls `check` every 10 ms until it returns truthy; fails with `what` after `timeoutMs`. For state no event of this process announces (another process, the disk); in-process webhook tests use `until`. */
export async function waitFor<T>(check: () => T | Promise<T>, what: string, timeoutMs = 5000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(10);
  }
}

/** A promise that never settles: a receiver that hangs. */
export function hang(): Promise<Response> {
  return new Promise(() => {});
}

export const WEBHOOK_TEST_CONFIG: Partial<Config> = {
  webhookAllowPrivate: true,
  webhookRetryBaseMs: 30,
  webhookTimeoutMs: 2000,
  // The tests poll the delivery log; per-key rate limits are not what they test.
  rateLimitPerMinute: 0,
};

export interface WebhookEnv {
  env: TestEnv;
  dispatcher: Dispatcher;
  key: string;
  orgId: string;
  /** JSON request through the app with this org's key; returns status and parsed body. */
  api(method: string, path: string, json?: unknown, key?: string): Promise<{ status: number; body: any; headers: Headers }>;
  /** Registers a webhook and returns its creation response body. */
  register(url: string, events?: string[]): Promise<any>;
  createTicket(subject?: string): Promise<any>;
  /** Waits until no attempt is on the wire or awaiting its write and nothing is queued in the dispatcher. */
  idle(): Promise<void>;
  /**
   * With a manual clock: moves it to each next due attempt (the dispatcher's own timer fires) and waits until
   * that is recorded, until nothing is scheduled or `maxWakes` timers fired. Returns how many fired.
   */
  runDue(maxWakes?: number): Promise<number>;
  close(): Promise<void>;
}

/** No event waits to be fanned out and no delivery of an active endpoint is due and not started (PostgreSQL idle). */
async function postgresCaughtUp(env: TestEnv): Promise<boolean> {
  const undispatched = await env.db.get<{ n: number }>("SELECT COUNT(*) AS n FROM events WHERE dispatched_at IS NULL");
  const due = await env.db.get<{ n: number }>(
    `SELECT COUNT(*) AS n FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id
      WHERE d.status = 'pending' AND w.active = 1 AND d.next_attempt_at <= ? AND d.claimed_by IS NULL`,
    env.clock.now(),
  );
  return Number(undispatched?.n) === 0 && Number(due?.n) === 0;
}

function isManual(clock: Clock): clock is ManualClock {
  return typeof (clock as ManualClock).advance === "function";
}

/** Stops a dispatcher; on a manual clock its grace period is run out at once (attempts still hanging are dropped). */
export async function stopDispatcher(dispatcher: Dispatcher, clock: Clock, graceMs = 200): Promise<void> {
  const stopping = dispatcher.stop(graceMs);
  if (isManual(clock)) clock.advance(graceMs);
  await stopping;
}

/**
 * A dispatcher's deps on a test env, as serve builds them: the env's config, stores, writer and clock, the engine's
 * signals, and no log. Spread it and override what a test changes.
 */
export function dispatcherDeps(env: TestEnv): DispatcherDeps {
  return {
    config: env.config,
    stores: env.deps.stores,
    writer: env.deps.writer,
    signals: env.deps.signals,
    clock: env.clock,
    log: silentLogger,
  };
}

/**
 * App + dispatcher on a temp data dir, with an organization and its key. The dispatcher is started unless
 * `start: false`; `clock` (e.g. a manualClock) drives both the app and the dispatcher's timers.
 */
export async function webhookEnv(
  opts: { config?: Partial<Config>; start?: boolean; log?: Logger; clock?: Clock; dispatcher?: Partial<Omit<DispatcherDeps, "config" | "clock" | "log">> } = {},
): Promise<WebhookEnv> {
  const env = await createTestEnv({ config: { ...WEBHOOK_TEST_CONFIG, ...opts.config }, clock: opts.clock });
  const observe = opts.dispatcher?.observe;
  const dispatcher = createDispatcher({
    ...dispatcherDeps(env),
    log: opts.log ?? silentLogger,
    ...opts.dispatcher,
    observe: (step) => {
      observe?.(step);
      pulse();
    },
  });
  if (opts.start !== false) dispatcher.start();
  const { key, orgId } = await env.org("Acme");
  const api: WebhookEnv["api"] = async (method, path, json, k = key) => {
    const res = await env.request(path, { method, key: k, json });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null, headers: res.headers };
  };
  const w: WebhookEnv = {
    env,
    dispatcher,
    key,
    orgId,
    api,
    async register(url, events = ["*"]) {
      const res = await api("POST", "/v1/webhooks", { url, events });
      if (res.status !== 201) throw new Error(`register failed: ${res.status} ${JSON.stringify(res.body)}`);
      return res.body;
    },
    async createTicket(subject = "Printer on fire") {
      const res = await api("POST", "/v1/tickets", { subject, priority: "high" });
      if (res.status !== 201) throw new Error(`ticket failed: ${res.status} ${JSON.stringify(res.body)}`);
      return res.body;
    },
    async idle() {
      do {
        await until(() => dispatcher.inFlight() === 0, "attempts on the wire to be recorded");
        await dispatcher.settled();
        // PostgreSQL wakes the dispatcher by a NOTIFY on its own connection, after the commit: until it has heard of
        // every event committed so far (fanned out) and started every delivery due now, it is not idle either.
        if (env.engine === "postgres") await until(() => postgresCaughtUp(env), "the dispatcher to hear of committed events and due deliveries");
      } while (dispatcher.inFlight() > 0);
    },
    async runDue(maxWakes = 1000) {
      const clock = env.clock;
      if (!isManual(clock)) throw new Error("runDue needs a manual clock");
      let wakes = 0;
      for (; wakes < maxWakes; wakes++) {
        await this.idle();
        const at = dispatcher.nextWake();
        if (at === null) break;
        clock.advance(Math.max(0, at - clock.now()));
      }
      await this.idle();
      return wakes;
    },
    async close() {
      await stopDispatcher(dispatcher, env.clock);
      await env.close();
    },
  };
  return w;
}
