// Rate limits on PostgreSQL, shared (--rate-limit-scope cluster) against per instance (instance), measured in the same run: throughput, latency and CPU per request.
//
// `bun bench/rate-limit-postgres.ts` — the product (from source) on a PostgreSQL database of the test server
// (test/services/postgres.ts: CLIENTCOVE_TEST_DATABASE_URL, else a throwaway local server), a limit high enough never to
// refuse (every response must be 200), one API key (the worst case for the shared bucket: every request takes from one
// row). Each configuration (path × instances × scope) runs BENCH_RL_RUNS times, the configurations interleaved so
// that other load on the machine falls on both scopes alike; medians are reported, and the cluster/instance ratios.
//
// Environment (all optional): BENCH_RL_RUNS (3), BENCH_RL_DURATION seconds (5), BENCH_RL_WARMUP seconds (1),
// BENCH_RL_CONNECTIONS per instance (32), BENCH_RL_INSTANCES ("1,2"), BENCH_RL_POOL (the product's default pool size).
import { cpus, loadavg } from "node:os";
import { join, resolve } from "node:path";
import { rmSync } from "node:fs";
import type { Sql } from "postgres";
import { openPostgres } from "../src/db/postgres/client";
import { freshDatabase, postgresUrl } from "../test/services/postgres";
import { tempDir } from "../test/helpers";
import { findOrInstallWrk, runWrk, type LoadSettings, type WrkResult } from "./load";
import { cpuMicros, freePort, pinPrefix, startServer, type Server } from "./processes";

const ROOT = resolve(import.meta.dir, "..");
const BUN = join(ROOT, "node_modules", ".bin", "bun");
const env = process.env;
const RUNS = Number(env.BENCH_RL_RUNS ?? 3);
const DURATION = Number(env.BENCH_RL_DURATION ?? 5);
const WARMUP = Number(env.BENCH_RL_WARMUP ?? 1);
const CONNECTIONS = Number(env.BENCH_RL_CONNECTIONS ?? 32);
const INSTANCES = (env.BENCH_RL_INSTANCES ?? "1,2").split(",").map(Number);
const SCOPES = ["instance", "cluster"] as const;
type Scope = (typeof SCOPES)[number];

