// The ticket list's SQL, built once for both engines from the filters, the sort and the page: the same predicate for the page, its keyset and its count; only the text search and JSON differ by dialect.
import { columnNames } from "../db/schema/raw-row";
import { type TicketPriority, type TicketStatus, tickets } from "../db/schema/tickets";
import { fts5Match, type SearchQuery, type SearchTerm, tsQuery } from "./search-query";

export type Dialect = "sqlite" | "postgres";

/** What the list can be sorted by; `relevance` only with a search. */
export type SortField = "created_at" | "updated_at" | "priority" | "relevance";
export interface TicketSort {
  field: SortField;
  /** Descending (`-created_at`); relevance is always best first. */
  desc: boolean;
}

/** A position in a sort: the ticket's sort value (time in ms, priority rank, relevance score) and its id. */
export interface SortKey {
  value: number;
  id: string;
}

/** A custom field filter: the field's key and the value as its type holds it (ticket-fields' fieldFilterValue). */
export interface CustomFieldFilter {
  key: string;
  value: string | number | boolean;
}

/** The list's filters; an absent one matches everything, and all of them must hold. Times are ms, exclusive. */
export interface TicketQuery {
  status?: TicketStatus[];
  priority?: TicketPriority[];
  /** A user id, or null for unassigned tickets. */
  assignee?: string | null;
  requester?: string;
  /** Every one of these tags. */
  tags?: string[];
  custom?: CustomFieldFilter[];
  createdAfter?: number;
  createdBefore?: number;
  updatedAfter?: number;
  updatedBefore?: number;
  text?: SearchQuery;
}

/** A statement and its parameters in order (`?` on SQLite, `$n` with a type cast on PostgreSQL). */
export interface Built {
  sql: string;
  params: (string | number)[];
}

/** Priorities by rank (low 0 … urgent 3): the order `sort=priority` uses. */
export const PRIORITY_RANK: Record<TicketPriority, number> = { low: 0, medium: 1, high: 2, urgent: 3 };
const RANK = (col: string) => `(CASE ${col} WHEN 'low' THEN 0 WHEN 'medium' THEN 1 WHEN 'high' THEN 2 ELSE 3 END)`;

/** A search's relevance: each (term, text) match counts, the ticket's own subject and description twice a comment. */
const WEIGHT = (key: string, ticket: string) => `CASE WHEN ${key} = ${ticket} THEN 2 ELSE 1 END`;

const COLUMNS = columnNames(tickets)
  .map((c) => `t.${c}`)
  .join(", ");

class Params {
  readonly list: (string | number)[] = [];
  constructor(private readonly dialect: Dialect) {}
  /** A placeholder for `v`; on PostgreSQL typed, since it cannot infer a type inside a row comparison. */
  add(v: string | number, type: "text" | "bigint" | "jsonb" | "tsquery"): string {
    this.list.push(v);
    if (this.dialect === "sqlite") return "?";
    // jsonb and tsquery are sent as text and converted by the server (the client would encode a jsonb value again).
    return type === "jsonb" || type === "tsquery" ? `($${this.list.length}::text)::${type}` : `$${this.list.length}::${type}`;
  }
}

/** True when only status and priority filter: the kept counts (ticket_counts) give the total. */
export function countsAnswer(q: TicketQuery): boolean {
  return (
    !q.tags?.length &&
    !q.custom?.length &&
    q.assignee === undefined &&
    q.requester === undefined &&
    q.createdAfter === undefined &&
    q.createdBefore === undefined &&
    q.updatedAfter === undefined &&
    q.updatedBefore === undefined &&
    q.text === undefined
  );
}

/**
 * How a search meets the other filters. `join`: the matches first (the CTE `m`), each joined to its ticket — for
 * few matches, relevance, and counts. `walk`: the list's own index walk in sort order, each ticket checked against
 * the matches — for many matches, where a page needs only its first rows (see walkPays).
 */
export type TextPlan = "join" | "walk";

/** Walk rather than join when at least one ticket in this many matches: a page then reads ~this many × per_page rows. */
export const WALK_DENSITY = 50;

/** True when a time-sorted page of a search should walk the sort's index (matches, or texts matching, are dense among the tickets). */
export function walkPays(matches: number, orgTickets: number): boolean {
  return matches * WALK_DENSITY >= orgTickets;
}

