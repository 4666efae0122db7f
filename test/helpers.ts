// Test fixtures: a real data dir in a temp folder, a migrated database (SQLite, or PostgreSQL with CLIENTCOVE_TEST_ENGINE=postgres), the real app, orgs and keys.
import { expect } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Sql } from "postgres";
import { buildApp, type App } from "../src/app";
import { loadConfig, type Config } from "../src/config";
import { openDatabase, type Db, type DbHandle } from "../src/db/client";
import { buildDeps, type Deps } from "../src/deps";
import { migrate } from "../src/db/migrate";
import { openPostgres } from "../src/db/postgres/client";
import { MIGRATIONS_TABLE, migratePostgres } from "../src/db/postgres/migrate";
import { loadDatabaseDownloadKey } from "../src/files/signed-url";
import { systemClock, type Clock } from "../src/lib/clock";
import { silentLogger, type Logger } from "../src/lib/log";
import { insertOrgWithKey } from "./orgs-fixtures";
import { freshDatabase } from "./services/postgres";
import type { Plan } from "../src/db/schema/orgs";

export function tempDir(label = "cc"): string {
  return mkdtempSync(join(tmpdir(), `${label}-`));
}

/** The engine `createTestEnv` builds on: CLIENTCOVE_TEST_ENGINE=postgres (scripts/test-postgres.ts sets it), else SQLite. */
export type TestEngine = "sqlite" | "postgres";
export const TEST_ENGINE: TestEngine = process.env.CLIENTCOVE_TEST_ENGINE === "postgres" ? "postgres" : "sqlite";
if (process.env.CLIENTCOVE_TEST_ENGINE && process.env.CLIENTCOVE_TEST_ENGINE !== TEST_ENGINE)
  throw new Error(`CLIENTCOVE_TEST_ENGINE must be "sqlite" or "postgres", got "${process.env.CLIENTCOVE_TEST_ENGINE}"`);
/** True in the PostgreSQL pass: `test.skipIf(ON_POSTGRES)` marks a test that is SQLite-specific by nature. */
export const ON_POSTGRES = TEST_ENGINE === "postgres";

/** A value a statement binds: what both engines accept for the schema's columns. */
export type SqlValue = string | number | null;

/**
 * Rows of the env's database, whichever engine, for assertions and for setting up states the API cannot make.
 * Statements use `?` placeholders (turned into `$1…` on PostgreSQL) and portable SQL; rows are equal on both
 * engines (the PostgreSQL client maps int8 to numbers and booleans to 1/0, as bun:sqlite returns them).
 */
export interface TestDb {
  /** The first row, or null (as bun:sqlite's `get`). */
  get<T = Record<string, unknown>>(sql: string, ...params: SqlValue[]): Promise<T | null>;
  all<T = Record<string, unknown>>(sql: string, ...params: SqlValue[]): Promise<T[]>;
  /** Runs a statement; resolves with the number of rows it changed. */
  run(sql: string, ...params: SqlValue[]): Promise<number>;
  /** The schema's tables (not the migrations' bookkeeping), sorted. */
  tables(): Promise<string[]>;
}

/** How the env's app reaches its database: what `buildDeps` is given. */
export type TestDatabase = { engine: "sqlite"; db: Db } | { engine: "postgres"; sql: Sql; downloadKey: Buffer };

export interface TestEnv {
  engine: TestEngine;
  dir: string;
  /** The app's final, frozen Config (deps.config). */
  config: Config;
  /** The env's database as buildDeps is given it (for `testDeps`). */
  database: TestDatabase;
  /** Portable row access for assertions (see TestDb). */
  db: TestDb;
  /** Only on SQLite envs (createSqliteTestEnv, or createTestEnv in the SQLite pass): the raw connection. */
  handle?: DbHandle;
  /** What the app was built from, by the composition root serve uses (src/deps.ts). */
  deps: Deps;
  app: App;
  clock: Clock;
  /** Sends a request through the whole app (no socket). `path` starts with `/`. */
  request(path: string, init?: RequestInit & { key?: string; json?: unknown }): Promise<Response>;
  /** Creates an organization with its owner and an API key (through the writer); returns the key's secret. */
  org(name?: string, plan?: Plan): Promise<{ orgId: string; userId: string; key: string }>;
  /** Removes the data dir; on PostgreSQL waits for the writer and gives the database back to the pool. */
  close(): Promise<void>;
}

