// The guard every /v1 route sits behind: bearer authentication, per-key rate limits, no-store caching. Nothing more (Idempotency-Key: ../idempotency/plugin.ts).
import { Elysia } from "elysia";
import { bearer } from "@elysiajs/bearer";
import type { Config } from "../config";
import { ApiError, errors } from "../errors";
import { createLimiters } from "../guard/limiters";
import type { BucketState } from "../guard/token-bucket";
import { requestInfo } from "../http/request-context";
import type { Principal } from "../keys/principal";
import { settledValue } from "../lib/settled";
import { createKeyVerifier, type VerifierDeps } from "../keys/service";
import type { DatabaseRef } from "../db/database-ref";

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
export function authPlugin(deps: VerifierDeps & { config: Config; settlesAtOnce?: boolean; database?: DatabaseRef }) {
  const verify = createKeyVerifier(deps);
  // In memory, or shared through PostgreSQL (guard/limiters.ts); shared ones are only ever taken on the awaited path.
  const { perKey, failures } = createLimiters(deps);

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
  /** The address whose failures count for this request, or null when they are not limited. */
  const failingAddress = ({ request, server }: Ctx): string | null => {
    // The address the app computed for this request (honours --trust-proxy: behind a proxy, the client's, not the proxy's).
    const address = requestInfo(request).client?.ip ?? server?.requestIP(request)?.address;
    return failures && address ? address : null;
  };
  const refused = (tooManyFailures: boolean): ApiError =>
    tooManyFailures
      ? new ApiError(429, "rate_limited", "Too many failed authentication attempts from this address. Try again later.", undefined, {
          "retry-after": "60",
        })
      : errors.unauthorized();
  /** A valid key's principal, or the 403 of a free plan; sets no-store. */
  const admit = ({ set }: Ctx, result: Verification & { status: "valid" }): Principal => {
    if (result.principal.plan === "free") throw errors.planRequired();
    set.headers["cache-control"] = "no-store";
    return result.principal;
  };
  /** The key's bucket after its take: headers on the response, 429 when empty. */
  const limit = ({ set }: Ctx, bucket: BucketState): void => {
    Object.assign(set.headers, rateLimitHeaders(bucket));
    if (!bucket.allowed) {
      throw new ApiError(429, "rate_limited", `Rate limit exceeded for this API key. Retry in ${bucket.retryAfterSeconds} s.`, undefined, {
        ...rateLimitHeaders(bucket),
        "retry-after": String(bucket.retryAfterSeconds),
      });
    }
  };

  // Two forms of one hook. Elysia runs a hook it reads as synchronous without awaiting it (the whole request then
  // stays on the synchronous path), so the synchronous form must not read as async: no `async`, no `return f(`.
  // The synchronous form is built only over stores that settle at once (SQLite), whose limiters are in memory.
  const atOnce = (ctx: Ctx): { principal: Principal } => {
    const secret = secretOf(ctx);
    const result = secret ? settledValue(verify(secret)) : NOT_FOUND;
    if (result.status !== "valid") {
      const address = failingAddress(ctx);
      throw refused(address !== null && failures?.shared === false && !failures.take(address).allowed);
    }
    const principal = admit(ctx, result);
    if (perKey?.shared === false) limit(ctx, perKey.take(principal.keyId));
    return { principal };
  };
  const awaited = async (ctx: Ctx): Promise<{ principal: Principal }> => {
    const secret = secretOf(ctx);
    const result = secret ? await verify(secret) : NOT_FOUND;
    if (result.status !== "valid") {
      const address = failingAddress(ctx);
      throw refused(address !== null && !(await failures!.take(address)).allowed);
    }
    const principal = admit(ctx, result);
    if (perKey) limit(ctx, await perKey.take(principal.keyId));
    return { principal };
  };

  return (
    new Elysia({ name: "auth" })
      .use(bearer({ extract: { header: "Bearer", query: "", body: "" } }))
      // Typed as the synchronous form; at run time Elysia sees which one it was given.
      .derive({ as: "scoped" }, (deps.settlesAtOnce ? atOnce : awaited) as typeof atOnce)
  );
}

export type AuthPlugin = ReturnType<typeof authPlugin>;
