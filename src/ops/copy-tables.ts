// Copies every row of every table between an SQLite and a PostgreSQL database (either way): foreign-key order, keyset batches, identity sequences carried over, the signing key's settings row.
import type { Database } from "bun:sqlite";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { Sql, TransactionSql } from "postgres";
import {
  commentAttachments,
  comments,
  contacts,
  events,
  files,
  folders,
  idempotencyKeys,
  orgs,
  users,
  apiKeys,
  tickets,
  ticketCounts,
  ticketFields,
  ticketTags,
  webhookAttempts,
  webhookDeliveries,
  webhooks,
} from "../db/schema";
import { DOWNLOAD_KEY_SETTING } from "../db/postgres/settings";
import { tableShape } from "../db/schema/raw-row";

/**
 * One end of a copy. SQLite: a connection (the caller holds its transaction: `BEGIN` around the copy into it, and a
 * read transaction around the copy out of it, for a consistent read). PostgreSQL: a transaction (`sql.begin(...)`):
 * the copy into it is all rows or none, the copy out of it reads one snapshot when it is REPEATABLE READ.
 */
export type CopyEnd = { kind: "sqlite"; sqlite: Database } | { kind: "postgres"; sql: Sql | TransactionSql };

interface TableSpec {
  name: string;
  /** Every column, in the SQLite schema's order: the one list both engines are read and written with. */
  columns: string[];
  /** The columns whose SQL type is integer (bigint on PostgreSQL). */
  integers: ReadonlySet<string>;
  /** The primary key, for keyset pages. */
  key: string[];
  /** An identity column (SQLite AUTOINCREMENT): its sequence is carried over. */
  identity?: string;
  /** What is read (and counted) on PostgreSQL when its rows are not the SQLite rows one for one: a subquery named as the table. */
  postgresSource?: string;
}

function spec(table: Parameters<typeof tableShape>[0], key: string[], extra: Pick<TableSpec, "identity" | "postgresSource"> = {}): TableSpec {
  return { ...tableShape(table), key, ...extra };
}

/** `FROM` of a table on PostgreSQL: the table, or its postgresSource. */
function postgresFrom(t: TableSpec): string {
  return t.postgresSource ?? t.name;
}

/**
 * Every table, parents before children (folders reference themselves: a table is one COPY statement on PostgreSQL,
 * whose foreign keys are checked at its end, and SQLite's checks are deferred to the commit).
 */
export const COPIED_TABLES: readonly TableSpec[] = [
  spec(orgs, ["id"]),
  spec(users, ["id"]),
  spec(apiKeys, ["id"]),
  spec(contacts, ["id"]),
  spec(ticketFields, ["id"]),
  spec(tickets, ["id"]),
  spec(ticketTags, ["org_id", "tag", "ticket_id"]),
  // PostgreSQL keeps a count in shards (one row per shard, migration 0003): its SQLite row is their sum. Rows copied
  // into PostgreSQL are shard 0.
  spec(ticketCounts, ["org_id", "status", "priority"], {
    postgresSource: "(SELECT org_id, status, priority, SUM(count) AS count FROM ticket_counts GROUP BY org_id, status, priority) AS ticket_counts",
  }),
  spec(events, ["seq"], { identity: "seq" }),
  spec(folders, ["id"]),
  spec(files, ["id"]),
  spec(comments, ["id"]),
  spec(commentAttachments, ["comment_id", "file_id"]),
  spec(webhooks, ["id"]),
  spec(webhookDeliveries, ["id"]),
  spec(webhookAttempts, ["id"], { identity: "id" }),
  spec(idempotencyKeys, ["key_id", "idempotency_key"]),
];

/**
 * Tables derived from copied ones and never copied: the full-text search index over tickets and comments (SQLite
 * migration 0003 with FTS5's own tables, PostgreSQL 0006). Their triggers rebuild them in the target as the tickets
 * and comments arrive, in the target engine's own form.
 */