/** A test env on SQLite, for tests that are SQLite-specific by nature (PRAGMAs, the data dir's file, WAL, the writer). */
export interface SqliteTestEnv extends TestEnv {
  engine: "sqlite";
  database: { engine: "sqlite"; db: Db };
  handle: DbHandle;
}

/**
 * The app's dependencies for a test env's data dir and database, built as serve builds them (src/deps.ts). For a
 * second app on the same env (another logger, other options, a restart): `buildApp(testDeps(env, { log }))`.
 */
export function testDeps(env: Pick<TestEnv, "config" | "database" | "clock">, overrides: { config?: Partial<Config>; log?: Logger; clock?: Clock } = {}): Deps {
  const common = { config: { ...env.config, ...overrides.config }, clock: overrides.clock ?? env.clock, log: overrides.log ?? silentLogger };
  const d = env.database;
  return d.engine === "sqlite" ? buildDeps({ ...common, db: d.db }) : buildDeps({ ...common, postgres: { sql: d.sql, downloadKey: d.downloadKey } });
}

interface EnvOptions {
  config?: Partial<Config>;
  clock?: Clock;
}

/** A test env on the engine of this pass (TEST_ENGINE): the HTTP suite runs on SQLite, then again on PostgreSQL. */
export function createTestEnv(opts: EnvOptions = {}): Promise<TestEnv> {
  return TEST_ENGINE === "postgres" ? createPostgresTestEnv(opts) : createSqliteTestEnv(opts);
}

function baseConfig(dir: string, opts: EnvOptions, extra: Record<string, string> = {}): Config {
  // Rate limits are off unless a test turns them on: suites make hundreds of requests with one key in a burst.
  const flags = { "data-dir": dir, "log-level": "silent", "rate-limit-per-minute": "0", "auth-failures-per-minute": "0", ...extra };
  return { ...loadConfig(flags, {}).config, ...opts.config };
}

/** A test env on SQLite whatever the pass: a migrated database in the data dir, `handle` its raw connection. */
export async function createSqliteTestEnv(opts: EnvOptions = {}): Promise<SqliteTestEnv> {
  const dir = tempDir();
  const handle = openDatabase(dir);
  migrate(handle.sqlite);
  const sqlite = handle.sqlite;
  const db: TestDb = {
    async get<T>(sql: string, ...params: SqlValue[]) {
      return (sqlite.query(sql).get(...params) ?? null) as T | null;
    },
    async all<T>(sql: string, ...params: SqlValue[]) {
      return sqlite.query(sql).all(...params) as T[];
    },
    async run(sql: string, ...params: SqlValue[]) {
      return sqlite.query(sql).run(...params).changes;
    },
    async tables() {
      const rows = sqlite
        .query("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT IN ('__drizzle_migrations', 'sqlite_sequence') ORDER BY name")
        .all();
      return (rows as { name: string }[]).map((r) => r.name);
    },
  };
  const env = assemble(dir, baseConfig(dir, opts), { engine: "sqlite", db: handle.db }, db, opts, () => handle.close());
  return { ...env, engine: "sqlite", database: { engine: "sqlite", db: handle.db }, handle };
}

// ---- PostgreSQL: a small pool of migrated databases, emptied when an env takes one ---------------------------

interface PooledDatabase {
  url: string;
  sql: Sql;
  tables: string[];
  busy: boolean;
}

const databases: PooledDatabase[] = [];
let creating: Promise<PooledDatabase> | undefined;

/** A fresh, migrated database added to the pool (one at a time: envs opened together wait for each other's). */
function addDatabase(): Promise<PooledDatabase> {
  const made = (creating ?? Promise.resolve()).then(async () => {
    const fresh = await freshDatabase();
    const { sql } = openPostgres({ url: fresh.url, poolSize: 10, statementTimeoutMs: 30_000 });
    await migratePostgres(sql);
    const rows = await sql<
      { name: string }[]
    >`SELECT tablename AS name FROM pg_tables WHERE schemaname = current_schema() AND tablename <> ${MIGRATIONS_TABLE} ORDER BY tablename`;
    const entry: PooledDatabase = { url: fresh.url, sql, tables: rows.map((r) => r.name), busy: true };
    databases.push(entry);
    return entry;
  });
  creating = made.catch(() => undefined) as Promise<PooledDatabase>;
  return made;
}

