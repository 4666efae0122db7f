// The guard every /v1 route sits behind: bearer authentication, per-key rate limits, no-store caching, idempotent POSTs.
import { Elysia } from "elysia";
import { bearer } from "@elysiajs/bearer";
import type { Config } from "../config";
import { ApiError, errors } from "../errors";
import { createTokenBuckets, type BucketState } from "../guard/token-bucket";
import { requestInfo } from "../http/request-context";
import { checkIdempotencyKey, createIdempotencyClaims, createIdempotencyStore, requestFingerprint, type IdempotencyClaims } from "../idempotency/service";
import { createKeyVerifier, type Deps, type Principal } from "../keys/service";

/**
 * The key of an `Authorization: Bearer <key>` header, else undefined. The scheme is case-insensitive (RFC 7235:
 * `bearer`, `BEARER`); the key is exact. Only the header counts: never a query parameter (keys in URLs leak to logs),
 * never a scheme that merely starts with "Bearer" (`Bearerx <key>`). Spaces around the key are allowed; two keys
 * (`Bearer a b`) are not one key, and fail verification as such.
 */
export function bearerToken(header: string | null): string | undefined {
  const m = header ? /^[ \t]*bearer[ \t]+(.*)$/is.exec(header) : null;
  const token = m?.[1]!.trim();
  return token ? token : undefined;
}

function rateLimitHeaders(s: BucketState): Record<string, string> {
  return { "ratelimit-limit": String(s.limit), "ratelimit-remaining": String(s.remaining), "ratelimit-reset": String(s.resetSeconds) };
}

/**
 * One instance per app; feature modules `.use()` it and their routes get `principal`.
 * - A missing, malformed, unknown, revoked or expired key is the same 401 (keys cannot be probed); a free-plan
 *   organization is a 403. Failed attempts are limited per client address: past the allowance, a request whose key
 *   fails gets 429 instead of 401. A valid key is never refused by that limit, only by its own bucket.
 * - Each API key has a token bucket; every authenticated response carries RateLimit-Limit/-Remaining/-Reset.
 * - A POST with `Idempotency-Key` is claimed before the handler runs and its result stored after, in the same
 *   tick for synchronous handlers; retries replay it with `Idempotent-Replayed: true`. A request that fails is released
 *   by the app's error handler (`claims.releaseFor`). Multipart uploads fingerprint their own content (the body is
 *   not read yet here) through `idempotency` on the context.
 */
export function authPlugin(deps: Deps & { config: Config }, claims: IdempotencyClaims = createIdempotencyClaims(createIdempotencyStore({ sqlite: deps.db.$client, clock: deps.clock }))) {
  const verify = createKeyVerifier(deps);
  const { config } = deps;
  const perKey =
    config.rateLimitPerMinute > 0 && config.rateLimitBurst > 0
      ? createTokenBuckets({ perMinute: config.rateLimitPerMinute, burst: config.rateLimitBurst, clock: deps.clock })
      : null;
  const failures =
    config.authFailuresPerMinute > 0
      ? createTokenBuckets({ perMinute: config.authFailuresPerMinute, burst: config.authFailuresPerMinute, clock: deps.clock })
      : null;
  const idempotency = claims.store;

  return new Elysia({ name: "auth" })
    .use(bearer({ extract: { header: "Bearer", query: "", body: "" } }))
    .derive({ as: "scoped" }, ({ bearer: token, request, server, set }): { principal: Principal; idempotency: typeof idempotency; atomically: <T>(change: () => T) => T } => {
      const header = request.headers.get("authorization");
      // @elysiajs/bearer extracts the usual exact `Bearer <key>`. The scheme is case-insensitive, though, and the
      // plugin would also take `Bearerx <key>` or a query parameter: every other spelling goes through bearerToken().
      const secret = header?.startsWith("Bearer ") ? token?.trim() || undefined : bearerToken(header);
      // The key is verified first: a valid key is limited only by its own bucket, so one client sending bad keys from
      // a shared address (NAT, or a proxy without --trust-proxy) cannot lock out everyone else behind it.
      const result = secret ? verify(secret) : ({ status: "not_found" } as const);
      if (result.status !== "valid") {
        // The address the app computed for this request (honours --trust-proxy: behind a proxy, the client's, not the proxy's).
        const address = requestInfo(request).client?.ip ?? server?.requestIP(request)?.address;
        if (failures && address && !failures.take(address).allowed) {
          throw new ApiError(429, "rate_limited", "Too many failed authentication attempts from this address. Try again later.", undefined, { "retry-after": "60" });
        }
        throw errors.unauthorized();
      }
      if (result.principal.plan === "free") throw errors.planRequired();
      set.headers["cache-control"] = "no-store";
      if (perKey) {
        const bucket = perKey.take(result.principal.keyId);
        Object.assign(set.headers, rateLimitHeaders(bucket));
        if (!bucket.allowed) {
          throw new ApiError(429, "rate_limited", `Rate limit exceeded for this API key. Retry in ${bucket.retryAfterSeconds} s.`, undefined, {
            ...rateLimitHeaders(bucket),
            "retry-after": String(bucket.retryAfterSeconds),
          });
        }
      }
      return { principal: result.principal, idempotency, atomically: (change) => claims.atomically(request, set, change) };
    })
    .onBeforeHandle({ as: "scoped" }, ({ request, principal, body, path }) => {
      if (request.method !== "POST") return;
      const header = request.headers.get("idempotency-key");
      if (header === null) return;
      const idempotencyKey = checkIdempotencyKey(header);
      if (request.headers.get("content-type")?.toLowerCase().startsWith("multipart/form-data")) return;
      const start = idempotency.begin(principal.keyId, idempotencyKey, requestFingerprint("POST", path, body ?? null));
      if (start.kind === "replay") {
        return new Response(start.body || null, { status: start.status, headers: { ...start.headers, "idempotent-replayed": "true" } });
      }
      claims.hold(request, { keyId: principal.keyId, idempotencyKey });
    })
    // Synchronous on purpose: an async hook here makes Elysia await on every authenticated route (~10 µs a
    // request, measured in bench/). Elysia also treats a hook whose source reads `return f(` as possibly async.
    .onAfterHandle({ as: "scoped" }, ({ request, response, set }) => {
      const claim = claims.take(request);
      if (!claim) return;
      completeClaim(idempotency, claim, response, set);
    });
}

type Claim = { keyId: string; idempotencyKey: string };

/**
 * Stores a held POST's response for replays. A plain value is stored at once (before the response is sent); a
 * Response object's body can only be read asynchronously, so it is stored as soon as its clone is read (until
 * then a retry gets 409 in progress, never a second execution; if the body cannot be read the key is released).
 */
function completeClaim(store: IdempotencyClaims["store"], claim: Claim, response: unknown, set: { status?: number | string; headers: Record<string, unknown> }): void {
  const headers: Record<string, string> = { "content-type": "application/json; charset=utf-8" };
  if (response instanceof Response) {
    const location = response.headers.get("location");
    if (location) headers.location = location;
    const status = response.status;
    response
      .clone()
      .text()
      .then(
        (body) => store.complete(claim.keyId, claim.idempotencyKey, status, headers, body),
        () => store.release(claim.keyId, claim.idempotencyKey),
      );
    return;
  }
  const location = set.headers.location as string | undefined;
  if (location) headers.location = location;
  const status = typeof set.status === "number" ? set.status : 200;
  store.complete(claim.keyId, claim.idempotencyKey, status, headers, response === undefined ? "" : JSON.stringify(response));
}

export type AuthPlugin = ReturnType<typeof authPlugin>;
