// The guard every /v1 route sits behind: bearer authentication, per-key rate limits, no-store caching. Nothing more (Idempotency-Key: ../idempotency/plugin.ts).
import { Elysia } from "elysia";
import { bearer } from "@elysiajs/bearer";
import type { Config } from "../config";
import { ApiError, errors } from "../errors";
import { createTokenBuckets, type BucketState } from "../guard/token-bucket";
import { requestInfo } from "../http/request-context";
import type { Principal } from "../keys/principal";
import { settledValue } from "../lib/settled";
import { createKeyVerifier, type VerifierDeps } from "../keys/service";

/**
 * The key of an `Authorization: Bearer <key>` header, else undefined. The scheme is case-insensitive (RFC 7235:
 * `bearer`, `BEARER`); the key is exact. Only the header counts: never a query parameter (keys in URLs leak to logs),
 * never a scheme that merely starts with "Bearer" (`Bearerx <key>`). Spaces around the key are allowed; two keys
 * (`Bearer a b`) are not one key, and fail verification as such.
 */
export function bearerToken(header: string | null): string | undefined {
  const m = header ? /^[ \t]*bearer[ \t]+(.*)$/is.exec(header) : null;
  const token = m?.[1]?.trim();
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
 * `settlesAtOnce`: the stores' promises are settled when returned (SQLite), so the hook reads them synchronously.
 */
export function authPlugin(deps: VerifierDeps & { config: Config; settlesAtOnce?: boolean }) {
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

  type Ctx = {
    bearer: string | undefined;
    request: Request;
    server: { requestIP(r: Request): { address: string } | null } | null;
    set: { headers: Record<string, unknown> };
  };
  type Verification = Awaited<ReturnType<typeof verify>>;
  const NOT_FOUND: Verification = { status: "not_found" };

  /** The key of the request, however the Authorization header spells the scheme. */
  const secretOf = ({ bearer: token, request }: Ctx): string | undefined => {
    const header = request.headers.get("authorization");
    // @elysiajs/bearer extracts the usual exact `Bearer <key>`. The scheme is case-insensitive, though, and the
    // plugin would also take `Bearerx <key>` or a query parameter: every other spelling goes through bearerToken().
    return header?.startsWith("Bearer ") ? token?.trim() || undefined : bearerToken(header);
  };

  // The key is verified first: a valid key is limited only by its own bucket, so one client sending bad keys from
  // a shared address (NAT, or a proxy without --trust-proxy) cannot lock out everyone else behind it.
  const decide = ({ request, server, set }: Ctx, result: Verification): { principal: Principal } => {
    if (result.status !== "valid") {
      // The address the app computed for this request (honours --trust-proxy: behind a proxy, the client's, not the proxy's).
      const address = requestInfo(request).client?.ip ?? server?.requestIP(request)?.address;
      if (failures && address && !failures.take(address).allowed) {
        throw new ApiError(429, "rate_limited", "Too many failed authentication attempts from this address. Try again later.", undefined, {
          "retry-after": "60",
        });
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
    return { principal: result.principal };
  };

  // Two forms of one hook. Elysia runs a hook it reads as synchronous without awaiting it (the whole request then
  // stays on the synchronous path), so the synchronous form must not read as async: no `async`, no `return f(`.
  const atOnce = (ctx: Ctx): { principal: Principal } => {
    const secret = secretOf(ctx);
    const result = secret ? settledValue(verify(secret)) : NOT_FOUND;
    const out = decide(ctx, result);
    return out;
  };
  const awaited = async (ctx: Ctx): Promise<{ principal: Principal }> => {
    const secret = secretOf(ctx);
    return decide(ctx, secret ? await verify(secret) : NOT_FOUND);
  };

  return (
    new Elysia({ name: "auth" })
      .use(bearer({ extract: { header: "Bearer", query: "", body: "" } }))
      // Typed as the synchronous form; at run time Elysia sees which one it was given.
      .derive({ as: "scoped" }, (deps.settlesAtOnce ? atOnce : awaited) as typeof atOnce)
  );
}

export type AuthPlugin = ReturnType<typeof authPlugin>;
