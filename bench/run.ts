// `npm run bench`: build the binary, seed through the product's code, load it and the bare baseline alike, print one table.
//
// Environment (all optional):
//   BENCH_QUICK=1               small data and short runs, for development (10k tickets, 1 × 3 s)
//   BENCH_TICKETS_MAIN/BIG/SMALL tickets of the main org (list/get/create rows), of the growth row's big and small orgs
//   BENCH_RUNS, BENCH_DURATION   runs per scenario and seconds per run (medians are reported); BENCH_WARMUP seconds
//   BENCH_CONNECTIONS, BENCH_THREADS  wrk settings (the same for both servers)
//   BENCH_UPLOAD_MIB             size of the upload/download file (default 1024)
//   BENCH_START_RUNS             launches per start-time row (median)
//   BENCH_ONLY=list,get,...      only these rows: list, get, auth, growth-small, growth-big, first, deep-offset,
//                                deep-keyset, create, create-grouped, create-single, files (start time and idle RSS
//                                always run); BENCH_SKIP_FILES=1
//   BENCH_RESEED=1               seed again even if a seed of the same sizes and schema exists in bench/results/
//   BENCH_LOG_LEVEL              the product's --log-level during the run (default: its default, info)
//   BENCH_KEEP=1                 keep the working copies in bench/results/work
//   BENCH_BEFORE=<git ref>       also build the product at that commit and add "after vs before" rows (list, get,
//                                auth, create; on PostgreSQL list and create, on a template of its own schema), each
//                                measured in this run against the same data
//   BENCH_POSTGRES=0|1           the PostgreSQL rows (pg-list, pg-get, pg-create, pg-two in BENCH_ONLY): the binary
//                                with --database-url against bench/baseline-server-postgres.ts (postgres.js, the same
//                                pool size), and creates with two instances on one database vs one. Default: on when
//                                a server is at hand (BENCH_DATABASE_URL, or Debian's postgresql installed: the tests'
//                                throwaway server, test/services/postgres.ts, with its defaults: fsync and
//                                synchronous_commit on); 1 makes a missing server an error, 0 skips them.
//   BENCH_DATABASE_URL           a PostgreSQL server (superuser URL) to use instead of a throwaway one; the loaded
//                                template database (bench_seed_<hash>) is kept there and reused by later runs
//   BENCH_PG_POOL                the pool size of the product and the PostgreSQL baseline (default 10, the product's)
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, truncateSync, writeFileSync } from "node:fs";
import { cpus, loadavg, totalmem } from "node:os";
import { join, resolve } from "node:path";
import { findOrInstallWrk, runWrk, type LoadSettings, type WrkResult } from "./load";
import { cpuMicros, freePort, pinPrefix, rssBytes, startServer, watchPeakRss, type Server } from "./processes";
import { readManifest, seedDatabase, type SeedManifest } from "./seed";
import { postgresBench } from "./pg-seed";

const ROOT = resolve(import.meta.dir, "..");
const RESULTS = join(ROOT, "bench", "results");
const WORK = join(RESULTS, "work");
const BUN = join(ROOT, "node_modules", ".bin", "bun");
const env = process.env;
const QUICK = env.BENCH_QUICK === "1";
const num = (name: string, full: number, quick: number) => Number(env[name] ?? (QUICK ? quick : full));

const settings = {
  sizes: {
    main: num("BENCH_TICKETS_MAIN", 100_000, 10_000),
    big: num("BENCH_TICKETS_BIG", 1_000_000, 50_000),
    small: num("BENCH_TICKETS_SMALL", 10_000, 1_000),
  },
  runs: num("BENCH_RUNS", 3, 1),
  duration: num("BENCH_DURATION", 5, 3),
  warmup: num("BENCH_WARMUP", 1, 1),
  connections: num("BENCH_CONNECTIONS", 32, 32),
  threads: num("BENCH_THREADS", 1, 1),
  uploadMiB: num("BENCH_UPLOAD_MIB", 1024, 128),
  startRuns: num("BENCH_START_RUNS", 5, 3),
  only: env.BENCH_ONLY ? new Set(env.BENCH_ONLY.split(",")) : null,
  logLevel: env.BENCH_LOG_LEVEL,
};

const say = (line: string) => process.stderr.write(`[bench] ${line}\n`);
const median = (xs: number[]) => {
  const s = [...xs].filter(Number.isFinite).sort((a, b) => a - b);
  if (!s.length) return NaN;
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const MiB = 1024 * 1024;

// ---- Rows of the table -----------------------------------------------------------------------------------------

interface Measured {
  rps: number;
  p50: number;
  p99: number;
  rss: number;
  /** Server CPU time per request (µs): unlike req/s, barely moved by other work on a shared machine. */
  cpu: number;
  runs: WrkResult[];
}

interface Row {
  scenario: string;
  rps?: string;
  p50?: string;
  p99?: string;
  rss?: string;
  baseline?: string;
  ratio?: string;
  cpu?: string;
  target: string;
  result: string;
}

const fmtRps = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString("en-US") : "—");
const fmtMs = (n: number) => (Number.isFinite(n) ? (n >= 100 ? n.toFixed(0) : n.toFixed(2)) + " ms" : "—");
const fmtMiB = (n: number) => (Number.isFinite(n) && n > 0 ? (n / MiB).toFixed(0) + " MiB" : "—");
const fmtCount = (n: number) => (n >= 1_000_000 ? `${+(n / 1_000_000).toFixed(2)}M` : n >= 1000 ? `${+(n / 1000).toFixed(1)}k` : String(n));

/** "met" or "missed by N%" for a value that must be at least / at most a bound. */
function verdict(value: number, bound: number, atLeast: boolean): string {
  if (!Number.isFinite(value)) return "not measured";
  const ok = atLeast ? value >= bound : value <= bound;
  if (ok) return "met";
  const by = atLeast ? (bound - value) / bound : (value - bound) / bound;
  return `MISSED by ${(by * 100).toFixed(0)}%`;
}

// ---- HTTP scenarios, each run against the product and the baseline ---------------------------------------------

interface Ctx {
  seed: SeedManifest;
  deepPage: number;
  deepCursor: string;
  idsFile: string;
}

interface HttpScenario {
  key: string;
  label: (c: Ctx) => string;
  org: "main" | "big" | "small";
  path: (c: Ctx) => string;
  script?: string;
  scriptEnv?: (c: Ctx) => Record<string, string>;
  status: number;
  /** Minimum ratio of requests/s to the baseline's (the issue's ≥ 0.85× rows). */
  minRatio?: number;
  /** Mutates data: runs last. */
  writes?: boolean;
  /** Which server it is compared with: the bare per-request commit (default), the bare grouped commit, or the product built at BENCH_BEFORE. */
  against?: "grouped" | "before";
  /** wrk connections for this row (default: BENCH_CONNECTIONS). */
  connections?: number;
}

