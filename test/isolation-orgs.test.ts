// Isolation between organizations: generated sequences of operations by two organizations (tickets, files, folders,
// webhooks), including attempts on each other's ids. Neither ever sees, counts, changes or is sent events about the other's.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import fc from "fast-check";
import { Webhook as StandardWebhook } from "standardwebhooks";
import { createDispatcher, type Dispatcher } from "../src/webhooks/dispatcher";
import { createTestEnv, type TestEnv } from "./helpers";
import { BOUNDARY, listObjects, multipartBody, sha256Hex } from "./files-fixtures";
import { dispatcherDeps, startReceiver, waitFor, type Receiver } from "./webhooks-fixtures";

const SEED = Number(process.env.ISOLATION_SEED ?? 7331);
const RUNS = Number(process.env.ISOLATION_RUNS ?? 20);

let env: TestEnv;
let dispatcher: Dispatcher;
let receiver: Receiver;
let requests = 0;
let operations = 0;
let crossAttempts = 0;

beforeAll(async () => {
  env = await createTestEnv({ config: { webhookAllowPrivate: true, webhookRetryBaseMs: 20, webhookTimeoutMs: 2000 } });
  dispatcher = createDispatcher(dispatcherDeps(env));
  dispatcher.start();
  receiver = startReceiver();
});
afterAll(async () => {
  await dispatcher.stop(500);
  receiver.stop();
  env.close();
  console.log(
    `isolation: ${RUNS} generated sequences, ${operations} operations (${crossAttempts} on the other organization's ids), ${requests} requests, ${receiver.requests.length} webhook deliveries checked`,
  );
});

/** What one organization has, as the API told it. */
interface Model {
  orgId: string;
  key: string;
  tickets: Map<string, { status: string }>;
  folders: Map<string, { parent: string | null }>;
  files: Map<string, { sha256: string; folder: string | null; ticket: string | null }>;
  webhooks: Map<string, { secret: string }>;
  deliveries: Map<string, string>; // delivery id → webhook id
  /** Every id this organization ever created (events may name deleted ones). */
  ever: Set<string>;
}