/**
 * A database of the pool (created once per process, as few as envs are open at once), emptied of every row with
 * its identities restarted: as good as a new one, for a TRUNCATE instead of CREATE DATABASE and migrations.
 */
async function takeDatabase(): Promise<PooledDatabase> {
  const free = databases.find((d) => !d.busy);
  const entry = free ?? (await addDatabase());
  entry.busy = true;
  try {
    await entry.sql.unsafe(`TRUNCATE ${entry.tables.map((t) => `"${t}"`).join(", ")} RESTART IDENTITY CASCADE`);
  } catch (err) {
    entry.busy = false;
    throw err;
  }
  return entry;
}

/** `?` placeholders (outside quotes) as `$1, $2, …` and `?N` as `$N`, for statements written for both engines. */
export function numberedPlaceholders(sql: string): string {
  let n = 0;
  let out = "";
  let quote: string | null = null;
  for (let i = 0; i < sql.length; i++) {
    const ch = sql[i]!;
    if (quote) {
      if (ch === quote) quote = null;
    } else if (ch === "'" || ch === '"') quote = ch;
    else if (ch === "?") {
      const digits = /^\d+/.exec(sql.slice(i + 1))?.[0];
      out += `$${digits ?? ++n}`;
      i += digits?.length ?? 0;
      continue;
    }
    out += ch;
  }
  return out;
}

/** A row as bun:sqlite gives it: a plain object (postgres.js rows carry no extras, but its result array does). */
const plain = (rows: readonly object[]) => rows.map((r) => ({ ...r }));

async function createPostgresTestEnv(opts: EnvOptions): Promise<TestEnv> {
  const pooled = await takeDatabase();
  const { sql } = pooled;
  const dir = tempDir();
  const database: TestDatabase = { engine: "postgres", sql, downloadKey: await loadDatabaseDownloadKey(sql) };
  const db: TestDb = {
    async get<T>(text: string, ...params: SqlValue[]) {
      return (plain(await sql.unsafe(numberedPlaceholders(text), params))[0] ?? null) as T | null;
    },
    async all<T>(text: string, ...params: SqlValue[]) {
      return plain(await sql.unsafe(numberedPlaceholders(text), params)) as T[];
    },
    async run(text: string, ...params: SqlValue[]) {
      return (await sql.unsafe(numberedPlaceholders(text), params)).count;
    },
    async tables() {
      return [...pooled.tables];
    },
  };
  const config = baseConfig(dir, opts, { "database-url": pooled.url });
  return assemble(dir, config, database, db, opts, () => {
    pooled.busy = false;
  });
}

/** The env around an open database: its app built as serve builds it, requests, orgs, and `close`. */
function assemble(dir: string, config: Config, database: TestDatabase, db: TestDb, opts: EnvOptions, release: () => void): TestEnv {
  const clock = opts.clock ?? systemClock;
  const deps = testDeps({ config, database, clock });
  const app = buildApp(deps);
  let closed = false;
  return {
    engine: database.engine,
    dir,
    config: deps.config,
    database,
    db,
    deps,
    app,
    clock,
    request(path, init = {}) {
      const headers = new Headers(init.headers);
      if (init.key !== undefined) headers.set("authorization", `Bearer ${init.key}`);
      let body = init.body;
      if (init.json !== undefined) {
        body = JSON.stringify(init.json);
        if (!headers.has("content-type")) headers.set("content-type", "application/json");
      }
      return app.handle(new Request(`http://localhost${path}`, { ...init, headers, body }));
    },
    org(name = "Acme", plan = "pro") {
      return insertOrgWithKey(deps.writer, clock.now(), name, plan);
    },
    async close() {
      if (closed) return;
      closed = true;
      // SQLite: closed at once (also when the caller does not await). PostgreSQL: the writer's units finish first.
      if (database.engine === "postgres") await deps.writer.flush();
      release();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
// ---- Child processes: the CLI and the server as an admin runs them -------------------------------------------

/** The repository root and the pinned Bun, for tests that spawn `bun src/main.ts`. */
export const REPO_ROOT = join(import.meta.dir, "..");
export const BUN = join(REPO_ROOT, "node_modules", ".bin", "bun");

/** The inherited environment minus anything that would change our configuration (CLIENTCOVE_*, PORT, NODE_ENV). */
export function cleanEnv(extra: Record<string, string | undefined> = {}): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !k.startsWith("CLIENTCOVE_") && k !== "PORT" && k !== "NODE_ENV") out[k] = v;
  }
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete out[k];
    else out[k] = v;
  }
  return out;
}

