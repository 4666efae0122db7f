// The bare ceiling: Bun.serve + bun:sqlite prepared statements doing the least work our ticket routes must do.
//
// Per request it does what the product's route does, with no framework: bearer key lookup by SHA-256 joined to
// org and user (revoked/expired/plan checked), the org-scoped page query (offset or keyset), the total from
// ticket_counts, get by id, and for creates the insert + count upsert + outbox insert in one IMMEDIATE transaction
// with the product's pragmas (WAL, synchronous=FULL, foreign keys). Also a bare upload (request body streamed to a
// file) and a bare download (Bun.file) for the files rows. No request ids, security headers or access log.
//
// With --grouped, creates are group-committed as the product's writer does it, bare: the creates that arrive together
// share one BEGIN IMMEDIATE … COMMIT (one fsync, synchronous=FULL), each in its own SAVEPOINT, flushed on
// setImmediate, and each request is answered only after its batch's COMMIT.
//
//   bun bench/baseline-server.ts --db <clientcove.db> [--port 0] [--files-dir <dir>] [--public-url http://...] [--grouped]
// Prints one line `listening <url>` on stdout when ready.
import { Database } from "bun:sqlite";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";

type Row = {
  id: string;
  org_id: string;
  subject: string;
  description: string | null;
  status: string;
  priority: string;
  created_by: string | null;
  created_at: number;
  updated_at: number;
};

const COLS = "id, org_id, subject, description, status, priority, created_by, created_at, updated_at";
const JSON_HEADERS = { "content-type": "application/json; charset=utf-8" };
const STATUSES = new Set(["open", "in_progress", "resolved", "closed"]);
const PRIORITIES = new Set(["low", "medium", "high", "urgent"]);
const ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz";

function newId(prefix: string): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  let s = prefix + "_";
  for (const b of bytes) s += ALPHABET[b % 36];
  return s;
}

const iso = (ms: number) => new Date(ms).toISOString().slice(0, 19) + "Z";
const toTicket = (r: Row) => ({
  id: r.id,
  subject: r.subject,
  description: r.description,
  status: r.status,
  priority: r.priority,
  created_by: r.created_by,
  created_at: iso(r.created_at),
  updated_at: iso(r.updated_at),
});
const error = (status: number, code: string, message: string, field?: string) =>
  Response.json(field ? { error: code, message, details: [{ field, message }] } : { error: code, message }, { status, headers: JSON_HEADERS });

export interface BaselineOptions {
  db: string;
  publicUrl: string;
  filesDir?: string;
  /** Group-commit creates (see the header). */
  grouped?: boolean;
}

