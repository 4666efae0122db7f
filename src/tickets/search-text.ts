// Words as the search index sees them: SQLite FTS5's unicode61 tokenizer (remove_diacritics 0) reproduced from its own tables, for the query side of both engines.
import { FOLDS, SEPARATOR_RANGES } from "./search-text-tables";

const hex = (cp: number) => `\\u{${cp.toString(16)}}`;
/** One or more separators: spaces, punctuation, symbols, combining marks, controls (every code point the tables list). */
const SEPARATORS = new RegExp(`[${SEPARATOR_RANGES.map(([a, b]) => (a === b ? hex(a) : `${hex(a)}-${hex(b)}`)).join("")}]+`, "u");
const SEPARATORS_GLOBAL = new RegExp(SEPARATORS.source, "gu");
const FOLD = new Map<string, string>(FOLDS.map(([from, to]) => [String.fromCodePoint(from), String.fromCodePoint(to)]));

/** A word folded as unicode61 folds it (ASCII and the other letters its tables name; nothing else changes). */
function fold(word: string): string {
  let out = "";
  for (const ch of word) out += FOLD.get(ch) ?? ch;
  return out;
}

/**
 * The words of `text` in order, folded: what the index holds for it (SQLite's tokenizer, and PostgreSQL's
 * ticket_search_fold, built from the same tables). `foo@Example.com` is `["foo", "example", "com"]`.
 */
export function searchWords(text: string): string[] {
  return text
    .replace(SEPARATORS_GLOBAL, " ")
    .split(" ")
    .filter((w) => w !== "")
    .map(fold);
}
