// One instance per open database: the data modules build their prepared statements once per connection.
import type { Database } from "bun:sqlite";

/** Wraps `build` so it runs once per Database (on first use) and later calls get the same result. */
export function perDatabase<T>(build: (db: Database) => T): (db: Database) => T {
  const built = new WeakMap<Database, T>();
  return (db) => {
    let value = built.get(db);
    if (value === undefined) built.set(db, (value = build(db)));
    return value;
  };
}
