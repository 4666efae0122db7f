// Docs that cannot drift: README's configuration table equals OPTIONS, every CLI command is listed, every env name
// exists, and every relative link and #anchor in README.md and docs/*.md resolves.
import { describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { MAIN_HELP } from "../src/cli/help";
import { OPTIONS, optionsMarkdownTable } from "../src/config";
import { readConfigTable, README_PATH, spliceConfigTable, TABLE_END, TABLE_START } from "../scripts/config-table";

const ROOT = join(import.meta.dir, "..");
const DOCS_DIR = join(ROOT, "docs");
const MARKDOWN_FILES = [
  README_PATH,
  ...(existsSync(DOCS_DIR)
    ? readdirSync(DOCS_DIR)
        .filter((f) => f.endsWith(".md"))
        .map((f) => join(DOCS_DIR, f))
    : []),
];
const readme = readFileSync(README_PATH, "utf8");

/** The lines of a markdown file outside fenced code blocks (a `#` in a shell block is not a heading). */
function proseLines(markdown: string): string[] {
  const out: string[] = [];
  let fence: string | undefined;
  for (const line of markdown.split("\n")) {
    const m = /^\s*(`{3,}|~{3,})/.exec(line);
    if (m) {
      if (!fence) fence = m[1]![0];
      else if (m[1]![0] === fence) fence = undefined;
      continue;
    }
    if (!fence) out.push(line);
  }
  return out;
}

/** GitHub's heading anchors: rendered text, lower-cased, punctuation dropped, spaces to hyphens, repeats numbered. */
function headingAnchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const anchors = new Set<string>();
  for (const line of proseLines(markdown)) {
    const m = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!m) continue;
    const textOnly = m[1]!.replace(/!?\[([^\]]*)\]\([^)]*\)/g, "$1").replace(/[`*~]/g, "");
    const base = textOnly
      .toLowerCase()
      .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, "")
      .replace(/ /g, "-");
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    anchors.add(n === 0 ? base : `${base}-${n}`);
  }
  return anchors;
}

interface Link {
  file: string;
  target: string;
}

/** Inline links and images outside code (spans and blocks), e.g. `[text](docs/api.md#errors)`. */
function linksOf(file: string): Link[] {
  const prose = proseLines(readFileSync(file, "utf8"))
    .join("\n")
    .replace(/`[^`\n]*`/g, "");
  return [...prose.matchAll(/!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)].map((m) => ({ file, target: m[1]! }));
}

const isExternal = (target: string) => /^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith("//");

describe("README configuration table", () => {
  test("equals the table generated from OPTIONS", () => {
    const table = readConfigTable(readme);
    expect(table, `README.md needs ${TABLE_START} … ${TABLE_END}`).toBeDefined();
    const expected = optionsMarkdownTable();
    if (table !== expected) {
      const have = table!.split("\n");
      const want = expected.split("\n");
      const i = want.findIndex((line, n) => have[n] !== line);
      const at = i === -1 ? have.length : i;
      throw new Error(
        `README.md's configuration table is out of date: run \`bun scripts/config-table.ts\`\n` +
          `  first difference at table line ${at + 1}:\n  README:    ${have[at] ?? "(missing)"}\n  generated: ${want[at] ?? "(missing)"}`,
      );
    }
    expect(spliceConfigTable(readme, expected)).toBe(readme);
  });

  test("has one row per option, flag and environment names included", () => {
    const rows = readConfigTable(readme)!.split("\n").slice(2);
    expect(rows.length).toBe(OPTIONS.length);
    for (const [i, o] of OPTIONS.entries()) {
      expect(rows[i]).toStartWith(`| \`--${o.flag}\` |`);
      for (const env of o.env) expect(rows[i]).toContain(`\`${env}\``);
    }
  });

  test("the script refuses a README without the markers instead of appending", () => {
    expect(() => spliceConfigTable("# no markers\n", optionsMarkdownTable())).toThrow(TABLE_START);
    expect(spliceConfigTable(`a\n${TABLE_START}\nold\n${TABLE_END}\nb\n`, "T")).toBe(`a\n${TABLE_START}\nT\n${TABLE_END}\nb\n`);
  });
});