/** The CTE `m` of a search: per included term, the organization's texts that match it, grouped by ticket, with its score. */
function matchesCte(dialect: Dialect, orgId: string, text: SearchQuery, p: Params): string {
  const include = text.include;
  const all = include.length > 1 ? ` HAVING COUNT(DISTINCT h.term) = ${include.length}` : "";
  if (dialect === "sqlite") {
    // A text's rowid is its ticket's number × 2^20 plus its turn (0: the ticket's own text): no lookup per match.
    const hits = include.map(
      (term, i) =>
        `SELECT rowid >> 20 AS num, ${i} AS term, CASE WHEN (rowid & 1048575) = 0 THEN 2 ELSE 1 END AS w FROM ticket_search WHERE ticket_search MATCH ${p.add(fts5Match(orgId, [term]), "text")}`,
    );
    return `WITH m AS (SELECT h.num AS num, SUM(h.w) AS score FROM (${hits.join(" UNION ALL ")}) AS h GROUP BY h.num${all}) `;
  }
  const hits = include.map(
    (term, i) =>
      `SELECT ticket_id, ${i} AS term, ${WEIGHT("key", "ticket_id")} AS w FROM ticket_search WHERE doc @@ ${p.add(tsQuery(orgId, [term]), "tsquery")}`,
  );
  return `WITH m AS (SELECT h.ticket_id AS ticket_id, SUM(h.w)::bigint AS score FROM (${hits.join(" UNION ALL ")}) AS h GROUP BY h.ticket_id${all}) `;
}

/** One term's tickets (SQLite: their numbers), each once or more. */
function termTickets(dialect: Dialect, orgId: string, term: SearchTerm, p: Params): string {
  return dialect === "sqlite"
    ? `SELECT rowid >> 20 FROM ticket_search WHERE ticket_search MATCH ${p.add(fts5Match(orgId, [term]), "text")}`
    : `SELECT ticket_id FROM ticket_search WHERE doc @@ ${p.add(tsQuery(orgId, [term]), "tsquery")}`;
}

/**
 * How many of the organization's texts match one term: a cheap estimate of a search's size (an index count, no
 * grouping, no rows read on SQLite), for walkPays.
 */
export function termCountSql(dialect: Dialect, orgId: string, term: SearchTerm): Built {
  const p = new Params(dialect);
  const sql =
    dialect === "sqlite"
      ? `SELECT COUNT(*) AS n FROM ticket_search WHERE ticket_search MATCH ${p.add(fts5Match(orgId, [term]), "text")}`
      : `SELECT COUNT(*)::bigint AS n FROM ticket_search WHERE doc @@ ${p.add(tsQuery(orgId, [term]), "tsquery")}`;
  return { sql, params: p.list };
}

/** The excluded terms' tickets (SQLite: their numbers), for a NOT IN. */
function excludedSql(dialect: Dialect, orgId: string, text: SearchQuery, p: Params): string {
  return dialect === "sqlite"
    ? `SELECT rowid >> 20 FROM ticket_search WHERE ticket_search MATCH ${p.add(fts5Match(orgId, text.exclude), "text")}`
    : `SELECT ticket_id FROM ticket_search WHERE doc @@ ${p.add(tsQuery(orgId, text.exclude), "tsquery")}`;
}

/**
 * The WITH, FROM and WHERE of a list or count: the organization's tickets matching every filter. With a tag and a
 * time sort the walk starts from ticket_tags (its (org, tag, created_at) and (org, tag, status, updated_at) indexes
 * hold the ticket's status and times), so a tag + status + updated_at page is one index walk; other tags are EXISTS
 * checks on its primary key. A search joins or walks (TextPlan): SQLite reaches a ticket's number through
 * ticket_search_tickets (CROSS JOIN fixes the join order), PostgreSQL joins on the ticket id (a LATERAL lookup per
 * match, or a hashed check per walked ticket).
 */