/** A TCP port that was free a moment ago (for commands that must be given a concrete port). */
export function freePort(): number {
  const probe = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = probe.port;
  probe.stop(true);
  return port;
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** A command that failed as admins expect: exit `code`, one line on stderr (returned), no stack trace, nothing on stdout. */
export function expectOneLine(r: CliResult, code: number, re: RegExp): string {
  expect(r.code, r.stderr).toBe(code);
  const lines = r.stderr.trim().split("\n");
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(re);
  expect(r.stderr).not.toMatch(/\n\s+at /);
  expect(r.stdout).toBe("");
  return lines[0]!;
}

/** Runs `clientcove <args>` from source (`bun src/main.ts`) to completion. `cmd` overrides the executable (a built binary). */
export function runCli(args: string[], opts: { cwd?: string; env?: Record<string, string | undefined>; cmd?: string[] } = {}): CliResult {
  const p = Bun.spawnSync([...(opts.cmd ?? [BUN, join(REPO_ROOT, "src", "main.ts")]), ...args], {
    cwd: opts.cwd ?? REPO_ROOT,
    env: cleanEnv(opts.env),
    stdout: "pipe",
    stderr: "pipe",
  });
  return { code: p.exitCode ?? -1, stdout: p.stdout.toString(), stderr: p.stderr.toString() };
}

export interface ServerProcess {
  proc: Bun.Subprocess<"ignore", "pipe", "pipe">;
  /** http://127.0.0.1:<port>, from the server's own "listening" log line. */
  url: string;
  stdout(): string;
  stderr(): string;
  /** Resolves with the first match of `re` in stderr, waiting for output as it arrives; rejects if the process exits first. */
  waitForStderr(re: RegExp): Promise<RegExpMatchArray>;
  /** Sends `signal` (default SIGTERM) and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number>;
}

/**
 * Starts a server process (`serve` from source unless `cmd` is given) and resolves once it logs "listening"
 * (one JSON line on stdout). Rejects with its output if it exits first.
 */
export async function startServerProcess(
  args: string[],
  opts: { cwd?: string; env?: Record<string, string | undefined>; cmd?: string[] } = {},
): Promise<ServerProcess> {
  const proc = Bun.spawn([...(opts.cmd ?? [BUN, join(REPO_ROOT, "src", "main.ts"), "serve"]), ...args], {
    cwd: opts.cwd ?? REPO_ROOT,
    env: cleanEnv(opts.env),
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  let out = "";
  let err = "";
  const drain = async (stream: ReadableStream<Uint8Array>, onText: (t: string) => void) => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) onText(decoder.decode(chunk, { stream: true }));
  };
  let onOut: () => void = () => {};
  const errWaiters = new Set<() => void>();
  const errDone = drain(proc.stderr, (t) => {
    err += t;
    errWaiters.forEach((w) => w());
  });
  const outDone = drain(proc.stdout, (t) => {
    out += t;
    onOut();
  });
  const url = await new Promise<string>((resolve, reject) => {
    const check = () => {
      for (const line of out.split("\n")) {
        if (!line.includes('"listening"')) continue;
        try {
          const port = new URL(JSON.parse(line).url).port;
          return resolve(`http://127.0.0.1:${port}`);
        } catch {
          // not a complete JSON line yet
        }
      }
    };
    onOut = check;
    check();
    proc.exited.then(async (code) => {
      await Promise.all([errDone, outDone]);
      reject(new Error(`server exited with ${code} before listening\nstdout: ${out}\nstderr: ${err}`));
    });
  });
  return {
    proc,
    url,
    stdout: () => out,
    stderr: () => err,
    waitForStderr(re) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const m = err.match(re);
          if (m) {
            errWaiters.delete(check);
            resolve(m);
          }
        };
        errWaiters.add(check);
        check();
        Promise.all([errDone, outDone]).then(() => {
          check();
          if (errWaiters.delete(check)) reject(new Error(`process ended without ${re} on stderr:\n${err}`));
        });
      });
    },
    async stop(signal = "SIGTERM") {
      if (proc.exitCode === null) proc.kill(signal);
      const code = await proc.exited;
      await Promise.all([errDone, outDone]);
      return code;
    },
  };
}

/** A seeded PRNG (mulberry32) returning numbers in [0, 1): the same seed gives the same run every time. */
export function seededRandom(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