async function call(m: Model, method: string, path: string, json?: unknown, extra: RequestInit = {}): Promise<{ status: number; body: any }> {
  requests++;
  const res = await env.request(path, { method, key: m.key, json, ...extra });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

function upload(m: Model, content: string, fields: Record<string, string>) {
  const body = multipartBody([{ name: "file", filename: "n.txt", content }, ...Object.entries(fields).map(([name, value]) => ({ name, value }))]);
  return call(m, "POST", "/v1/files", undefined, { body, headers: { "content-type": `multipart/form-data; boundary=${BOUNDARY}` } });
}

const nth = <T>(map: Map<string, T>, n: number): string | undefined => {
  const keys = [...map.keys()];
  return keys.length ? keys[n % keys.length] : undefined;
};

/** Everything org `m` can observe through the API, listed in full. */
async function view(m: Model) {
  const list = async (path: string) => {
    const r = await call(m, "GET", `${path}${path.includes("?") ? "&" : "?"}per_page=100`);
    expect(r.status).toBe(200);
    return { ids: (r.body.data as { id: string }[]).map((x) => x.id).sort(), total: r.body.meta.total as number };
  };
  return { tickets: await list("/v1/tickets"), files: await list("/v1/files"), folders: await list("/v1/folders"), webhooks: await list("/v1/webhooks") };
}

/** Each organization sees exactly its own resources, and counts exactly them. */
async function checkViews(orgs: Model[]) {
  for (const m of orgs) {
    const v = await view(m);
    for (const [kind, map] of [
      ["tickets", m.tickets],
      ["files", m.files],
      ["folders", m.folders],
      ["webhooks", m.webhooks],
    ] as const) {
      expect({ kind, ids: v[kind].ids, total: v[kind].total }).toEqual({ kind, ids: [...map.keys()].sort(), total: map.size });
    }
  }
}

type Op = { actor: 0 | 1; kind: string; n: number; k: number; cross: boolean; flag: boolean };
const opArb: fc.Arbitrary<Op> = fc.record({
  actor: fc.constantFrom(0 as const, 1 as const),
  kind: fc.constantFrom(
    "createTicket",
    "createTicket",
    "updateTicket",
    "deleteTicket",
    "createFolder",
    "createFolder",
    "moveFolder",
    "deleteFolder",
    "upload",
    "upload",
    "upload",
    "deleteFile",
    "createWebhook",
    "updateWebhook",
    "deleteWebhook",
    "testWebhook",
    "retryDelivery",
    "probe",
    "probe",
    "probe",
  ),
  n: fc.nat(50),
  k: fc.nat(50),
  cross: fc.boolean(),
  flag: fc.boolean(),
});

/**
 * Runs one operation. With `cross`, the operation names the other organization's resource (as id, folder_id,
 * ticket_id or parent_id): it must be a 404 exactly like an id that does not exist, and change nothing.
 */
async function run(op: Op, orgs: [Model, Model], step: number) {
  operations++;
  return apply(op, orgs, step);
}

/** An organization's rows as stored (what a cross-organization request must never change), plus its event count. */
async function orgState(orgId: string): Promise<string> {
  const q = async (sql: string) => JSON.stringify(await env.db.all(sql, orgId));
  return [
    await q("SELECT * FROM tickets WHERE org_id = ? ORDER BY id"),
    // Summed: PostgreSQL spreads each counter over shard rows.
    await q("SELECT status, priority, SUM(count) AS count FROM ticket_counts WHERE org_id = ? GROUP BY status, priority ORDER BY 1, 2"),
    await q("SELECT * FROM folders WHERE org_id = ? ORDER BY id"),
    await q("SELECT * FROM files WHERE org_id = ? ORDER BY id"),
    await q("SELECT * FROM webhooks WHERE org_id = ? ORDER BY id"),
    await q("SELECT COUNT(*) AS n FROM events WHERE org_id = ?"),
  ].join("\n");
}

async function apply(op: Op, orgs: [Model, Model], step: number) {
  const me = orgs[op.actor];
  const other = orgs[1 - op.actor]!;
  const from = op.cross ? other : me;
  /** A request on the other organization's ids: 404 like an unknown id, and nothing of either organization changes. */
  const expectNotFound = async (send: () => Promise<{ status: number; body: any }>) => {
    crossAttempts++;
    const before = orgs.map(async (m) => await orgState(m.orgId));
    const r = await send();
    expect({ status: r.status, error: r.body?.error }).toEqual({ status: 404, error: "not_found" });
    expect(orgs.map(async (m) => await orgState(m.orgId))).toEqual(before);
  };
  switch (op.kind) {
    case "createTicket": {
      const r = await call(me, "POST", "/v1/tickets", { subject: `s${step}`, priority: "high" });
      expect(r.status).toBe(201);
      me.tickets.set(r.body.id, { status: r.body.status });
      me.ever.add(r.body.id);
      return;
    }
    case "updateTicket":
    case "deleteTicket": {
      const id = nth(from.tickets, op.n);
      if (!id) return;
      const method = op.kind === "updateTicket" ? "PATCH" : "DELETE";
      const p = () => call(me, method, `/v1/tickets/${id}`, method === "PATCH" ? { status: op.flag ? "resolved" : "closed", subject: `u${step}` } : undefined);
      if (op.cross) return expectNotFound(p);
      const r = await p();
      expect(r.status).toBe(method === "PATCH" ? 200 : 204);
      if (method === "DELETE") {
        me.tickets.delete(id);
        for (const f of me.files.values()) if (f.ticket === id) f.ticket = null;
      }
      return;
    }
    case "createFolder": {
      const parent = op.flag ? nth(from.folders, op.n) : undefined;
      const p = () => call(me, "POST", "/v1/folders", { name: `f${step}`, ...(parent ? { parent_id: parent } : {}) });
      if (op.cross && parent) return expectNotFound(p);
      const r = await p();
      expect(r.status).toBe(201);
      me.folders.set(r.body.id, { parent: r.body.parent_id });
      me.ever.add(r.body.id);
      return;
    }
    case "moveFolder": {
      const id = nth(op.cross && !op.flag ? other.folders : me.folders, op.n);
      const target = nth(op.cross && op.flag ? other.folders : me.folders, op.k);
      if (!id || !target) return;
      const p = () => call(me, "PATCH", `/v1/folders/${id}`, { parent_id: target });
      if (op.cross) return expectNotFound(p);
      const r = await p();
      // Moving into itself or its own subtree is a 400; both are fine here, only the model must follow.
      expect([200, 400]).toContain(r.status);
      if (r.status === 200) me.folders.get(id)!.parent = target;
      return;
    }
    case "deleteFolder": {
      const id = nth(from.folders, op.n);
      if (!id) return;
      const p = () => call(me, "DELETE", `/v1/folders/${id}?recursive=true`);
      if (op.cross) return expectNotFound(p);
      expect((await p()).status).toBe(204);
      // The whole subtree goes, with its files.
      const gone = new Set([id]);
      let grew = true;
      while (grew) {
        grew = false;
        for (const [fid, f] of me.folders) {
          if (f.parent && gone.has(f.parent) && !gone.has(fid)) {
            gone.add(fid);
            grew = true;
          }
        }
      }
      for (const fid of gone) me.folders.delete(fid);
      for (const [fileId, f] of me.files) if (f.folder && gone.has(f.folder)) me.files.delete(fileId);
      return;
    }
    case "upload": {
      const folder = op.flag ? nth(from.folders, op.n) : undefined;
      const ticket = op.n % 3 === 0 ? nth(from.tickets, op.k) : undefined;
      const content = `content ${me.orgId} ${step} ${"x".repeat(op.k * 20)}`;
      const p = () => upload(me, content, { ...(folder ? { folder_id: folder } : {}), ...(ticket ? { ticket_id: ticket } : {}) });
      if (op.cross && (folder || ticket)) return expectNotFound(p);
      const r = await p();
      expect(r.status).toBe(201);
      expect(r.body.sha256).toBe(sha256Hex(content));
      me.files.set(r.body.id, { sha256: r.body.sha256, folder: r.body.folder_id, ticket: r.body.ticket_id });
      me.ever.add(r.body.id);
      return;
    }
    case "deleteFile": {
      const id = nth(from.files, op.n);
      if (!id) return;
      const p = () => call(me, "DELETE", `/v1/files/${id}`);
      if (op.cross) return expectNotFound(p);
      expect((await p()).status).toBe(204);
      me.files.delete(id);
      return;
    }
    case "createWebhook": {
      const r = await call(me, "POST", "/v1/webhooks", {
        url: `${receiver.url}/hook/${me.orgId}`,
        events: op.flag ? ["*"] : ["ticket.created", "file.uploaded", "file.deleted"],
      });
      expect(r.status).toBe(201);
      me.webhooks.set(r.body.id, { secret: r.body.secret });
      me.ever.add(r.body.id);
      return;
    }
    case "updateWebhook":
    case "deleteWebhook":
    case "testWebhook": {
      const id = nth(from.webhooks, op.n);
      if (!id) return;
      const p = () =>
        op.kind === "updateWebhook"
          ? call(me, "PATCH", `/v1/webhooks/${id}`, { description: `d${step}`, events: ["*"] })
          : op.kind === "deleteWebhook"
            ? call(me, "DELETE", `/v1/webhooks/${id}`)
            : call(me, "POST", `/v1/webhooks/${id}/test`);
      if (op.cross) return expectNotFound(p);
      const r = await p();
      expect(r.status).toBe(op.kind === "updateWebhook" ? 200 : op.kind === "deleteWebhook" ? 204 : 202);
      if (op.kind === "deleteWebhook") {
        me.webhooks.delete(id);
        for (const [d, w] of me.deliveries) if (w === id) me.deliveries.delete(d);
      }
      if (op.kind === "testWebhook") me.deliveries.set(r.body.id, id);
      return;
    }
    case "retryDelivery": {
      const id = nth(from.deliveries, op.n);
      if (!id) return;
      const webhookId = from.deliveries.get(id)!;
      // Crossing by the delivery alone (own webhook, other's delivery) must be a 404 too.
      const viaWebhook = op.cross && op.flag ? (nth(me.webhooks, op.k) ?? webhookId) : webhookId;
      const p = () =>
        op.k % 2 ? call(me, "POST", `/v1/webhooks/${viaWebhook}/deliveries/${id}/retry`) : call(me, "GET", `/v1/webhooks/${viaWebhook}/deliveries/${id}`);
      if (op.cross) return expectNotFound(p);
      const r = await p();
      // A retry of a delivery that is still pending is a 202 as well; a disabled endpoint would be a 409 (never here).
      expect(r.status).toBe(op.k % 2 ? 202 : 200);
      return;
    }
    case "probe": {
      // Reads of the other organization's ids: every read route, every kind of id.
      const kinds = [
        ["tickets", other.tickets],
        ["files", other.files],
        ["folders", other.folders],
        ["webhooks", other.webhooks],
      ] as const;
      const [kind, map] = kinds[op.n % kinds.length]!;
      const id = nth(map as Map<string, unknown>, op.k);
      if (!id) return;
      await expectNotFound(() => call(me, "GET", `/v1/${kind}/${id}`));
      if (kind === "files") await expectNotFound(() => call(me, "GET", `/v1/files/${id}/content`));
      if (kind === "webhooks") await expectNotFound(() => call(me, "GET", `/v1/webhooks/${id}/deliveries`));
      if (kind === "folders" || kind === "tickets") {
        // Filtering a list by the other's folder or ticket shows nothing (and counts nothing).
        const r = await call(me, "GET", `/v1/files?${kind === "folders" ? "folder_id" : "ticket_id"}=${id}`);
        expect({ status: r.status, data: r.body.data, total: r.body.meta.total }).toEqual({ status: 200, data: [], total: 0 });
      }
      if (kind === "folders") {
        const r = await call(me, "GET", `/v1/folders?parent_id=${id}`);
        expect({ status: r.status, data: r.body.data, total: r.body.meta.total }).toEqual({ status: 200, data: [], total: 0 });
      }
      return;
    }
  }
}

/** Every event in the outbox and every delivery received is about the organization it belongs to. */
async function checkEvents(orgs: [Model, Model]) {
  const ids = orgs.map((m) => m.orgId);
  // Everything recorded has reached its endpoints (or ended): nothing of these orgs is still pending.
  await waitFor(
    async () => {
      const q = (await env.db.get(
        `SELECT (SELECT COUNT(*) FROM events WHERE org_id IN (?1, ?2) AND dispatched_at IS NULL)
              + (SELECT COUNT(*) FROM webhook_deliveries WHERE org_id IN (?1, ?2) AND status = 'pending') AS n`,
        ids[0]!,
        ids[1]!,
      )) as { n: number };
      return q.n === 0;
    },
    "every delivery of the run to finish",
    15_000,
  );
  for (const m of orgs) {
    const other = orgs.find((o) => o !== m)!;
    const rows = (await env.db.all("SELECT type, data FROM events WHERE org_id = ?", m.orgId)) as { type: string; data: string }[];
    for (const e of rows) {
      const data = JSON.parse(e.data);
      const subject = e.type === "webhook.test" ? data.webhook_id : data.id;
      expect(m.ever.has(subject)).toBe(true);
      for (const ref of [data.folder_id, data.ticket_id]) if (ref) expect(other.ever.has(ref)).toBe(false);
    }
    const delivered = receiver.requests.filter((r) => r.path === `/hook/${m.orgId}`);
    const expectedDeliveries = (await env.db.get("SELECT COUNT(*) AS n FROM webhook_deliveries WHERE org_id = ? AND status = 'succeeded'", m.orgId)) as {
      n: number;
    };
    if (expectedDeliveries.n > 0) expect(delivered.length).toBeGreaterThan(0);
    for (const r of delivered) {
      const data = r.json.data;
      const subject = r.json.event === "webhook.test" ? data.webhook_id : data.id;
      expect({ event: r.json.event, mine: m.ever.has(subject), theirs: other.ever.has(subject) }).toEqual({ event: r.json.event, mine: true, theirs: false });
      // Signed with the secret of an endpoint of this organization (the delivery row says which).
      const row = (await env.db.get("SELECT webhook_id, org_id FROM webhook_deliveries WHERE id = ?", r.headers["webhook-id"]!)) as {
        webhook_id: string;
        org_id: string;
      } | null;
      if (row) {
        expect(row.org_id).toBe(m.orgId);
        const secret = m.webhooks.get(row.webhook_id)?.secret;
        if (secret) expect(() => new StandardWebhook(secret).verify(r.body, r.headers)).not.toThrow();
      }
    }
  }
}

describe("isolation between organizations", () => {
  test(`${RUNS} generated sequences of operations by two organizations: no cross-organization read, count, change or event`, async () => {
    let run_ = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 15, maxLength: 40 }), async (ops) => {
        run_++;
        const mk = async (label: string): Promise<Model> => {
          const o = await env.org(`Iso${run_}${label}${Math.random().toString(36).slice(2, 8)}`);
          return {
            orgId: o.orgId,
            key: o.key,
            tickets: new Map(),
            folders: new Map(),
            files: new Map(),
            webhooks: new Map(),
            deliveries: new Map(),
            ever: new Set(),
          };
        };
        const orgs: [Model, Model] = [await mk("a"), await mk("b")];
        // Each organization starts with one of everything, so cross-organization attempts always have a target.
        for (const [i, m] of orgs.entries()) {
          await run({ actor: i as 0 | 1, kind: "createWebhook", n: 0, k: 0, cross: false, flag: true }, orgs, -1);
          await run({ actor: i as 0 | 1, kind: "createTicket", n: 0, k: 0, cross: false, flag: false }, orgs, -2);
          await run({ actor: i as 0 | 1, kind: "createFolder", n: 0, k: 0, cross: false, flag: false }, orgs, -3);
          await run({ actor: i as 0 | 1, kind: "upload", n: 1, k: 1, cross: false, flag: true }, orgs, -4);
          expect(m.files.size).toBe(1);
        }
        for (const [step, op] of ops.entries()) {
          await run(op, orgs, step);
          await checkViews(orgs);
        }
        await checkEvents(orgs);
        // Bytes on disk: each organization's files live under its own directory, exactly the files it has.
        const stored = listObjects(env.dir);
        for (const m of orgs)
          expect(stored.filter((p) => p.startsWith(`${m.orgId}/`)).sort()).toEqual([...m.files.keys()].map((id) => `${m.orgId}/${id}`).sort());
      }),
      { seed: SEED, numRuns: RUNS },
    );
  }, 60_000);
});
