// Webhook fan-out benchmark (issue 4): N ticket creations against the real server, 3 webhooks to local receivers; deliveries/s and commit→receipt lag, then again with one receiver hanging.
//
//   node_modules/.bin/bun bench/webhook-fanout.ts [--tickets 10000] [--concurrency 16] [--rate 0] [--scenario both|all|none|healthy|hanging] [--runs 1]
//     [--baseline REV] [--tree DIR] [--database-url URL|auto] [--instances 1]
//
// --rate 0 creates tickets as fast as the server takes them (throughput; the lag is then mostly backlog);
// --rate N paces creation at N tickets/s (lag below saturation).
// --baseline REV also runs the server of that commit (its tree from `git archive`, this checkout's node_modules),
// alternating with this tree (or --tree DIR, a tree with its own node_modules or none: this checkout's are linked) run
// by run, so both are measured under the same load; the table's build column says which.
// --database-url runs the server(s) on PostgreSQL, a fresh database per run on that server (`auto`: BENCH_DATABASE_URL,
// else the tests' throwaway server); --instances N (PostgreSQL only) runs N servers on it, the creators spread over them.
//
// The server is the real `clientcove serve` in a child process pinned to CPU 0 (this process, the load generator and
// the receivers, pins itself to CPU 1), on a fresh data dir, with CLIENTCOVE_WEBHOOK_ALLOW_PRIVATE=true so it may
// deliver to 127.0.0.1. Lag is measured from the event's commit time (events.created_at, read from the database after
// the run) to the receipt of the first successful attempt at the receiver, on the same machine clock.
import { Database } from "bun:sqlite";
import { existsSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir, cpus } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import type { Sql } from "postgres";
import { openPostgres } from "../src/db/postgres/client";
import { randomString } from "../src/lib/ids";

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
    baseline: { type: "string" },
    /** The tree to measure (default: this checkout), e.g. a commit with one change applied, to isolate it from other work in progress. */
    tree: { type: "string" },
    "database-url": { type: "string" },
    instances: { type: "string", default: "1" },
  },
});
const TICKETS = Number(args.tickets);
const CONCURRENCY = Number(args.concurrency);
const RUNS = Number(args.runs);
const RATE = Number(args.rate);
const ROOT = join(import.meta.dir, "..");
const INSTANCES = Number(args.instances);
if (INSTANCES > 1 && !args["database-url"]) throw new Error("--instances needs --database-url (several instances share one PostgreSQL database)");
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

/** A tree to run the server from: this checkout, or a commit's tree exported next to it (--baseline). */
interface Build {
  name: string;
  root: string;
}

function exportBuild(rev: string): Build {
  const sha = Bun.spawnSync(["git", "rev-parse", "--short", rev], { cwd: ROOT }).stdout.toString().trim();
  if (!sha) throw new Error(`--baseline ${rev}: not a commit`);
  const root = mkdtempSync(join(tmpdir(), "cc-bench-base-"));
  // Reads git only (no checkout, no worktree): the commit's files, with this checkout's dependencies.
  const out = Bun.spawnSync(["sh", "-c", `git archive ${sha} | tar -x -C '${root}'`], { cwd: ROOT });
  if (out.exitCode !== 0) throw new Error(`git archive ${sha}: ${out.stderr.toString()}`);
  symlinkSync(join(ROOT, "node_modules"), join(root, "node_modules"));
  process.on("exit", () => rmSync(root, { recursive: true, force: true }));
  return { name: `${rev} (${sha})`, root };
}

function treeBuild(dir: string): Build {
  if (!existsSync(join(dir, "node_modules"))) symlinkSync(join(ROOT, "node_modules"), join(dir, "node_modules"));
  return { name: dir, root: dir };
}

