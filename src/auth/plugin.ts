// Bearer authentication: turns `Authorization: Bearer <key>` into the acting principal, or a 401/403.
import { Elysia } from "elysia";
import { bearer } from "@elysiajs/bearer";
import { errors } from "../errors";
import { createKeyVerifier, type Deps, type Principal } from "../keys/service";

/**
 * One instance per app. Routes of a feature that `.use()` it get `principal`; a missing, malformed,
 * unknown, revoked or expired key is a 401 (the same answer for each, so keys cannot be probed),
 * and a free-plan organization is a 403.
 */
export function authPlugin(deps: Deps) {
  const verify = createKeyVerifier(deps);
  return new Elysia({ name: "auth" })
    .use(bearer({ extract: { header: "Bearer", query: "", body: "" } }))
    .resolve({ as: "scoped" }, ({ bearer: token }): { principal: Principal } => {
      const secret = token?.trim();
      if (!secret) throw errors.unauthorized();
      const result = verify(secret);
      if (result.status !== "valid") throw errors.unauthorized();
      if (result.principal.plan === "free") throw errors.planRequired();
      return { principal: result.principal };
    });
}

export type AuthPlugin = ReturnType<typeof authPlugin>;
