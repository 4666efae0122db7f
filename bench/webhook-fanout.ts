// Webhook fan-out benchmark (issue 4): N ticket creations against the real server, 3 webhooks to local receivers; deliveries/s and commit→receipt lag, then again with one receiver hanging.
//
//   node_modules/.bin/bun bench/webhook-fanout.ts [--tickets 10000] [--concurrency 16] [--rate 0] [--scenario both|all|none|healthy|hanging] [--runs 1]
//
// --rate 0 creates tickets as fast as the server takes them (throughput; the lag is then mostly backlog);
// --rate N paces creation at N tickets/s (lag below saturation).
//
// The server is the real `clientcove serve` in a child process pinned to CPU 0 (this process, the load generator and
// the receivers, pins itself to CPU 1), on a fresh data dir, with CLIENTCOVE_WEBHOOK_ALLOW_PRIVATE=true so it may
// deliver to 127.0.0.1. Lag is measured from the event's commit time (events.created_at, read from the database after
// the run) to the receipt of the first successful attempt at the receiver, on the same machine clock.
import { Database } from "bun:sqlite";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir, cpus } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";

const { values: args } = parseArgs({
  options: {
    tickets: { type: "string", default: "10000" },
    concurrency: { type: "string", default: "16" },
    scenario: { type: "string", default: "both" },
    runs: { type: "string", default: "1" },
    rate: { type: "string", default: "0" },
    "keep-dir": { type: "boolean", default: false },
    /** Do not pin the server and the generator to separate CPUs (when other work shares the machine). */
    "no-pin": { type: "boolean", default: false },
    /** Writes the server's CPU profile (bun --cpu-prof) into this directory; summarise with bench/profile-summary.ts. */
    profile: { type: "string" },
  },
});
const TICKETS = Number(args.tickets);
const CONCURRENCY = Number(args.concurrency);
const RUNS = Number(args.runs);
const RATE = Number(args.rate);
const ROOT = join(import.meta.dir, "..");
const BUN = join(ROOT, "node_modules", ".bin", "bun");
const canPin = !args["no-pin"] && cpus().length >= 2 && Bun.spawnSync(["sh", "-c", "command -v taskset"]).exitCode === 0;
if (canPin) Bun.spawnSync(["taskset", "-cp", "1", String(process.pid)], { stdout: "ignore" });

interface Receiver {
  url: string;
  /** webhook-id → receipt time (ms) of its first 2xx answer. */
  firstReceipt: Map<string, number>;
  requests: number;
  stop(): void;
}

function startReceiver(hanging: boolean): Receiver {
  const firstReceipt = new Map<string, number>();
  let requests = 0;
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    idleTimeout: 0,
    async fetch(req) {
      requests++;
      const at = Date.now();
      if (hanging) return new Promise<Response>(() => {});
      await req.arrayBuffer();
      const id = req.headers.get("webhook-id")!;
      if (!firstReceipt.has(id)) firstReceipt.set(id, at);
      return new Response(null, { status: 204 });
    },
  });
  return {
    url: `http://127.0.0.1:${server.port}/hook`,
    firstReceipt,
    get requests() {
      return requests;
    },
    stop: () => server.stop(true),
  };
}

async function readUntil(stream: ReadableStream<Uint8Array>, sink: { text: string }, pattern: RegExp, timeoutMs = 30_000): Promise<RegExpExecArray> {
  const deadline = Date.now() + timeoutMs;
  const decoder = new TextDecoder();
  const reader = stream.getReader();
  void (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      sink.text += decoder.decode(value, { stream: true });
    }
  })();
  for (;;) {
    const m = pattern.exec(sink.text);
    if (m) return m;
    if (Date.now() > deadline) throw new Error(`server did not print ${pattern}:\n${sink.text}`);
    await Bun.sleep(20);
  }
}

