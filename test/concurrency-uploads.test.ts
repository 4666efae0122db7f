// 50 concurrent HTTP clients creating, updating and deleting tickets, uploading (some retried with Idempotency-Key) and
// deleting files: afterwards every count, every stored byte and every outbox event agrees with what the clients were told.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { TICKET_STATUSES } from "../src/db/schema/tickets";
import { createTestEnv, type TestEnv, seededRandom } from "./helpers";
import {
  eventually,
  listen,
  listObjects,
  listTemp,
  multipartBody,
  pseudoRandomBytes,
  rawJson,
  rawRequest,
  rawStatus,
  sha256Hex,
  uploadHead,
} from "./files-fixtures";

const CLIENTS = 50;
const OPS_PER_CLIENT = 16;
const SEED = 90210;

let env: TestEnv;
let base: string;

beforeAll(async () => {
  // 25 clients share each organization's key here; the per-key bound on uploads in flight (default 8) is exercised
  // by the stalled-clients test below, so it is lifted for this one.
  env = await createTestEnv({ config: { maxUploadsPerKey: CLIENTS } });
  base = listen(env);
});
afterAll(() => {
  env.app.server?.stop(true);
  env.close();
});

interface Acked {
  tickets: Map<string, string>; // id → org
  ticketUpdates: number;
  ticketsDeleted: Set<string>;
  /** Every upload a client was told succeeded (a replay names the same id). */
  files: Map<string, { orgId: string; sha256: string; size: number; ticket: string | null; folder: string | null }>;
  filesDeleted: Set<string>;
  replays: number;
  inProgress: number;
}