const SCENARIOS: HttpScenario[] = [
  {
    key: "list",
    label: (c) => `GET /v1/tickets?status=open&per_page=25 (${fmtCount(c.seed.sizes.main)} in org, ${fmtCount(totalTickets(c.seed))} in db)`,
    org: "main",
    path: () => "/v1/tickets?status=open&per_page=25",
    status: 200,
    minRatio: 0.85,
  },
  {
    key: "get",
    label: () => "GET /v1/tickets/:id (random ids)",
    org: "main",
    path: () => "/v1/tickets/",
    script: "random-id.lua",
    scriptEnv: (c) => ({ BENCH_IDS_FILE: c.idsFile }),
    status: 200,
    minRatio: 0.85,
  },
  {
    key: "auth",
    label: () => "Auth alone: GET /v1/tickets/:unknown → 404",
    org: "main",
    path: () => "/v1/tickets/tkt_0000000000000000",
    status: 404,
    minRatio: 0.85,
  },
  {
    key: "growth-small",
    label: (c) => `First page, ${fmtCount(c.seed.sizes.small)} tickets in org`,
    org: "small",
    path: () => "/v1/tickets?per_page=25",
    status: 200,
  },
  {
    key: "growth-big",
    label: (c) => `First page, ${fmtCount(c.seed.sizes.big)} tickets in org`,
    org: "big",
    path: () => "/v1/tickets?per_page=25",
    status: 200,
  },
  {
    key: "first",
    label: (c) => `First page, ${fmtCount(c.seed.sizes.main)} org (depth reference)`,
    org: "main",
    path: () => "/v1/tickets?per_page=25",
    status: 200,
  },
  {
    key: "deep-offset",
    label: (c) => `Page ${c.deepPage.toLocaleString("en-US")} with ?page=`,
    org: "main",
    path: (c) => `/v1/tickets?per_page=25&page=${c.deepPage}`,
    status: 200,
  },
  {
    key: "deep-keyset",
    label: (c) => `Page ${c.deepPage.toLocaleString("en-US")} with ?starting_after=`,
    org: "main",
    path: (c) => `/v1/tickets?per_page=25&starting_after=${c.deepCursor}`,
    status: 200,
  },
  {
    key: "create",
    label: () => "POST /v1/tickets (reference body) vs a bare commit per request",
    org: "main",
    path: () => "/v1/tickets",
    script: "post-ticket.lua",
    status: 201,
    writes: true,
  },
  {
    key: "create-grouped",
    label: () => "POST /v1/tickets (reference body) vs a bare grouped commit",
    org: "main",
    path: () => "/v1/tickets",
    script: "post-ticket.lua",
    status: 201,
    minRatio: 0.85,
    writes: true,
    against: "grouped",
  },
  {
    key: "before-list",
    label: () => "After vs before: GET /v1/tickets?status=open&per_page=25",
    org: "main",
    path: () => "/v1/tickets?status=open&per_page=25",
    status: 200,
    against: "before",
  },
  {
    key: "before-get",
    label: () => "After vs before: GET /v1/tickets/:id",
    org: "main",
    path: () => "/v1/tickets/",
    script: "random-id.lua",
    scriptEnv: (c) => ({ BENCH_IDS_FILE: c.idsFile }),
    status: 200,
    against: "before",
  },
  {
    key: "before-auth",
    label: () => "After vs before: auth alone (404)",
    org: "main",
    path: () => "/v1/tickets/tkt_0000000000000000",
    status: 404,
    against: "before",
  },
  {
    key: "before-create",
    label: () => "After vs before: POST /v1/tickets",
    org: "main",
    path: () => "/v1/tickets",
    script: "post-ticket.lua",
    status: 201,
    writes: true,
    against: "before",
  },
  {
    key: "before-create-single",
    label: () => "After vs before: POST /v1/tickets, one client at a time (wrk -c1)",
    org: "main",
    path: () => "/v1/tickets",
    script: "post-ticket.lua",
    status: 201,
    writes: true,
    against: "before",
    connections: 1,
  },
  {
    key: "create-single",
    label: () => "POST /v1/tickets, one client at a time (wrk -c1) vs a bare commit per request",
    org: "main",
    path: () => "/v1/tickets",
    script: "post-ticket.lua",
    status: 201,
    writes: true,
    connections: 1,
  },
];

const totalTickets = (s: SeedManifest) => s.sizes.main + s.sizes.big + s.sizes.small;

/** The PostgreSQL rows: the same requests as list, get and create, on the binary with --database-url against the PostgreSQL baseline. */
const PG_SCENARIOS: HttpScenario[] = (["list", "get", "create-grouped"] as const).map((key) => {
  const sc = SCENARIOS.find((s) => s.key === key)!;
  return {
    ...sc,
    key: `pg-${key === "create-grouped" ? "create" : key}`,
    label: (c: Ctx) => `PostgreSQL: ${key === "create-grouped" ? "POST /v1/tickets (reference body), a COMMIT per request in both" : sc.label(c)}`,
    minRatio: 0.85,
    against: undefined,
  };
});

// ---- Steps -------------------------------------------------------------------------------------------------------

/** The product's group-commit counters from /metrics (a probe server started with --metrics), or null. */
async function writerStats(url: string): Promise<{ batches: number; writes: number; largest: number } | null> {
  try {
    const text = await (await fetch(`${url}/metrics`)).text();
    const read = (name: string) => Number(new RegExp(`^${name} (\\d+)`, "m").exec(text)?.[1] ?? NaN);
    const stats = {
      batches: read("clientcove_db_write_batches_total"),
      writes: read("clientcove_db_writes_total"),
      largest: read("clientcove_db_write_batch_largest"),
    };
    return Number.isFinite(stats.batches) ? stats : null;
  } catch {
    return null;
  }
}

