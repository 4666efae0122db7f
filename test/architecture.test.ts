// The layering rules of src/, checked from the import statements themselves: no module imports app.ts back, ops/ never imports cli/, no cycles between folders, errors.ts framework-free, one formatBytes.
import { describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

// Read, never imported: the scan must not depend on the app loading.
const SRC = join(import.meta.dir, "..", "src");

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...sourceFiles(path));
    else if (/\.tsx?$/.test(name) && !name.endsWith(".d.ts")) out.push(path);
  }
  return out;
}

/** Every module specifier of a file: static imports and re-exports (type-only ones included), dynamic import(). */
function specifiers(text: string): string[] {
  // Comments could name a path without importing it.
  const code = text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|[^:"'`])\/\/.*$/gm, "$1");
  const out: string[] = [];
  for (const m of code.matchAll(/(?:^|[;\s])(?:import|export)\s[^'"`;]*?\sfrom\s*["']([^"']+)["']/g)) out.push(m[1]!);
  for (const m of code.matchAll(/(?:^|[;\s])import\s*["']([^"']+)["']/g)) out.push(m[1]!);
  for (const m of code.matchAll(/\bimport\(\s*["']([^"']+)["']\s*\)/g)) out.push(m[1]!);
  return out;
}

/** The src/ file a relative specifier names (`./x` → x.ts or x/index.ts), or null for packages and non-source files. */
function resolveRelative(from: string, spec: string): string | null {
  if (!spec.startsWith(".")) return null;
  const base = resolve(dirname(from), spec);
  for (const candidate of [base, `${base}.ts`, `${base}.tsx`, join(base, "index.ts")]) {
    if (existsSync(candidate) && statSync(candidate).isFile() && /\.tsx?$/.test(candidate)) return candidate;
  }
  return null;
}

interface ImportEdge {
  from: string;
  to: string;
}

const files = sourceFiles(SRC);
const rel = (p: string) => relative(SRC, p);
const texts = new Map(files.map((f) => [f, readFileSync(f, "utf8")]));
const packageImports = new Map(files.map((f) => [f, specifiers(texts.get(f)!).filter((s) => !s.startsWith("."))]));
const edges: ImportEdge[] = files.flatMap((f) =>
  specifiers(texts.get(f)!)
    .map((s) => resolveRelative(f, s))
    .filter((to): to is string => typeof to === "string" && to.startsWith(SRC))
    .map((to) => ({ from: rel(f), to: rel(to) })),
);

/**
 * Folders that are one aggregate and may import each other: organizations, users and their API keys (the keys
 * service types its rows with orgs/model; the first-start bootstrap creates an org and its key).
 */
const ONE_UNIT: Record<string, string> = { keys: "orgs" };

/** A file's folder under src/ ("tickets", "ops"); files directly in src/ are their own unit ("app.ts"). */
function unitOf(path: string): string {
  const slash = path.indexOf("/");
  const unit = slash === -1 ? path : path.slice(0, slash);
  return ONE_UNIT[unit] ?? unit;
}

/** Cycles in a directed graph (each reported once, as the path that closes it), by depth-first search. */
function findCycles(graph: Map<string, Set<string>>): string[][] {
  const cycles: string[][] = [];
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const visit = (node: string) => {
    state.set(node, "open");
    stack.push(node);
    for (const next of [...(graph.get(node) ?? [])].sort()) {
      if (state.get(next) === "open") cycles.push([...stack.slice(stack.indexOf(next)), next]);
      else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(node, "done");
  };
  for (const node of [...graph.keys()].sort()) if (!state.has(node)) visit(node);
  return cycles;
}

describe("architecture: imports point downward", () => {
  test("the scan sees the tree (guards against a scanner that finds nothing)", () => {
    expect(files.length).toBeGreaterThan(50);
    expect(edges.some((e) => e.from === "cli/serve.ts" && e.to === "app.ts")).toBe(true);
  });

  test("only main.ts and cli/serve.ts import app.ts: route factories declare their own deps types", () => {
    const offenders = edges.filter((e) => e.to === "app.ts" && e.from !== "main.ts" && e.from !== "cli/serve.ts").map((e) => e.from);
    expect(offenders).toEqual([]);
  });

  test("ops/ never imports cli/ (the CLI calls ops, not the other way round)", () => {
    const offenders = edges.filter((e) => e.from.startsWith("ops/") && e.to.startsWith("cli/")).map((e) => `${e.from} -> ${e.to}`);
    expect(offenders).toEqual([]);
  });

  test("nothing outside cli/ and main.ts imports cli/", () => {
    const offenders = edges.filter((e) => e.to.startsWith("cli/") && !e.from.startsWith("cli/") && e.from !== "main.ts").map((e) => `${e.from} -> ${e.to}`);
    expect(offenders).toEqual([]);
  });

  test("no import cycle between folders of src/ (nor between them and the top-level files)", () => {
    const graph = new Map<string, Set<string>>();
    for (const e of edges) {
      const a = unitOf(e.from);
      const b = unitOf(e.to);
      if (a === b) continue;
      if (!graph.has(a)) graph.set(a, new Set());
      graph.get(a)!.add(b);
    }
    const cycles = findCycles(graph).map((c) => {
      // Name the imports that make up each step, so the failure says what to move.
      return c
        .slice(1)
        .map((to, i) => {
          const from = c[i]!;
          const why = edges.filter((e) => unitOf(e.from) === from && unitOf(e.to) === to).map((e) => `${e.from} -> ${e.to}`);
          return why[0]!;
        })
        .join(", ");
    });
    expect(cycles).toEqual([]);
  });

  test("route factories build nothing of their own: storage, the signing key and stores come from src/deps.ts", () => {
    // The files that define a route factory (`export function xRoutes(`), and app.ts, which wires them.
    const factories = files.map(rel).filter((f) => f === "app.ts" || /export function \w+Routes\(/.test(texts.get(join(SRC, f))!));
    expect(factories.length).toBeGreaterThan(5);
    const built = /\b(openStorage|loadDownloadKey|createDownloadSigner|sqliteEngine|createMetrics|openDatabase)\s*\(/;
    expect(factories.filter((f) => built.test(texts.get(join(SRC, f))!))).toEqual([]);
  });

  test("errors.ts is framework-free: no elysia, no TypeBox (rendering framework errors is src/http/error-render.ts)", () => {
    expect(packageImports.get(join(SRC, "errors.ts"))!.filter((s) => s === "elysia" || s.startsWith("@sinclair/") || s.startsWith("@elysiajs/"))).toEqual([]);
    expect(edges.filter((e) => e.from === "errors.ts" && e.to.startsWith("http/"))).toEqual([]);
  });

  test("one store idiom: only src/db/ uses drizzle (schema, migrations); stores are raw prepared statements", () => {
    const users = files
      .filter((f) => !rel(f).startsWith("db/") && packageImports.get(f)!.some((s) => s === "drizzle-orm" || s.startsWith("drizzle-orm/")))
      .map(rel);
    expect(users).toEqual([]);
  });

  test("exactly one formatBytes", () => {
    const definitions = files.filter((f) => /\bfunction\s+formatBytes\b|\bformatBytes\s*=\s*\(/.test(texts.get(f)!)).map(rel);
    expect(definitions).toEqual(["lib/format-bytes.ts"]);
  });
});
