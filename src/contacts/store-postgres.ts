// The contacts store on PostgreSQL: the ContactStore contract over postgres.js. Skeleton: filled in by the contacts work.
import type { Queryable, StoreMode } from "../db/postgres/writer";
import type { ContactStore } from "./store";

export function postgresContactStore(_q: Queryable, _mode: StoreMode): ContactStore {
  return {};
}