export const DERIVED_TABLES: Readonly<Record<CopyEnd["kind"], readonly string[]>> = {
  sqlite: [
    "ticket_search",
    "ticket_search_comments",
    "ticket_search_config",
    "ticket_search_data",
    "ticket_search_docsize",
    "ticket_search_idx",
    "ticket_search_tickets",
  ],
  postgres: ["ticket_search"],
};

export type TableCounts = Record<string, number>;

export interface CopyOptions {
  /** Rows per page read (default 1000). */
  batchRows?: number;
  /** Called (and awaited) after each table with its row count: progress. */
  onTable?: (table: string, rows: number) => void | Promise<void>;
  /** Into PostgreSQL: the download-link signing key (64 hex) for the `settings` row; nothing stored when absent. */
  downloadKey?: string;
}

export interface CopyResult {
  /** Rows copied per table. */
  tables: TableCounts;
  rows: number;
  /** Out of PostgreSQL: the signing key of its `settings` row, if it has one (on SQLite the key is a file, the caller's). */
  downloadKey?: string;
}

/** The copy cannot be exact (a value one engine cannot hold) or the target already has rows. */
export class CopyError extends Error {
  override name = "CopyError";
}

/** The target has rows: a copy only goes into an empty database (`table` is the first table found with rows). */
export class TargetNotEmpty extends CopyError {
  override name = "TargetNotEmpty";
  constructor(readonly table: string) {
    super(`the target database is not empty (table ${table} has rows)`);
  }
}

const list = (cols: string[]) => cols.join(", ");

/** The first table of `end` holding a row (the `settings` table included on PostgreSQL), or null when every one is empty. */
export async function firstNonEmptyTable(end: CopyEnd): Promise<string | null> {
  const names = [...COPIED_TABLES.map((t) => t.name), ...(end.kind === "postgres" ? ["settings"] : [])];
  for (const name of names) {
    if (end.kind === "sqlite") {
      if (end.sqlite.query(`SELECT 1 FROM ${name} LIMIT 1`).get()) return name;
    } else if ((await end.sql.unsafe(`SELECT 1 FROM ${name} LIMIT 1`)).length) return name;
  }
  return null;
}

/** Exact row counts of every copied table (COUNT(*), linear in rows). */
export async function countRows(end: CopyEnd): Promise<TableCounts> {
  const out: TableCounts = {};
  for (const t of COPIED_TABLES) {
    out[t.name] =
      end.kind === "sqlite"
        ? Number((end.sqlite.query(`SELECT COUNT(*) AS n FROM ${t.name}`).get() as { n: number }).n)
        : Number((await end.sql.unsafe(`SELECT COUNT(*) AS n FROM ${postgresFrom(t)}`))[0]!.n);
  }
  return out;
}

/** The signing key of a PostgreSQL database's `settings` row, or undefined. */
export async function readDownloadKeySetting(sql: Sql | TransactionSql): Promise<string | undefined> {
  const [row] = await sql`SELECT value FROM settings WHERE name = ${DOWNLOAD_KEY_SETTING}`;
  return row ? String(row.value) : undefined;
}

/**
 * Copies every row of every table from `from` to `to` (one SQLite, one PostgreSQL), in foreign-key order, a page at a
 * time (keyset over the primary key: memory stays bounded however many rows). The copy is exact: the same rows, text
 * byte for byte, every 64-bit integer; a value the target cannot hold exactly (U+0000 in text, which PostgreSQL
 * refuses; a value whose type is not its column's) is a CopyError naming table, column and row. Identity sequences
 * (events.seq, webhook_attempts.id) continue past the source's (never reusing a number the source handed out). Into
 * PostgreSQL, `downloadKey` becomes the `settings` row; out of it, the row's key is returned.
 * Refuses (TargetNotEmpty) a target holding any row. Runs no BEGIN/COMMIT: the caller owns both transactions.
 */