/** A port that was free a moment ago (the server needs a fixed one: its first-start hint would say port 0). */
function freePort(): number {
  const probe = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = probe.port;
  probe.stop(true);
  return port;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

interface Result {
  scenario: string;
  tickets: number;
  createSeconds: number;
  createRate: number;
  deliveries: number;
  deliveriesPerSecond: number;
  drainAfterLastCommitMs: number;
  /** Deliveries/s after the last commit: the dispatcher's rate with the API idle. */
  drainRate: number;
  lagP50: number;
  lagP99: number;
  lagMax: number;
  hangingRequests: number | null;
}

type Scenario = "none" | "healthy" | "hanging";

async function runScenario(scenario: Scenario): Promise<Result> {
  const dir = mkdtempSync(join(tmpdir(), "cc-bench-wh-"));
  // "none": no webhooks at all, the ticket-creation rate the others are compared with.
  const receivers = scenario === "none" ? [] : [startReceiver(false), startReceiver(false), startReceiver(scenario === "hanging")];
  const healthy = scenario === "hanging" ? receivers.slice(0, 2) : receivers;
  const port = freePort();
  const prof = args.profile ? ["--cpu-prof", "--cpu-prof-dir", args.profile] : [];
  const cmd = [BUN, ...prof, "src/main.ts", "serve", "--data-dir", dir, "--port", String(port), "--host", "127.0.0.1"];
  const proc = Bun.spawn(canPin ? ["taskset", "-c", "0", ...cmd] : cmd, {
    cwd: ROOT,
    env: {
      ...process.env,
      CLIENTCOVE_WEBHOOK_ALLOW_PRIVATE: "true",
      CLIENTCOVE_LOG_LEVEL: "error",
      CLIENTCOVE_RATE_LIMIT_PER_MINUTE: "0",
      CLIENTCOVE_SHUTDOWN_TIMEOUT_MS: "2000",
    },
    stdout: "pipe",
    stderr: "pipe",
  });
  try {
    // Log level "error" keeps request logs out of the measurement; the first-start hint on stderr has the key.
    const err = { text: "" };
    const key = (await readUntil(proc.stderr as ReadableStream<Uint8Array>, err, /API key \(shown once, store it now\): (cc_\S+)/))[1]!;
    const url = `http://127.0.0.1:${port}`;
    const headers = { authorization: `Bearer ${key}`, "content-type": "application/json" };
    for (const r of receivers) {
      const res = await fetch(`${url}/v1/webhooks`, { method: "POST", headers, body: JSON.stringify({ url: r.url, events: ["ticket.created"] }) });
      if (res.status !== 201) throw new Error(`register: ${res.status} ${await res.text()}`);
    }

    let next = 0;
    const t0 = Date.now();
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < TICKETS) {
          const i = next++;
          if (RATE > 0) {
            const due = t0 + (i * 1000) / RATE;
            if (due > Date.now()) await Bun.sleep(due - Date.now());
          }
          const res = await fetch(`${url}/v1/tickets`, { method: "POST", headers, body: JSON.stringify({ subject: `Bench ticket ${i}`, priority: "medium" }) });
          if (res.status !== 201) throw new Error(`create: ${res.status} ${await res.text()}`);
          await res.arrayBuffer();
        }
      }),
    );
    const createdMs = Date.now() - t0;

    const deadline = Date.now() + 600_000;
    while (healthy.some((r) => r.firstReceipt.size < TICKETS)) {
      if (Date.now() > deadline) throw new Error(`deliveries incomplete: ${healthy.map((r) => r.firstReceipt.size).join(", ")}`);
      await Bun.sleep(20);
    }

    proc.kill("SIGTERM");
    await proc.exited;

    const db = new Database(join(dir, "clientcove.db"), { readonly: true });
    const commits = new Map(
      (db.query("SELECT d.id, e.created_at FROM webhook_deliveries d JOIN events e ON e.id = d.event_id").all() as { id: string; created_at: number }[]).map(
        (r) => [r.id, r.created_at],
      ),
    );
    const lastCommit = (db.query("SELECT MAX(created_at) AS t FROM events").get() as { t: number }).t;
    const firstCommit = (db.query("SELECT MIN(created_at) AS t FROM events").get() as { t: number }).t;
    db.close();

    const lags: number[] = [];
    let lastReceipt = 0;
    let afterLastCommit = 0;
    for (const r of healthy) {
      for (const [id, at] of r.firstReceipt) {
        lags.push(at - commits.get(id)!);
        if (at > lastReceipt) lastReceipt = at;
        if (at > lastCommit) afterLastCommit++;
      }
    }
    lags.sort((a, b) => a - b);
    const deliveries = lags.length;
    return {
      scenario,
      tickets: TICKETS,
      createSeconds: createdMs / 1000,
      createRate: TICKETS / (createdMs / 1000),
      deliveries,
      deliveriesPerSecond: deliveries ? deliveries / ((lastReceipt - firstCommit) / 1000) : NaN,
      drainAfterLastCommitMs: deliveries ? lastReceipt - lastCommit : NaN,
      drainRate: afterLastCommit > 100 ? afterLastCommit / ((lastReceipt - lastCommit) / 1000) : NaN,
      lagP50: percentile(lags, 50),
      lagP99: percentile(lags, 99),
      lagMax: lags.at(-1) ?? NaN,
      hangingRequests: scenario === "hanging" ? receivers[2]!.requests : null,
    };
  } finally {
    if (proc.exitCode === null) proc.kill("SIGKILL");
    receivers.forEach((r) => r.stop());
    if (!args["keep-dir"]) rmSync(dir, { recursive: true, force: true });
  }
}

const scenarios: Scenario[] =
  args.scenario === "both" ? ["healthy", "hanging"] : args.scenario === "all" ? ["none", "healthy", "hanging"] : [args.scenario as Scenario];
console.log(
  `# webhook fan-out: ${TICKETS} tickets, ${CONCURRENCY} concurrent creators, ${RATE > 0 ? `paced at ${RATE} tickets/s` : "unpaced"}, 3 webhooks; pinned: ${canPin ? "server CPU 0, bench CPU 1" : "no"}`,
);
console.log(
  "| scenario | run | tickets/s (create) | deliveries | deliveries/s | lag p50 ms | lag p99 ms | lag max ms | drain after last commit ms | deliveries/s during drain | requests to hanging receiver |",
);
console.log("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
for (const s of scenarios) {
  for (let run = 1; run <= RUNS; run++) {
    const r = await runScenario(s);
    console.log(
      `| ${r.scenario} | ${run} | ${r.createRate.toFixed(0)} | ${r.deliveries} | ${r.deliveriesPerSecond.toFixed(0)} | ${r.lagP50} | ${r.lagP99} | ${r.lagMax} | ${r.drainAfterLastCommitMs} | ${Number.isNaN(r.drainRate) ? "–" : r.drainRate.toFixed(0)} | ${r.hangingRequests ?? "–"} |`,
    );
  }
}
