// The search's words, one tokenization on every side: SQLite's FTS5 unicode61 (the reference), the query side (src/tickets/search-text.ts) and PostgreSQL's ticket_search_words, for every code point.
import { afterAll, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import type { Sql } from "postgres";
import { openPostgres } from "../src/db/postgres/client";
import { migratePostgres } from "../src/db/postgres/migrate";
import { searchWords } from "../src/tickets/search-text";
import { freshDatabase, postgresUrl } from "./services/postgres";

/** Every code point (surrogates excepted) between two letters, in chunks: `x<c>y x<c>y …`. */
function chunks(size: number): string[] {
  const out: string[] = [];
  let part: string[] = [];
  for (let cp = 1; cp <= 0x10ffff; cp++) {
    if (cp >= 0xd800 && cp <= 0xdfff) continue;
    part.push(`x${String.fromCodePoint(cp)}y`);
    if (part.length === size) {
      out.push(part.join(" "));
      part = [];
    }
  }
  if (part.length) out.push(part.join(" "));
  return out;
}

const CHUNKS = chunks(65_536);
const SAMPLES = [
  "Café NAÏVE façade — «quoted» ‘single’ “double”",
  "foo@Example.COM, https://example.com/a-b?c=d#e user.name+tag@mail.co.uk",
  "well-known e-mail A-1001 #42 $100 3.14 1e5 2026-02-25T14:30:00Z 10:30",
  "ΣΊΣΥΦΟΣ ς Straße ẞ İstanbul ǅ µ ſ K Å ﬁ Ⅻ ①",
  "Привет, мир! 日本語のテキスト 한국어 עברית العربية हिन्दी",
  "snake_case camelCase kebab-case dot.case slash/case back\\slash 'apos' \"quote\"",
  "e\u0301 (decomposed) \u00e9 (composed) zero\u200Bwidth soft\u00ADhyphen emoji😀x 🤣y",
  "tab\tnew\nline\r\ncarriage",
];

describe("the query side tokenizes as SQLite's unicode61 does", () => {
  test("every code point: the same words (separators, folds) from the JavaScript tables and from FTS5", () => {
    const db = new Database(":memory:");
    db.run(`CREATE VIRTUAL TABLE probe USING fts5(body, tokenize = "unicode61 remove_diacritics 0")`);
    db.run(`CREATE VIRTUAL TABLE probe_terms USING fts5vocab(probe, instance)`);
    const insert = db.prepare("INSERT INTO probe (rowid, body) VALUES (?, ?)");
    const texts = [...CHUNKS, ...SAMPLES];
    texts.forEach((text, i) => insert.run(i + 1, text));
    const words = new Map<number, string[]>();
    for (const r of db.query("SELECT doc, term FROM probe_terms ORDER BY doc, offset").all() as { doc: number; term: string }[]) {
      let list = words.get(r.doc);
      if (!list) words.set(r.doc, (list = []));
      list.push(r.term);
    }
    texts.forEach((text, i) => {
      const fts = words.get(i + 1) ?? [];
      const js = searchWords(text);
      if (js.length !== fts.length || js.some((w, j) => w !== fts[j])) {
        const at = js.findIndex((w, j) => w !== fts[j]);
        expect({ chunk: i, at, js: js.slice(at, at + 3) }).toEqual({ chunk: i, at, js: fts.slice(at, at + 3) });
      }
    });
    db.close();
  });

  test("examples: e-mail addresses, hyphens, digits and punctuation split; letters fold; symbols separate", () => {
    expect(searchWords("foo@Example.COM")).toEqual(["foo", "example", "com"]);
    expect(searchWords("well-known A-1001 $100 3.14")).toEqual(["well", "known", "a", "1001", "100", "3", "14"]);
    expect(searchWords("ΣΊΣΥΦΟΣ Straße CAFÉ")).toEqual(["σίσυφοσ", "straße", "café"]);
    // Not normalized: a decomposed é (e + U+0301) is another word than the composed one, on every side.
    expect(searchWords("e\u0301t\u00e9 \u00e9t\u00e9")).toEqual(["e\u0301t\u00e9", "\u00e9t\u00e9"]);
    expect(searchWords("日本語のテキスト")).toEqual(["日本語のテキスト"]);
    expect(searchWords("  ,,, ")).toEqual([]);
  });
});

const base = await postgresUrl();
let sql: Sql | undefined;
let drop: (() => Promise<void>) | undefined;
afterAll(async () => {
  await sql?.end();
  await drop?.();
});

describe.skipIf(!base)("PostgreSQL's ticket_search_words tokenizes the same way", () => {
  test("every code point, whatever the database's locale: the same words as the query side (and so as SQLite)", async () => {
    const fresh = await freshDatabase();
    drop = fresh.drop;
    sql = openPostgres({ url: fresh.url, poolSize: 2, statementTimeoutMs: 60_000 }).sql;
    await migratePostgres(sql);
    for (const [i, text] of [...CHUNKS, ...SAMPLES].entries()) {
      const [row] = await sql<{ words: string[] }[]>`SELECT ticket_search_words(${text}) AS words`;
      const js = searchWords(text);
      const pg = row!.words;
      if (js.length !== pg.length || js.some((w, j) => w !== pg[j])) {
        const at = js.findIndex((w, j) => w !== pg[j]);
        expect({ chunk: i, at, js: js.slice(at, at + 3) }).toEqual({ chunk: i, at, js: pg.slice(at, at + 3) });
      }
    }
  }, 60_000);

  test("a text's vector: its words with positions, the description after a gap, the organization's lexeme", async () => {
    const [row] = await sql!<{ v: string }[]>`SELECT ticket_search_vector('org_abc', 'Refund please', 'Card-123') ::text AS v`;
    expect(row!.v).toBe("'123':5 'card':4 'org_abc' 'please':2 'refund':1");
  });
});