/** The bare handler over the database at `opts.db` (exported so a CPU-cost probe can call it without a socket). */
export function createBaseline(opts: BaselineOptions): { fetch(req: Request): Response | Promise<Response>; close(): void } {
  const db = new Database(opts.db, { strict: true });
  db.exec("PRAGMA busy_timeout = 5000");
  db.exec("PRAGMA journal_mode = WAL");
  db.exec("PRAGMA synchronous = FULL");
  db.exec("PRAGMA foreign_keys = ON");

  const keyLookup = db.prepare<{ id: string; org_id: string; user_id: string; expires_at: number | null; revoked_at: number | null; plan: string }, [string]>(
    `SELECT k.id, k.org_id, k.user_id, k.expires_at, k.revoked_at, o.plan FROM api_keys k JOIN orgs o ON o.id = k.org_id JOIN users u ON u.id = k.user_id WHERE k.hash = ?`,
  );
  const where = (s: boolean, p: boolean) => `org_id = ?${s ? " AND status = ?" : ""}${p ? " AND priority = ?" : ""}`;
  const pageSql = new Map<string, ReturnType<typeof db.prepare>>();
  const afterSql = new Map<string, ReturnType<typeof db.prepare>>();
  const totalSql = new Map<string, ReturnType<typeof db.prepare>>();
  for (const s of [false, true]) {
    for (const p of [false, true]) {
      pageSql.set(`${s}${p}`, db.prepare(`SELECT ${COLS} FROM tickets WHERE ${where(s, p)} ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?`));
      afterSql.set(
        `${s}${p}`,
        db.prepare(`SELECT ${COLS} FROM tickets WHERE ${where(s, p)} AND (created_at, id) < (?, ?) ORDER BY created_at DESC, id DESC LIMIT ?`),
      );
      totalSql.set(`${s}${p}`, db.prepare(`SELECT SUM(count) AS total FROM ticket_counts WHERE ${where(s, p)}`));
    }
  }
  const byId = db.prepare<Row, [string, string]>(`SELECT ${COLS} FROM tickets WHERE id = ? AND org_id = ?`);
  const cursorOf = db.prepare<{ created_at: number; id: string }, [string, string]>(`SELECT created_at, id FROM tickets WHERE id = ? AND org_id = ?`);
  const insertTicket = db.prepare(`INSERT INTO tickets (${COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`);
  const bumpCount = db.prepare(
    `INSERT INTO ticket_counts (org_id, status, priority, count) VALUES (?, ?, ?, 1) ON CONFLICT (org_id, status, priority) DO UPDATE SET count = count + 1`,
  );
  const insertEvent = db.prepare(`INSERT INTO events (id, org_id, type, data, changed_fields, created_at) VALUES (?, ?, 'ticket.created', ?, NULL, ?)`);
  const create = db.transaction((r: Row, event: string, data: string) => {
    insertTicket.run(r.id, r.org_id, r.subject, r.description, r.status, r.priority, r.created_by, r.created_at, r.updated_at);
    bumpCount.run(r.org_id, r.status, r.priority);
    insertEvent.run(event, r.org_id, data, r.created_at);
  });
  // The bare group commit: a queue of pending creates, committed together on the next turn of the event loop.
  let pending: { row: Row; event: string; data: string; done: (ok: boolean) => void }[] = [];
  const flushCreates = () => {
    const batch = pending;
    pending = [];
    db.exec("BEGIN IMMEDIATE");
    const ok: boolean[] = [];
    for (const p of batch) {
      db.exec("SAVEPOINT c");
      try {
        create(p.row, p.event, p.data);
        db.exec("RELEASE c");
        ok.push(true);
      } catch {
        db.exec("ROLLBACK TO c");
        db.exec("RELEASE c");
        ok.push(false);
      }
    }
    db.exec("COMMIT");
    batch.forEach((p, i) => p.done(ok[i]!));
  };
  const createGrouped = (row: Row, event: string, data: string) =>
    new Promise<boolean>((resolve) => {
      if (pending.push({ row, event, data, done: resolve }) === 1) setImmediate(flushCreates);
    });
  const { publicUrl, filesDir } = opts;
  if (filesDir) mkdirSync(filesDir, { recursive: true });

  function authenticate(req: Request): { orgId: string; userId: string } | Response {
    const header = req.headers.get("authorization");
    if (!header?.startsWith("Bearer ")) return error(401, "unauthorized", "Invalid or expired API key.");
    const hash = new Bun.CryptoHasher("sha256").update(header.slice(7).trim()).digest("hex");
    const k = keyLookup.get(hash);
    if (!k || k.revoked_at !== null || (k.expires_at !== null && k.expires_at <= Date.now())) return error(401, "unauthorized", "Invalid or expired API key.");
    if (k.plan === "free") return error(403, "plan_required", "API access is available on Pro and Enterprise plans.");
    return { orgId: k.org_id, userId: k.user_id };
  }

  function list(req: Request, orgId: string): Response {
    const q = new URL(req.url).searchParams;
    const status = q.get("status") ?? undefined;
    const priority = q.get("priority") ?? undefined;
    if (status !== undefined && !STATUSES.has(status)) return error(400, "validation_error", "bad status", "status");
    if (priority !== undefined && !PRIORITIES.has(priority)) return error(400, "validation_error", "bad priority", "priority");
    const perPage = Number(q.get("per_page") ?? 25);
    if (!Number.isInteger(perPage) || perPage < 1 || perPage > 100) return error(400, "validation_error", "bad per_page", "per_page");
    const key = `${!!status}${!!priority}`;
    const filter: string[] = [orgId];
    if (status) filter.push(status);
    if (priority) filter.push(priority);
    const total = (totalSql.get(key)!.get(...filter) as { total: number | null } | null)?.total ?? 0;
    const after = q.get("starting_after");
    let rows: Row[];
    let page = 1;
    let next: string | null = null;
    const base = `${publicUrl}/v1/tickets?${status ? `status=${status}&` : ""}${priority ? `priority=${priority}&` : ""}per_page=${perPage}`;
    if (after !== null) {
      const c = cursorOf.get(after, orgId);
      if (!c) return error(400, "validation_error", "unknown starting_after", "starting_after");
      rows = afterSql.get(key)!.all(...filter, c.created_at, c.id, perPage + 1) as Row[];
      if (rows.length > perPage) {
        rows.pop();
        next = `${base}&starting_after=${rows[rows.length - 1]!.id}`;
      }
    } else {
      page = Number(q.get("page") ?? 1);
      if (!Number.isInteger(page) || page < 1) return error(400, "validation_error", "bad page", "page");
      const offset = (page - 1) * perPage;
      rows = offset >= total ? [] : (pageSql.get(key)!.all(...filter, perPage, offset) as Row[]);
      if (offset + perPage < total) next = `${base}&page=${page + 1}`;
    }
    const headers: Record<string, string> = next ? { ...JSON_HEADERS, link: `<${next}>; rel="next"` } : JSON_HEADERS;
    return new Response(JSON.stringify({ data: rows.map(toTicket), meta: { page, per_page: perPage, total } }), { headers });
  }

  async function createTicket(req: Request, orgId: string, userId: string): Promise<Response> {
    let body: { subject?: unknown; description?: unknown; priority?: unknown };
    try {
      body = (await req.json()) as typeof body;
    } catch {
      return error(400, "validation_error", "The request body is not valid JSON.", "body");
    }
    const subject = typeof body.subject === "string" ? body.subject.trim() : "";
    if (!subject || subject.length > 200) return error(400, "validation_error", "bad subject", "subject");
    if (body.description !== undefined && typeof body.description !== "string") return error(400, "validation_error", "bad description", "description");
    const priority = body.priority === undefined ? "medium" : body.priority;
    if (typeof priority !== "string" || !PRIORITIES.has(priority)) return error(400, "validation_error", "bad priority", "priority");
    const now = Date.now();
    const row: Row = {
      id: newId("tkt"),
      org_id: orgId,
      subject,
      description: (body.description as string | undefined) ?? null,
      status: "open",
      priority,
      created_by: userId,
      created_at: now,
      updated_at: now,
    };
    const json = JSON.stringify(toTicket(row));
    if (opts.grouped) {
      if (!(await createGrouped(row, newId("evt"), json))) return error(500, "internal_error", "create failed");
    } else create.immediate(row, newId("evt"), json);
    return new Response(json, { status: 201, headers: { ...JSON_HEADERS, location: `${publicUrl}/v1/tickets/${row.id}` } });
  }

  async function handle(req: Request): Promise<Response> {
    const path = req.url.slice(req.url.indexOf("/", 8)).split("?")[0]!;
    if (path === "/healthz") return Response.json({ status: "ok" });
    if (path === "/upload" && req.method === "POST" && filesDir) {
      // Bare streaming upload: the raw request body (multipart framing included) straight to a file.
      const writer = Bun.file(join(filesDir, "upload.bin")).writer();
      let size = 0;
      for await (const chunk of req.body!) {
        writer.write(chunk);
        size += chunk.byteLength;
      }
      await writer.end();
      return Response.json({ size }, { status: 201 });
    }
    if (path === "/download" && filesDir) return new Response(Bun.file(join(filesDir, "upload.bin")));
    if (!path.startsWith("/v1/tickets")) return error(404, "not_found", "Not found.");
    const auth = authenticate(req);
    if (auth instanceof Response) return auth;
    if (path === "/v1/tickets") {
      if (req.method === "GET") return list(req, auth.orgId);
      if (req.method === "POST") return createTicket(req, auth.orgId, auth.userId);
      return error(405, "method_not_allowed", "Method not allowed.");
    }
    const row = byId.get(path.slice("/v1/tickets/".length), auth.orgId);
    if (!row) return error(404, "not_found", "Ticket was not found.");
    return new Response(JSON.stringify(toTicket(row)), { headers: JSON_HEADERS });
  }

  return { fetch: handle, close: () => db.close() };
}

if (import.meta.main) {
  const { values: args } = parseArgs({
    options: {
      db: { type: "string" },
      port: { type: "string", default: "0" },
      host: { type: "string", default: "127.0.0.1" },
      "files-dir": { type: "string" },
      "public-url": { type: "string" },
      grouped: { type: "boolean", default: false },
    },
  });
  if (!args.db) {
    console.error("usage: bun bench/baseline-server.ts --db <path> [--port N] [--files-dir DIR]");
    process.exit(2);
  }
  const baseline = createBaseline({
    db: args.db,
    filesDir: args["files-dir"],
    publicUrl: args["public-url"] ?? `http://${args.host}:${args.port}`,
    grouped: args.grouped,
  });
  const server = Bun.serve({ hostname: args.host, port: Number(args.port), reusePort: false, maxRequestBodySize: 4 * 1024 ** 3, fetch: baseline.fetch });
  console.log(`listening http://${args.host}:${server.port}`);
  process.on("SIGTERM", () => {
    server.stop(true);
    baseline.close();
    process.exit(0);
  });
}