export async function copyRows(from: CopyEnd, to: CopyEnd, opts: CopyOptions = {}): Promise<CopyResult> {
  if (from.kind === to.kind) throw new Error("copyRows copies between SQLite and PostgreSQL");
  const batch = opts.batchRows ?? 1000;
  const occupied = await firstNonEmptyTable(to);
  if (occupied) throw new TargetNotEmpty(occupied);
  const tables: TableCounts = {};
  let rows = 0;
  if (to.kind === "sqlite") to.sqlite.exec("PRAGMA defer_foreign_keys = ON");
  for (const t of COPIED_TABLES) {
    const n =
      from.kind === "sqlite"
        ? await sqliteToPostgres(from.sqlite, (to as Extract<CopyEnd, { kind: "postgres" }>).sql, t, batch)
        : await postgresToSqlite(from.sql, (to as Extract<CopyEnd, { kind: "sqlite" }>).sqlite, t, batch);
    if (t.identity) await carrySequence(from, to, t);
    tables[t.name] = n;
    rows += n;
    await opts.onTable?.(t.name, n);
  }
  const result: CopyResult = { tables, rows };
  if (to.kind === "postgres" && opts.downloadKey !== undefined) {
    await to.sql`INSERT INTO settings (name, value) VALUES (${DOWNLOAD_KEY_SETTING}, ${opts.downloadKey})`;
  }
  if (from.kind === "postgres") {
    const key = await readDownloadKeySetting(from.sql);
    if (key !== undefined) result.downloadKey = key;
  }
  return result;
}

/** `(a, b) > (?, ?)` pages in key order; the first page has no bound. `placeholder(i)`: the i-th key value, or the limit (-1 on the first page). */
function keysetQuery(t: TableSpec, from: string, select: string, placeholder: (i: number) => string, bounded: boolean): string {
  // Qualified: ORDER BY would take a bare name for the output column (`seq::text AS seq` sorts as text).
  const order = t.key.map((k) => `${t.name}.${k}`).join(", ");
  const where = bounded ? ` WHERE (${order}) > (${t.key.map((_, i) => placeholder(i)).join(", ")})` : "";
  return `SELECT ${select} FROM ${from}${where} ORDER BY ${order} LIMIT ${placeholder(bounded ? t.key.length : -1)}`;
}

function describeKey(t: TableSpec, row: unknown[]): string {
  return t.key.map((k) => `${k}=${JSON.stringify(String(row[t.columns.indexOf(k)]))}`).join(", ");
}

/** One value in COPY's text format: `\N` for NULL, text with backslash, newline, CR and tab escaped. */
function copyField(t: TableSpec, row: unknown[], i: number): string {
  const v = row[i];
  const column = t.columns[i]!;
  if (v === null) return "\\N";
  if (t.integers.has(column)) {
    if (typeof v !== "bigint") throw new CopyError(`${t.name}.${column} (${describeKey(t, row)}) holds a ${typeof v}, not an integer`);
    return String(v);
  }
  if (typeof v !== "string")
    throw new CopyError(`${t.name}.${column} (${describeKey(t, row)}) holds a ${v instanceof Uint8Array ? "blob" : typeof v}, not text`);
  if (v.includes("\0")) throw new CopyError(`${t.name}.${column} (${describeKey(t, row)}) holds U+0000, which PostgreSQL text cannot store`);
  return v.replace(/[\\\n\r\t]/g, (c) => (c === "\\" ? "\\\\" : c === "\n" ? "\\n" : c === "\r" ? "\\r" : "\\t"));
}

/** One table from SQLite into PostgreSQL: keyset pages read as arrays (integers as bigint), streamed as one COPY. */
async function sqliteToPostgres(sqlite: Database, sql: Sql | TransactionSql, t: TableSpec, batch: number): Promise<number> {
  const select = list(t.columns);
  const first = sqlite.query(keysetQuery(t, t.name, select, () => "?", false)).safeIntegers(true);
  const next = sqlite.query(keysetQuery(t, t.name, select, () => "?", true)).safeIntegers(true);
  const keyIdx = t.key.map((k) => t.columns.indexOf(k));
  let count = 0;
  async function* lines(): AsyncGenerator<Buffer> {
    let after: unknown[] | null = null;
    for (;;) {
      const page = (after ? next.values(...(after as never[]), batch) : first.values(batch)) as unknown[][];
      if (page.length === 0) return;
      let text = "";
      for (const row of page) {
        for (let i = 0; i < row.length; i++) text += (i ? "\t" : "") + copyField(t, row, i);
        text += "\n";
      }
      count += page.length;
      yield Buffer.from(text, "utf8");
      if (page.length < batch) return;
      const last = page[page.length - 1]!;
      after = keyIdx.map((i) => last[i]);
    }
  }
  const writable = await sql.unsafe(`COPY ${t.name} (${select}) FROM STDIN`).writable();
  await pipeline(Readable.from(lines()), writable);
  return count;
}

