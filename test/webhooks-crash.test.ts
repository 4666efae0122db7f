// Durability with the real server process: SIGKILL while deliveries are pending, awaiting retry and in flight; after a restart every event arrives at least once.
import { afterAll, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "./helpers";
import { hang, startReceiver, waitFor, type Receiver } from "./webhooks-fixtures";

const ROOT = join(import.meta.dir, "..");
const BUN = join(ROOT, "node_modules", ".bin", "bun");

interface Child {
  proc: ReturnType<typeof Bun.spawn>;
  url: string;
  stderr: () => string;
}

/** Collects a child's output and resolves when `pattern` shows up in it. */
function watch(stream: ReadableStream<Uint8Array>) {
  let text = "";
  const decoder = new TextDecoder();
  const reading = (async () => {
    for await (const chunk of stream) text += decoder.decode(chunk, { stream: true });
  })();
  return {
    text: () => text,
    reading,
    until: (pattern: RegExp, what: string, timeoutMs = 15_000) => waitFor(() => pattern.exec(text), what, timeoutMs),
  };
}

async function startServer(dir: string, firstStart: boolean): Promise<Child & { firstKey: string | null }> {
  const proc = Bun.spawn([BUN, "src/main.ts", "serve", "--data-dir", dir, "--port", "0", "--host", "127.0.0.1"], {
    cwd: ROOT,
    env: {
      ...process.env,
      CLIENTCOVE_WEBHOOK_ALLOW_PRIVATE: "true",
      CLIENTCOVE_WEBHOOK_RETRY_BASE_MS: "200",
      CLIENTCOVE_WEBHOOK_TIMEOUT_MS: "60000",
      CLIENTCOVE_LOG_LEVEL: "info",
      CLIENTCOVE_LOG_FORMAT: "json",
      CLIENTCOVE_RATE_LIMIT_PER_MINUTE: "0",
    },
    stdout: "pipe",
    stderr: "pipe",
  });
  const out = watch(proc.stdout as ReadableStream<Uint8Array>);
  const err = watch(proc.stderr as ReadableStream<Uint8Array>);
  const listening = await out.until(/"msg":"listening".*?"url":"(http:\/\/127\.0\.0\.1:\d+)"/, "the server to listen");
  // The first start's key is printed on stderr after "listening" on stdout: wait for it rather than race it.
  const KEY = /API key \(shown once, store it now\): (cc_\S+)/;
  const key = firstStart ? await err.until(KEY, "the first start's API key") : KEY.exec(err.text());
  return { proc, url: listening[1]!, stderr: err.text, firstKey: key ? key[1]! : null };
}

let dir: string;
let receiver: Receiver | undefined;
const children: Child[] = [];

afterAll(() => {
  for (const c of children) if (c.proc.exitCode === null) c.proc.kill("SIGKILL");
  receiver?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test("after SIGKILL with deliveries pending, waiting for a retry and in flight, a restart delivers every event at least once", async () => {
  dir = tempDir("cc-crash");
  // Phase 1: the first 3 attempts fail (their retries get scheduled), every later one hangs (in flight at the kill).
  let phase = 1;
  receiver = startReceiver((_, n) => (phase === 2 ? new Response(null, { status: 204 }) : n <= 3 ? new Response(null, { status: 500 }) : hang()));

  const first = await startServer(dir, true);
  children.push(first);
  const key = first.firstKey!;
  expect(key).toStartWith("cc_");
  const api = async (base: string, method: string, path: string, json?: unknown) => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: json === undefined ? undefined : JSON.stringify(json),
    });
    return { status: res.status, body: (await res.json()) as any };
  };

  const hook = await api(first.url, "POST", "/v1/webhooks", { url: `${receiver.url}/hook`, events: ["ticket.created"] });
  expect(hook.status).toBe(201);
  const tickets: string[] = [];
  for (let i = 0; i < 20; i++) {
    const t = await api(first.url, "POST", "/v1/tickets", { subject: `Crash test ${i}` });
    expect(t.status).toBe(201);
    tickets.push(t.body.id);
  }
  // 3 failed attempts plus the 4 hanging ones that fill the endpoint's slots.
  await waitFor(() => receiver!.requests.length >= 7, "attempts on the wire");
  const inFlightIds = receiver.requests.slice(3).map((q) => q.headers["webhook-id"]!);

  first.proc.kill("SIGKILL");
  await first.proc.exited;
  expect(first.proc.signalCode).toBe("SIGKILL");

  // What the crash left: nothing delivered; 3 deliveries with a failed attempt and a retry due; the rest untouched,
  // or (for the last tickets) still events in the outbox that were not fanned out yet.
  const db = new Database(join(dir, "clientcove.db"));
  const states = db
    .query("SELECT status, attempt_count AS attempts, COUNT(*) AS n FROM webhook_deliveries GROUP BY status, attempt_count ORDER BY attempt_count")
    .all() as {
    status: string;
    attempts: number;
    n: number;
  }[];
  const waiting = (db.query("SELECT COUNT(*) AS n FROM events WHERE dispatched_at IS NULL AND type = 'ticket.created'").get() as { n: number }).n;
  db.close();
  expect(states.every((s) => s.status === "pending")).toBe(true);
  expect(states.find((s) => s.attempts === 1)?.n).toBe(3);
  expect(states.reduce((sum, s) => sum + s.n, 0) + waiting).toBe(20);

  phase = 2;
  const second = await startServer(dir, false);
  children.push(second);
  expect(second.firstKey).toBeNull();

  // De-duplicated by webhook-id at the receiver: every ticket's event arrived with a 2xx.
  await waitFor(() => receiver!.delivered.size === 20, "all 20 deliveries after restart", 20_000);
  const deliveredTickets = new Set(receiver.requests.filter((q) => receiver!.delivered.has(q.headers["webhook-id"]!)).map((q) => q.json.data.id as string));
  expect([...deliveredTickets].sort()).toEqual([...tickets].sort());
  // The attempts that were in flight when the process died were sent again, with the same webhook-id.
  for (const id of inFlightIds) expect(receiver.requests.filter((q) => q.headers["webhook-id"] === id).length).toBeGreaterThanOrEqual(2);
  await waitFor(
    async () => (await api(second.url, "GET", `/v1/webhooks/${hook.body.id}/deliveries?status=succeeded`)).body.meta.total === 20,
    "the log to agree",
  );

  // SIGTERM: a clean stop.
  second.proc.kill("SIGTERM");
  expect(await second.proc.exited).toBe(0);
}, 60_000);