/** The product's binary at another commit (BENCH_BEFORE), built from `git archive` of it with this tree's node_modules. */
function buildBefore(ref: string): string {
  const src = join(WORK, "before-src");
  rmSync(src, { recursive: true, force: true });
  mkdirSync(src, { recursive: true });
  const archive = Bun.spawnSync(["sh", "-c", `git archive ${JSON.stringify(ref)} | tar -x -C ${JSON.stringify(src)}`], { cwd: ROOT, stderr: "pipe" });
  if (archive.exitCode !== 0) throw new Error(`git archive ${ref} failed: ${archive.stderr}`);
  symlinkSync(join(ROOT, "node_modules"), join(src, "node_modules"));
  const out = join(RESULTS, "clientcove-before");
  say(`building the product at ${ref}`);
  const r = Bun.spawnSync([BUN, "run", "scripts/build.ts", out], { cwd: src, stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`build of ${ref} failed:\n${r.stdout}\n${r.stderr}`);
  return out;
}

function build(): string {
  const out = join(RESULTS, "clientcove");
  say(`building the binary: node_modules/.bin/bun run scripts/build.ts ${out}`);
  const r = Bun.spawnSync([BUN, "run", "scripts/build.ts", out], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`build failed:\n${r.stdout}\n${r.stderr}`);
  return out;
}

/** A seed is reused while the schema, the seed script and the sizes are the same. */
function seedDir(): string {
  const h = createHash("sha256");
  for (const f of readdirSync(join(ROOT, "drizzle"))
    .filter((f) => f.endsWith(".sql"))
    .sort())
    h.update(readFileSync(join(ROOT, "drizzle", f)));
  h.update(readFileSync(join(ROOT, "bench", "seed.ts")));
  const { main, big, small } = settings.sizes;
  return join(RESULTS, `seed-${main}-${big}-${small}-${h.digest("hex").slice(0, 10)}`);
}

async function ensureSeed(): Promise<{ dir: string; seed: SeedManifest }> {
  const dir = seedDir();
  const existing = env.BENCH_RESEED === "1" ? null : readManifest(dir);
  // Events older than the 30-day retention would keep the server's pruner busy during the run: reseed after a week.
  if (existing && Date.now() - (existing.seededAt ?? 0) < 7 * 86_400_000) {
    say(`reusing the seed in ${dir} (seeded in ${existing.seconds} s; BENCH_RESEED=1 seeds again)`);
    return { dir, seed: existing };
  }
  const { main, big, small } = settings.sizes;
  // Older seeds of these sizes (another schema or seed script) are stale; seeds of other sizes stay cached.
  for (const old of readdirSync(RESULTS).filter((f) => f.startsWith(`seed-${main}-${big}-${small}-`)))
    rmSync(join(RESULTS, old), { recursive: true, force: true });
  say(`seeding ${main + big + small} tickets (orgs of ${main}, ${big}, ${small}) through createTicket/updateTicket — a few minutes at 1M`);
  const seed = await seedDatabase(dir, settings.sizes);
  say(`seeded in ${seed.seconds} s`);
  return { dir, seed };
}

function copyDb(seedPath: string, name: string): string {
  const dir = join(WORK, name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  copyFileSync(join(seedPath, "clientcove.db"), join(dir, "clientcove.db"));
  return dir;
}

function appCommand(bin: string, pin: string[], dataDir: string, port: number, extra: string[] = []): string[] {
  const args = [...pin, bin, "serve", "--data-dir", dataDir, "--host", "127.0.0.1", "--port", String(port), "--rate-limit-per-minute", "0"];
  if (settings.logLevel) args.push("--log-level", settings.logLevel);
  return [...args, ...extra];
}

function baselineCommand(pin: string[], dbPath: string, port: number, filesDir: string): string[] {
  return [
    ...pin,
    BUN,
    join(ROOT, "bench", "baseline-server.ts"),
    "--db",
    dbPath,
    "--port",
    String(port),
    "--files-dir",
    filesDir,
    "--public-url",
    `http://localhost:${port}`,
  ];
}

async function startTimes(bin: string, pin: string[], dataDirOf: (i: number) => string): Promise<{ ms: number[]; idleRss: number }> {
  const ms: number[] = [];
  let idleRss = NaN;
  for (let i = 0; i < settings.startRuns; i++) {
    const port = freePort();
    const s = await startServer("clientcove", appCommand(bin, pin, dataDirOf(i), port), `http://127.0.0.1:${port}`);
    ms.push(s.startMs);
    if (i === settings.startRuns - 1) {
      await Bun.sleep(2000);
      idleRss = rssBytes(s.proc.pid) ?? NaN;
    }
    await s.stop();
  }
  return { ms, idleRss };
}

async function getJson(url: string, key: string): Promise<{ status: number; body: unknown; link: string | null }> {
  const res = await fetch(url, { headers: { authorization: `Bearer ${key}` } });
  return { status: res.status, body: await res.json().catch(() => null), link: res.headers.get("link") };
}

async function runHttpScenario(
  sc: HttpScenario,
  ctx: Ctx,
  wrk: string,
  baseLoad: LoadSettings,
  app: Server,
  base: Server,
): Promise<{ app: Measured; base: Measured }> {
  const load = sc.connections ? { ...baseLoad, connections: sc.connections } : baseLoad;
  const key = ctx.seed.orgs[sc.org].key;
  const path = sc.path(ctx);
  const opts = (duration?: number) => ({
    headers: [`Authorization: Bearer ${key}`],
    script: sc.script ? join(ROOT, "bench", "wrk", sc.script) : undefined,
    env: sc.scriptEnv?.(ctx),
    duration,
  });
  // Same answer from both before timing anything (same data, same work).
  if (!sc.writes && !sc.script) {
    const [a, b] = await Promise.all([getJson(app.url + path, key), getJson(base.url + path, key)]);
    if (a.status !== sc.status || b.status !== sc.status)
      say(`WARNING ${sc.key}: status ${a.status} (product) / ${b.status} (baseline), expected ${sc.status}`);
    if (sc.status === 200 && JSON.stringify(a.body) !== JSON.stringify(b.body)) say(`WARNING ${sc.key}: the product and the baseline answer differently`);
    if (sc.status === 200 && (a.link === null) !== (b.link === null)) say(`WARNING ${sc.key}: Link header differs`);
  }
  for (const s of [app, base]) await runWrk(wrk, load, s.url + path, opts(settings.warmup));
  const runs = { app: [] as WrkResult[], base: [] as WrkResult[] };
  const rss = { app: 0, base: 0 };
  const cpu = { app: [] as number[], base: [] as number[] };
  for (let i = 0; i < settings.runs; i++) {
    // Alternate, so drift from other work on the machine hits both alike.
    for (const [who, s] of [
      ["app", app],
      ["base", base],
    ] as const) {
      const watch = watchPeakRss(s.proc.pid);
      const c0 = cpuMicros(s.proc.pid);
      const r = await runWrk(wrk, load, s.url + path, opts());
      cpu[who].push((cpuMicros(s.proc.pid) - c0) / r.requests);
      rss[who] = Math.max(rss[who], watch.stop());
      if (r.socketErrors) say(`${sc.key} (${s.name}): ${r.socketErrors}`);
      const wrong = sc.status < 300 ? r.non2xx : r.requests - r.non2xx;
      if (wrong > 0) say(`WARNING ${sc.key} (${s.name}): ${wrong} of ${r.requests} responses had an unexpected status class`);
      runs[who].push(r);
    }
  }
  const summarise = (rs: WrkResult[], peak: number, us: number[]): Measured => ({
    rps: median(rs.map((r) => r.rps)),
    p50: median(rs.map((r) => r.p50)),
    p99: median(rs.map((r) => r.p99)),
    rss: peak,
    cpu: median(us),
    runs: rs,
  });
  return { app: summarise(runs.app, rss.app, cpu.app), base: summarise(runs.base, rss.base, cpu.base) };
}

/** One curl transfer pinned to the load core: status, seconds, bytes moved, and the response body when kept. */
async function curl(pin: string[], args: string[], keepBody: boolean): Promise<{ code: number; seconds: number; bytes: number; body: string }> {
  const out = keepBody ? join(WORK, "curl-body.txt") : "/dev/null";
  const p = Bun.spawn([...pin, "curl", "-sS", "-o", out, "-w", "%{http_code} %{time_total} %{size_upload} %{size_download}", ...args], {
    stdout: "pipe",
    stderr: "pipe",
  });
  const [text, err] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text()]);
  await p.exited;
  const [code, seconds, up, down] = text.trim().split(" ").map(Number);
  if (!code) throw new Error(`curl failed: ${err}`);
  return { code, seconds: seconds!, bytes: Math.max(up!, down!), body: keepBody ? readFileSync(out, "utf8") : "" };
}

