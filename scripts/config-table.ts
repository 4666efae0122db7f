// Writes the configuration table, generated from OPTIONS in src/config.ts, between the markers in README.md.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { optionsMarkdownTable } from "../src/config";

export const TABLE_START = "<!-- config-table:start -->";
export const TABLE_END = "<!-- config-table:end -->";
export const README_PATH = join(import.meta.dir, "..", "README.md");

/** The text between the markers (trimmed), or undefined when a marker is missing or out of order. */
export function readConfigTable(markdown: string): string | undefined {
  const start = markdown.indexOf(TABLE_START);
  const end = markdown.indexOf(TABLE_END);
  if (start === -1 || end < start) return undefined;
  return markdown.slice(start + TABLE_START.length, end).trim();
}

/** The markdown with `table` between the markers; throws when they are missing, so nothing is appended blindly. */
export function spliceConfigTable(markdown: string, table: string): string {
  const start = markdown.indexOf(TABLE_START);
  const end = markdown.indexOf(TABLE_END);
  if (start === -1 || end < start) throw new Error(`README.md needs the markers ${TABLE_START} and ${TABLE_END}, in that order`);
  return `${markdown.slice(0, start + TABLE_START.length)}\n${table}\n${markdown.slice(end)}`;
}

if (import.meta.main) {
  const before = readFileSync(README_PATH, "utf8");
  const after = spliceConfigTable(before, optionsMarkdownTable());
  if (after === before) console.log("README.md: configuration table already up to date");
  else {
    writeFileSync(README_PATH, after);
    console.log("README.md: configuration table rewritten from OPTIONS");
  }
}
