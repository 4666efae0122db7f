// The server process as an admin starts it (real child processes, real ports): port in use, one server per data dir, the bound address, --port 0 links.
import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { BUN, cleanEnv, expectOneLine, REPO_ROOT, runCli, startServerProcess, tempDir, type ServerProcess } from "./helpers";

setDefaultTimeout(60_000);

const MAIN = join(REPO_ROOT, "src", "main.ts");
const SECRET = /cc_[0-9A-Za-z]{32,}/;
const dirs: string[] = [];
const servers: ServerProcess[] = [];
afterAll(async () => {
  for (const s of servers) await s.stop("SIGKILL").catch(() => {});
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
function freshDir(): string {
  const d = tempDir("cc-serve");
  dirs.push(d);
  return d;
}
async function serve(args: string[]): Promise<ServerProcess> {
  const s = await startServerProcess(["--port", "0", ...args]);
  servers.push(s);
  return s;
}

/** Runs the CLI without blocking this process's event loop (a server started by this test keeps being served). */
async function runCliAsync(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const proc = Bun.spawn([BUN, MAIN, ...args], { cwd: REPO_ROOT, stdout: "pipe", stderr: "pipe", env: cleanEnv() });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout, stderr };
}

function listeningLine(s: ServerProcess): Record<string, unknown> {
  return JSON.parse(
    s
      .stdout()
      .split("\n")
      .find((l) => l.includes('"listening"'))!,
  );
}

async function bootstrapKey(s: ServerProcess): Promise<string> {
  return (await s.waitForStderr(SECRET))[0];
}

describe("a port in use on the very first start", () => {
  test("one line, exit 2, nothing created; the next start bootstraps and prints the key", async () => {
    // Held on every IPv4 address: the default (::, dual-stack) cannot bind it either.
    const holder = Bun.listen({ hostname: "0.0.0.0", port: 0, socket: { data() {} } });
    const port = holder.port;
    const parent = freshDir();
    const dir = join(parent, "data");
    try {
      expectOneLine(runCli(["serve", "--port", String(port), "--data-dir", dir]), 2, new RegExp(`^clientcove: port ${port} on :: is already in use$`));
      expect(existsSync(dir)).toBe(false);
      // An existing (empty) data dir stays empty: no database, no organization, no key that was never printed.
      const empty = freshDir();
      expectOneLine(
        runCli(["serve", "--port", String(port), "--host", "127.0.0.1", "--data-dir", empty]),
        2,
        new RegExp(`^clientcove: port ${port} on 127\\.0\\.0\\.1 is already in use$`),
      );
      expect(readdirSync(empty)).toEqual([]);
    } finally {
      holder.stop(true);
    }
    const s = await serve(["--data-dir", dir]);
    const key = await bootstrapKey(s);
    expect((await fetch(`${s.url}/v1/tickets`, { headers: { authorization: `Bearer ${key}` } })).status).toBe(200);
    expect(await s.stop()).toBe(0);
  });
});

describe("one server per data dir", () => {
  const BOUNDARY = "----cc-serve-test-boundary";

  test("a second serve is refused (dir and pid named, exit 2) and sweeps nothing: the first one's in-flight upload completes", async () => {
    const dir = freshDir();
    const first = await serve(["--data-dir", dir]);
    const key = await bootstrapKey(first);
    // An upload that has started writing its temp file, held open while the second server tries to start.
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const enc = new TextEncoder();
    const stream = new ReadableStream<Uint8Array>({
      async start(c) {
        c.enqueue(
          enc.encode(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\nContent-Type: text/plain\r\n\r\n${"x".repeat(70_000)}`),
        );
        await gate;
        c.enqueue(enc.encode(`the end\r\n--${BOUNDARY}--\r\n`));
        c.close();
      },
    });
    const pending = fetch(`${first.url}/v1/files`, {
      method: "POST",
      body: stream,
      headers: { authorization: `Bearer ${key}`, "content-type": `multipart/form-data; boundary=${BOUNDARY}` },
      duplex: "half",
    } as RequestInit);
    for (let i = 0; i < 500 && !(existsSync(join(dir, "tmp")) && readdirSync(join(dir, "tmp")).some((n) => !n.endsWith(".intent"))); i++) await Bun.sleep(10);
    expect(readdirSync(join(dir, "tmp")).length).toBeGreaterThan(0);

    const second = await runCliAsync(["serve", "--port", "0", "--data-dir", dir]);
    expectOneLine(
      second,
      2,
      new RegExp(
        `^clientcove: data dir ${dir.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} is already in use by another Client Cove process \\(pid ${first.proc.pid}\\)`,
      ),
    );
    release();
    const res = await pending;
    expect(res.status).toBe(201);
    expect(((await res.json()) as { size_bytes: number }).size_bytes).toBe(70_007);

    // Documented to work beside a running server.
    for (const args of [
      ["status"],
      ["verify", "--quick"],
      ["config"],
      ["orgs", "list"],
      ["users", "list"],
      ["keys", "list", "--org", (JSON.parse((await runCliAsync(["orgs", "list", "--json", "--data-dir", dir])).stdout) as { id: string }[])[0]!.id],
      ["backup", "--out", join(dir, "..", `${dir.split("/").pop()}.tar.gz`)],
    ]) {
      const r = await runCliAsync([...args, "--data-dir", dir]);
      expect(r.code, `${args.join(" ")}: ${r.stderr}`).toBe(0);
    }
    dirs.push(join(dir, "..", `${dir.split("/").pop()}.tar.gz`));
    for (const args of [["healthcheck", "--port", new URL(first.url).port], ["version"]]) {
      const r = await runCliAsync(args);
      expect(r.code, `${args.join(" ")}: ${r.stderr}`).toBe(0);
    }
    // Refused beside it, clearly.
    expectOneLine(
      await runCliAsync(["migrate", "--data-dir", dir]),
      2,
      new RegExp(`is in use by another Client Cove process \\(pid ${first.proc.pid}\\); stop the server first`),
    );
    expectOneLine(
      await runCliAsync(["restore", join(dir, "..", `${dir.split("/").pop()}.tar.gz`), "--data-dir", dir]),
      2,
      new RegExp(`is being served by a running Client Cove process \\(pid ${first.proc.pid}\\)`),
    );

    // SIGKILL: the kernel drops the lock with the process; the next server starts and serves the same data.
    expect(await first.stop("SIGKILL")).not.toBe(0);
    const next = await serve(["--data-dir", dir]);
    expect((await fetch(`${next.url}/v1/files`, { headers: { authorization: `Bearer ${key}` } })).status).toBe(200);
    expect(next.stderr()).not.toMatch(SECRET);
    expect(await next.stop()).toBe(0);
    // A clean stop releases it too.
    const migrated = await runCliAsync(["migrate", "--data-dir", dir]);
    expect(migrated.code, migrated.stderr).toBe(0);
  });
});

describe("the bound address", () => {
  test("by default every IPv4 and IPv6 address: 127.0.0.1 and [::1] both answer; the log names http://[::]:port and a connectable url", async () => {
    const s = await serve(["--data-dir", freshDir()]);
    const port = Number(new URL(s.url).port);
    const line = listeningLine(s);
    expect(line.address).toBe(`http://[::]:${port}`);
    expect(line.url).toBe(`http://localhost:${port}`);
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    expect((await fetch(`http://[::1]:${port}/healthz`)).status).toBe(200);
    expect((await fetch(`http://localhost:${port}/healthz`)).status).toBe(200);
    // An IPv4 client is logged as its IPv4 address, not as ::ffff:127.0.0.1.
    await s.stop();
    const ips = s
      .stdout()
      .split("\n")
      .filter((l) => l.includes('"msg":"request"'))
      .map((l) => JSON.parse(l).ip);
    expect(ips).toContain("127.0.0.1");
    expect(ips).toContain("::1");
    expect(ips.filter((ip) => String(ip).startsWith("::ffff:"))).toEqual([]);
  });

  test("--host 0.0.0.0 still works (IPv4 only) and is logged as such", async () => {
    const s = await serve(["--host", "0.0.0.0", "--data-dir", freshDir()]);
    const port = Number(new URL(s.url).port);
    expect(listeningLine(s)).toMatchObject({ address: `http://0.0.0.0:${port}`, url: `http://127.0.0.1:${port}` });
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    expect(fetch(`http://[::1]:${port}/healthz`)).rejects.toThrow();
    await s.stop();
  });

  test("--host ::1 is logged in brackets", async () => {
    const s = await serve(["--host", "::1", "--data-dir", freshDir()]);
    const port = Number(new URL(s.url).port);
    expect(listeningLine(s)).toMatchObject({ address: `http://[::1]:${port}`, url: `http://[::1]:${port}` });
    expect((await fetch(`http://[::1]:${port}/healthz`)).status).toBe(200);
    await s.stop();
  });
});

describe("--port 0", () => {
  test("download_url, Location and the docs name the port actually bound", async () => {
    const s = await serve(["--data-dir", freshDir()]);
    const key = await bootstrapKey(s);
    const port = new URL(s.url).port;
    const form = new FormData();
    form.append("file", new Blob(["hello"]), "hello.txt");
    const res = await fetch(`${s.url}/v1/files`, { method: "POST", headers: { authorization: `Bearer ${key}` }, body: form });
    expect(res.status).toBe(201);
    const file = (await res.json()) as { download_url: string };
    expect(new URL(file.download_url).port).toBe(port);
    expect(new URL(res.headers.get("location")!).port).toBe(port);
    // The signed link works as given (localhost reaches the dual-stack listener).
    const dl = await fetch(file.download_url);
    expect(dl.status).toBe(200);
    expect(await dl.text()).toBe("hello");
    const spec = (await (await fetch(`${s.url}/docs/json`)).json()) as { servers: { url: string }[] };
    expect(spec.servers[0]!.url).toBe(`http://localhost:${port}`);
    expect(listeningLine(s).public_url).toBe(`http://localhost:${port}`);
    await s.stop();
  });
});
