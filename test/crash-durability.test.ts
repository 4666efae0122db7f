// Crash safety: a real server process killed with SIGKILL at seeded random moments during a stream of writes.
// After every restart each acknowledged ticket is there, counts equal real counts, and every acknowledged change has its event.
import { afterAll, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { runCli, startServerProcess, tempDir } from "./helpers";

const KILLS = Number(process.env.CRASH_KILLS ?? 20);
const SEED = 4242;
const dir = tempDir("crash");
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function rng(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe("SIGKILL during writes", () => {
  test(`${KILLS} kills: every acknowledged create survives, counts stay exact, events are complete`, async () => {
    const rand = rng(SEED);
    expect(runCli(["migrate", "--data-dir", dir]).code).toBe(0);
    const org = JSON.parse(runCli(["orgs", "create", "--name", "Crashers", "--json", "--data-dir", dir]).stdout);
    const key = JSON.parse(runCli(["keys", "create", "--org", org.id, "--json", "--data-dir", dir]).stdout).key as string;
    const acknowledged: string[] = [];
    let killed = 0;

    for (let round = 0; round < KILLS; round++) {
      const server = await startServerProcess(["--data-dir", dir, "--port", "0", "--host", "127.0.0.1", "--rate-limit-per-minute", "0"]);
      // Everything acknowledged so far must be there after the restart.
      const list: any = await (await fetch(`${server.url}/v1/tickets?per_page=1`, { headers: { authorization: `Bearer ${key}` } })).json();
      expect(list.meta.total).toBeGreaterThanOrEqual(acknowledged.length);
      for (const id of acknowledged.slice(-25)) {
        expect((await fetch(`${server.url}/v1/tickets/${id}`, { headers: { authorization: `Bearer ${key}` } })).status).toBe(200);
      }
      // Four writers stream creates until the process dies under them.
      let alive = true;
      const writer = async (w: number) => {
        for (let i = 0; alive; i++) {
          try {
            const r = await fetch(`${server.url}/v1/tickets`, {
              method: "POST",
              headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
              body: JSON.stringify({ subject: `round ${round} writer ${w} #${i}`, priority: "high" }),
            });
            if (r.status === 201) acknowledged.push(((await r.json()) as any).id);
          } catch {
            return; // connection refused or reset: the server is gone
          }
        }
      };
      const writers = [0, 1, 2, 3].map(writer);
      await Bun.sleep(20 + Math.floor(rand() * 150));
      server.proc.kill("SIGKILL");
      await server.proc.exited;
      alive = false;
      await Promise.all(writers);
      killed++;
    }

    // Final check straight from the database file, as the next process would see it.
    const db = new Database(join(dir, "clientcove.db"));
    try {
      expect(db.query("PRAGMA integrity_check").get()).toEqual({ integrity_check: "ok" });
      const ids = new Set((db.query("SELECT id FROM tickets").all() as { id: string }[]).map((r) => r.id));
      const missing = acknowledged.filter((id) => !ids.has(id));
      expect(missing).toEqual([]);
      const counted = db.query("SELECT COALESCE(SUM(count), 0) AS n FROM ticket_counts").get() as { n: number };
      expect(counted.n).toBe(ids.size);
      const events = db.query("SELECT COUNT(*) AS n FROM events WHERE type = 'ticket.created'").get() as { n: number };
      expect(events.n).toBe(ids.size);
    } finally {
      db.close();
    }
    expect(killed).toBe(KILLS);
    expect(acknowledged.length).toBeGreaterThan(KILLS);
    console.log(`crash: ${killed} SIGKILLs, ${acknowledged.length} acknowledged creates, none lost`);
  }, 180_000);
});