function predicate(dialect: Dialect, orgId: string, q: TicketQuery, sort: TicketSort | null, plan: TextPlan, p: Params, needTicket: boolean) {
  const include = q.text?.include ?? [];
  const exclude = q.text?.exclude ?? [];
  const joined = include.length > 0 && plan === "join";
  const tags = q.tags ?? [];
  const byTag = !joined && tags.length > 0 && (sort === null || sort.field === "created_at" || sort.field === "updated_at");
  const col = (c: "status" | "created_at" | "updated_at" | "id") => (byTag ? `g.${c === "id" ? "ticket_id" : c}` : `t.${c}`);
  // A walk checks membership only: the tickets of every term (INTERSECT), no scores, no grouping.
  const withClause = joined ? matchesCte(dialect, orgId, q.text!, p) : "";
  const where: string[] = [];
  let from: string;
  if (joined) {
    if (dialect === "sqlite") {
      from = "m CROSS JOIN ticket_search_tickets s CROSS JOIN tickets t";
      where.push("s.num = m.num", "t.id = s.ticket_id", `t.org_id = ${p.add(orgId, "text")}`);
    } else {
      // OFFSET 0 keeps the lookup a nested loop over the matches (the planner would hash-join the whole table).
      from = `m CROSS JOIN LATERAL (SELECT * FROM tickets x WHERE x.id = m.ticket_id AND x.org_id = ${p.add(orgId, "text")} OFFSET 0) AS t`;
      where.push("t.id = m.ticket_id");
    }
  } else if (byTag) {
    from = `ticket_tags g${needTicket ? " JOIN tickets t ON t.id = g.ticket_id" : ""}`;
    where.push(`g.org_id = ${p.add(orgId, "text")}`, `g.tag = ${p.add(tags[0]!, "text")}`);
  } else {
    from = "tickets t";
    where.push(`t.org_id = ${p.add(orgId, "text")}`);
  }
  // SQLite's search checks go by the ticket's number: the walked ticket's, through its ticket_search_tickets row.
  const sqliteNum = !joined && dialect === "sqlite" && (include.length > 0 || exclude.length > 0);
  if (sqliteNum) from += " CROSS JOIN ticket_search_tickets s";
  if (!joined && include.length) {
    const set = include.map((term) => termTickets(dialect, orgId, term, p)).join(" INTERSECT ");
    // Unary +: SQLite checks the number per walked row instead of seeking once per match.
    if (dialect === "sqlite") where.push(`s.ticket_id = ${col("id")}`, `+s.num IN (${set})`);
    // In a CASE, the IN stays a hashed subplan checked per walked row instead of becoming a join.
    else where.push(`(CASE WHEN ${col("id")} IN (${set}) THEN true ELSE false END)`);
  } else if (sqliteNum) where.push(`s.ticket_id = ${col("id")}`);
  for (const tag of byTag ? tags.slice(1) : tags) {
    where.push(
      `EXISTS (SELECT 1 FROM ticket_tags x WHERE x.org_id = ${p.add(orgId, "text")} AND x.tag = ${p.add(tag, "text")} AND x.ticket_id = ${col("id")})`,
    );
  }
  const oneOf = (c: string, values: readonly string[]) =>
    values.length === 1 ? `${c} = ${p.add(values[0]!, "text")}` : `${c} IN (${values.map((v) => p.add(v, "text")).join(", ")})`;
  if (q.status?.length) where.push(oneOf(col("status"), q.status));
  if (q.priority?.length) where.push(oneOf("t.priority", q.priority));
  if (q.assignee === null) where.push("t.assignee_id IS NULL");
  else if (q.assignee !== undefined) where.push(`t.assignee_id = ${p.add(q.assignee, "text")}`);
  if (q.requester !== undefined) where.push(`t.requester_id = ${p.add(q.requester, "text")}`);
  if (q.createdAfter !== undefined) where.push(`${col("created_at")} > ${p.add(q.createdAfter, "bigint")}`);
  if (q.createdBefore !== undefined) where.push(`${col("created_at")} < ${p.add(q.createdBefore, "bigint")}`);
  if (q.updatedAfter !== undefined) where.push(`${col("updated_at")} > ${p.add(q.updatedAfter, "bigint")}`);
  if (q.updatedBefore !== undefined) where.push(`${col("updated_at")} < ${p.add(q.updatedBefore, "bigint")}`);
  for (const f of q.custom ?? []) {
    if (dialect === "sqlite") {
      // json_extract gives a JSON true/false as 1/0, a number as a number, a string as text: compared by type.
      const value = typeof f.value === "boolean" ? (f.value ? 1 : 0) : f.value;
      where.push(`json_extract(t.custom_fields, ${p.add(`$.${f.key}`, "text")}) = ${p.add(value, "text")}`);
    } else {
      where.push(`(t.custom_fields::jsonb -> ${p.add(f.key, "text")}) = ${p.add(JSON.stringify(f.value), "jsonb")}`);
    }
  }
  if (exclude.length) {
    const subject = dialect === "sqlite" ? (joined ? "m.num" : "s.num") : joined ? "m.ticket_id" : col("id");
    where.push(`${subject} NOT IN (${excludedSql(dialect, orgId, q.text!, p)})`);
  }
  return { withClause, from, where, col };
}

