// The contacts store: its contract (asynchronous, what services use) and its SQLite implementation. Skeleton: filled in by the contacts work.
import type { Database } from "bun:sqlite";
import { asyncStore, type Guard } from "../db/async-store";
import { perDatabase } from "../db/per-database";

// biome-ignore lint/suspicious/noEmptyInterface: the contract's methods come with the contacts work.
export interface ContactStore {}

const statements = perDatabase((_db: Database) => ({}));

/** The SQLite implementation over one connection; `guard` see async-store.ts. */
export function sqliteContactStore(db: Database, guard?: Guard): ContactStore {
  return asyncStore(statements(db), guard) satisfies ContactStore;
}
