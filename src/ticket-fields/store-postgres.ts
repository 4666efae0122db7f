// The ticket fields store on PostgreSQL: the TicketFieldStore contract over postgres.js. Skeleton: filled in by the ticket fields work.
import type { Queryable, StoreMode } from "../db/postgres/writer";
import type { TicketFieldStore } from "./store";

export function postgresTicketFieldStore(_q: Queryable, _mode: StoreMode): TicketFieldStore {
  return {};
}
