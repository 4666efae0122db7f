// The ticket fields store: its contract (asynchronous, what services use) and its SQLite implementation. Skeleton: filled in by the ticket fields work.
import type { Database } from "bun:sqlite";
import { asyncStore, type Guard } from "../db/async-store";
import { perDatabase } from "../db/per-database";

// biome-ignore lint/suspicious/noEmptyInterface: the contract's methods come with the ticket fields work.
export interface TicketFieldStore {}

const statements = perDatabase((_db: Database) => ({}));

/** The SQLite implementation over one connection; `guard` see async-store.ts. */
export function sqliteTicketFieldStore(db: Database, guard?: Guard): TicketFieldStore {
  return asyncStore(statements(db), guard) satisfies TicketFieldStore;
}