async function filesRows(app: Server, base: Server, key: string, pin: string[]): Promise<Row[]> {
  const spec = (await (await fetch(`${app.url}/docs/json`)).json().catch(() => ({}))) as { paths?: Record<string, Record<string, unknown>> };
  const hasFiles = !!spec.paths?.["/v1/files"]?.post && !!spec.paths?.["/v1/files/{id}/content"]?.get;
  const sizeLabel = settings.uploadMiB >= 1024 ? `${settings.uploadMiB / 1024} GiB` : `${settings.uploadMiB} MiB`;
  if (!hasFiles || env.BENCH_SKIP_FILES === "1") {
    const why = hasFiles ? "skipped (BENCH_SKIP_FILES=1)" : "pending: files API not merged";
    return [
      { scenario: `Upload ${sizeLabel} (multipart)`, target: "RSS growth < 64 MiB, ≥ 0.5× bare", result: why },
      { scenario: `Download ${sizeLabel}`, target: "≥ 0.8× bare Bun.file", result: why },
    ];
  }
  const file = join(WORK, "upload.bin");
  writeFileSync(file, "");
  truncateSync(file, settings.uploadMiB * MiB); // sparse: the client reads zeros without touching the disk
  // A 1 MiB warm-up upload to each first: the first multipart request loads code paths and grows the heap once.
  const warm = join(WORK, "warm.bin");
  writeFileSync(warm, Buffer.alloc(MiB));
  for (const [s, url] of [
    [app, `${app.url}/v1/files`],
    [base, `${base.url}/upload`],
  ] as const) {
    const r = await curl(pin, ["-H", `Authorization: Bearer ${key}`, "-F", `file=@${warm};type=application/octet-stream`, url], true);
    if (r.code !== 201) throw new Error(`warm-up upload to ${s.name} answered ${r.code}: ${r.body.slice(0, 300)}`);
    if (s === app)
      await fetch(`${app.url}/v1/files/${(JSON.parse(r.body) as { id: string }).id}`, { method: "DELETE", headers: { authorization: `Bearer ${key}` } });
  }
  const up = { app: [] as number[], base: [] as number[], growth: [] as number[], baseGrowth: [] as number[] };
  const down = { app: [] as number[], base: [] as number[] };
  const auth = ["-H", `Authorization: Bearer ${key}`];
  for (let i = 0; i < Math.max(1, Math.min(settings.runs, 3)); i++) {
    for (const who of ["app", "base"] as const) {
      const s = who === "app" ? app : base;
      const before = rssBytes(s.proc.pid) ?? 0;
      const watch = watchPeakRss(s.proc.pid);
      const r = await curl(pin, [...auth, "-F", `file=@${file};type=application/octet-stream`, who === "app" ? `${s.url}/v1/files` : `${s.url}/upload`], true);
      const peak = watch.stop();
      if (r.code !== 201) throw new Error(`upload to ${s.name} answered ${r.code}: ${r.body.slice(0, 300)}`);
      up[who].push(r.bytes / MiB / r.seconds);
      (who === "app" ? up.growth : up.baseGrowth).push(peak - before);
      const id = who === "app" ? (JSON.parse(r.body) as { id: string }).id : "";
      const d = await curl(pin, [...auth, who === "app" ? `${s.url}/v1/files/${id}/content` : `${s.url}/download`], false);
      if (d.code !== 200 || d.bytes < settings.uploadMiB * MiB) throw new Error(`download from ${s.name} answered ${d.code} with ${d.bytes} bytes`);
      down[who].push(d.bytes / MiB / d.seconds);
      if (who === "app") await fetch(`${s.url}/v1/files/${id}`, { method: "DELETE", headers: { authorization: `Bearer ${key}` } });
    }
  }
  rmSync(file, { force: true });
  const upRatio = median(up.app) / median(up.base);
  const downRatio = median(down.app) / median(down.base);
  const growth = median(up.growth);
  const upOk = growth < 64 * MiB && upRatio >= 0.5;
  return [
    {
      scenario: `Upload ${sizeLabel} (multipart, MiB/s; RSS column = growth)`,
      rps: `${median(up.app).toFixed(0)} MiB/s`,
      rss: `+${fmtMiB(growth)}`,
      baseline: `${median(up.base).toFixed(0)} MiB/s, +${fmtMiB(median(up.baseGrowth))}`,
      ratio: `${upRatio.toFixed(2)}×`,
      target: "RSS growth < 64 MiB, ≥ 0.5× bare",
      result: upOk
        ? "met"
        : `MISSED (${growth >= 64 * MiB ? `growth ${fmtMiB(growth)}` : ""}${growth >= 64 * MiB && upRatio < 0.5 ? ", " : ""}${upRatio < 0.5 ? `throughput ${upRatio.toFixed(2)}×` : ""})`,
    },
    {
      scenario: `Download ${sizeLabel} (MiB/s)`,
      rps: `${median(down.app).toFixed(0)} MiB/s`,
      baseline: `${median(down.base).toFixed(0)} MiB/s`,
      ratio: `${downRatio.toFixed(2)}×`,
      target: "≥ 0.8× bare Bun.file",
      result: verdict(downRatio, 0.8, true),
    },
  ];
}

