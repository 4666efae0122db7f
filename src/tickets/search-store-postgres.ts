// The ticket search store on PostgreSQL: the TicketSearchStore contract over postgres.js (tsvector + GIN for `q`), one statement per call, prepared per connection by its text.
import type { Sql } from "postgres";
import { hasNul } from "../db/postgres/text";
import type { Queryable, StoreMode } from "../db/postgres/writer";
import type { ListedRow, TicketSearchStore } from "./search-store";
import { type Built, countSql, termCountSql, pageSql, scoreSql, type TicketQuery, type TicketSort, walkPays } from "./search-sql";

/** Text PostgreSQL cannot hold (U+0000) in a value matches no row: the statement is not sent. */
const impossible = (b: Built) => b.params.some((v) => typeof v === "string" && hasNul(v));

/** The PostgreSQL implementation on `q` (the pool, or a unit's transaction: its reads lock nothing, they decide no write). */
export function postgresTicketSearchStore(q: Queryable, _mode: StoreMode): TicketSearchStore {
  const sql = q as Sql;
  const all = async (b: Built) => (impossible(b) ? [] : [...(await sql.unsafe<ListedRow[]>(b.sql, b.params, { prepare: true }))]);
  const number = async (b: Built) => {
    if (impossible(b)) return 0;
    const [row] = await sql.unsafe<{ n: number | string }[]>(b.sql, b.params, { prepare: true });
    return Number(row?.n ?? 0);
  };
  /** A time-sorted search page walks the sort's index when matches are dense (see TextPlan): two counts, sent together, decide. */
  const walk = async (orgId: string, f: TicketQuery, sort: TicketSort) => {
    if (!f.text?.include.length || (sort.field !== "created_at" && sort.field !== "updated_at")) return false;
    const [matches, tickets] = await Promise.all([number(termCountSql("postgres", orgId, f.text.include[0]!)), number(countSql("postgres", orgId, {}))]);
    return walkPays(matches, tickets);
  };
  return {
    page: async (orgId, f, sort, limit, offset) => all(pageSql("postgres", orgId, f, sort, limit, { offset }, await walk(orgId, f, sort))),
    pageAfter: async (orgId, f, sort, after, limit) => all(pageSql("postgres", orgId, f, sort, limit, { after }, await walk(orgId, f, sort))),
    count: (orgId, f) => number(countSql("postgres", orgId, f)),
    score: (orgId, text, ticketId) => number(scoreSql("postgres", orgId, text, ticketId)),
  };
}
