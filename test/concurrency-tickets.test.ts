// 50 concurrent clients creating, updating and deleting tickets over real HTTP: afterwards every count and event agrees.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { TICKET_STATUSES } from "../src/db/schema/tickets";
import { createTestEnv, type TestEnv, seededRandom } from "./helpers";

const CLIENTS = 50;
const OPS_PER_CLIENT = 12;

let env: TestEnv;
let base: string;
let stop: () => void;

beforeAll(async () => {
  env = await createTestEnv();
  const server = env.app.listen({ hostname: "127.0.0.1", port: 0, reusePort: false });
  base = `http://127.0.0.1:${server.server!.port}`;
  stop = () => server.stop(true);
});
afterAll(() => {
  stop();
  env.close();
});

describe("concurrent clients", () => {
  test(`${CLIENTS} clients × ${OPS_PER_CLIENT} operations: counts, rows and outbox events match what clients were told`, async () => {
    const orgs = [await env.org("Acme"), await env.org("Beta")];
    const acked = { created: new Map<string, string>(), updated: 0, deleted: new Set<string>() };
    const statuses = TICKET_STATUSES;

    async function client(n: number) {
      const rand = seededRandom(n + 1);
      const org = orgs[n % 2]!;
      const mine: string[] = [];
      const call = (path: string, method: string, body?: unknown) =>
        fetch(`${base}${path}`, {
          method,
          headers: { authorization: `Bearer ${org.key}`, ...(body ? { "content-type": "application/json" } : {}) },
          body: body ? JSON.stringify(body) : undefined,
        });
      for (let i = 0; i < OPS_PER_CLIENT; i++) {
        const roll = rand();
        if (mine.length === 0 || roll < 0.5) {
          const r = await call("/v1/tickets", "POST", { subject: `client ${n} op ${i}`, priority: ["low", "high"][i % 2] });
          expect(r.status).toBe(201);
          const t: any = await r.json();
          mine.push(t.id);
          acked.created.set(t.id, org.orgId);
        } else if (roll < 0.85) {
          const id = mine[Math.floor(rand() * mine.length)]!;
          const r = await call(`/v1/tickets/${id}`, "PATCH", { status: statuses[Math.floor(rand() * 4)], subject: `edit ${n}.${i}` });
          expect(r.status).toBe(200);
          acked.updated++;
        } else {
          const id = mine.splice(Math.floor(rand() * mine.length), 1)[0]!;
          const r = await call(`/v1/tickets/${id}`, "DELETE");
          expect(r.status).toBe(204);
          acked.deleted.add(id);
        }
      }
    }
    await Promise.all(Array.from({ length: CLIENTS }, (_, n) => client(n)));

    const db = env.db;
    const rows = (await db.all("SELECT id, org_id FROM tickets")) as { id: string; org_id: string }[];
    const expected = [...acked.created].filter(([id]) => !acked.deleted.has(id));
    expect(rows.length).toBe(expected.length);
    for (const [id, orgId] of expected) expect(rows).toContainEqual({ id, org_id: orgId });
    // Every acknowledged change has exactly one event; subjects always change, so every PATCH counted.
    const events = Object.fromEntries(
      ((await db.all("SELECT type, COUNT(*) AS n FROM events GROUP BY type")) as { type: string; n: number }[]).map((r) => [r.type, r.n]),
    );
    expect(events).toEqual({ "ticket.created": acked.created.size, "ticket.updated": acked.updated, "ticket.deleted": acked.deleted.size });
    // Kept counts equal real counts for every org and filter.
    for (const org of orgs) {
      for (const status of [undefined, ...statuses]) {
        const r = await fetch(`${base}/v1/tickets?per_page=1${status ? `&status=${status}` : ""}`, { headers: { authorization: `Bearer ${org.key}` } });
        const body: any = await r.json();
        const real = (await db.get(
          `SELECT COUNT(*) AS n FROM tickets WHERE org_id = ?${status ? " AND status = ?" : ""}`,
          ...(status ? [org.orgId, status] : [org.orgId]),
        )) as { n: number };
        expect(body.meta.total).toBe(real.n);
      }
    }
    // SQLite only: the file itself is sound (PostgreSQL has no such check).
    if (env.handle) expect(env.handle.sqlite.query("PRAGMA integrity_check").get()).toEqual({ integrity_check: "ok" });
  });
});