/** The sort's value of a row as the list computes it (ms for times, the rank for priority; relevance: its score). */
function sortExpr(sort: TicketSort, q: TicketQuery, plan: TextPlan, col: (c: "created_at" | "updated_at" | "id") => string): string {
  switch (sort.field) {
    case "created_at":
      return col("created_at");
    case "updated_at":
      return col("updated_at");
    case "priority":
      return RANK("t.priority");
    case "relevance":
      return q.text?.include.length && plan === "join" ? "m.score" : "0";
  }
}

/** The plan a page uses: walk only when asked, for a time sort, with terms to match. */
function pagePlan(q: TicketQuery, sort: TicketSort, walk: boolean): TextPlan {
  return walk && (sort.field === "created_at" || sort.field === "updated_at") && (q.text?.include.length ?? 0) > 0 ? "walk" : "join";
}

/**
 * One page of the list: by offset, or after a position (keyset: the rows that follow `after` in the order, found by
 * the same predicate plus a row-value comparison on (sort value, id)). Rows carry `search_score` (0 without a search,
 * and in a walk, whose time sort does not need it). `walk`: see TextPlan (the store decides by walkPays).
 */
export function pageSql(
  dialect: Dialect,
  orgId: string,
  q: TicketQuery,
  sort: TicketSort,
  limit: number,
  at: { offset: number } | { after: SortKey },
  walk = false,
): Built {
  if (sort.field === "relevance" && searchOnly(q)) return bestMatchesSql(dialect, orgId, q.text!, limit, at);
  const p = new Params(dialect);
  const plan = pagePlan(q, sort, walk);
  const { withClause, from, where, col } = predicate(dialect, orgId, q, sort, plan, p, true);
  const key = sortExpr(sort, q, plan, col);
  const dir = sort.desc ? "DESC" : "ASC";
  if ("after" in at) {
    const value = p.add(at.after.value, "bigint");
    const id = p.add(at.after.id, "text");
    where.push(`(${key}, ${col("id")}) ${sort.desc ? "<" : ">"} (${value}, ${id})`);
  }
  const score = q.text?.include.length && plan === "join" ? "m.score" : "0";
  let sql = `${withClause}SELECT ${COLUMNS}, ${score} AS search_score FROM ${from} WHERE ${where.join(" AND ")} ORDER BY ${key} ${dir}, ${col("id")} ${dir} LIMIT ${p.add(limit, "bigint")}`;
  if ("offset" in at) sql += ` OFFSET ${p.add(at.offset, "bigint")}`;
  return { sql, params: p.list };
}

/**
 * A relevance page of a search without other filters: the page is cut from the matches (score, ticket id) before any
 * ticket row is read, so a search matching half the organization reads one page of tickets, not all of them.
 */
