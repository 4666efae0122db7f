// Test fixtures: a real data dir in a temp folder, a migrated SQLite database, the real app, orgs and keys.
import { expect } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildApp, type App } from "../src/app";
import { loadConfig, type Config } from "../src/config";
import { openDatabase, type DbHandle } from "../src/db/client";
import { buildDeps, type Deps } from "../src/deps";
import { migrate } from "../src/db/migrate";
import { systemClock, type Clock } from "../src/lib/clock";
import { silentLogger, type Logger } from "../src/lib/log";
import { insertOrgWithKey } from "./orgs-fixtures";
import type { Plan } from "../src/db/schema/orgs";

export function tempDir(label = "cc"): string {
  return mkdtempSync(join(tmpdir(), `${label}-`));
}

export interface TestEnv {
  dir: string;
  /** The app's final, frozen Config (deps.config). */
  config: Config;
  handle: DbHandle;
  /** What the app was built from, by the composition root serve uses (src/deps.ts). */
  deps: Deps;
  app: App;
  clock: Clock;
  /** Sends a request through the whole app (no socket). `path` starts with `/`. */
  request(path: string, init?: RequestInit & { key?: string; json?: unknown }): Promise<Response>;
  /** Creates an organization with its owner and an API key; returns the key's secret. */
  org(name?: string, plan?: Plan): { orgId: string; userId: string; key: string };
  close(): void;
}

/**
 * The app's dependencies for a test env's data dir and database, built as serve builds them (src/deps.ts). For a
 * second app on the same env (another logger, other options, a restart): `buildApp(testDeps(env, { log }))`.
 */
export function testDeps(env: Pick<TestEnv, "config" | "handle" | "clock">, overrides: { config?: Partial<Config>; log?: Logger; clock?: Clock } = {}): Deps {
  return buildDeps({
    config: { ...env.config, ...overrides.config },
    db: env.handle.db,
    clock: overrides.clock ?? env.clock,
    log: overrides.log ?? silentLogger,
  });
}

export function createTestEnv(opts: { config?: Partial<Config>; clock?: Clock } = {}): TestEnv {
  const dir = tempDir();
  // Rate limits are off unless a test turns them on: suites make hundreds of requests with one key in a burst.
  const config = {
    ...loadConfig({ "data-dir": dir, "log-level": "silent", "rate-limit-per-minute": "0", "auth-failures-per-minute": "0" }, {}).config,
    ...opts.config,
  };
  const handle = openDatabase(dir);
  migrate(handle.sqlite);
  const clock = opts.clock ?? systemClock;
  const deps = testDeps({ config, handle, clock });
  const app = buildApp(deps);
  const env: TestEnv = {
    dir,
    config: deps.config,
    handle,
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
      return insertOrgWithKey(handle.sqlite, clock.now(), name, plan);
    },
    close() {
      handle.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return env;
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
