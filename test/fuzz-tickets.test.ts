// Property-based fuzzing of the tickets API and the request pipeline: garbage in, a clear 4xx out, nothing changed.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import fc from "fast-check";
import { Value } from "@sinclair/typebox/value";
import { TICKET_PRIORITIES, TICKET_STATUSES } from "../src/db/schema/tickets";
import { Ticket, TicketList } from "../src/tickets/model";
import { createTestEnv, type TestEnv } from "./helpers";

const SEED = Number(process.env.FUZZ_SEED ?? 20261127);
const RUNS = Number(process.env.FUZZ_RUNS ?? 3000);
const DOCUMENTED = new Set([200, 201, 204, 400, 401, 403, 404, 405, 409, 413, 415, 422, 429]);

let env: TestEnv;
let keyA: string;
let keyB: string;
let ticketA: string;
let ticketB: string;
export let requestsFuzzed = 0;

async function snapshot(e: TestEnv): Promise<string> {
  const q = async (sql: string) => JSON.stringify(await e.db.all(sql));
  return [
    await q("SELECT * FROM tickets ORDER BY id"),
    // Summed: PostgreSQL spreads each counter over shard rows.
    await q("SELECT org_id, status, priority, SUM(count) AS count FROM ticket_counts GROUP BY org_id, status, priority ORDER BY 1, 2, 3"),
    await q("SELECT COUNT(*) AS n FROM events"),
    await q("SELECT key_id, idempotency_key, response_status FROM idempotency_keys ORDER BY 1, 2"),
  ].join("\n");
}

beforeAll(async () => {
  env = await createTestEnv({ config: { maxJsonBytes: 4096 } });
  const a = await env.org("Acme");
  const b = await env.org("Beta");
  keyA = a.key;
  keyB = b.key;
  const ta: any = await (await env.request("/v1/tickets", { key: keyA, method: "POST", json: { subject: "A's ticket" } })).json();
  const tb: any = await (await env.request("/v1/tickets", { key: keyB, method: "POST", json: { subject: "B's ticket" } })).json();
  ticketA = ta.id;
  ticketB = tb.id;
});

afterAll(() => {
  env.close();
  console.log(`fuzz: ${requestsFuzzed} requests, seed ${SEED}`);
});

const idArb = () =>
  fc.oneof(
    fc.constant(ticketA),
    fc.constant(ticketB),
    fc.constant("tkt_doesnotexist0000"),
    fc.string({ maxLength: 40 }).map(encodeURIComponent),
    fc.constantFrom("..%2F..%2Fetc%2Fpasswd", "%00", "tkt_" + "a".repeat(300), "%F0%9F%92%A9", "'%20OR%201=1--"),
  );

const pathArb = fc.oneof(
  fc.constant("/v1/tickets"),
  idArb().map((id) => `/v1/tickets/${id}`),
  fc.constantFrom("/v1/tickets/", "/v1/ticket", "/v1", "/", "/v1/tickets/x/y", "/docs/json"),
);

const queryValue = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.integer({ min: -5, max: 500 }).map(String),
  fc.constantFrom("open", "closed", "high", "1e3", "0x10", "NaN", "", "1.5"),
);
const queryArb = fc
  .dictionary(fc.constantFrom("page", "per_page", "status", "priority", "starting_after", "x", "page[]"), queryValue, { maxKeys: 4 })
  .map((q) => new URLSearchParams(q).toString());

const ticketish = fc.record(
  {
    subject: fc.oneof(fc.string({ maxLength: 250 }), fc.integer(), fc.constant(null), fc.constant("   ")),
    description: fc.oneof(fc.string({ maxLength: 50 }), fc.constant(null), fc.boolean()),
    priority: fc.oneof(fc.constantFrom(...TICKET_PRIORITIES, "URGENT", ""), fc.integer()),
    status: fc.constantFrom(...TICKET_STATUSES, "reopened"),
    extra: fc.anything({ maxDepth: 2 }),
  },
  { requiredKeys: [] },
);