/** The PostgreSQL server runs go to (--database-url), and a fresh database on it per run. */
let pgAdmin: Sql | undefined;
async function pgServerUrl(): Promise<string> {
  const given = args["database-url"]!;
  if (given !== "auto") return given;
  if (process.env.BENCH_DATABASE_URL) return process.env.BENCH_DATABASE_URL;
  const { postgresUrl } = await import("../test/services/postgres");
  const url = await postgresUrl();
  if (!url) throw new Error("--database-url auto: no PostgreSQL server (set BENCH_DATABASE_URL)");
  return url;
}
async function freshPgDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const base = await pgServerUrl();
  pgAdmin ??= openPostgres({ url: base, poolSize: 1, statementTimeoutMs: 0 }).sql;
  const name = `cc_bench_${randomString(10, "0123456789abcdefghijklmnopqrstuvwxyz")}`;
  await pgAdmin.unsafe(`CREATE DATABASE ${name} ENCODING 'UTF8' TEMPLATE template0`);
  const u = new URL(base);
  u.pathname = `/${name}`;
  return { url: u.toString(), drop: async () => void (await pgAdmin!.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)) };
}

/** Commit times of every delivery's event, and the first and last event commit, from the server's database. */
async function commitTimes(dir: string, databaseUrl: string | null) {
  if (databaseUrl) {
    const h = openPostgres({ url: databaseUrl, poolSize: 1, statementTimeoutMs: 0 });
    try {
      const rows = await h.sql<{ id: string; created_at: number }[]>`SELECT d.id, e.created_at FROM webhook_deliveries d JOIN events e ON e.id = d.event_id`;
      const [span] = await h.sql<{ first: number; last: number }[]>`SELECT MIN(created_at) AS first, MAX(created_at) AS last FROM events`;
      return { commits: new Map(rows.map((r) => [r.id, Number(r.created_at)])), firstCommit: Number(span!.first), lastCommit: Number(span!.last) };
    } finally {
      await h.close();
    }
  }
  const db = new Database(join(dir, "clientcove.db"), { readonly: true });
  const commits = new Map(
    (db.query("SELECT d.id, e.created_at FROM webhook_deliveries d JOIN events e ON e.id = d.event_id").all() as { id: string; created_at: number }[]).map(
      (r) => [r.id, r.created_at],
    ),
  );
  const lastCommit = (db.query("SELECT MAX(created_at) AS t FROM events").get() as { t: number }).t;
  const firstCommit = (db.query("SELECT MIN(created_at) AS t FROM events").get() as { t: number }).t;
  db.close();
  return { commits, firstCommit, lastCommit };
}

