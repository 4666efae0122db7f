// A real PostgreSQL server for tests: CLIENTCOVE_TEST_DATABASE_URL, else one throwaway server per test process (initdb + pg_ctl), else null with one line saying why (CLIENTCOVE_TEST_POSTGRES=skip skips on purpose).
import { spawn, spawnSync } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Sql } from "postgres";
import { openPostgres } from "../../src/db/postgres/client";
import { randomString } from "../../src/lib/ids";

/** Where Debian's `postgresql` package puts the server binaries (one folder per major version). */
const PG_LIB = "/usr/lib/postgresql";
/** The system user the server runs as when the tests run as root (initdb refuses root). */
const SERVER_USER = "postgres";

let started: Promise<string | null> | undefined;
let skipReasonPrinted = false;

/**
 * The URL of a PostgreSQL server the tests may create databases on (as a superuser or a role with CREATEDB), or null
 * when there is none. The first call starts the server; later calls share it. The server is stopped and its files
 * removed when the process exits.
 */
export function postgresUrl(): Promise<string | null> {
  started ??= locate();
  return started;
}

/** A new, empty UTF8 database on the test server, for one test file or one test; `drop()` removes it. */
export async function freshDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const base = await postgresUrl();
  if (!base) throw new Error("freshDatabase(): no PostgreSQL server for tests (see postgresUrl())");
  const name = `cc_${randomString(12, "0123456789abcdefghijklmnopqrstuvwxyz")}`;
  const admin = adminSql(base);
  await admin.unsafe(`CREATE DATABASE ${name} ENCODING 'UTF8' TEMPLATE template0`);
  const url = new URL(base);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    },
  };
}

let admin: Sql | undefined;
/** One small pool on the server's own database for CREATE/DROP DATABASE (settings from the URL only, as the product's). */
function adminSql(base: string): Sql {
  admin ??= openPostgres({ url: base, poolSize: 2, statementTimeoutMs: 0 }).sql;
  return admin;
}

function skip(reason: string): null {
  if (!skipReasonPrinted) {
    skipReasonPrinted = true;
    process.stderr.write(`PostgreSQL tests skipped: ${reason}\n`);
  }
  return null;
}

async function locate(): Promise<string | null> {
  if (process.env.CLIENTCOVE_TEST_POSTGRES === "skip") return skip("CLIENTCOVE_TEST_POSTGRES=skip");
  const fromEnv = process.env.CLIENTCOVE_TEST_DATABASE_URL;
  if (fromEnv) return fromEnv;
  const bin = serverBinDir();
  if (!bin) return skip(`no CLIENTCOVE_TEST_DATABASE_URL and no ${PG_LIB}/*/bin/initdb (apt-get install -y postgresql)`);
  try {
    return await startServer(bin);
  } catch (err) {
    return skip(`could not start a local server from ${bin}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** The newest installed major version's bin folder that has initdb, or null. */
function serverBinDir(): string | null {
  if (!existsSync(PG_LIB)) return null;
  const versions = readdirSync(PG_LIB)
    .filter((v) => existsSync(join(PG_LIB, v, "bin", "initdb")))
    .sort((a, b) => Number(b) - Number(a));
  return versions.length ? join(PG_LIB, versions[0]!, "bin") : null;
}

/** A port nobody listens on now (the server binds it a moment later; a collision fails the start and is retried). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Runs a server tool: as SERVER_USER via runuser when we are root, else as ourselves. Synchronous on purpose: it is
 * also how the exit handler stops the server, and initdb/pg_ctl take well under a second each.
 */
function run(asUser: string | null, cmd: string, args: string[]): { ok: boolean; output: string } {
  const [file, argv] = asUser ? ["runuser", ["-u", asUser, "--", cmd, ...args]] : [cmd, args];
  const r = spawnSync(file, argv, { encoding: "utf8", timeout: 60_000 });
  return { ok: r.status === 0, output: `${r.stdout ?? ""}${r.stderr ?? ""}${r.error ? String(r.error) : ""}`.trim() };
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

function lastLines(text: string, n = 3): string {
  return text.split("\n").filter(Boolean).slice(-n).join(" | ");
}

async function startServer(bin: string): Promise<string> {
  const asUser = process.getuid?.() === 0 ? SERVER_USER : null;
  if (asUser && spawnSync("id", ["-u", asUser]).status !== 0) {
    const made = spawnSync("useradd", ["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", asUser], { encoding: "utf8" });
    if (made.status !== 0) throw new Error(`running as root and cannot create the system user ${asUser}: ${made.stderr.trim()}`);
  }
  const dir = mkdtempSync(join(tmpdir(), "cc-pg-"));
  const data = join(dir, "data");
  const log = join(dir, "server.log");
  if (asUser) {
    const id = spawnSync("id", ["-u", asUser], { encoding: "utf8" });
    const gid = spawnSync("id", ["-g", asUser], { encoding: "utf8" });
    chownSync(dir, Number(id.stdout.trim()), Number(gid.stdout.trim()));
  }
  const pgCtl = join(bin, "pg_ctl");
  // `bun test` emits no "exit" event, and a killed process none at all: a guardian outlives us instead. It is a
  // shell in a session of its own whose stdin is a pipe from this process; when this process ends, however it ends,
  // the pipe closes, and the guardian stops the server and removes its files.
  const stopCommand = [...(asUser ? ["runuser", "-u", asUser, "--"] : []), pgCtl, "-D", data, "-m", "immediate", "-w", "stop"].map(shellQuote).join(" ");
  const guardian = spawn("sh", ["-c", `cat >/dev/null; ${stopCommand} >/dev/null 2>&1; rm -rf ${shellQuote(dir)}`], {
    stdio: ["pipe", "ignore", "ignore"],
    detached: true,
  });
  guardian.unref();
  (guardian.stdin as unknown as { unref?: () => void } | null)?.unref?.();
  // Where the process does exit normally (a script, not `bun test`), stop at once rather than a moment later.
  let running = false;
  const stop = () => {
    if (running) run(asUser, pgCtl, ["-D", data, "-m", "immediate", "-w", "stop"]);
    running = false;
    rmSync(dir, { recursive: true, force: true });
  };
  process.on("exit", stop);

  // A linguistic default collation (ICU en-US), as most production databases have: the schema must not depend on it
  // (its text columns are COLLATE "C"). A server built without ICU (or older than 15) gets C.UTF-8. -N skips initdb's
  // final fsync of a throwaway cluster; the server runs with its defaults (fsync on).
  const initdb = (extra: string[]) =>
    run(asUser, join(bin, "initdb"), ["-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8", "-N", ...extra]);
  let init = initdb(["--locale-provider=icu", "--icu-locale=en-US"]);
  if (!init.ok) {
    rmSync(data, { recursive: true, force: true });
    init = initdb([]);
  }
  if (!init.ok) {
    stop();
    throw new Error(`initdb failed: ${lastLines(init.output)}`);
  }
  let lastError = "";
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const options = `-c listen_addresses=127.0.0.1 -p ${port} -c unix_socket_directories='' -c max_connections=200`;
    const r = run(asUser, pgCtl, ["-D", data, "-l", log, "-w", "-t", "30", "-o", options, "start"]);
    if (r.ok) {
      running = true;
      return `postgres://postgres@127.0.0.1:${port}/postgres`;
    }
    lastError = existsSync(log) ? lastLines(readFileSync(log, "utf8")) : lastLines(r.output);
  }
  stop();
  throw new Error(`pg_ctl start failed: ${lastError}`);
}
