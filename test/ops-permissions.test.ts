// Private modes whatever the umask (real processes started with `umask 000`): data dir 0700, its files 0600, old dirs tightened, backup temporaries 0600 and cleaned up.
import { Database } from "bun:sqlite";
import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { chmodSync, existsSync, lstatSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BUN, cleanEnv, REPO_ROOT, runCli, startServerProcess, tempDir, type ServerProcess } from "./helpers";
import { bytesOf, seedFile } from "./ops-fixtures";

setDefaultTimeout(60_000);

const MAIN = join(REPO_ROOT, "src", "main.ts");
/** `umask 000; exec bun src/main.ts …`: the most permissive umask a service could be started with. */
const LOOSE = ["sh", "-c", 'umask 000; exec "$0" "$@"', BUN, MAIN];
const dirs: string[] = [];
const servers: ServerProcess[] = [];
afterAll(async () => {
  for (const s of servers) await s.stop("SIGKILL").catch(() => {});
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
function freshDir(): string {
  const d = tempDir("cc-perm");
  dirs.push(d);
  return d;
}

const mode = (path: string) => (lstatSync(path).mode & 0o7777).toString(8);

/** Every entry under `dir` (and `dir` itself) with its mode, e.g. { ".": "700", "clientcove.db": "600", "files/org_x": "700" }. */
function modes(dir: string, rel = "."): Record<string, string> {
  const out: Record<string, string> = { [rel]: mode(join(dir, rel)) };
  if (lstatSync(join(dir, rel)).isDirectory()) {
    for (const name of readdirSync(join(dir, rel))) Object.assign(out, modes(dir, rel === "." ? name : `${rel}/${name}`));
  }
  return out;
}

function expectPrivate(all: Record<string, string>, dir: string) {
  for (const [rel, m] of Object.entries(all)) {
    const isDir = lstatSync(join(dir, rel)).isDirectory();
    expect(`${rel} ${m}`).toBe(`${rel} ${isDir ? "700" : "600"}`);
  }
}

describe("new data dirs are private whatever the umask", () => {
  test("serve: data dir 0700; database, -wal, -shm, lock, signing key, stored and temp files 0600; subdirectories 0700", async () => {
    const dir = join(freshDir(), "data");
    const s = await startServerProcess(["serve", "--port", "0", "--data-dir", dir], { cmd: LOOSE });
    servers.push(s);
    const key = (await s.waitForStderr(/cc_[0-9A-Za-z]{32,}/))[0];
    const form = new FormData();
    form.append("file", new Blob(["private bytes"]), "secret.txt");
    const res = await fetch(`${s.url}/v1/files`, { method: "POST", headers: { authorization: `Bearer ${key}` }, body: form });
    expect(res.status).toBe(201);
    const running = modes(dir);
    // While serving, the write-ahead log and its index exist too.
    expect(Object.keys(running)).toEqual(expect.arrayContaining([".", "clientcove.db", "clientcove.db-wal", "clientcove.db-shm", "serve.lock", "files"]));
    expect(Object.keys(running).some((k) => k.startsWith("files/org_") && k.split("/").length === 3)).toBe(true);
    expectPrivate(running, dir);
    expect(await s.stop()).toBe(0);
    expectPrivate(modes(dir), dir);
  });

  test("migrate: the same", () => {
    const dir = join(freshDir(), "a", "b");
    const r = runCli(["migrate", "--data-dir", dir], { cmd: LOOSE });
    expect(r.code, r.stderr).toBe(0);
    expectPrivate(modes(dir), dir);
  });
});

describe("an existing data dir with looser modes", () => {
  test("serve tightens the data dir's own entries at start (and says so); other files in the directory are left alone", async () => {
    const dir = freshDir();
    expect(runCli(["migrate", "--data-dir", dir]).code).toBe(0);
    const db = new Database(join(dir, "clientcove.db"));
    const orgId = newOrg(db);
    const stored = seedFile(db, dir, orgId, bytesOf(1000, 7));
    db.close();
    // As an older version (or another umask) left it.
    chmodSync(dir, 0o755);
    chmodSync(join(dir, "clientcove.db"), 0o644);
    chmodSync(join(dir, "files"), 0o755);
    chmodSync(join(dir, "files", orgId), 0o775);
    chmodSync(stored.path, 0o644);
    writeFileSync(join(dir, "README.admin.txt"), "not ours");
    chmodSync(join(dir, "README.admin.txt"), 0o644);

    const s = await startServerProcess(["serve", "--port", "0", "--data-dir", dir], { cmd: LOOSE });
    servers.push(s);
    expect(await s.stop()).toBe(0);
    const all = modes(dir);
    expect(all["README.admin.txt"]).toBe("644");
    delete all["README.admin.txt"];
    expectPrivate(all, dir);
    const warn = s
      .stdout()
      .split("\n")
      .find((l) => l.includes("tightened data dir permissions"));
    expect(JSON.parse(warn!)).toMatchObject({ level: "warn", changed: 5 });
  });
});

function newOrg(db: Database): string {
  const id = `org_${Math.random().toString(36).slice(2, 18).padEnd(16, "0")}`;
  db.query("INSERT INTO orgs (id, name, plan, created_at) VALUES (?, 'Acme', 'pro', ?)").run(id, Date.now());
  return id;
}

describe("backup temporaries", () => {
  test("the snapshot and .partial are 0600 under umask 000; a killed backup's leftovers are removed by the next backup, and nothing else", async () => {
    const dir = freshDir();
    const outDir = freshDir();
    expect(runCli(["migrate", "--data-dir", dir]).code).toBe(0);
    const db = new Database(join(dir, "clientcove.db"));
    // Big enough that the backup is still streaming it when we look (and kill).
    seedFile(db, dir, newOrg(db), bytesOf(48 * 1024 * 1024, 3));
    db.close();
    const out = join(outDir, "cc.tar.gz");

    const proc = Bun.spawn([...LOOSE, "backup", "--data-dir", dir, "--out", out], { cwd: REPO_ROOT, env: cleanEnv(), stdout: "pipe", stderr: "pipe" });
    let seen: string[] = [];
    for (let i = 0; i < 2000 && !(seen.some((n) => n.endsWith(".snapshot.db")) && seen.some((n) => n.endsWith(".partial"))); i++) {
      await Bun.sleep(5);
      seen = readdirSync(outDir);
    }
    const temps = readdirSync(outDir);
    expect(temps.some((n) => n.endsWith(".snapshot.db"))).toBe(true);
    for (const n of temps) expect(`${n} ${mode(join(outDir, n))}`).toBe(`${n} 600`);
    proc.kill("SIGKILL");
    await proc.exited;
    const leftovers = readdirSync(outDir);
    expect(leftovers.filter((n) => n.includes(`.${proc.pid}-`)).length).toBeGreaterThanOrEqual(2);

    // Files that merely look similar, and the temporaries of a backup that is still running (this test's pid), stay.
    const keep = ["cc.tar.gz.notes", "other.partial", `cc.tar.gz.${process.pid}-0123abcd.partial`, "cc.tar.gz.12-nothex00.partial", "snapshot.db"];
    for (const n of keep) writeFileSync(join(outDir, n), "keep me");
    const r = runCli(["backup", "--data-dir", dir, "--out", out, "--json"], { cmd: LOOSE });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).removed_leftovers.sort()).toEqual(leftovers.sort());
    expect(readdirSync(outDir).sort()).toEqual(["cc.tar.gz", ...keep].sort());
    expect(mode(out)).toBe("600");
    expect(statSync(out).size).toBeGreaterThan(48 * 1024 * 1024);
    expect(existsSync(join(outDir, `cc.tar.gz.${process.pid}-0123abcd.partial`))).toBe(true);
  });
});