async function runScenario(scenario: Scenario, build: Build): Promise<Result> {
  const dir = mkdtempSync(join(tmpdir(), "cc-bench-wh-"));
  const pg = args["database-url"] ? await freshPgDatabase() : null;
  // "none": no webhooks at all, the ticket-creation rate the others are compared with.
  const receivers = scenario === "none" ? [] : [startReceiver(false), startReceiver(false), startReceiver(scenario === "hanging")];
  const healthy = scenario === "hanging" ? receivers.slice(0, 2) : receivers;
  const procs: ReturnType<typeof Bun.spawn>[] = [];
  /** One server process: its own data dir (on PostgreSQL only its lock and logs live there), port and pid. */
  const spawnServer = (n: number) => {
    const port = freePort();
    const prof = args.profile ? ["--cpu-prof", "--cpu-prof-dir", args.profile] : [];
    const dataDir = join(dir, `i${n}`);
    const cmd = [BUN, ...prof, "src/main.ts", "serve", "--data-dir", dataDir, "--port", String(port), "--host", "127.0.0.1"];
    const proc = Bun.spawn(canPin ? ["taskset", "-c", "0", ...cmd] : cmd, {
      cwd: build.root,
      env: {
        ...process.env,
        CLIENTCOVE_WEBHOOK_ALLOW_PRIVATE: "true",
        CLIENTCOVE_LOG_LEVEL: "error",
        CLIENTCOVE_RATE_LIMIT_PER_MINUTE: "0",
        CLIENTCOVE_SHUTDOWN_TIMEOUT_MS: "2000",
        ...(pg ? { CLIENTCOVE_DATABASE_URL: pg.url } : {}),
      },
      stdout: "pipe",
      stderr: "pipe",
    });
    procs.push(proc);
    return { proc, url: `http://127.0.0.1:${port}`, dataDir };
  };
  try {
    const first = spawnServer(0);
    // Log level "error" keeps request logs out of the measurement; the first-start hint on stderr has the key.
    const err = { text: "" };
    const key = (await readUntil(first.proc.stderr as ReadableStream<Uint8Array>, err, /API key \(shown once, store it now\): (cc_\S+)/))[1]!;
    const urls = [first.url];
    for (let n = 1; n < INSTANCES; n++) {
      const other = spawnServer(n);
      const deadline = Date.now() + 30_000;
      while ((await fetch(`${other.url}/readyz`).catch(() => null))?.status !== 200) {
        if (Date.now() > deadline) throw new Error(`instance ${n} did not become ready`);
        await Bun.sleep(50);
      }
      urls.push(other.url);
    }
    const url = first.url;
    const headers = { authorization: `Bearer ${key}`, "content-type": "application/json" };
    for (const r of receivers) {
      const res = await fetch(`${url}/v1/webhooks`, { method: "POST", headers, body: JSON.stringify({ url: r.url, events: ["ticket.created"] }) });
      if (res.status !== 201) throw new Error(`register: ${res.status} ${await res.text()}`);
    }

    let next = 0;
    const t0 = Date.now();
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async (_, creator) => {
        // Creators spread over the instances, as a load balancer would.
        const target = urls[creator % urls.length]!;
        while (next < TICKETS) {
          const i = next++;
          if (RATE > 0) {
            const due = t0 + (i * 1000) / RATE;
            if (due > Date.now()) await Bun.sleep(due - Date.now());
          }
          const res = await fetch(`${target}/v1/tickets`, {
            method: "POST",
            headers,
            body: JSON.stringify({ subject: `Bench ticket ${i}`, priority: "medium" }),
          });
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

    for (const proc of procs) proc.kill("SIGTERM");
    await Promise.all(procs.map((proc) => proc.exited));

    const { commits, firstCommit, lastCommit } = await commitTimes(first.dataDir, pg?.url ?? null);
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
    for (const proc of procs) if (proc.exitCode === null) proc.kill("SIGKILL");
    await Promise.all(procs.map((proc) => proc.exited));
    receivers.forEach((r) => r.stop());
    await pg?.drop();
    if (!args["keep-dir"]) rmSync(dir, { recursive: true, force: true });
  }
}

const scenarios: Scenario[] =
  args.scenario === "both" ? ["healthy", "hanging"] : args.scenario === "all" ? ["none", "healthy", "hanging"] : [args.scenario as Scenario];
const builds: Build[] = [...(args.baseline ? [exportBuild(args.baseline)] : []), args.tree ? treeBuild(args.tree) : { name: "this tree", root: ROOT }];
const engine = args["database-url"] ? `PostgreSQL, ${INSTANCES} instance${INSTANCES > 1 ? "s" : ""}` : "SQLite";
console.log(
  `# webhook fan-out: ${TICKETS} tickets, ${CONCURRENCY} concurrent creators, ${RATE > 0 ? `paced at ${RATE} tickets/s` : "unpaced"}, 3 webhooks, ${engine}; pinned: ${canPin ? "server CPU 0, bench CPU 1" : "no"}`,
);
console.log(
  "| scenario | build | run | tickets/s (create) | deliveries | deliveries/s | lag p50 ms | lag p99 ms | lag max ms | drain after last commit ms | deliveries/s during drain | requests to hanging receiver |",
);
console.log("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
const p50s = new Map<string, number[]>();
for (const s of scenarios) {
  for (let run = 1; run <= RUNS; run++) {
    // Alternating builds run by run: both see the same load from whatever else shares the machine.
    for (const build of builds) {
      const r = await runScenario(s, build);
      const k = `${s} · ${build.name}`;
      p50s.set(k, [...(p50s.get(k) ?? []), r.lagP50]);
      console.log(
        `| ${r.scenario} | ${build.name} | ${run} | ${r.createRate.toFixed(0)} | ${r.deliveries} | ${r.deliveriesPerSecond.toFixed(0)} | ${r.lagP50} | ${r.lagP99} | ${r.lagMax} | ${r.drainAfterLastCommitMs} | ${Number.isNaN(r.drainRate) ? "–" : r.drainRate.toFixed(0)} | ${r.hangingRequests ?? "–"} |`,
      );
    }
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;
for (const [k, xs] of p50s) console.log(`# lag p50 median ${k}: ${median(xs)} ms`);
await pgAdmin?.end();
