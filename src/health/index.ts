// Unauthenticated probes: /healthz (the process answers) and /readyz (it can serve: database, schema, writable data dir).
import { Elysia, t } from "elysia";
import type { Config } from "../config";
import type { Db } from "../db/client";
import { checkReadiness } from "../ops/readiness";

const Checks = t.Object({ database: t.String(), migrations: t.String(), data_dir: t.String() }, { description: 'Each check: "ok", or why it fails.' });

/** What the probes need: the database to ask, and the data dir to prove writable. */
export interface HealthRoutesDeps {
  db: Db;
  config: Pick<Config, "dataDir">;
}

export function healthRoutes(deps: HealthRoutesDeps) {
  return new Elysia({ name: "health" })
    .get("/healthz", () => ({ status: "ok" as const }), {
      response: { 200: t.Object({ status: t.Literal("ok") }) },
      detail: {
        summary: "Liveness",
        description: "Answers 200 while the process is up. No authentication.",
        tags: ["Health"],
        security: [],
        operationId: "getHealth",
      },
    })
    .get(
      "/readyz",
      ({ set }) => {
        const r = checkReadiness({ sqlite: deps.db.$client, dataDir: deps.config.dataDir });
        if (r.ready) return { status: "ready" as const, checks: r.checks };
        set.status = 503;
        set.headers["cache-control"] = "no-store";
        const failing = Object.entries(r.checks).filter(([, v]) => v !== "ok");
        return { error: "not_ready", message: `Not ready: ${failing.map(([k, v]) => `${k}: ${v}`).join("; ")}.`, checks: r.checks };
      },
      {
        response: {
          200: t.Object({ status: t.Literal("ready"), checks: Checks }),
          503: t.Object({ error: t.Literal("not_ready"), message: t.String(), checks: Checks }, { description: "Not ready: the failing checks say why." }),
        },
        detail: {
          summary: "Readiness",
          description:
            "200 when the database answers, its schema is current and the data dir accepts writes; 503 with the failing check otherwise. No authentication.",
          tags: ["Health"],
          security: [],
          operationId: "getReadiness",
        },
      },
    );
}
