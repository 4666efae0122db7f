// Knows which methods each route path accepts, so a known path with a wrong method is a 405, not a 404.
interface RouteLike {
  method: string;
  path: string;
}

function pattern(path: string): RegExp {
  const escaped = path
    .split("/")
    .map((seg) => (seg.startsWith(":") ? "[^/]+" : seg === "*" ? ".*" : seg.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")))
    .join("/");
  return new RegExp(`^${escaped}/?$`);
}

export function createMethodTable() {
  let table: { re: RegExp; methods: Set<string> }[] = [];
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
      table = [...byPath].map(([p, m]) => ({ re: pattern(p), methods: m }));
    },
    /** Methods allowed on this concrete path; empty when no route matches it at all. */
    allowed(path: string): string[] {
      const out = new Set<string>();
      for (const row of table) if (row.re.test(path)) row.methods.forEach((m) => out.add(m));
      return [...out].sort();
    },
  };
}
