// Bun macro: reads src/db/postgres/migrations/ at bundle time so the PostgreSQL migrations are inlined into every build, the binary included.
import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

export interface EmbeddedPostgresMigration {
  /** The file name without `.sql`, e.g. `0000_init`. */
  tag: string;
  /** The file's number (0000 → 0): the order and identity of the migration. */
  version: number;
  /** SHA-256 of the file: a recorded migration whose file changed since is refused. */
  hash: string;
  /** The whole file, run as one multi-statement query inside the migration's transaction. */
  sql: string;
}

/** Every `NNNN_name.sql` in order; the numbers must run 0000, 0001, … without a gap (checked at bundle time). */
export function loadPostgresMigrations(): EmbeddedPostgresMigration[] {
  const dir = join(import.meta.dir, "migrations");
  const names = readdirSync(dir)
    .filter((n) => n.endsWith(".sql"))
    .sort();
  return names.map((name, i) => {
    const m = /^(\d{4})_[a-z0-9_]+\.sql$/.exec(name);
    if (!m || Number(m[1]) !== i)
      throw new Error(`src/db/postgres/migrations/${name}: expected ${String(i).padStart(4, "0")}_<name>.sql (lowercase, numbered without gaps)`);
    const sql = readFileSync(join(dir, name), "utf8");
    return { tag: name.slice(0, -4), version: i, hash: createHash("sha256").update(sql).digest("hex"), sql };
  });
}