/** After vs before (BENCH_BEFORE) on PostgreSQL: the list (its total now sums count shards) and creates. */
const PG_BEFORE_SCENARIOS: HttpScenario[] = PG_SCENARIOS.filter((sc) => sc.key !== "pg-get").map((sc) => ({
  ...sc,
  key: sc.key.replace("pg-", "pg-before-"),
  label: (c: Ctx) => sc.label(c).replace("PostgreSQL: ", "PostgreSQL, after vs before: "),
  minRatio: undefined,
}));

/** Whether the PostgreSQL rows run (BENCH_POSTGRES, BENCH_ONLY), and whether a missing server is an error. */
function postgresWanted(): { run: boolean; required: boolean } {
  if (env.BENCH_POSTGRES === "0") return { run: false, required: false };
  if (settings.only && ![...settings.only].some((k) => k.startsWith("pg-"))) return { run: false, required: false };
  const required = env.BENCH_POSTGRES === "1" || !!settings.only;
  return { run: required || !!env.BENCH_DATABASE_URL || existsSync("/usr/lib/postgresql"), required };
}

/** A row from two measured servers: requests/s, latency, RSS and CPU per request, the ratio and its verdict. */
function comparedRow(scenario: string, r: { app: Measured; base: Measured }, minRatio?: number, baselineNote = ""): Row {
  const ratio = r.app.rps / r.base.rps;
  return {
    scenario,
    rps: fmtRps(r.app.rps),
    p50: fmtMs(r.app.p50),
    p99: fmtMs(r.app.p99),
    rss: fmtMiB(r.app.rss),
    baseline: `${fmtRps(r.base.rps)} · ${fmtMs(r.base.p50)} · ${fmtMiB(r.base.rss)}${baselineNote}`,
    ratio: `${ratio.toFixed(2)}×`,
    cpu: `${r.app.cpu.toFixed(0)} vs ${r.base.cpu.toFixed(0)} µs (${(r.base.cpu / r.app.cpu).toFixed(2)}×)`,
    target: minRatio ? `≥ ${minRatio}× baseline` : "—",
    result: minRatio ? verdict(ratio, minRatio, true) : "—",
  };
}

/**
 * Creates with two product instances on one database against one instance on it: the same load generator either way,
 * two wrk processes at once with half the connections each (both at one instance's port, or one at each), requests/s
 * summed, server CPU summed over the instances. Alternating, medians.
 */
async function twoInstances(wrk: string, load: LoadSettings, a: Server, b: Server, key: string): Promise<{ app: Measured; base: Measured }> {
  const half = { ...load, connections: Math.max(1, Math.floor(load.connections / 2)) };
  const opts = (duration?: number) => ({ headers: [`Authorization: Bearer ${key}`], script: join(ROOT, "bench", "wrk", "post-ticket.lua"), duration });
  const both = (targets: Server[], duration?: number) =>
    Promise.all([runWrk(wrk, half, `${targets[0]!.url}/v1/tickets`, opts(duration)), runWrk(wrk, half, `${targets[1]!.url}/v1/tickets`, opts(duration))]);
  await both([a, b], settings.warmup);
  const out = { app: [] as WrkResult[][], base: [] as WrkResult[][] };
  const cpu = { app: [] as number[], base: [] as number[] };
  const rss = { app: 0, base: 0 };
  for (let i = 0; i < settings.runs; i++) {
    for (const who of ["app", "base"] as const) {
      const targets = who === "app" ? [a, b] : [a, a];
      const watches = [a, b].map((s) => watchPeakRss(s.proc.pid));
      const c0 = cpuMicros(a.proc.pid) + cpuMicros(b.proc.pid);
      const rs = await both(targets);
      const requests = rs[0]!.requests + rs[1]!.requests;
      cpu[who].push((cpuMicros(a.proc.pid) + cpuMicros(b.proc.pid) - c0) / requests);
      rss[who] = Math.max(rss[who], ...watches.map((w) => w.stop()));
      for (const r of rs) if (r.non2xx > 0) say(`WARNING pg-two (${who}): ${r.non2xx} of ${r.requests} responses were not 2xx`);
      out[who].push(rs);
    }
  }
  const summarise = (runs: WrkResult[][], peak: number, us: number[]): Measured => ({
    rps: median(runs.map((rs) => rs[0]!.rps + rs[1]!.rps)),
    p50: median(runs.map((rs) => Math.max(rs[0]!.p50, rs[1]!.p50))),
    p99: median(runs.map((rs) => Math.max(rs[0]!.p99, rs[1]!.p99))),
    rss: peak,
    cpu: median(us),
    runs: runs.flat(),
  });
  return { app: summarise(out.app, rss.app, cpu.app), base: summarise(out.base, rss.base, cpu.base) };
}