describe("README admin commands", () => {
  test("lists every command and subcommand of `clientcove --help`", () => {
    const section = readme.slice(readme.indexOf("## Admin commands"), readme.indexOf("\n## ", readme.indexOf("## Admin commands") + 1));
    const commandsBlock = MAIN_HELP.slice(MAIN_HELP.indexOf("Commands:"), MAIN_HELP.indexOf("\n\n", MAIN_HELP.indexOf("Commands:")));
    const expected: string[] = [];
    for (const line of commandsBlock.split("\n").slice(1)) {
      const m = /^ {2}([a-z]+)(?: ([a-z]+(?:\|[a-z]+)*)(?=\s|$))?/.exec(line);
      if (!m) continue;
      for (const sub of m[2]?.split("|") ?? [""]) expected.push(`clientcove ${m[1]}${sub ? ` ${sub}` : ""}`);
    }
    expect(expected.length).toBeGreaterThan(10);
    const missing = expected.filter((c) => !section.includes(`\`${c} `) && !section.includes(`\`${c}\``));
    expect(missing, "README.md's Admin commands table is missing these commands").toEqual([]);
  });
});

describe("README.md and docs/*.md", () => {
  test("every CLIENTCOVE_* variable they name is an option's environment variable", () => {
    const known = new Set(OPTIONS.flatMap((o) => o.env));
    // Not ours: the receiver's own variable in the signature-verification example.
    const foreign = new Set(["CLIENTCOVE_WEBHOOK_SECRET"]);
    const unknown = MARKDOWN_FILES.flatMap((f) =>
      [...readFileSync(f, "utf8").matchAll(/\bCLIENTCOVE_[A-Z0-9_]*[A-Z0-9]\b/g)]
        .map((m) => m[0])
        // CLIENTCOVE_TEST_*: the test suite's own (which PostgreSQL or S3 server to use), not the product's.
        .filter((name) => !known.has(name) && !foreign.has(name) && !name.startsWith("CLIENTCOVE_TEST_"))
        .map((name) => `${relative(ROOT, f)}: ${name}`),
    );
    expect(unknown).toEqual([]);
  });

  test("every relative link points at an existing file, and every #anchor at a heading", () => {
    const links = MARKDOWN_FILES.flatMap(linksOf).filter((l) => !isExternal(l.target));
    expect(links.length).toBeGreaterThan(10);
    const broken: string[] = [];
    for (const { file, target } of links) {
      const hash = target.indexOf("#");
      const pathPart = decodeURIComponent(hash === -1 ? target : target.slice(0, hash));
      const anchor = hash === -1 ? undefined : decodeURIComponent(target.slice(hash + 1));
      const resolved = pathPart === "" ? file : resolve(dirname(file), pathPart);
      const where = `${relative(ROOT, file)}: (${target})`;
      if (!existsSync(resolved)) {
        broken.push(`${where}: no file ${relative(ROOT, resolved)}`);
        continue;
      }
      if (anchor !== undefined && resolved.endsWith(".md") && !headingAnchors(readFileSync(resolved, "utf8")).has(anchor)) {
        broken.push(`${where}: no heading #${anchor} in ${relative(ROOT, resolved)}`);
      }
    }
    expect(broken).toEqual([]);
  });

  test("the anchor rules match GitHub's (code, punctuation, repeats)", () => {
    const anchors = headingAnchors(
      "# Client Cove\n## Run: signals, health, readiness\n### `clientcove status`\n## Settings\n## Settings\n```sh\n# not a heading\n```\n",
    );
    expect([...anchors]).toEqual(["client-cove", "run-signals-health-readiness", "clientcove-status", "settings", "settings-1"]);
  });
});