const bodyArb = fc.oneof(
  ticketish.map((o) => ({ text: JSON.stringify(o), type: "application/json" })),
  fc.json({ maxDepth: 4 }).map((text) => ({ text, type: "application/json" })),
  fc.string({ maxLength: 60 }).map((text) => ({ text, type: "application/json" })),
  fc.string({ maxLength: 60 }).map((text) => ({ text, type: "text/plain" })),
  fc.constant({ text: "x".repeat(5000), type: "application/json" }),
  fc.constant({ text: `{"subject":"${"deep".repeat(10)}","d":${"[".repeat(500)}${"]".repeat(500)}}`, type: "application/json" }),
  fc.constant({ text: "", type: "" }),
  fc.uint8Array({ maxLength: 64 }).map((bytes) => ({ text: new TextDecoder().decode(bytes), type: "application/octet-stream" })),
);

const authArb = fc.oneof(
  fc.constant(() => `Bearer ${keyA}`),
  fc.constant(() => `Bearer ${keyB}`),
  fc.constant(() => "Bearer cc_" + "0".repeat(40)),
  fc.constant(() => `Basic ${btoa("a:b")}`),
  fc.constant(() => ""),
  fc.string({ maxLength: 30 }).map((s) => () => `Bearer ${s}`),
);

const requestArb = fc.record({
  method: fc.constantFrom("GET", "POST", "PATCH", "DELETE", "PUT", "HEAD"),
  path: pathArb,
  query: queryArb,
  body: fc.option(bodyArb, { nil: undefined }),
  auth: authArb,
  idem: fc.option(fc.oneof(fc.string({ maxLength: 20 }), fc.constant("x".repeat(300))), { nil: undefined }),
  requestId: fc.option(fc.string({ maxLength: 200 }), { nil: undefined }),
});

function successShapeOk(method: string, path: string, status: number, body: unknown): boolean {
  if (path === "/docs/json") return true;
  if (status === 204) return body === undefined;
  if (method === "GET" && path.replace(/\/$/, "") === "/v1/tickets") return Value.Check(TicketList, body);
  return Value.Check(Ticket, body);
}

describe("fuzzing the tickets API", () => {
  test("never a 5xx; only documented statuses; JSON in the shared error shape or a documented success shape; a rejected request changes nothing", async () => {
    await fc.assert(
      fc.asyncProperty(requestArb, async (r) => {
        const headers = new Headers();
        const auth = r.auth();
        if (auth) headers.set("authorization", auth);
        if (r.idem !== undefined) {
          try {
            headers.set("idempotency-key", r.idem);
          } catch {
            // not a legal header value: a client could not send it either
          }
        }
        if (r.requestId !== undefined) {
          try {
            headers.set("x-request-id", r.requestId);
          } catch {}
        }
        const withBody = r.body !== undefined && r.method !== "GET" && r.method !== "HEAD";
        if (withBody && r.body!.type) headers.set("content-type", r.body!.type);
        const url = `http://localhost${r.path}${r.query ? `?${r.query}` : ""}`;
        const before = await snapshot(env);
        const res = await env.app.handle(new Request(url, { method: r.method, headers, body: withBody ? r.body!.text : undefined }));
        requestsFuzzed++;
        const text = await res.text();
        expect(res.status).toBeLessThan(500);
        expect(DOCUMENTED.has(res.status)).toBe(true);
        expect(res.headers.get("x-request-id")).toBeTruthy();
        if (r.method === "HEAD" || res.status === 204) return;
        const body = text === "" ? undefined : JSON.parse(text);
        if (res.status >= 400) {
          expect(typeof body.error).toBe("string");
          expect(body.error).toMatch(/^[a-z_]+$/);
          expect(typeof body.message).toBe("string");
          expect(text).not.toMatch(/SQLITE|at .*\.ts:\d+|\/work\//);
          expect(await snapshot(env)).toBe(before);
        } else {
          expect(successShapeOk(r.method, r.path, res.status, body)).toBe(true);
        }
      }),
      { seed: SEED, numRuns: RUNS },
    );
  });
});
