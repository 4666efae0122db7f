// The bare ceiling on PostgreSQL: Bun.serve + postgres.js (the product's client, the same pool options and size) doing the least work our ticket routes must do.
//
// Per request, as bench/baseline-server.ts does on SQLite, with no framework: bearer key lookup by SHA-256 joined to
// org and user (revoked/expired/plan checked), the org-scoped page (offset or keyset) and the total from
// ticket_counts (a SUM, as the product's), get by id, and for creates one transaction: the ticket insert with its
// count upsert (one statement, as the product's store) and the outbox insert, COMMIT per request (PostgreSQL groups
// concurrent commits itself). When the schema's ticket_counts has a `shard` column, each create bumps a random shard
// of its (org, status, priority), as the product does. No NOTIFY, request ids, security headers or access log.
//
//   bun bench/baseline-server-postgres.ts --database-url postgres://… [--port 0] [--pool-size 10] [--public-url http://...]
// Prints one line `listening <url>` on stdout when ready. bench/cpu-cost.ts imports createPostgresBaseline (no socket).
import { parseArgs } from "node:util";
import { openPostgres } from "../src/db/postgres/client";

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

const COLS: (keyof Row)[] = ["id", "org_id", "subject", "description", "status", "priority", "created_by", "created_at", "updated_at"];
const JSON_HEADERS = { "content-type": "application/json; charset=utf-8" };
const STATUSES = new Set(["open", "in_progress", "resolved", "closed"]);
const PRIORITIES = new Set(["low", "medium", "high", "urgent"]);
const ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz";
/** Shards per (org, status, priority) when the schema has them (the product's number). */
const SHARDS = 16;

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