describe("concurrent clients with uploads", () => {
  test(`${CLIENTS} clients × ${OPS_PER_CLIENT} operations over HTTP: rows, bytes, counts and events match the acknowledgements`, async () => {
    const orgs = [await env.org("Acme"), await env.org("Beta")];
    const acked: Acked = {
      tickets: new Map(),
      ticketUpdates: 0,
      ticketsDeleted: new Set(),
      files: new Map(),
      filesDeleted: new Set(),
      replays: 0,
      inProgress: 0,
    };
    const statuses = TICKET_STATUSES;
    const folderWinners: Record<string, string[]> = {};

    async function client(n: number) {
      const rand = seededRandom(SEED + n);
      const org = orgs[n % 2]!;
      const auth = { authorization: `Bearer ${org.key}` };
      const json = (path: string, method: string, body?: unknown) =>
        fetch(`${base}${path}`, {
          method,
          headers: { ...auth, ...(body ? { "content-type": "application/json" } : {}) },
          body: body ? JSON.stringify(body) : undefined,
        });
      const sendUpload = (bytes: Uint8Array, fields: Record<string, string>, idem?: string) => {
        const fd = new FormData();
        fd.append("file", new Blob([bytes as Uint8Array<ArrayBuffer>]), `c${n}.bin`);
        for (const [k, v] of Object.entries(fields)) fd.append(k, v);
        return fetch(`${base}/v1/files`, { method: "POST", body: fd, headers: { ...auth, ...(idem ? { "idempotency-key": idem } : {}) } });
      };

      // All clients of an organization race to create the same folder: exactly one wins, the others get 409 conflict.
      const shared = await json("/v1/folders", "POST", { name: "Shared" });
      expect([201, 409]).toContain(shared.status);
      const sharedBody: any = await shared.json();
      if (shared.status === 201) (folderWinners[org.orgId] ??= []).push(sharedBody.id);
      else expect(sharedBody.error).toBe("conflict");

      const tickets: string[] = [];
      const files: string[] = [];
      for (let i = 0; i < OPS_PER_CLIENT; i++) {
        const roll = rand();
        if (tickets.length === 0 || roll < 0.25) {
          const r = await json("/v1/tickets", "POST", { subject: `client ${n} op ${i}`, priority: "high" });
          expect(r.status).toBe(201);
          const t: any = await r.json();
          tickets.push(t.id);
          acked.tickets.set(t.id, org.orgId);
        } else if (roll < 0.4) {
          const id = tickets[Math.floor(rand() * tickets.length)]!;
          const r = await json(`/v1/tickets/${id}`, "PATCH", { status: statuses[Math.floor(rand() * 4)], subject: `edit ${n}.${i}` });
          expect(r.status).toBe(200);
          acked.ticketUpdates++;
        } else if (roll < 0.5) {
          const id = tickets.splice(Math.floor(rand() * tickets.length), 1)[0]!;
          const r = await json(`/v1/tickets/${id}`, "DELETE");
          expect(r.status).toBe(204);
          acked.ticketsDeleted.add(id);
          for (const f of acked.files.values()) if (f.ticket === id) f.ticket = null;
        } else if (roll < 0.85) {
          const bytes = pseudoRandomBytes(1 + Math.floor(rand() * 64 * 1024), SEED * 100 + n * OPS_PER_CLIENT + i);
          const fields: Record<string, string> = {};
          if (rand() < 0.4) fields.ticket_id = tickets[Math.floor(rand() * tickets.length)]!;
          const retried = rand() < 0.3;
          if (!retried) {
            const r = await sendUpload(bytes, fields);
            expect(r.status).toBe(201);
            const f: any = await r.json();
            files.push(f.id);
            acked.files.set(f.id, { orgId: org.orgId, sha256: sha256Hex(bytes), size: bytes.byteLength, ticket: f.ticket_id, folder: null });
            expect(f.sha256).toBe(sha256Hex(bytes));
          } else {
            // A client that retries at once (it timed out, say) and then once more: one file, one copy of the bytes.
            const key = `upload-${n}-${i}`;
            const answers = await Promise.all([sendUpload(bytes, fields, key), sendUpload(bytes, fields, key)]);
            const bodies: any[] = await Promise.all(answers.map((a) => a.json()));
            const created = answers.map((a, j) => ({ status: a.status, replayed: a.headers.get("idempotent-replayed") === "true", body: bodies[j] }));
            const fresh = created.filter((c) => c.status === 201 && !c.replayed);
            // Neither may have raced past the other into a second row; a loser is a replay or a 409 "in progress".
            expect(fresh.length).toBeLessThanOrEqual(1);
            for (const c of created) {
              if (c.status === 409) {
                expect(c.body.error).toBe("idempotency_in_progress");
                acked.inProgress++;
              } else expect(c.status).toBe(201);
              if (c.replayed) acked.replays++;
            }
            const again = await sendUpload(bytes, fields, key);
            expect(again.status).toBe(201);
            expect(again.headers.get("idempotent-replayed")).toBe("true");
            acked.replays++;
            const f: any = await again.json();
            for (const c of created) if (c.status === 201) expect(c.body.id).toBe(f.id);
            files.push(f.id);
            acked.files.set(f.id, { orgId: org.orgId, sha256: sha256Hex(bytes), size: bytes.byteLength, ticket: f.ticket_id, folder: null });
          }
        } else if (files.length) {
          const id = files.splice(Math.floor(rand() * files.length), 1)[0]!;
          const r = await fetch(`${base}/v1/files/${id}`, { method: "DELETE", headers: auth });
          expect(r.status).toBe(204);
          acked.filesDeleted.add(id);
        }
      }
    }
    await Promise.all(Array.from({ length: CLIENTS }, (_, n) => client(n)));

    const db = env.db;
    // One "Shared" folder per organization, created by exactly one client.
    for (const org of orgs) {
      expect(folderWinners[org.orgId]?.length).toBe(1);
      const rows = (await db.all("SELECT id FROM folders WHERE org_id = ? AND name = 'Shared'", org.orgId)) as { id: string }[];
      expect(rows.map((r) => r.id)).toEqual(folderWinners[org.orgId]!);
    }

    // Tickets: exactly the acknowledged ones.
    const ticketRows = (await db.all("SELECT id, org_id FROM tickets")) as { id: string; org_id: string }[];
    const liveTickets = [...acked.tickets].filter(([id]) => !acked.ticketsDeleted.has(id));
    expect(ticketRows.map((r) => `${r.org_id}/${r.id}`).sort()).toEqual(liveTickets.map(([id, org]) => `${org}/${id}`).sort());

    // Files: exactly the acknowledged ones, each with its bytes (size and sha256 as the client computed them), its
    // ticket link cleared if the ticket went; nothing else on disk, nothing left in tmp/.
    const fileRows = (await db.all("SELECT id, org_id, sha256, size_bytes, ticket_id, storage_key FROM files")) as {
      id: string;
      org_id: string;
      sha256: string;
      size_bytes: number;
      ticket_id: string | null;
      storage_key: string;
    }[];
    const liveFiles = [...acked.files].filter(([id]) => !acked.filesDeleted.has(id));
    expect(fileRows.map((r) => r.id).sort()).toEqual(liveFiles.map(([id]) => id).sort());
    for (const r of fileRows) {
      const told = acked.files.get(r.id)!;
      expect({ org: r.org_id, sha256: r.sha256, size: r.size_bytes, ticket: r.ticket_id }).toEqual({
        org: told.orgId,
        sha256: told.sha256,
        size: told.size,
        ticket: told.ticket,
      });
      const bytes = readFileSync(join(env.dir, "files", r.storage_key));
      expect({ size: bytes.byteLength, sha256: sha256Hex(bytes) }).toEqual({ size: told.size, sha256: told.sha256 });
    }
    expect(listObjects(env.dir)).toEqual(fileRows.map((r) => r.storage_key).sort());
    expect(listTemp(env.dir)).toEqual([]);

    // The outbox: one event per acknowledged change, naming exactly the acknowledged resources (replays add none).
    const events = (await db.all("SELECT type, data FROM events ORDER BY seq")) as { type: string; data: string }[];
    const idsOf = (type: string) =>
      events
        .filter((e) => e.type === type)
        .map((e) => JSON.parse(e.data).id as string)
        .sort();
    expect(idsOf("ticket.created")).toEqual([...acked.tickets.keys()].sort());
    expect(events.filter((e) => e.type === "ticket.updated").length).toBe(acked.ticketUpdates);
    expect(idsOf("ticket.deleted")).toEqual([...acked.ticketsDeleted].sort());
    expect(idsOf("file.uploaded")).toEqual([...acked.files.keys()].sort());
    expect(idsOf("file.deleted")).toEqual([...acked.filesDeleted].sort());
    for (const e of events.filter((e) => e.type === "file.uploaded")) expect(JSON.parse(e.data).sha256).toBe(acked.files.get(JSON.parse(e.data).id)!.sha256);

    // Every count the API reports equals a real count.
    for (const org of orgs) {
      const auth = { authorization: `Bearer ${org.key}` };
      for (const status of [undefined, ...statuses]) {
        const body: any = await (await fetch(`${base}/v1/tickets?per_page=1${status ? `&status=${status}` : ""}`, { headers: auth })).json();
        const real = (await db.get(
          `SELECT COUNT(*) AS n FROM tickets WHERE org_id = ?${status ? " AND status = ?" : ""}`,
          ...(status ? [org.orgId, status] : [org.orgId]),
        )) as { n: number };
        expect(body.meta.total).toBe(real.n);
      }
      const files: any = await (await fetch(`${base}/v1/files?per_page=1`, { headers: auth })).json();
      expect(files.meta.total).toBe(liveFiles.filter(([, f]) => f.orgId === org.orgId).length);
    }
    // SQLite only: the file itself is sound (PostgreSQL has no such check).
    if (env.handle) expect(env.handle.sqlite.query("PRAGMA integrity_check").get()).toEqual({ integrity_check: "ok" });
    expect(acked.replays).toBeGreaterThan(0);
    // One key, two different files at the same moment: one is stored, the other is a 422 and leaves nothing behind.
    const org = orgs[0]!;
    const rowsBefore = ((await db.get("SELECT COUNT(*) AS n FROM files")) as { n: number }).n;
    const outcomes = await Promise.all(
      Array.from({ length: 10 }, async (_, n) => {
        const key = `conflict-${n}`;
        const send = (bytes: Uint8Array) => {
          const fd = new FormData();
          fd.append("file", new Blob([bytes as Uint8Array<ArrayBuffer>]), "same-name.bin");
          return fetch(`${base}/v1/files`, { method: "POST", body: fd, headers: { authorization: `Bearer ${org.key}`, "idempotency-key": key } });
        };
        const pair = [pseudoRandomBytes(20_000, 7000 + n), pseudoRandomBytes(20_000, 8000 + n)];
        const answers = await Promise.all(pair.map(send));
        const statuses = answers.map((a) => a.status).sort();
        const bodies: any[] = await Promise.all(answers.map((a) => a.json()));
        const winner = bodies.find((b) => b.id);
        return { statuses, errors: bodies.map((b) => b.error).filter(Boolean), winner, shas: pair.map((p) => sha256Hex(p)) };
      }),
    );
    for (const o of outcomes) {
      // Whichever arrives second: 422 (the first is stored) or 409 (the first is still being stored).
      expect(o.statuses[0]).toBe(201);
      expect([409, 422]).toContain(o.statuses[1]!);
      expect(o.errors.length).toBe(1);
      expect(["idempotency_key_reused", "idempotency_in_progress"]).toContain(o.errors[0]);
      expect(o.shas).toContain(o.winner.sha256);
    }
    expect(((await db.get("SELECT COUNT(*) AS n FROM files")) as { n: number }).n).toBe(rowsBefore + outcomes.length);
    expect(listObjects(env.dir).length).toBe(rowsBefore + outcomes.length);
    expect(listTemp(env.dir)).toEqual([]);

    console.log(
      `concurrency: ${CLIENTS} clients, ${acked.tickets.size} tickets created, ${acked.ticketUpdates} updated, ${acked.ticketsDeleted.size} deleted, ` +
        `${acked.files.size} files uploaded (${acked.replays} idempotent replays, ${acked.inProgress} in-progress 409s), ${acked.filesDeleted.size} deleted`,
    );
  }, 60_000);
});