function bestMatchesSql(dialect: Dialect, orgId: string, text: SearchQuery, limit: number, at: { offset: number } | { after: SortKey }): Built {
  const p = new Params(dialect);
  const withClause = matchesCte(dialect, orgId, text, p);
  const id = dialect === "sqlite" ? "s.ticket_id" : "m.ticket_id";
  const where: string[] = dialect === "sqlite" ? ["s.num = m.num"] : [];
  if (text.exclude.length) where.push(`${dialect === "sqlite" ? "m.num" : "m.ticket_id"} NOT IN (${excludedSql(dialect, orgId, text, p)})`);
  if ("after" in at) where.push(`(m.score, ${id}) < (${p.add(at.after.value, "bigint")}, ${p.add(at.after.id, "text")})`);
  const from = dialect === "sqlite" ? "m CROSS JOIN ticket_search_tickets s" : "m";
  const cut = `SELECT ${id} AS ticket_id, m.score AS score FROM ${from}${where.length ? ` WHERE ${where.join(" AND ")}` : ""} ORDER BY m.score DESC, ${id} DESC LIMIT ${p.add(limit, "bigint")}${"offset" in at ? ` OFFSET ${p.add(at.offset, "bigint")}` : ""}`;
  const tickets =
    dialect === "sqlite"
      ? `(${cut}) AS r CROSS JOIN tickets t WHERE t.id = r.ticket_id AND t.org_id = ${p.add(orgId, "text")}`
      : `(${cut}) AS r CROSS JOIN LATERAL (SELECT * FROM tickets x WHERE x.id = r.ticket_id AND x.org_id = ${p.add(orgId, "text")} OFFSET 0) AS t`;
  return { sql: `${withClause}SELECT ${COLUMNS}, r.score AS search_score FROM ${tickets} ORDER BY r.score DESC, t.id DESC`, params: p.list };
}

/** True when the search is the only filter: its matches are the answer, and counting them needs no ticket row. */
function searchOnly(q: TicketQuery): boolean {
  return !!q.text?.include.length && !q.status?.length && !q.priority?.length && countsAnswer({ ...q, text: undefined });
}

/**
 * How many tickets match: from the kept counts when only status and priority filter (a sum of at most 16 rows), the
 * matches alone for a search without other filters, else a COUNT over the page's predicate (on ticket_tags' index
 * alone when tags, status and times are all it needs).
 */
export function countSql(dialect: Dialect, orgId: string, q: TicketQuery): Built {
  const p = new Params(dialect);
  const count = dialect === "sqlite" ? "COUNT(*)" : "COUNT(*)::bigint";
  if (countsAnswer(q)) {
    const where = [`org_id = ${p.add(orgId, "text")}`];
    if (q.status?.length) where.push(`status IN (${q.status.map((s) => p.add(s, "text")).join(", ")})`);
    if (q.priority?.length) where.push(`priority IN (${q.priority.map((s) => p.add(s, "text")).join(", ")})`);
    const sum = dialect === "sqlite" ? "COALESCE(SUM(count), 0)" : "COALESCE(SUM(count), 0)::bigint";
    return { sql: `SELECT ${sum} AS n FROM ticket_counts WHERE ${where.join(" AND ")}`, params: p.list };
  }
  if (searchOnly(q)) {
    const withClause = matchesCte(dialect, orgId, q.text!, p);
    const subject = dialect === "sqlite" ? "num" : "ticket_id";
    const where = q.text!.exclude.length ? ` WHERE ${subject} NOT IN (${excludedSql(dialect, orgId, q.text!, p)})` : "";
    return { sql: `${withClause}SELECT ${count} AS n FROM m${where}`, params: p.list };
  }
  // With tags, ticket_tags holds the ticket's id, status and times: the ticket row is read only for the other filters.
  const needTicket = !q.tags?.length || !!q.priority?.length || q.assignee !== undefined || q.requester !== undefined || !!q.custom?.length;
  const { withClause, from, where } = predicate(dialect, orgId, q, null, "join", p, needTicket);
  return { sql: `${withClause}SELECT ${count} AS n FROM ${from} WHERE ${where.join(" AND ")}`, params: p.list };
}

/** A ticket's relevance score for a search (0 when it does not match): the position `starting_after` it gives. */
export function scoreSql(dialect: Dialect, orgId: string, text: SearchQuery, ticketId: string): Built {
  if (!text.include.length) return { sql: "SELECT 0 AS n", params: [] };
  const p = new Params(dialect);
  const withClause = matchesCte(dialect, orgId, text, p);
  const where =
    dialect === "sqlite"
      ? `m.num = (SELECT num FROM ticket_search_tickets WHERE ticket_id = ${p.add(ticketId, "text")})`
      : `m.ticket_id = ${p.add(ticketId, "text")}`;
  return { sql: `${withClause}SELECT COALESCE(MAX(m.score), 0) AS n FROM m WHERE ${where}`, params: p.list };
}