const say = (line: string) => process.stderr.write(`[bench] ${line}\n`);
const median = (xs: number[]) => {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (!s.length) return NaN;
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/** The product's serve command for one instance on the database. */
function serveCommand(pin: string[], url: string, port: number, scope: Scope): string[] {
  const dir = tempDir("cc-bench-rl");
  dirs.push(dir);
  const cmd = [...pin, BUN, join(ROOT, "src", "main.ts"), "serve", "--host", "127.0.0.1", "--port", String(port), "--data-dir", dir];
  cmd.push("--database-url", url, "--log-level", "warn", "--rate-limit-scope", scope);
  cmd.push("--rate-limit-per-minute", "10000000", "--rate-limit-burst", "10000000");
  if (env.BENCH_RL_POOL) cmd.push("--database-pool-size", env.BENCH_RL_POOL);
  return cmd;
}
const dirs: string[] = [];

/** First start on the empty database: its bootstrap key (printed once on stderr). */
async function bootstrapKey(url: string): Promise<string> {
  const port = freePort();
  const proc = Bun.spawn(serveCommand([], url, port, "instance"), { stdout: "ignore", stderr: "pipe" });
  let text = "";
  const decoder = new TextDecoder();
  for await (const chunk of proc.stderr) {
    text += decoder.decode(chunk);
    const m = /API key \(shown once, store it now\): (cc_\w+)/.exec(text);
    if (m) {
      proc.kill("SIGTERM");
      await proc.exited;
      return m[1]!;
    }
  }
  throw new Error(`the first start printed no API key:\n${text}`);
}

/** CPU time (µs) used so far by the database server processes serving `database`'s connections. */
async function databaseCpu(admin: Sql, database: string): Promise<number> {
  const rows = await admin<{ pid: number }[]>`SELECT pid FROM pg_stat_activity WHERE datname = ${database} AND application_name LIKE 'clientcove%'`;
  return rows.reduce((sum, r) => sum + (cpuMicros(r.pid) || 0), 0);
}

interface Sample {
  rps: number;
  p50: number;
  /** Product CPU per request, all instances (µs). */
  appCpu: number;
  /** PostgreSQL backend CPU per request (µs). */
  dbCpu: number;
  non2xx: number;
}

async function measure(o: {
  url: string;
  database: string;
  admin: Sql;
  key: string;
  path: string;
  instances: number;
  scope: Scope;
  pin: string[];
  load: LoadSettings;
  wrk: string;
}): Promise<Sample> {
  const servers: Server[] = [];
  try {
    for (let i = 0; i < o.instances; i++) {
      const port = freePort();
      servers.push(await startServer(`clientcove-${i}`, serveCommand(o.pin, o.url, port, o.scope), `http://127.0.0.1:${port}`));
    }
    const headers = [`Authorization: Bearer ${o.key}`];
    await Promise.all(servers.map((s) => runWrk(o.wrk, o.load, s.url + o.path, { headers, duration: WARMUP })));
    const app0 = servers.map((s) => cpuMicros(s.proc.pid));
    const db0 = await databaseCpu(o.admin, o.database);
    const results: WrkResult[] = await Promise.all(servers.map((s) => runWrk(o.wrk, o.load, s.url + o.path, { headers })));
    const app = servers.reduce((sum, s, i) => sum + cpuMicros(s.proc.pid) - app0[i]!, 0);
    const db = (await databaseCpu(o.admin, o.database)) - db0;
    const requests = results.reduce((n, r) => n + r.requests, 0);
    return {
      rps: results.reduce((n, r) => n + r.rps, 0),
      p50: median(results.map((r) => r.p50)),
      appCpu: app / requests,
      dbCpu: db / requests,
      non2xx: results.reduce((n, r) => n + r.non2xx, 0),
    };
  } finally {
    for (const s of servers) await s.stop();
  }
}

async function main() {
  const base = await postgresUrl();
  if (!base) throw new Error("no PostgreSQL server (see the line above)");
  const wrk = findOrInstallWrk(say);
  if (!wrk) throw new Error("wrk is needed");
  const db = await freshDatabase();
  const database = new URL(db.url).pathname.slice(1);
  const { sql: admin } = openPostgres({ url: base, poolSize: 2, statementTimeoutMs: 0 });
  const hasTaskset = Bun.spawnSync(["sh", "-c", "command -v taskset"]).exitCode === 0 && cpus().length >= 2;
  const pin = pinPrefix(hasTaskset ? "0" : null);
  const load: LoadSettings = { duration: DURATION, connections: CONNECTIONS, threads: 1, pin: pinPrefix(hasTaskset ? "1" : null) };
  const loadBefore = loadavg();
  const [settings] = await admin`SELECT current_setting('server_version') AS version, current_setting('fsync') AS fsync,
    current_setting('synchronous_commit') AS sync, current_setting('shared_buffers') AS shared_buffers`;
  try {
    const key = await bootstrapKey(db.url);
    // A page of tickets to list and one to get.
    const port = freePort();
    const seeder = await startServer("seed", serveCommand([], db.url, port, "instance"), `http://127.0.0.1:${port}`);
    let id = "";
    for (let i = 0; i < 100; i++) {
      const r = await fetch(`${seeder.url}/v1/tickets`, {
        method: "POST",
        headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
        body: JSON.stringify({ subject: `Ticket ${i}`, priority: i % 2 ? "high" : "low" }),
      });
      id = ((await r.json()) as { id: string }).id;
    }
    await seeder.stop();

    const paths = { list: "/v1/tickets?per_page=25", get: `/v1/tickets/${id}` };
    const configs = Object.entries(paths).flatMap(([name, path]) =>
      INSTANCES.flatMap((instances) => SCOPES.map((scope) => ({ name, path, instances, scope }))),
    );
    const samples = new Map<string, Sample[]>();
    const label = (c: { name: string; instances: number; scope: Scope }) => `${c.name} × ${c.instances} (${c.scope})`;
    for (let run = 1; run <= RUNS; run++) {
      for (const c of configs) {
        const s = await measure({ url: db.url, database, admin, key, path: c.path, instances: c.instances, scope: c.scope, pin, load, wrk });
        if (s.non2xx) throw new Error(`${label(c)}: ${s.non2xx} responses were not 2xx (the limit must never refuse here)`);
        say(
          `run ${run}/${RUNS} ${label(c)}: ${Math.round(s.rps)} req/s, p50 ${s.p50.toFixed(2)} ms, app ${s.appCpu.toFixed(0)} µs/req, db ${s.dbCpu.toFixed(0)} µs/req`,
        );
        samples.set(label(c), [...(samples.get(label(c)) ?? []), s]);
      }
    }

    const med = (c: { name: string; instances: number; scope: Scope }, f: (s: Sample) => number) => median(samples.get(label(c))!.map(f));
    const lines = [
      `Rate limits on PostgreSQL: --rate-limit-scope cluster vs instance (medians of ${RUNS} runs, ${DURATION} s each, ${CONNECTIONS} connections per instance, one API key)`,
      "",
      "| Request | Instances | req/s instance | req/s cluster | cluster/instance | p50 instance → cluster | app µs/req instance → cluster | db µs/req instance → cluster |",
      "|---|---|---|---|---|---|---|---|",
    ];
    for (const [name] of Object.entries(paths)) {
      for (const instances of INSTANCES) {
        const i = { name, instances, scope: "instance" as const };
        const c = { name, instances, scope: "cluster" as const };
        const rps = [med(i, (s) => s.rps), med(c, (s) => s.rps)];
        lines.push(
          `| GET ${name === "list" ? paths.list : "/v1/tickets/:id"} | ${instances} | ${Math.round(rps[0]!)} | ${Math.round(rps[1]!)} | ${(rps[1]! / rps[0]!).toFixed(2)}× | ` +
            `${med(i, (s) => s.p50).toFixed(2)} → ${med(c, (s) => s.p50).toFixed(2)} ms | ${med(i, (s) => s.appCpu).toFixed(0)} → ${med(c, (s) => s.appCpu).toFixed(0)} | ` +
            `${med(i, (s) => s.dbCpu).toFixed(0)} → ${med(c, (s) => s.dbCpu).toFixed(0)} |`,
        );
      }
    }
    lines.push(
      "",
      `PostgreSQL ${settings!.version} (fsync ${settings!.fsync}, synchronous_commit ${settings!.sync}, shared_buffers ${settings!.shared_buffers}), same machine; ` +
        `${cpus().length} cores (${cpus()[0]?.model.trim() ?? "?"}); ${hasTaskset ? "product on CPU 0, wrk on CPU 1, PostgreSQL unpinned" : "not pinned"}; ` +
        `load average ${loadBefore.map((l) => l.toFixed(2)).join(" ")} before, ${loadavg()
          .map((l) => l.toFixed(2))
          .join(" ")} after.`,
    );
    console.log(lines.join("\n"));
  } finally {
    await admin.end({ timeout: 5 });
    await db.drop().catch(() => {});
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
}

await main();
process.exit(0);
