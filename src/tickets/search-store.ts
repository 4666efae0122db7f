// The ticket search store: its contract (asynchronous, what the list uses) and its SQLite implementation (FTS5 for `q`), statements prepared once per database and shape.
import type { Database, Statement } from "bun:sqlite";
import { asyncStore, type Guard } from "../db/async-store";
import { perDatabase } from "../db/per-database";
import type { SearchQuery } from "./search-query";
import { type Built, countSql, termCountSql, pageSql, scoreSql, type SortKey, type TicketQuery, type TicketSort, walkPays } from "./search-sql";
import type { TicketRow } from "./store";

/** A listed ticket: its row and its relevance score for the search (0 without one). */
export type ListedRow = TicketRow & { search_score: number };

/**
 * Filters, sorts, pages and counts the tickets of one organization, with full-text search over their subject,
 * description and comments (internal notes included, redacted comments not). Every method takes the organization
 * id: no call reaches another organization's tickets or texts. Reads committed rows (outside a unit).
 */
export interface TicketSearchStore {
  /** A page in `sort` order (ties by id in the same direction), by offset. */
  page(orgId: string, q: TicketQuery, sort: TicketSort, limit: number, offset: number): Promise<ListedRow[]>;
  /** The `limit` tickets that follow the position `after` in `sort` order (keyset: no lookup of the ticket it names). */
  pageAfter(orgId: string, q: TicketQuery, sort: TicketSort, after: SortKey, limit: number): Promise<ListedRow[]>;
  /** How many tickets match, exactly: the kept counts for status and priority alone, else a COUNT. */
  count(orgId: string, q: TicketQuery): Promise<number>;
  /** The relevance score a ticket has for the search (0 when it does not match). */
  score(orgId: string, text: SearchQuery, ticketId: string): Promise<number>;
}

/** Distinct statements kept per database: shapes (which filters, how many values and terms) are few in practice. */
const MAX_STATEMENTS = 500;

function buildStore(db: Database) {
  const cache = new Map<string, Statement>();
  const prepared = (sql: string): Statement => {
    let s = cache.get(sql);
    if (!s) {
      if (cache.size >= MAX_STATEMENTS) {
        for (const old of cache.values()) old.finalize();
        cache.clear();
      }
      cache.set(sql, (s = db.prepare(sql)));
    }
    return s;
  };
  const all = (b: Built) => prepared(b.sql).all(...b.params) as ListedRow[];
  const number = (b: Built) => Number((prepared(b.sql).get(...b.params) as { n: number } | null)?.n ?? 0);
  /** A time-sorted search page walks the sort's index when matches are dense (see TextPlan): the first term's texts against the tickets decide. */
  const walk = (orgId: string, q: TicketQuery, sort: TicketSort) =>
    !!q.text?.include.length &&
    (sort.field === "created_at" || sort.field === "updated_at") &&
    walkPays(number(termCountSql("sqlite", orgId, q.text.include[0]!)), number(countSql("sqlite", orgId, {})));
  return {
    page: (orgId: string, q: TicketQuery, sort: TicketSort, limit: number, offset: number): ListedRow[] =>
      all(pageSql("sqlite", orgId, q, sort, limit, { offset }, walk(orgId, q, sort))),
    pageAfter: (orgId: string, q: TicketQuery, sort: TicketSort, after: SortKey, limit: number): ListedRow[] =>
      all(pageSql("sqlite", orgId, q, sort, limit, { after }, walk(orgId, q, sort))),
    count: (orgId: string, q: TicketQuery): number => number(countSql("sqlite", orgId, q)),
    score: (orgId: string, text: SearchQuery, ticketId: string): number => number(scoreSql("sqlite", orgId, text, ticketId)),
  };
}

const statements = perDatabase(buildStore);

/** The SQLite implementation over one connection; `guard` see async-store.ts. */
export function sqliteTicketSearchStore(db: Database, guard?: Guard): TicketSearchStore {
  return asyncStore(statements(db), guard) satisfies TicketSearchStore;
}
