// The query-string rules the schemas cannot see: a declared parameter given once, and percent-encoding that is valid UTF-8.
import { errors, type FieldError } from "../errors";

interface RouteLike {
  method: string;
  path: string;
  hooks?: { query?: unknown };
}

/**
 * Elysia parses the query before validation and loses what matters here: a repeated key keeps its last value
 * (`status=open&status=closed` would list closed tickets), and a value whose percent-encoding is not UTF-8 (`%FF`)
 * is kept as the raw text. This reads the raw query string for the parameters a route declares (its `query`
 * schema); unknown parameters stay ignored, repeated or not.
 */
export function createQueryRules() {
  const declared = new Map<string, Set<string>>();

  return {
    /** Reads each route's declared query parameters (`app.routes`, once the app is built). */
    load(routes: readonly RouteLike[]): void {
      for (const r of routes) {
        const props = (r.hooks?.query as { properties?: Record<string, unknown> } | undefined)?.properties;
        if (props && Object.keys(props).length) declared.set(`${r.method} ${r.path}`, new Set(Object.keys(props)));
      }
    },

    /** Throws a 400 naming every declared parameter sent twice or with an invalid encoding. Synchronous and cheap without a query. */
    check(method: string, route: string | undefined, url: string): void {
      const q = url.indexOf("?");
      if (q === -1 || !route) return;
      const names = declared.get(`${method} ${route}`) ?? (method === "HEAD" ? declared.get(`GET ${route}`) : undefined);
      if (!names) return;
      const problems = queryProblems(url.slice(q + 1), names);
      if (problems.length) {
        throw errors.validation(problems, `The query string is not valid: ${problems.map((d) => `${d.field} ${d.message}`).join(" ")}`);
      }
    },
  };
}

/** Strict form decoding: `+` is a space, and a `%` sequence must be valid UTF-8 (null otherwise). */
function decodeComponent(s: string): string | null {
  try {
    return decodeURIComponent(s.replace(/\+/g, " "));
  } catch {
    return null;
  }
}

/** The problems of the declared parameters in a raw query string (without `?`), one per parameter. */
export function queryProblems(query: string, names: ReadonlySet<string>): FieldError[] {
  const seen = new Map<string, number>();
  const bad = new Map<string, string>();
  for (const pair of query.split("&")) {
    if (pair === "") continue;
    const eq = pair.indexOf("=");
    const rawKey = eq === -1 ? pair : pair.slice(0, eq);
    const key = decodeComponent(rawKey) ?? rawKey;
    if (!names.has(key)) continue;
    const count = (seen.get(key) ?? 0) + 1;
    seen.set(key, count);
    if (count === 2) bad.set(key, "must be given at most once.");
    else if (!bad.has(key) && eq !== -1 && decodeComponent(pair.slice(eq + 1)) === null) {
      bad.set(key, "must be valid UTF-8 when percent-decoded.");
    }
  }
  return [...bad].map(([field, message]) => ({ field, message }));
}
