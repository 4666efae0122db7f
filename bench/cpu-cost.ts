// Development probe: CPU microseconds (process CPU time) per request of the product's app (app.handle, no socket) and of the baseline's
// handler, on copies of the seeded database. Less sensitive to a busy machine than wrk; wrk gives the real numbers.
//
//   bun bench/cpu-cost.ts [seed dir] [scenario,...]      (writes the product's request log to stdout: redirect it)
//   BENCH_LOG_LEVEL=warn bun bench/cpu-cost.ts ...        to see what the access log costs
import { copyFileSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { buildApp } from "../src/app";
import { loadConfig } from "../src/config";
import { openDatabase } from "../src/db/client";
import { migrate } from "../src/db/migrate";
import { buildDeps } from "../src/deps";
import { systemClock } from "../src/lib/clock";
import { createLogger, type LogLevel } from "../src/lib/log";
import { createBaseline } from "./baseline-server";
import { readManifest } from "./seed";

const RESULTS = resolve(import.meta.dir, "results");
const seedPath = process.argv[2] ?? join(RESULTS, readdirSync(RESULTS).find((f) => f.startsWith("seed-"))!);
const only = process.argv[3]?.split(",");
const seed = readManifest(seedPath)!;
const work = join(RESULTS, "cpu-cost");
rmSync(work, { recursive: true, force: true });
for (const d of ["app", "base"]) {
  mkdirSync(join(work, d), { recursive: true });
  copyFileSync(join(seedPath, "clientcove.db"), join(work, d, "clientcove.db"));
}

const level = (process.env.BENCH_LOG_LEVEL ?? "info") as LogLevel;
const config = { ...loadConfig({ "data-dir": join(work, "app"), "rate-limit-per-minute": "0", "log-level": level }, {}).config };
const handle = openDatabase(config.dataDir);
migrate(handle.sqlite);
const app = buildApp(buildDeps({ config, db: handle.db, clock: systemClock, log: createLogger({ level, format: config.logFormat }) }));
const base = createBaseline({ db: join(work, "base", "clientcove.db"), publicUrl: config.publicUrl });

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

/** Process CPU time (user + system, all threads) per request: unlike wall time, it ignores time spent descheduled. */
async function time(fetch: (r: Request) => Response | Promise<Response>, make: () => Request, n: number): Promise<number> {
  const c0 = process.cpuUsage();
  for (let i = 0; i < n; i++) {
    const res = await fetch(make());
    await res.arrayBuffer();
  }
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / n;
}

const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
for (const [name, make] of Object.entries(scenarios)) {
  if (only && !only.includes(name)) continue;
  // Many short alternating rounds: a busy machine slows both sides of a round alike; the median ratio is stable.
  const n = name === "create" ? 20 : 200;
  const rounds = Number(process.env.ROUNDS ?? 40);
  const a: number[] = [];
  const b: number[] = [];
  const r: number[] = [];
  await time(app.handle, make, n * 5);
  await time(base.fetch, make, n * 5);
  for (let round = 0; round < rounds; round++) {
    a.push(await time(app.handle, make, n));
    b.push(await time(base.fetch, make, n));
    r.push(b.at(-1)! / a.at(-1)!);
  }
  process.stderr.write(
    `${name.padEnd(7)} product ${median(a).toFixed(1).padStart(6)} µs/req   baseline ${median(b).toFixed(1).padStart(6)} µs/req   ratio ${median(r).toFixed(2)}×\n`,
  );
}
handle.close();
base.close();
rmSync(work, { recursive: true, force: true });