/** The PostgreSQL rows (see BENCH_POSTGRES), and a line for the header. */
async function postgresRows(
  bin: string,
  seedPath: string,
  ctx: Ctx,
  wrk: string | null,
  load: LoadSettings,
  pinServer: string[],
  beforeBin?: string,
): Promise<{ rows: Row[]; header: string | null; raw: Record<string, unknown> }> {
  const wanted = postgresWanted();
  if (!wanted.run) return { rows: [], header: null, raw: {} };
  const pg = await postgresBench(bin, seedPath, say);
  if ("missing" in pg) {
    if (wanted.required) throw new Error(`BENCH_POSTGRES=1: ${pg.missing}`);
    say(`PostgreSQL rows skipped: ${pg.missing}`);
    return { rows: [{ scenario: "PostgreSQL rows", target: "—", result: `not run: ${pg.missing}` }], header: null, raw: {} };
  }
  const poolSize = Number(env.BENCH_PG_POOL ?? 10);
  const rows: Row[] = [];
  const raw: Record<string, unknown> = {};
  const servers: Server[] = [];
  const want = (k: string) => !settings.only || settings.only.has(k);
  try {
    const appUrl = await pg.clone("bench_app");
    const baseUrl = await pg.clone("bench_baseline");
    const product = (name: string, url: string) => {
      const port = freePort();
      const dir = join(WORK, name);
      mkdirSync(dir, { recursive: true });
      return startServer(
        name,
        appCommand(bin, pinServer, dir, port, ["--database-url", url, "--database-pool-size", String(poolSize)]),
        `http://127.0.0.1:${port}`,
      );
    };
    const app = await product("clientcove-pg", appUrl);
    servers.push(app);
    const basePort = freePort();
    const base = await startServer(
      "baseline-pg",
      [
        ...pinServer,
        BUN,
        join(ROOT, "bench", "baseline-server-postgres.ts"),
        "--database-url",
        baseUrl,
        "--port",
        String(basePort),
        "--pool-size",
        String(poolSize),
      ],
      `http://127.0.0.1:${basePort}`,
    );
    servers.push(base);
    // After vs before (BENCH_BEFORE): the product at that commit on its own template (its own migrations), same seed.
    let before: Server | undefined;
    if (wrk && beforeBin && PG_BEFORE_SCENARIOS.some((sc) => want(sc.key))) {
      const old = await postgresBench(beforeBin, seedPath, say, join(WORK, "before-src", "src", "db", "postgres", "migrations"));
      if ("missing" in old) throw new Error(old.missing);
      const url = await old.clone("bench_before");
      await old.close();
      before = await product("clientcove-pg-before", url);
      servers.push(before);
    }
    // Reads first, on databases nothing has written to yet (the answers are compared), then the creates.
    const all = [...PG_SCENARIOS, ...(before ? PG_BEFORE_SCENARIOS : [])];
    for (const sc of wrk ? [...all.filter((s) => !s.writes), ...all.filter((s) => s.writes)] : []) {
      if (!want(sc.key)) continue;
      const isBefore = PG_BEFORE_SCENARIOS.includes(sc);
      say(`${sc.key}: ${sc.label(ctx)}`);
      const r = await runHttpScenario(sc, ctx, wrk!, load, app, isBefore ? before! : base);
      raw[sc.key] = r;
      say(
        `  ${isBefore ? "after" : "product"} ${fmtRps(r.app.rps)} req/s ${r.app.cpu.toFixed(0)} µs CPU/req | ${isBefore ? "before" : "baseline"} ${fmtRps(r.base.rps)} req/s ${r.base.cpu.toFixed(0)} µs CPU/req | ${(r.app.rps / r.base.rps).toFixed(2)}×`,
      );
      rows.push(isBefore ? { ...comparedRow(sc.label(ctx), r, undefined, " (before)"), target: "—", result: "—" } : comparedRow(sc.label(ctx), r, sc.minRatio));
    }
    await before?.stop();
    await app.stop();
    await base.stop();
    if (wrk && want("pg-two")) {
      say("pg-two: POST /v1/tickets, two instances on one database vs one");
      const twoUrl = await pg.clone("bench_two");
      const a = await product("clientcove-pg-a", twoUrl);
      servers.push(a);
      const b = await product("clientcove-pg-b", twoUrl);
      servers.push(b);
      const r = await twoInstances(wrk, load, a, b, ctx.seed.orgs.main.key);
      raw["pg-two"] = r;
      say(
        `  two instances ${fmtRps(r.app.rps)} req/s ${r.app.cpu.toFixed(0)} µs CPU/req | one ${fmtRps(r.base.rps)} req/s ${r.base.cpu.toFixed(0)} µs CPU/req | ${(r.app.rps / r.base.rps).toFixed(2)}×`,
      );
      rows.push({
        ...comparedRow(
          `PostgreSQL: POST /v1/tickets, two instances on one database (both on CPU 0) vs one (req/s summed over 2 wrk × ${Math.floor(load.connections / 2)} connections)`,
          r,
        ),
        baseline: `one instance: ${fmtRps(r.base.rps)} · ${fmtMs(r.base.p50)} · ${fmtMiB(r.base.rss)}`,
      });
    }
  } finally {
    for (const s of servers) await s.stop();
    await pg.close();
  }
  const header = `PostgreSQL: ${pg.settings}; pool ${poolSize} in the product and the baseline; the server unpinned; template ${pg.loadSeconds ? `loaded in ${pg.loadSeconds} s` : "reused"}`;
  return { rows, header, raw };
}

function markdownTable(rows: Row[]): string {
  const head = [
    "Scenario",
    "Req/s",
    "p50",
    "p99",
    "Peak RSS",
    "Baseline (req/s · p50 · RSS)",
    "Ratio",
    "Server CPU/req (ours vs baseline)",
    "Target",
    "Result",
  ];
  const lines = [`| ${head.join(" | ")} |`, `| ${head.map(() => "---").join(" | ")} |`];
  for (const r of rows)
    lines.push(`| ${[r.scenario, r.rps, r.p50, r.p99, r.rss, r.baseline, r.ratio, r.cpu, r.target, r.result].map((c) => c ?? "—").join(" | ")} |`);
  return lines.join("\n");
}

// ---- Main --------------------------------------------------------------------------------------------------------

