// The ticket search store: its contract (asynchronous, what the list uses) and its SQLite implementation. Skeleton: filled in by the search work.
import type { Database } from "bun:sqlite";
import { asyncStore, type Guard } from "../db/async-store";
import { perDatabase } from "../db/per-database";

// biome-ignore lint/suspicious/noEmptyInterface: the contract's methods come with the search work.
export interface TicketSearchStore {}

const statements = perDatabase((_db: Database) => ({}));

/** The SQLite implementation over one connection; `guard` see async-store.ts. */
export function sqliteTicketSearchStore(db: Database, guard?: Guard): TicketSearchStore {
  return asyncStore(statements(db), guard) satisfies TicketSearchStore;
}
