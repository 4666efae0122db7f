// The query-string rules the schemas cannot see: a declared parameter given once (unless it is a list), and percent-encoding that is valid UTF-8.
import { errors, type FieldError } from "../errors";

interface RouteLike {
  method: string;
  path: string;
  hooks?: { query?: unknown };
}

/** What a route's query declares: its parameters, those that may repeat, and bracketed families (`custom_fields[key]`). */
export interface DeclaredQuery {
  names: ReadonlySet<string>;
  /** Parameters whose schema is an array (`tag=a&tag=b`): each value counts, none is lost. */
  repeatable?: ReadonlySet<string>;
  /** Prefixes of bracketed names (`custom_fields` for `custom_fields[order_id]`), from the schema's `x-bracketed`. */
  bracketed?: readonly string[];
}

/** The declared parameters of a route's query schema (null when it declares none). */
export function declaredQuery(schema: unknown): DeclaredQuery | null {
  const s = schema as { properties?: Record<string, { type?: unknown }>; "x-bracketed"?: unknown } | undefined;
  const props = s?.properties;
  if (!props || Object.keys(props).length === 0) return null;
  const repeatable = new Set(Object.keys(props).filter((k) => props[k]?.type === "array"));
  const bracketed = Array.isArray(s["x-bracketed"]) ? s["x-bracketed"].filter((b): b is string => typeof b === "string") : [];
  return { names: new Set(Object.keys(props)), repeatable, bracketed };
}

/**
 * Elysia parses the query before validation and loses what matters here: a repeated key keeps its last value
 * (`status=open&status=closed` would list closed tickets), and a value whose percent-encoding is not UTF-8 (`%FF`)
 * is kept as the raw text. This reads the raw query string for the parameters a route declares (its `query`
 * schema); unknown parameters stay ignored, repeated or not. A parameter declared as an array may repeat (each
 * value is kept); a bracketed one (`custom_fields[key]`, declared by the schema's `x-bracketed`) is one parameter
 * per key.
 */
export function createQueryRules() {
  const declared = new Map<string, DeclaredQuery>();

  return {
    /** Reads each route's declared query parameters (`app.routes`, once the app is built). */
    load(routes: readonly RouteLike[]): void {
      for (const r of routes) {
        const d = declaredQuery(r.hooks?.query);
        if (d) declared.set(`${r.method} ${r.path}`, d);
      }
    },

    /** Throws a 400 naming every declared parameter sent twice or with an invalid encoding. Synchronous and cheap without a query. */
    check(method: string, route: string | undefined, url: string): void {
      const q = url.indexOf("?");
      if (q === -1 || !route) return;
      const d = declared.get(`${method} ${route}`) ?? (method === "HEAD" ? declared.get(`GET ${route}`) : undefined);
      if (!d) return;
      const problems = queryProblems(url.slice(q + 1), d.names, d);
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
export function queryProblems(query: string, names: ReadonlySet<string>, opts: Omit<DeclaredQuery, "names"> = {}): FieldError[] {
  const seen = new Map<string, number>();
  const bad = new Map<string, string>();
  const bracketed = opts.bracketed ?? [];
  for (const pair of query.split("&")) {
    if (pair === "") continue;
    const eq = pair.indexOf("=");
    const rawKey = eq === -1 ? pair : pair.slice(0, eq);
    const key = decodeComponent(rawKey) ?? rawKey;
    if (!names.has(key) && !bracketed.some((b) => key.startsWith(`${b}[`) && key.endsWith("]"))) continue;
    const count = (seen.get(key) ?? 0) + 1;
    seen.set(key, count);
    if (count === 2 && !opts.repeatable?.has(key)) bad.set(key, "must be given at most once.");
    else if (!bad.has(key) && eq !== -1 && decodeComponent(pair.slice(eq + 1)) === null) {
      bad.set(key, "must be valid UTF-8 when percent-decoded.");
    }
  }
  return [...bad].map(([field, message]) => ({ field, message }));
}
