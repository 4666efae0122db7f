// The `q` search syntax: words, "exact phrases", -excluded, prefix*; parsed into words as the index holds them, and written as each engine's query (FTS5 MATCH, tsquery).
import { errors } from "../errors";
import { searchWords } from "./search-text";

/** One thing to look for: a word (one element) or a phrase (consecutive words in one text); `prefix`: the last word may go on. */
export interface SearchTerm {
  words: string[];
  prefix: boolean;
}

/** A parsed `q`: every `include` term must be found in one of the ticket's texts, no `exclude` term in any. */
export interface SearchQuery {
  include: SearchTerm[];
  exclude: SearchTerm[];
}

/** The longest `q` accepted, in characters: also keeps every word within PostgreSQL's 2046-byte lexeme limit. */
export const MAX_QUERY_LENGTH = 500;
/** The most terms (included and excluded) one `q` may hold. */
export const MAX_TERMS = 16;
/** A prefix must have at least this many characters (`re*` would read most of the index). */
export const MIN_PREFIX = 2;

function invalid(message: string) {
  return errors.invalidQuery("q", message);
}

/**
 * Parses `q`. Terms are separated by white space; `"…"` is a phrase (an unclosed quote runs to the end); a leading
 * `-` excludes the term; a trailing `*` makes the last word a prefix. A term's words are what the index makes of it
 * (`foo@example.com` is the phrase `foo example com`, `well-known` the phrase `well known`); a term without words
 * (`&&`) is ignored. 400 naming q when nothing is left, or past the limits.
 */
export function parseSearchQuery(q: string): SearchQuery {
  if ([...q].length > MAX_QUERY_LENGTH) throw invalid(`must be at most ${MAX_QUERY_LENGTH} characters.`);
  const out: SearchQuery = { include: [], exclude: [] };
  let i = 0;
  const n = q.length;
  const isSpace = (c: string) => /\s/u.test(c);
  while (i < n) {
    while (i < n && isSpace(q[i]!)) i++;
    if (i >= n) break;
    let exclude = false;
    while (i < n && q[i] === "-") {
      exclude = true;
      i++;
    }
    let text: string;
    let prefix = false;
    if (q[i] === '"') {
      const close = q.indexOf('"', i + 1);
      text = q.slice(i + 1, close === -1 ? n : close);
      i = close === -1 ? n : close + 1;
      if (q[i] === "*") {
        prefix = true;
        while (i < n && q[i] === "*") i++;
      }
    } else {
      const start = i;
      while (i < n && !isSpace(q[i]!) && q[i] !== '"') i++;
      text = q.slice(start, i);
      prefix = text.endsWith("*");
    }
    const words = searchWords(text);
    if (words.length === 0) continue;
    if (prefix && [...words.at(-1)!].length < MIN_PREFIX) throw invalid(`a prefix (word*) must have at least ${MIN_PREFIX} characters before the *.`);
    (exclude ? out.exclude : out.include).push({ words, prefix });
  }
  if (out.include.length + out.exclude.length === 0) throw invalid("must contain a word to search for.");
  if (out.include.length + out.exclude.length > MAX_TERMS) throw invalid(`may hold at most ${MAX_TERMS} words or phrases.`);
  return out;
}

/** The organization as the SQLite index holds it in its `org` column: the id without `_`, as the triggers write it. */
function orgPhrase(orgId: string): string {
  return `"${searchWords(orgId.replaceAll("_", "")).join(" ")}"`;
}

/** A term as FTS5 reads it: a quoted string (words never contain `"`), `*` for a prefix. */
function fts5Term(t: SearchTerm): string {
  return `"${t.words.join(" ")}"${t.prefix ? " *" : ""}`;
}

/** FTS5 MATCH: the organization's rows whose subject or body holds any of the terms. */
export function fts5Match(orgId: string, terms: SearchTerm[]): string {
  return `org : ${orgPhrase(orgId)} AND {subject body} : (${terms.map(fts5Term).join(" OR ")})`;
}

/** A lexeme in tsquery syntax (quoted; the index's words hold no quote or backslash, escaped anyway). */
const lexeme = (w: string) => `'${w.replace(/\\/g, "\\\\").replace(/'/g, "''")}'`;

/** A term in tsquery syntax: `'a'`, a phrase `'a' <-> 'b'`, a prefix `'a':*`. */
function tsTerm(t: SearchTerm): string {
  return t.words.map((w, i) => lexeme(w) + (t.prefix && i === t.words.length - 1 ? ":*" : "")).join(" <-> ");
}

/** tsquery text: the organization's lexeme (its id, which no word can be) and any of the terms. */
export function tsQuery(orgId: string, terms: SearchTerm[]): string {
  return `${lexeme(orgId)} & (${terms.map(tsTerm).join(" | ")})`;
}