describe("stalled uploads cannot pile up", () => {
  const STALLED = 24;
  const PER_KEY = 4;
  let stalledEnv: TestEnv;
  let stalledBase: string;
  beforeAll(async () => {
    // The idle timeout is small but roomy next to the time the clients need to connect, so every client beyond the bound
    // arrives while the first ones are still held.
    stalledEnv = await createTestEnv({ config: { uploadIdleTimeoutMs: 1500, maxUploadsPerKey: PER_KEY } });
    stalledBase = listen(stalledEnv);
  });
  afterAll(() => {
    stalledEnv.app.server?.stop(true);
    stalledEnv.close();
  });

  test(`${STALLED} clients on one key send part of an upload and go silent: ${PER_KEY} are held then 408, the rest 429; nothing is left behind`, async () => {
    const org = await stalledEnv.org("Acme");
    const body = multipartBody([{ name: "file", filename: "stalled.bin", content: pseudoRandomBytes(32 * 1024, 5) }]);
    const clients = Array.from({ length: STALLED }, (_, n) =>
      rawRequest(stalledBase, uploadHead(org.key, body.length, { "Idempotency-Key": `stalled-${n}` }), body.subarray(0, 4 * 1024)),
    );
    // Both refusals also close the connection (the rest of the body is never read).
    const answers = await Promise.all(clients.map((c) => c.response));
    const statuses = answers.map((a) => rawStatus(a));
    expect(statuses.filter((s) => s === 408).length).toBe(PER_KEY);
    expect(statuses.filter((s) => s === 429).length).toBe(STALLED - PER_KEY);
    for (const a of answers) expect(["upload_timeout", "too_many_uploads"]).toContain(rawJson(a).error);
    for (const a of answers.filter((a) => rawStatus(a) === 429)) expect(a).toMatch(/\r\nretry-after: 5\r\n/i);
    for (const c of clients) c.socket.destroy();

    // No temp file, no intent, no row, no stored bytes, no claimed key.
    await eventually(() => listTemp(stalledEnv.dir).length === 0, "the stalled uploads to be removed");
    const db = stalledEnv.db;
    expect(await db.get("SELECT COUNT(*) AS n FROM files")).toEqual({ n: 0 });
    expect(await db.get("SELECT COUNT(*) AS n FROM idempotency_keys")).toEqual({ n: 0 });
    expect(listObjects(stalledEnv.dir)).toEqual([]);
    // And the key can upload again.
    const fd = new FormData();
    fd.append("file", new Blob(["after"]), "after.txt");
    const after = await fetch(`${stalledBase}/v1/files`, {
      method: "POST",
      body: fd,
      headers: { authorization: `Bearer ${org.key}`, "idempotency-key": "stalled-0" },
    });
    expect(after.status).toBe(201);
  }, 30_000);
});
