// Knows which methods each route path accepts, so a known path with a wrong method is a 405, not a 404, and a fixed path answers for itself instead of being taken for a parameter.
import { ApiError } from "../errors";

interface RouteLike {
  method: string;
  path: string;
}

/** How specific a segment is: a fixed one beats a parameter, which beats a wildcard. */
const STATIC = 0;
const PARAM = 1;
const WILDCARD = 2;

interface Row {
  path: string;
  re: RegExp;
  /** The kind of each segment, for ranking matches. */
  rank: number[];
  methods: Set<string>;
}

function segmentsOf(path: string): string[] {
  return path.split("/").filter((s) => s !== "");
}

function kindOf(seg: string): number {
  return seg.startsWith(":") ? PARAM : seg === "*" ? WILDCARD : STATIC;
}

function pattern(path: string): RegExp {
  const escaped = path
    .split("/")
    .map((seg) => (seg.startsWith(":") ? "[^/]+" : seg === "*" ? ".*" : seg.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")))
    .join("/");
  return new RegExp(`^${escaped}/?$`);
}

/** Negative when `a` is the more specific route: the first segment where their kinds differ decides. */
function compareRank(a: number[], b: number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] ?? WILDCARD) - (b[i] ?? WILDCARD);
    if (d !== 0) return d;
  }
  return 0;
}

/** True when some concrete path could match both patterns (same shape, each segment equal or a parameter on either side). */
function overlaps(a: string, b: string): boolean {
  const x = segmentsOf(a);
  const y = segmentsOf(b);
  if (x.includes("*") || y.includes("*")) return true;
  if (x.length !== y.length) return false;
  return x.every((s, i) => s === y[i] || kindOf(s) === PARAM || kindOf(y[i]!) === PARAM);
}

/** The path of an absolute request URL, without parsing all of it (this runs on every request). */
function pathOf(url: string): string {
  const start = url.indexOf("/", url.indexOf("//") + 2);
  if (start < 0) return "/";
  const query = url.indexOf("?", start);
  return query < 0 ? url.slice(start) : url.slice(start, query);
}

/** The 405 for a known path and a method it does not accept. */
export function methodNotAllowed(method: string, allowed: string[]): ApiError {
  return new ApiError(405, "method_not_allowed", `${method} is not allowed here; use ${allowed.join(", ")}.`, undefined, { allow: allowed.join(", ") });
}

export function createMethodTable() {
  let table: Row[] = [];
  /** Routes another, less specific route also matches: only requests to these can be shadowed. */
  let contested: Row[] = [];

  /** The most specific routes matching `path` (several only when they have the same shape). */
  function best(path: string): Row[] {
    let top: Row[] = [];
    for (const row of table) {
      if (!row.re.test(path)) continue;
      const c = top.length ? compareRank(row.rank, top[0]!.rank) : -1;
      if (c < 0) top = [row];
      else if (c === 0) top.push(row);
    }
    return top;
  }

  function allowedOf(rows: Row[]): string[] {
    const out = new Set<string>();
    for (const row of rows) row.methods.forEach((m) => out.add(m));
    return [...out].sort();
  }

  return {
    load(routes: RouteLike[]) {
      const byPath = new Map<string, Set<string>>();
      for (const r of routes) {
        if (r.method === "ALL" || r.method === "WS") continue;
        const set = byPath.get(r.path) ?? new Set<string>();
        set.add(r.method);
        if (r.method === "GET") set.add("HEAD");
        byPath.set(r.path, set);
      }
      table = [...byPath].map(([p, m]) => ({ path: p, re: pattern(p), rank: segmentsOf(p).map(kindOf), methods: m }));
      contested = table.filter((row) => table.some((other) => other !== row && compareRank(row.rank, other.rank) < 0 && overlaps(row.path, other.path)));
    },
    /**
     * Methods allowed on this concrete path: those of the most specific route that matches it (a fixed
     * segment wins over a parameter, as in the router); empty when no route matches it at all.
     */
    allowed(path: string): string[] {
      return allowedOf(best(path));
    },
    /**
     * The 405 for a request the router would otherwise hand to a less specific route: PATCH on
     * `/v1/webhooks/event-types` must not reach `PATCH /v1/webhooks/:id` with id "event-types". Null when the
     * request may go ahead (the router then dispatches it, or answers 404/405 as usual).
     */
    refusal(request: Request): ApiError | null {
      if (contested.length === 0) return null;
      const path = pathOf(request.url);
      if (!contested.some((row) => row.re.test(path))) return null;
      const top = best(path);
      if (!top.some((row) => contested.includes(row))) return null;
      const allowed = allowedOf(top);
      return allowed.includes(request.method) ? null : methodNotAllowed(request.method, allowed);
    },
  };
}