/** The baseline's handler on a pool of its own (`fetch` as Bun.serve calls it); `close` ends the pool. */
export async function createPostgresBaseline(opts: { url: string; poolSize: number; publicUrl: string }) {
  const { publicUrl } = opts;
  const pg = openPostgres({ url: opts.url, poolSize: opts.poolSize, statementTimeoutMs: 30_000, applicationName: "bench baseline" });
  const sql = pg.sql;
  const [shardCol] =
    await sql`SELECT 1 AS one FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'ticket_counts' AND column_name = 'shard'`;
  const sharded = !!shardCol;
  const columns = sql(COLS);
  const none = () => sql``;
  const where = (orgId: string, status?: string, priority?: string) =>
    sql`org_id = ${orgId}${status ? sql` AND status = ${status}` : none()}${priority ? sql` AND priority = ${priority}` : none()}`;

  async function authenticate(req: Request): Promise<{ orgId: string; userId: string } | Response> {
    const header = req.headers.get("authorization");
    if (!header?.startsWith("Bearer ")) return error(401, "unauthorized", "Invalid or expired API key.");
    const hash = new Bun.CryptoHasher("sha256").update(header.slice(7).trim()).digest("hex");
    const [k] = await sql<{ id: string; org_id: string; user_id: string; expires_at: number | null; revoked_at: number | null; plan: string }[]>`
      SELECT k.id, k.org_id, k.user_id, k.expires_at, k.revoked_at, o.plan FROM api_keys k JOIN orgs o ON o.id = k.org_id JOIN users u ON u.id = k.user_id WHERE k.hash = ${hash}`;
    if (!k || k.revoked_at !== null || (k.expires_at !== null && k.expires_at <= Date.now())) return error(401, "unauthorized", "Invalid or expired API key.");
    if (k.plan === "free") return error(403, "plan_required", "API access is available on Pro and Enterprise plans.");
    return { orgId: k.org_id, userId: k.user_id };
  }

  async function list(req: Request, orgId: string): Promise<Response> {
    const q = new URL(req.url).searchParams;
    const status = q.get("status") ?? undefined;
    const priority = q.get("priority") ?? undefined;
    if (status !== undefined && !STATUSES.has(status)) return error(400, "validation_error", "bad status", "status");
    if (priority !== undefined && !PRIORITIES.has(priority)) return error(400, "validation_error", "bad priority", "priority");
    const perPage = Number(q.get("per_page") ?? 25);
    if (!Number.isInteger(perPage) || perPage < 1 || perPage > 100) return error(400, "validation_error", "bad per_page", "per_page");
    const [t] = await sql<{ total: number }[]>`SELECT COALESCE(SUM(count), 0) AS total FROM ticket_counts WHERE ${where(orgId, status, priority)}`;
    const total = t?.total ?? 0;
    const after = q.get("starting_after");
    let rows: Row[];
    let page = 1;
    let next: string | null = null;
    const base = `${publicUrl}/v1/tickets?${status ? `status=${status}&` : ""}${priority ? `priority=${priority}&` : ""}per_page=${perPage}`;
    if (after !== null) {
      const [c] = await sql<{ created_at: number; id: string }[]>`SELECT created_at, id FROM tickets WHERE id = ${after} AND org_id = ${orgId}`;
      if (!c) return error(400, "validation_error", "unknown starting_after", "starting_after");
      rows = [
        ...(await sql<Row[]>`SELECT ${columns} FROM tickets WHERE ${where(orgId, status, priority)} AND (created_at, id) < (${c.created_at}, ${c.id})
          ORDER BY created_at DESC, id DESC LIMIT ${perPage + 1}`),
      ];
      if (rows.length > perPage) {
        rows.pop();
        next = `${base}&starting_after=${rows[rows.length - 1]!.id}`;
      }
    } else {
      page = Number(q.get("page") ?? 1);
      if (!Number.isInteger(page) || page < 1) return error(400, "validation_error", "bad page", "page");
      const offset = (page - 1) * perPage;
      rows =
        offset >= total
          ? []
          : [
              ...(await sql<Row[]>`SELECT ${columns} FROM tickets WHERE ${where(orgId, status, priority)}
                ORDER BY created_at DESC, id DESC LIMIT ${perPage} OFFSET ${offset}`),
            ];
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
    await sql.begin(async (tx) => {
      if (sharded) {
        const shard = Math.floor(Math.random() * SHARDS);
        await tx`WITH t AS (INSERT INTO tickets ${tx(row, COLS)} RETURNING org_id, status, priority)
          INSERT INTO ticket_counts (org_id, status, priority, shard, count) SELECT org_id, status, priority, ${shard}::bigint, 1 FROM t
          ON CONFLICT (org_id, status, priority, shard) DO UPDATE SET count = ticket_counts.count + excluded.count`;
      } else {
        await tx`WITH t AS (INSERT INTO tickets ${tx(row, COLS)} RETURNING org_id, status, priority)
          INSERT INTO ticket_counts (org_id, status, priority, count) SELECT org_id, status, priority, 1 FROM t
          ON CONFLICT (org_id, status, priority) DO UPDATE SET count = ticket_counts.count + excluded.count`;
      }
      await tx`INSERT INTO events (id, org_id, type, data, changed_fields, created_at) VALUES (${newId("evt")}, ${orgId}, 'ticket.created', ${json}, NULL, ${now})`;
    });
    return new Response(json, { status: 201, headers: { ...JSON_HEADERS, location: `${publicUrl}/v1/tickets/${row.id}` } });
  }

  async function handle(req: Request): Promise<Response> {
    const path = req.url.slice(req.url.indexOf("/", 8)).split("?")[0]!;
    if (path === "/healthz") return Response.json({ status: "ok" });
    if (!path.startsWith("/v1/tickets")) return error(404, "not_found", "Not found.");
    const auth = await authenticate(req);
    if (auth instanceof Response) return auth;
    if (path === "/v1/tickets") {
      if (req.method === "GET") return list(req, auth.orgId);
      if (req.method === "POST") return createTicket(req, auth.orgId, auth.userId);
      return error(405, "method_not_allowed", "Method not allowed.");
    }
    const [row] = await sql<Row[]>`SELECT ${columns} FROM tickets WHERE id = ${path.slice("/v1/tickets/".length)} AND org_id = ${auth.orgId}`;
    if (!row) return error(404, "not_found", "Ticket was not found.");
    return new Response(JSON.stringify(toTicket(row)), { headers: JSON_HEADERS });
  }
  return { fetch: handle, close: () => pg.close() };
}

if (import.meta.main) {
  const { values: args } = parseArgs({
    options: {
      "database-url": { type: "string" },
      port: { type: "string", default: "0" },
      host: { type: "string", default: "127.0.0.1" },
      "pool-size": { type: "string", default: "10" },
      "public-url": { type: "string" },
    },
  });
  if (!args["database-url"]) {
    console.error("usage: bun bench/baseline-server-postgres.ts --database-url postgres://… [--port N] [--pool-size N]");
    process.exit(2);
  }
  const publicUrl = args["public-url"] ?? `http://${args.host}:${args.port}`;
  const base = await createPostgresBaseline({ url: args["database-url"], poolSize: Number(args["pool-size"]), publicUrl });
  const server = Bun.serve({ hostname: args.host, port: Number(args.port), reusePort: false, fetch: base.fetch });
  console.log(`listening http://${args.host}:${server.port}`);
  process.on("SIGTERM", () => {
    server.stop(true);
    void base.close().finally(() => process.exit(0));
  });
}
