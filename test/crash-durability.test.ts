// Crash safety: a real server process killed with SIGKILL at seeded random moments during a stream of ticket creates and
// file uploads, with a webhook endpoint subscribed to everything. After every restart each acknowledged ticket and file is
// there byte for byte, no orphan bytes, rows or temp files remain, counts are exact, a retried upload is never stored
// twice, and in the end every acknowledged event has been delivered at least once.
import { afterAll, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { verifyDataDir } from "../src/ops/verify";
import { createSqliteTestEnv, runCli, startServerProcess, tempDir, type ServerProcess, seededRandom } from "./helpers";
import { listTemp, pseudoRandomBytes, sha256Hex } from "./files-fixtures";
import { startReceiver, waitFor } from "./webhooks-fixtures";

const KILLS = Number(process.env.CRASH_KILLS ?? 20);
const SEED = 4242;
const dir = tempDir("crash");
const receiver = startReceiver();
let server: ServerProcess | undefined;
afterAll(async () => {
  await server?.stop("SIGKILL");
  receiver.stop();
  rmSync(dir, { recursive: true, force: true });
});

const SERVER_ENV = { CLIENTCOVE_WEBHOOK_ALLOW_PRIVATE: "true", CLIENTCOVE_WEBHOOK_RETRY_BASE_MS: "50" };
const start = () => startServerProcess(["--data-dir", dir, "--port", "0", "--host", "127.0.0.1", "--rate-limit-per-minute", "0"], { env: SERVER_ENV });

/** An upload the client sent; `key` is its Idempotency-Key, reused if the answer never came. */
interface Upload {
  key: string;
  bytes: Uint8Array;
  sha256: string;
}

describe("SIGKILL during writes and uploads", () => {
  test(`${KILLS} kills: acknowledged tickets and files survive byte for byte, nothing orphaned, retries never duplicate, every event delivered`, async () => {
    const rand = seededRandom(SEED);
    expect(runCli(["migrate", "--data-dir", dir]).code).toBe(0);
    const org = JSON.parse(runCli(["orgs", "create", "--name", "Crashers", "--json", "--data-dir", dir]).stdout);
    const key = JSON.parse(runCli(["keys", "create", "--org", org.id, "--json", "--data-dir", dir]).stdout).key as string;
    const auth = { authorization: `Bearer ${key}` };
    const tickets: string[] = [];
    const files = new Map<string, Upload>(); // acknowledged: file id → what was sent
    const unanswered: Upload[] = []; // sent, no answer before the kill: retried with the same key after the restart
    let retried = 0;
    let replayed = 0;
    let killed = 0;
    let uploadSeq = 0;

    const upload = async (base: string, u: Upload): Promise<string | null> => {
      const fd = new FormData();
      fd.append("file", new Blob([u.bytes as Uint8Array<ArrayBuffer>]), `${u.key}.bin`);
      const r = await fetch(`${base}/v1/files`, { method: "POST", body: fd, headers: { ...auth, "idempotency-key": u.key } });
      if (r.status !== 201) throw new Error(`upload answered ${r.status}: ${await r.text()}`);
      if (r.headers.get("idempotent-replayed") === "true") replayed++;
      const f = (await r.json()) as { id: string; sha256: string; size_bytes: number };
      expect({ sha256: f.sha256, size: f.size_bytes }).toEqual({ sha256: u.sha256, size: u.bytes.byteLength });
      return f.id;
    };

    for (let round = 0; round <= KILLS; round++) {
      server = await start();
      const base = server.url;
      if (round === 0) {
        const hook = await fetch(`${base}/v1/webhooks`, {
          method: "POST",
          headers: { ...auth, "content-type": "application/json" },
          body: JSON.stringify({ url: `${receiver.url}/hook`, events: ["*"] }),
        });
        expect(hook.status).toBe(201);
      }

      // The start-up sweep has removed what the crash left in tmp/ (partial uploads, intents) …
      await waitFor(() => listTemp(dir).length === 0, "tmp/ to be empty after the restart");
      // … and then no stored bytes lack a row, no row lacks its bytes, and every stored sha256 is right.
      const report = await verifyDataDir({ dataDir: dir });
      expect({ ok: report.ok, problems: report.problems, orphans: report.orphans }).toEqual({ ok: true, problems: [], orphans: [] });

      // Everything acknowledged so far is there: tickets by id, files byte for byte (on disk and through the API).
      const db = new Database(join(dir, "clientcove.db"), { readonly: true });
      try {
        const ids = new Set((db.query("SELECT id FROM tickets").all() as { id: string }[]).map((r) => r.id));
        expect(tickets.filter((id) => !ids.has(id))).toEqual([]);
        const rows = new Map(
          (db.query("SELECT id, storage_key, sha256 FROM files").all() as { id: string; storage_key: string; sha256: string }[]).map((r) => [r.id, r]),
        );
        for (const [id, u] of files) {
          const row = rows.get(id);
          expect(row?.sha256).toBe(u.sha256);
          expect(sha256Hex(readFileSync(join(dir, "files", row!.storage_key)))).toBe(u.sha256);
        }
        // Each upload's bytes are stored once, however often it was retried.
        const copies = db.query("SELECT sha256, COUNT(*) AS n FROM files GROUP BY sha256 HAVING n > 1").all();
        expect(copies).toEqual([]);
        const counted = db.query("SELECT COALESCE(SUM(count), 0) AS n FROM ticket_counts").get() as { n: number };
        expect(counted.n).toBe(ids.size);
      } finally {
        db.close();
      }
      for (const id of [...files.keys()].slice(-3)) {
        const r = await fetch(`${base}/v1/files/${id}/content`, { headers: auth });
        expect(sha256Hex(new Uint8Array(await r.arrayBuffer()))).toBe(files.get(id)!.sha256);
      }

      // Uploads whose answer the last crash swallowed are retried with the same key: one file, whichever way it went.
      for (const u of unanswered.splice(0)) {
        files.set((await upload(base, u))!, u);
        retried++;
      }
      if (round === KILLS) break;

      // Two writers stream ticket creates and two stream uploads (1 KiB–512 KiB) until the process dies under them.
      let alive = true;
      const ticketWriter = async (w: number) => {
        for (let i = 0; alive; i++) {
          try {
            const r = await fetch(`${base}/v1/tickets`, {
              method: "POST",
              headers: { ...auth, "content-type": "application/json" },
              body: JSON.stringify({ subject: `round ${round} writer ${w} #${i}`, priority: "high" }),
            });
            if (r.status === 201) tickets.push(((await r.json()) as { id: string }).id);
          } catch {
            return; // connection refused or reset: the server is gone
          }
        }
      };
      const uploadWriter = async () => {
        while (alive) {
          const n = uploadSeq++;
          const bytes = pseudoRandomBytes(1024 + Math.floor(rand() * 511 * 1024), SEED + n);
          const u = { key: `crash-upload-${n}`, bytes, sha256: sha256Hex(bytes) };
          try {
            const id = await upload(base, u);
            files.set(id!, u);
          } catch (err) {
            if (err instanceof Error && err.message.startsWith("upload answered")) throw err;
            unanswered.push(u);
            return;
          }
        }
      };
      const writers = [ticketWriter(0), ticketWriter(1), uploadWriter(), uploadWriter()];
      await Bun.sleep(30 + Math.floor(rand() * 200));
      server.proc.kill("SIGKILL");
      await server.proc.exited;
      alive = false;
      await Promise.all(writers);
      killed++;
    }

    // Every acknowledged create has had its event delivered at least once (de-duplicate on webhook-id, as receivers do).
    const deliveredOf = (type: string) =>
      new Set(receiver.requests.filter((r) => r.json?.event === type && receiver.delivered.has(r.headers["webhook-id"]!)).map((r) => r.json.data.id as string));
    await waitFor(
      () => tickets.every((id) => deliveredOf("ticket.created").has(id)) && [...files.keys()].every((id) => deliveredOf("file.uploaded").has(id)),
      "every acknowledged event to be delivered",
      30_000,
    );
    await server!.stop();
    server = undefined;

    // The admin's check on the stopped data dir agrees: database intact, every file's bytes right, no orphans.
    const verify = runCli(["verify", "--data-dir", dir, "--json"]);
    expect(verify.code).toBe(0);
    expect(JSON.parse(verify.stdout)).toMatchObject({ ok: true, problems: [], orphans: [], files_checked: files.size });
    const db = new Database(join(dir, "clientcove.db"));
    try {
      expect(db.query("PRAGMA integrity_check").get()).toEqual({ integrity_check: "ok" });
      const ids = new Set((db.query("SELECT id FROM tickets").all() as { id: string }[]).map((r) => r.id));
      expect(db.query("SELECT COUNT(*) AS n FROM events WHERE type = 'ticket.created'").get()).toEqual({ n: ids.size });
      expect(db.query("SELECT COUNT(*) AS n FROM events WHERE type = 'file.uploaded'").get()).toEqual({ n: files.size });
    } finally {
      db.close();
    }
    expect(killed).toBe(KILLS);
    expect(tickets.length).toBeGreaterThan(KILLS);
    expect(files.size).toBeGreaterThan(KILLS);
    console.log(
      `crash: ${killed} SIGKILLs survived; ${tickets.length} acknowledged tickets and ${files.size} acknowledged files (${retried} uploads retried after a crash, ${replayed} of them already stored and replayed) all intact; ` +
        `${receiver.delivered.size} webhook deliveries acknowledged, every acknowledged event delivered at least once`,
    );
  }, 180_000);
});

describe("Idempotency-Key: the change and its stored answer commit together", () => {
  // A crash can only leave both (the retry replays) or neither (the claim is released at start and the retry runs):
  // tickets and folders complete the key inside the change's own transaction. Prove "neither" by making the answer's
  // write fail: the ticket must roll back with it, and the same request then succeeds exactly once.
  for (const [name, path, body, table] of [
    ["ticket", "/v1/tickets", { subject: "exactly once" }, "tickets"],
    ["folder", "/v1/folders", { name: "exactly once" }, "folders"],
  ] as const) {
    test(`a ${name} whose stored answer cannot be written is rolled back, and the retry makes exactly one`, async () => {
      const env = await createSqliteTestEnv();
      try {
        const { key } = await env.org("Acme");
        const send = () => env.request(path, { method: "POST", key, json: body, headers: { "idempotency-key": `create-${name}` } });
        await env.db.run(`CREATE TRIGGER refuse_answer BEFORE UPDATE OF response_status ON idempotency_keys BEGIN SELECT RAISE(ABORT, 'simulated crash'); END`);
        expect((await send()).status).toBe(500);
        expect(await env.db.get(`SELECT COUNT(*) AS n FROM ${table}`)).toEqual({ n: 0 });
        expect(await env.db.get("SELECT COUNT(*) AS n FROM events")).toEqual({ n: 0 });
        await env.db.run("DROP TRIGGER refuse_answer");
        await env.deps.stores.idempotency.releaseAbandoned(env.clock.now() + 1); // as `serve` does at start
        const first = await send();
        expect(first.status).toBe(201);
        const again = await send();
        expect(again.headers.get("idempotent-replayed")).toBe("true");
        expect(await again.json()).toEqual(await first.json());
        expect(await env.db.get(`SELECT COUNT(*) AS n FROM ${table}`)).toEqual({ n: 1 });
      } finally {
        env.close();
      }
    });
  }
});
