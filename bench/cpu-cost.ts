// Development probe: CPU microseconds (process CPU time) per request of the product's app (app.handle, no socket) and of the baseline's
// handler, on copies of the seeded database. Less sensitive to a busy machine than wrk; wrk gives the real numbers.
//
//   bun bench/cpu-cost.ts [seed dir] [scenario,...]      (writes the product's request log to stdout: redirect it)
//   BENCH_LOG_LEVEL=warn bun bench/cpu-cost.ts ...        to see what the access log costs
//   CPU_DATABASE_URL=postgres://… bun bench/cpu-cost.ts ... on PostgreSQL: the product (pool of 10, its webhook dispatcher
//                                                         running, as serve has it) against bench/baseline-server-postgres.ts,
//                                                         each on its own file copy of the bench's template (made if missing;
//                                                         needs bench/results/clientcove, which `npm run bench` builds)
//   CPU_CONCURRENCY=32 …                                  requests in flight at once (default 1); on PostgreSQL 32 is what the
//                                                         bench's wrk rows do (the pool, fan-out batches), and tracks them
//   CPU_DISPATCHER=0 …                                    PostgreSQL without the dispatcher (what fan-out costs)
//   CPU_SIDE=product …                                    the product alone, e.g. under `bun --cpu-prof`
//   ROUNDS=40                                             alternating rounds per scenario (median)
import { copyFileSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { buildApp } from "../src/app";
import { loadConfig } from "../src/config";
import { openDatabase } from "../src/db/client";
import { migrate } from "../src/db/migrate";
import { buildDeps } from "../src/deps";
import { systemClock } from "../src/lib/clock";
import { createLogger, type LogLevel } from "../src/lib/log";
import { openPostgres } from "../src/db/postgres/client";
import { loadDatabaseDownloadKey } from "../src/files/signed-url";
import { createDispatcher } from "../src/webhooks/dispatcher";
import { createBaseline } from "./baseline-server";
import { createPostgresBaseline } from "./baseline-server-postgres";
import { postgresBench } from "./pg-seed";
import { readManifest } from "./seed";

const RESULTS = resolve(import.meta.dir, "results");
const seedPath = process.argv[2] || join(RESULTS, readdirSync(RESULTS).find((f) => f.startsWith("seed-"))!);
const only = process.argv[3]?.split(",");
const seed = readManifest(seedPath)!;
const work = join(RESULTS, "cpu-cost");
rmSync(work, { recursive: true, force: true });
for (const d of ["app", "base"]) {
  mkdirSync(join(work, d), { recursive: true });
  if (!process.env.CPU_DATABASE_URL) copyFileSync(join(seedPath, "clientcove.db"), join(work, d, "clientcove.db"));
}

const level = (process.env.BENCH_LOG_LEVEL ?? "info") as LogLevel;
const pgServer = process.env.CPU_DATABASE_URL;
const config = { ...loadConfig({ "data-dir": join(work, "app"), "rate-limit-per-minute": "0", "log-level": level }, {}).config };
const log = createLogger({ level, format: config.logFormat });
/** The product's app and the baseline's handler on the chosen engine, and how to close both. */
async function open(): Promise<{
  app: { handle(r: Request): Response | Promise<Response> };
  base: { fetch(r: Request): Response | Promise<Response> };
  close(): Promise<void>;
}> {
  if (!pgServer) {
    const handle = openDatabase(config.dataDir);
    migrate(handle.sqlite);
    const app = buildApp(buildDeps({ config, db: handle.db, clock: systemClock, log }));
    const base = createBaseline({ db: join(work, "base", "clientcove.db"), publicUrl: config.publicUrl });
    return {
      app,
      base,
      close: async () => {
        handle.close();
        base.close();
      },
    };
  }
  process.env.BENCH_DATABASE_URL = pgServer;
  const pg = await postgresBench(resolve(RESULTS, "clientcove"), seedPath, (line) => process.stderr.write(`${line}\n`));
  if ("missing" in pg) throw new Error(pg.missing);
  const appUrl = await pg.clone("bench_cpu_app");
  const baseUrl = await pg.clone("bench_cpu_base");
  const pool = openPostgres({ url: appUrl, poolSize: 10, statementTimeoutMs: 30_000 });
  const deps = buildDeps({
    config: { ...config, databaseUrl: appUrl },
    postgres: { sql: pool.sql, downloadKey: await loadDatabaseDownloadKey(pool.sql) },
    clock: systemClock,
    log,
  });
  const dispatcher = createDispatcher({ config: deps.config, stores: deps.stores, writer: deps.writer, signals: deps.signals, clock: deps.clock, log });
  if (process.env.CPU_DISPATCHER !== "0") dispatcher.start();
  const base = await createPostgresBaseline({ url: baseUrl, poolSize: 10, publicUrl: config.publicUrl });
  return {
    app: buildApp(deps),
    base,
    async close() {
      await dispatcher.stop(1000);
      await pool.close();
      await base.close();
      await pg.close();
    },
  };
}
const { app, base, close } = await open();

const key = seed.orgs.main.key;
const body = JSON.stringify({
  subject: "Cannot upload files over 10MB",
  description: "When I try to upload a PDF larger than 10MB, the upload fails silently.",
  priority: "medium",
});
const scenarios: Record<string, () => Request> = {
  list: () => new Request("http://localhost/v1/tickets?status=open&per_page=25", { headers: { authorization: `Bearer ${key}` } }),
  get: () =>
    new Request(`http://localhost/v1/tickets/${seed.sampleIds[Math.floor(Math.random() * seed.sampleIds.length)]}`, {
      headers: { authorization: `Bearer ${key}` },
    }),
  auth: () => new Request("http://localhost/v1/tickets/tkt_0000000000000000", { headers: { authorization: `Bearer ${key}` } }),
  create: () =>
    new Request("http://localhost/v1/tickets", { method: "POST", headers: { authorization: `Bearer ${key}`, "content-type": "application/json" }, body }),
};

/** Requests in flight at once (CPU_CONCURRENCY, default 1): on PostgreSQL, 32 is closer to what wrk does (pool, fan-out batches). */
const concurrency = Number(process.env.CPU_CONCURRENCY ?? 1);
/** CPU_SIDE=product times the product alone (for `bun --cpu-prof`). */
const productOnly = process.env.CPU_SIDE === "product";

/** Process CPU time (user + system, all threads) per request: unlike wall time, it ignores time spent descheduled. */
async function time(fetch: (r: Request) => Response | Promise<Response>, make: () => Request, n: number): Promise<number> {
  const c0 = process.cpuUsage();
  const one = async (count: number) => {
    for (let i = 0; i < count; i++) {
      const res = await fetch(make());
      await res.arrayBuffer();
    }
  };
  await Promise.all(Array.from({ length: concurrency }, (_, w) => one(Math.floor(n / concurrency) + (w < n % concurrency ? 1 : 0))));
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / n;
}

const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
for (const [name, make] of Object.entries(scenarios)) {
  if (only && !only.includes(name)) continue;
  // Many short alternating rounds: a busy machine slows both sides of a round alike; the median ratio is stable.
  const n = Math.max(name === "create" ? 20 : 200, concurrency * 4);
  const rounds = Number(process.env.ROUNDS ?? 40);
  const a: number[] = [];
  const b: number[] = [];
  const r: number[] = [];
  await time(app.handle, make, n * 5);
  if (!productOnly) await time(base.fetch, make, n * 5);
  for (let round = 0; round < rounds; round++) {
    a.push(await time(app.handle, make, n));
    b.push(productOnly ? Number.NaN : await time(base.fetch, make, n));
    r.push(b.at(-1)! / a.at(-1)!);
  }
  process.stderr.write(
    `${name.padEnd(7)} product ${median(a).toFixed(1).padStart(6)} µs/req   baseline ${median(b).toFixed(1).padStart(6)} µs/req   ratio ${median(r).toFixed(2)}×\n`,
  );
}
await close();
rmSync(work, { recursive: true, force: true });
