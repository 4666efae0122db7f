// Shared fixtures of the webhook tests: a real local receiver (Bun.serve on 127.0.0.1), an app + started dispatcher on a temp dir, and waiting.
import type { Config } from "../src/config";
import { silentLogger, type Logger } from "../src/lib/log";
import { createDispatcher, type Dispatcher, type DispatcherDeps } from "../src/webhooks/dispatcher";
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
      const rec: Received = { at: Date.now(), method: request.method, path: new URL(request.url).pathname, headers: Object.fromEntries(request.headers), body, json };
      requests.push(rec);
      const res = await fn(rec, requests.length);
      if (res.status >= 200 && res.status < 300) delivered.add(rec.headers["webhook-id"]!);
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

/** Polls `check` every 10 ms until it returns truthy; fails with `what` after `timeoutMs`. */
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
  close(): Promise<void>;
}

/** App + dispatcher on a temp data dir, with an organization and its key. The dispatcher is started unless `start: false`. */
export function webhookEnv(
  opts: { config?: Partial<Config>; start?: boolean; log?: Logger; dispatcher?: Partial<Omit<DispatcherDeps, "config" | "db" | "clock" | "log">> } = {},
): WebhookEnv {
  const env = createTestEnv({ config: { ...WEBHOOK_TEST_CONFIG, ...opts.config } });
  const dispatcher = createDispatcher({ config: env.config, db: env.handle.db, clock: env.clock, log: opts.log ?? silentLogger, ...opts.dispatcher });
  if (opts.start !== false) dispatcher.start();
  const { key, orgId } = env.org("Acme");
  const api: WebhookEnv["api"] = async (method, path, json, k = key) => {
    const res = await env.request(path, { method, key: k, json });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null, headers: res.headers };
  };
  return {
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
    async close() {
      await dispatcher.stop(200);
      env.close();
    },
  };
}
