// Bun macro: reads drizzle/ at bundle time so the migrations are inlined into every build, the binary included.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { createHash } from "node:crypto";

export interface EmbeddedMigration {
  tag: string;
  /** drizzle-kit's journal time; the order and identity drizzle uses. */
  when: number;
  hash: string;
  statements: string[];
}

export function loadMigrations(): EmbeddedMigration[] {
  const dir = join(import.meta.dir, "..", "..", "drizzle");
  const journal = JSON.parse(readFileSync(join(dir, "meta", "_journal.json"), "utf8")) as {
    entries: { tag: string; when: number }[];
  };
  return journal.entries.map((e) => {
    const sql = readFileSync(join(dir, `${e.tag}.sql`), "utf8");
    return {
      tag: e.tag,
      when: e.when,
      hash: createHash("sha256").update(sql).digest("hex"),
      statements: sql
        .split("--> statement-breakpoint")
        .map((s) => s.trim())
        .filter(Boolean),
    };
  });
}