async function main() {
  mkdirSync(RESULTS, { recursive: true });
  rmSync(WORK, { recursive: true, force: true });
  mkdirSync(WORK, { recursive: true });
  const loadBefore = loadavg();
  const started = performance.now();
  const nproc = cpus().length;
  const hasTaskset = Bun.spawnSync(["sh", "-c", "command -v taskset"]).exitCode === 0;
  const pinServer = pinPrefix(hasTaskset && nproc >= 2 ? "0" : null);
  const loadCpus = nproc > 2 ? `1-${nproc - 1}` : "1";
  const pinLoad = pinPrefix(hasTaskset && nproc >= 2 ? loadCpus : null);
  say(hasTaskset && nproc >= 2 ? `pinning: servers on CPU 0, load generator on CPU ${loadCpus} (taskset)` : "not pinning (taskset missing or a single core)");
  const wrk = findOrInstallWrk(say);
  const load: LoadSettings = { duration: settings.duration, connections: settings.connections, threads: settings.threads, pin: pinLoad };

  const bin = build();
  const { dir: seedPath, seed } = await ensureSeed();
  const rows: Row[] = [];

  const results = new Map<string, { app: Measured; base: Measured }>();
  // The product as it was at BENCH_BEFORE (its source stays in WORK/before-src: its PostgreSQL migrations are read there).
  const beforeBin = env.BENCH_BEFORE ? buildBefore(env.BENCH_BEFORE) : undefined;
  // The SQLite rows (all but the PostgreSQL ones), unless BENCH_ONLY names PostgreSQL rows alone.
  const sqliteWanted = !settings.only || [...settings.only].some((k) => !k.startsWith("pg-"));
  const idsFile = join(WORK, "ids.txt");
  writeFileSync(idsFile, seed.sampleIds.join("\n") + "\n");
  if (sqliteWanted) {
    // Start time and idle RSS: empty data dirs, then a copy of the seeded database.
    say("start time: empty data dir");
    const empty = await startTimes(bin, pinServer, (i) => {
      const d = join(WORK, `empty-${i}`);
      mkdirSync(d, { recursive: true });
      return d;
    });
    const appDir = copyDb(seedPath, "app");
    say(`start time: ${fmtCount(totalTickets(seed))}-ticket database`);
    const full = await startTimes(bin, pinServer, () => appDir);

    // The two servers under test, each on its own copy of the same database.
    const baseDir = copyDb(seedPath, "baseline");
    const appPort = freePort();
    const app = await startServer(
      "clientcove",
      appCommand(bin, pinServer, appDir, appPort, ["--max-upload-bytes", String((settings.uploadMiB + 64) * MiB)]),
      `http://127.0.0.1:${appPort}`,
    );
    const basePort = freePort();
    const base = await startServer(
      "baseline",
      baselineCommand(pinServer, join(baseDir, "clientcove.db"), basePort, join(baseDir, "files")),
      `http://127.0.0.1:${basePort}`,
    );
    // The grouped-commit baseline (creates only), on a copy of its own.
    const groupedDir = copyDb(seedPath, "baseline-grouped");
    const groupedPort = freePort();
    // The product as it was at BENCH_BEFORE, on a copy of its own.
    let beforeServer: Server | undefined;
    if (beforeBin) {
      const beforeDir = copyDb(seedPath, "before");
      const beforePort = freePort();
      beforeServer = await startServer("clientcove-before", appCommand(beforeBin, pinServer, beforeDir, beforePort), `http://127.0.0.1:${beforePort}`);
    }
    const grouped = await startServer(
      "baseline-grouped",
      [...baselineCommand(pinServer, join(groupedDir, "clientcove.db"), groupedPort, join(groupedDir, "files")), "--grouped"],
      `http://127.0.0.1:${groupedPort}`,
    );
    await Bun.sleep(2000);
    const baseIdle = rssBytes(base.proc.pid) ?? NaN;

    try {
      // Page 1,000 (or the deepest full page of a smaller org) and the cursor that reaches it.
      const deepPage = Math.min(1000, Math.floor(seed.sizes.main / 25));
      const before = await getJson(`${app.url}/v1/tickets?per_page=25&page=${deepPage - 1}`, seed.orgs.main.key);
      const deepCursor = (before.body as { data: { id: string }[] }).data.at(-1)!.id;
      const ctx: Ctx = { seed, deepPage, deepCursor, idsFile };

      if (wrk) {
        const ordered = [...SCENARIOS.filter((s) => !s.writes), ...SCENARIOS.filter((s) => s.writes)];
        for (const sc of ordered) {
          if (settings.only && !settings.only.has(sc.key)) continue;
          if (sc.against === "before" && !beforeServer) continue;
          say(`${sc.key}: ${sc.label(ctx)}`);
          const r = await runHttpScenario(sc, ctx, wrk, load, app, sc.against === "grouped" ? grouped : sc.against === "before" ? beforeServer! : base);
          results.set(sc.key, r);
          say(
            `  product ${fmtRps(r.app.rps)} req/s p50 ${fmtMs(r.app.p50)} ${r.app.cpu.toFixed(0)} µs CPU/req | baseline ${fmtRps(r.base.rps)} req/s p50 ${fmtMs(r.base.p50)} ${r.base.cpu.toFixed(0)} µs CPU/req | ${(r.app.rps / r.base.rps).toFixed(2)}×`,
          );
        }
      }

      const httpRow = (key: string, extra: Partial<Row> = {}): Row | null => {
        const sc = SCENARIOS.find((s) => s.key === key)!;
        const r = results.get(key);
        if (!r) return wrk ? null : { scenario: sc.label(ctx), target: sc.minRatio ? `≥ ${sc.minRatio}× baseline` : "—", result: "not run: wrk missing" };
        const ratio = r.app.rps / r.base.rps;
        return {
          scenario: sc.label(ctx),
          rps: fmtRps(r.app.rps),
          p50: fmtMs(r.app.p50),
          p99: fmtMs(r.app.p99),
          rss: fmtMiB(r.app.rss),
          baseline: `${fmtRps(r.base.rps)} · ${fmtMs(r.base.p50)} · ${fmtMiB(r.base.rss)}`,
          ratio: `${ratio.toFixed(2)}×`,
          cpu: `${r.app.cpu.toFixed(0)} vs ${r.base.cpu.toFixed(0)} µs (${(r.base.cpu / r.app.cpu).toFixed(2)}×)`,
          target: sc.minRatio ? `≥ ${sc.minRatio}× baseline` : "—",
          result: sc.minRatio ? verdict(ratio, sc.minRatio, true) : "—",
          ...extra,
        };
      };
      const push = (r: Row | null) => r && rows.push(r);
      // "No slower" is judged with 5% for noise (verdictOf(key, 0.95)); the ratio column shows the measurement.
      const verdictOf = (key: string, bound: number) => {
        const r = results.get(key);
        return r ? verdict(r.app.rps / r.base.rps, bound, true) : "not run";
      };
      push(httpRow("list"));
      push(httpRow("create"));
      push(httpRow("create-grouped"));
      push(httpRow("create-single"));
      if (beforeServer) {
        push(httpRow("before-list", { target: "≥ 1.0× before (no slower)", result: verdictOf("before-list", 0.95) }));
        push(httpRow("before-get", { target: "≥ 1.0× before (no slower)", result: verdictOf("before-get", 0.95) }));
        push(httpRow("before-auth", { target: "≥ 1.0× before (no slower)", result: verdictOf("before-auth", 0.95) }));
        push(httpRow("before-create", { target: "≥ 3× before", result: verdictOf("before-create", 3) }));
        push(httpRow("before-create-single", { target: "≥ 1.0× before (no slower)", result: verdictOf("before-create-single", 0.95) }));
      }
      push(httpRow("get"));
      push(httpRow("auth"));
      push(httpRow("growth-small"));
      push(httpRow("growth-big"));
      const gs = results.get("growth-small");
      const gb = results.get("growth-big");
      if (gs && gb) {
        const g = gb.app.p50 / gs.app.p50;
        rows.push({
          scenario: `Growth: first-page p50, ${fmtCount(seed.sizes.big)} vs ${fmtCount(seed.sizes.small)} tickets in one org`,
          p50: `${fmtMs(gb.app.p50)} vs ${fmtMs(gs.app.p50)}`,
          baseline: `${fmtMs(gb.base.p50)} vs ${fmtMs(gs.base.p50)}`,
          ratio: `${g.toFixed(2)}×`,
          target: "≤ 1.5×",
          result: verdict(g, 1.5, false),
        });
      }
      push(httpRow("first"));
      push(httpRow("deep-offset"));
      push(httpRow("deep-keyset"));
      const first = results.get("first");
      const deep = results.get("deep-keyset");
      const offset = results.get("deep-offset");
      if (first && deep) {
        const d = deep.app.p50 / first.app.p50;
        rows.push({
          scenario: `Depth: keyset page ${deepPage.toLocaleString("en-US")} p50 vs page 1${offset ? ` (offset: ${(offset.app.p50 / first.app.p50).toFixed(1)}×)` : ""}`,
          p50: `${fmtMs(deep.app.p50)} vs ${fmtMs(first.app.p50)}`,
          ratio: `${d.toFixed(2)}×`,
          target: "flat (≤ 1.25×)",
          result: verdict(d, 1.25, false),
        });
      }
      rows.push({
        scenario: "Start to /healthz, empty data dir (median; p99 column = slowest)",
        p50: fmtMs(median(empty.ms)),
        p99: fmtMs(Math.max(...empty.ms)),
        target: "≤ 300 ms",
        result: verdict(median(empty.ms), 300, false),
      });
      rows.push({
        scenario: `Start to /healthz, ${fmtCount(totalTickets(seed))}-ticket db (warm page cache)`,
        p50: fmtMs(median(full.ms)),
        p99: fmtMs(Math.max(...full.ms)),
        target: "≤ 1 s",
        result: verdict(median(full.ms), 1000, false),
      });
      rows.push({
        scenario: `Idle RSS 2 s after start (empty / ${fmtCount(totalTickets(seed))} db)`,
        rss: `${fmtMiB(empty.idleRss)} / ${fmtMiB(full.idleRss)}`,
        baseline: `${fmtMiB(baseIdle)} (bun run, ${fmtCount(totalTickets(seed))} db)`,
        target: "< 80 MiB",
        result: verdict(Math.max(empty.idleRss, full.idleRss) / MiB, 80, false),
      });
      if (!settings.only || settings.only.has("files")) {
        say("files: upload and download");
        rows.push(...(await filesRows(app, base, seed.orgs.main.key, pinLoad)));
      }
      rows.push(
        existsSync(join(ROOT, "bench", "webhook-fanout.ts"))
          ? {
              scenario: "Webhook fan-out",
              target: "≥ 1,000 deliveries/s; p99 lag < 500 ms; hung endpoint < 10% loss",
              result: "see bench/webhook-fanout.ts and BENCHMARKS.md § Webhook fan-out (issue 4)",
            }
          : {
              scenario: "Webhook fan-out",
              target: "≥ 1,000 deliveries/s; p99 lag < 500 ms; hung endpoint < 10% loss",
              result: "pending: bench/webhook-fanout.ts not merged",
            },
      );
    } finally {
      await app.stop();
      await base.stop();
      await grouped.stop();
      await beforeServer?.stop();
    }
    // The writer's batch sizes under the create load, from /metrics: a server of its own with metrics on, so the
    // timed rows above ran without the metrics' per-request cost.
    if (wrk && (!settings.only || settings.only.has("create") || settings.only.has("create-grouped"))) {
      const port = freePort();
      const probe = await startServer("clientcove-metrics", appCommand(bin, pinServer, appDir, port, ["--metrics"]), `http://127.0.0.1:${port}`);
      try {
        // One client first: "largest" is a running maximum.
        for (const connections of [1, settings.connections]) {
          const before = await writerStats(probe.url);
          await runWrk(wrk, { ...load, connections }, `${probe.url}/v1/tickets`, {
            headers: [`Authorization: Bearer ${seed.orgs.main.key}`],
            script: join(ROOT, "bench", "wrk", "post-ticket.lua"),
            duration: settings.duration,
          });
          const after = await writerStats(probe.url);
          if (!before || !after || after.batches === before.batches) continue;
          const mean = (after.writes - before.writes) / (after.batches - before.batches);
          say(
            `writer batches at ${connections} connection(s): ${after.batches - before.batches} batches, ${after.writes - before.writes} writes, mean ${mean.toFixed(1)}, largest ${after.largest}`,
          );
          rows.push({
            scenario: `Group commit: writes per batch under POST /v1/tickets at ${connections} connection${connections === 1 ? "" : "s"} (mean; largest)`,
            ratio: `${mean.toFixed(1)}; ${after.largest}`,
            target: "—",
            result: "—",
          });
        }
      } finally {
        await probe.stop();
      }
    }
  }

  // PostgreSQL, once the SQLite servers have stopped.
  const deepPage = Math.min(1000, Math.floor(seed.sizes.main / 25));
  const pgPart = await postgresRows(bin, seedPath, { seed, deepPage, deepCursor: "", idsFile }, wrk, load, pinServer, beforeBin);
  rows.push(...pgPart.rows);
  for (const [k, v] of Object.entries(pgPart.raw)) results.set(k, v as { app: Measured; base: Measured });

  const loadAfter = loadavg();
  const header = [
    `Date: ${new Date().toISOString().replace(/\.\d+Z$/, "Z")}`,
    `Machine: ${nproc} cores (${cpus()[0]?.model.trim() ?? "?"}), ${(totalmem() / 1024 ** 3).toFixed(1)} GiB memory; load average ${loadBefore.map((l) => l.toFixed(2)).join(" ")} before, ${loadAfter.map((l) => l.toFixed(2)).join(" ")} after`,
    `Command: ${Object.entries(env)
      .filter(([k]) => k.startsWith("BENCH_"))
      .map(([k, v]) => `${k}=${v} `)
      .join(
        "",
      )}npm run bench; Bun ${Bun.version}; wrk -t${settings.threads} -c${settings.connections}, ${settings.runs} × ${settings.duration} s per server per row (medians, alternating product/baseline), ${settings.warmup} s warm-up; ${pinServer.length ? `servers on CPU 0, wrk and curl on CPU ${loadCpus}` : "no pinning"}`,
    `Data: ${fmtCount(totalTickets(seed))} tickets (orgs of ${fmtCount(seed.sizes.main)}, ${fmtCount(seed.sizes.big)}, ${fmtCount(seed.sizes.small)}) seeded through createTicket/updateTicket in ${seed.seconds} s; the product runs with --rate-limit-per-minute 0${settings.logLevel ? ` --log-level ${settings.logLevel}` : " and its default logging (info, stdout to /dev/null)"}`,
    ...(pgPart.header ? [pgPart.header] : []),
    `Total bench time: ${((performance.now() - started) / 1000).toFixed(0)} s`,
  ].join("\n");
  const table = markdownTable(rows);
  // Quick and partial runs get their own file, so the last full run's table stays at hand.
  const name = QUICK || settings.only || Object.keys(env).some((k) => /^BENCH_(TICKETS|RUNS|DURATION)/.test(k)) ? "latest-custom" : "latest";
  writeFileSync(join(RESULTS, `${name}.md`), `${header}\n\n${table}\n`);
  writeFileSync(
    join(RESULTS, `${name}.json`),
    JSON.stringify({ settings: { ...settings, only: settings.only ? [...settings.only] : null }, rows, raw: Object.fromEntries(results) }, null, 2),
  );
  if (env.BENCH_KEEP !== "1") rmSync(WORK, { recursive: true, force: true });
  console.log(`\n${header}\n\n${table}\n`);
  say(`written to bench/results/${name}.md and ${name}.json`);
}

await main();
