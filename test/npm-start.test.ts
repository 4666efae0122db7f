// `npm start` as a person runs it: a signal to the npm process reaches the server, which stops and frees its port.
import { afterEach, describe, expect, setDefaultTimeout, test } from "bun:test";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { cleanEnv, REPO_ROOT, tempDir } from "./helpers";

setDefaultTimeout(30_000);

const children: number[] = [];
let dataDir: string | undefined;

afterEach(() => {
  // Whatever a failing test left running (the server npm lost track of, or npm itself).
  for (const pid of children.splice(0)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  dataDir = undefined;
});

/** Running (a zombie, exited but not yet reaped, counts as gone). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

/** The process ids under `pid` (from /proc), deepest last. */
function descendants(pid: number): number[] {
  const out: number[] = [];
  const walk = (p: number) => {
    let kids: string;
    try {
      kids = readFileSync(`/proc/${p}/task/${p}/children`, "utf8");
    } catch {
      return;
    }
    for (const k of kids.trim().split(/\s+/).filter(Boolean).map(Number)) {
      out.push(k);
      walk(k);
    }
  };
  walk(pid);
  return out;
}

async function refused(port: number): Promise<boolean> {
  try {
    await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(2000) });
    return false;
  } catch {
    return true;
  }
}

/** Starts `npm start` with a temp data dir and a free port (CLIENTCOVE_PORT=0); resolves once the server logs "listening". */
async function npmStart() {
  dataDir = tempDir("cc-npm-start");
  const proc = Bun.spawn(["npm", "start", "--silent"], {
    cwd: REPO_ROOT,
    env: cleanEnv({ CLIENTCOVE_PORT: "0", CLIENTCOVE_DATA_DIR: join(dataDir, "data"), CLIENTCOVE_LOG_LEVEL: "info" }),
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  children.push(proc.pid);
  let out = "";
  const decoder = new TextDecoder();
  const reader = proc.stdout.getReader();
  let port = 0;
  while (!port) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`npm start ended before listening: ${out}\n${await new Response(proc.stderr).text()}`);
    out += decoder.decode(value, { stream: true });
    const line = out.split("\n").find((l) => l.includes('"listening"') && l.trim().endsWith("}"));
    if (line) port = Number(new URL(JSON.parse(line).url).port);
  }
  // Keep draining so the server never blocks on a full pipe.
  void (async () => {
    while (!(await reader.read()).done);
  })();
  const tree = descendants(proc.pid);
  children.push(...tree);
  return { proc, port, tree };
}

describe("npm start", () => {
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    test(`${signal} to the npm process stops the server: every process of the tree exits and the port closes`, async () => {
      const { proc, port, tree } = await npmStart();
      expect(tree.length).toBeGreaterThan(0);
      const res = await fetch(`http://127.0.0.1:${port}/healthz`);
      expect(res.status).toBe(200);

      proc.kill(signal);
      await proc.exited;
      // The server may finish its graceful shutdown just after npm returns: poll for its exit, giving up after 10 s
      // (a server npm lost track of never exits; its shutdown takes well under a second).
      for (let i = 0; i < 500 && tree.some(alive); i++) await Bun.sleep(20);
      expect(tree.filter(alive).map((pid) => readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " "))).toEqual([]);
      expect(await refused(port)).toBe(true);
    });
  }
});
