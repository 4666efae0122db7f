// CORS: off unless origins are configured; then allowed origins get CORS headers and their preflights a 204.
const ALLOW_METHODS = "GET, HEAD, POST, PUT, PATCH, DELETE";
const ALLOW_HEADERS = "authorization, content-type, idempotency-key, x-request-id, range, if-none-match";
/** Response headers a browser script may read (by default it sees only the CORS-safelisted ones). */
const EXPOSE_HEADERS =
  "location, x-request-id, retry-after, ratelimit-limit, ratelimit-remaining, ratelimit-reset, idempotent-replayed, content-disposition, content-range, etag";

export interface Cors {
  /** Headers to add to the response of a request from an allowed origin (none otherwise). */
  headersFor(request: Request): Record<string, string> | undefined;
  /** A 204 answer to a preflight from an allowed origin; undefined lets routing answer (404/405). */
  preflight(request: Request): Response | undefined;
}

export function createCors(origins: string[]): Cors | undefined {
  if (origins.length === 0) return undefined;
  const any = origins.includes("*");
  const allowed = new Set(origins);
  const allowOrigin = (origin: string | null) => (origin && (any || allowed.has(origin)) ? (any ? "*" : origin) : undefined);
  return {
    headersFor(request) {
      const origin = allowOrigin(request.headers.get("origin"));
      if (!origin) return undefined;
      return { "access-control-allow-origin": origin, "access-control-expose-headers": EXPOSE_HEADERS, vary: "Origin" };
    },
    preflight(request) {
      if (request.method !== "OPTIONS" || !request.headers.get("access-control-request-method")) return undefined;
      const origin = allowOrigin(request.headers.get("origin"));
      if (!origin) return undefined;
      return new Response(null, {
        status: 204,
        headers: {
          "access-control-allow-origin": origin,
          "access-control-allow-methods": ALLOW_METHODS,
          "access-control-allow-headers": ALLOW_HEADERS,
          "access-control-max-age": "600",
          vary: "Origin, Access-Control-Request-Method, Access-Control-Request-Headers",
        },
      });
    },
  };
}
