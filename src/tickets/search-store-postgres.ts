// The ticket search store on PostgreSQL: the TicketSearchStore contract over postgres.js. Skeleton: filled in by the search work.
import type { Queryable, StoreMode } from "../db/postgres/writer";
import type { TicketSearchStore } from "./search-store";

export function postgresTicketSearchStore(_q: Queryable, _mode: StoreMode): TicketSearchStore {
  return {};
}