/** One table from PostgreSQL into SQLite: keyset pages (integers read as text, bound as bigint: exact beyond 2^53). */
async function postgresToSqlite(sql: Sql | TransactionSql, sqlite: Database, t: TableSpec, batch: number): Promise<number> {
  const select = t.columns.map((c) => (t.integers.has(c) ? `${c}::text AS ${c}` : c)).join(", ");
  const insert = sqlite.prepare(`INSERT INTO ${t.name} (${list(t.columns)}) VALUES (${t.columns.map(() => "?").join(", ")})`);
  const casts = t.columns.map((c) => t.integers.has(c));
  let after: unknown[] | null = null;
  let count = 0;
  for (;;) {
    // Typed placeholders: PostgreSQL cannot infer a parameter's type inside a row comparison.
    const query = keysetQuery(
      t,
      postgresFrom(t),
      select,
      (i) => (i === -1 ? "$1::bigint" : `$${i + 1}::${i < t.key.length && !t.integers.has(t.key[i]!) ? "text" : "bigint"}`),
      after !== null,
    );
    const params = after ? [...after, batch] : [batch];
    const page = (await sql.unsafe(query, params as never[]).values()) as unknown as (string | null)[][];
    for (const row of page) insert.run(...(row.map((v, i) => (v !== null && casts[i] ? BigInt(v) : v)) as never[]));
    count += page.length;
    if (page.length < batch) return count;
    const last = page[page.length - 1]!;
    after = t.key.map((k) => last[t.columns.indexOf(k)]);
  }
}

/** The sequence's last handed-out value: SQLite's sqlite_sequence row, or PostgreSQL's identity sequence (0 when none). */
async function lastIssued(end: CopyEnd, t: TableSpec): Promise<bigint> {
  if (end.kind === "sqlite") {
    const row = end.sqlite.query("SELECT seq FROM sqlite_sequence WHERE name = ?").safeIntegers(true).get(t.name) as { seq: bigint } | null;
    return row?.seq ?? 0n;
  }
  const [row] = await end.sql`SELECT pg_sequence_last_value(pg_get_serial_sequence(${t.name}, ${t.identity!})::regclass)::text AS v`;
  return row?.v ? BigInt(String(row.v)) : 0n;
}

/** After a table with an identity column: the target's sequence continues past both the rows copied and the source's sequence. */
async function carrySequence(from: CopyEnd, to: CopyEnd, t: TableSpec): Promise<void> {
  const source = await lastIssued(from, t);
  if (to.kind === "postgres") {
    const [row] = await to.sql.unsafe(`SELECT COALESCE(MAX(${t.identity}), 0)::text AS m FROM ${t.name}`);
    const copied = BigInt(String(row!.m));
    const last = source > copied ? source : copied;
    // setval(…, 1, false): nothing handed out yet, the next value is 1.
    await to.sql`SELECT setval(pg_get_serial_sequence(${t.name}, ${t.identity!}), ${String(last > 0n ? last : 1n)}::bigint, ${last > 0n})`;
    return;
  }
  // SQLite keeps sqlite_sequence at the largest rowid inserted; raise it to the source's last value if that is higher.
  const current = await lastIssued(to, t);
  if (source <= current) return;
  const updated = to.sqlite.query("UPDATE sqlite_sequence SET seq = ? WHERE name = ?").run(source, t.name);
  if (updated.changes === 0) to.sqlite.query("INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)").run(t.name, source);
}
