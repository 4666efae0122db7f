// Unauthenticated liveness endpoint: answers once the database is open and migrated.
import { Elysia, t } from "elysia";

export function healthRoutes() {
  return new Elysia({ name: "health" }).get("/healthz", () => ({ status: "ok" as const }), {
    response: { 200: t.Object({ status: t.Literal("ok") }) },
    detail: { summary: "Liveness", description: "Answers 200 once the database is open and migrated. No authentication.", tags: ["Health"], security: [], operationId: "getHealth" },
  });
}
