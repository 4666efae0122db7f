// Unauthenticated probes: /healthz (the process answers) and /readyz (it can serve: database, schema, writable data dir, storage).
import { Elysia, t } from "elysia";
import type { Config } from "../config";
import type { DatabaseRef } from "../db/database-ref";
import { checkAllReadiness } from "../ops/readiness";

const Checks = t.Object(
  {
    database: t.String(),
    migrations: t.String(),
    data_dir: t.String(),
    storage: t.Optional(t.String({ description: "Only when the files are in an S3-compatible bucket." })),
  },
  { description: 'Each check: "ok", or why it fails.' },
);

/** What the probes need: the database to ask (either engine), the data dir to prove writable, the storage to ask. */
export interface HealthRoutesDeps {
  database: DatabaseRef;
  config: Pick<Config, "dataDir">;
  /** Asked too when it has a `check` method (the S3 driver). */
  storage: object;
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
      async ({ set }) => {
        const { database } = deps;
        const r = await checkAllReadiness({
          database: database.kind === "sqlite" ? { kind: "sqlite", sqlite: database.db.$client } : database,
          dataDir: deps.config.dataDir,
          storage: deps.storage,
        });
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
            "200 when the database answers, its schema is current, the data dir accepts writes and the storage answers; 503 with the failing check otherwise. No authentication.",
          tags: ["Health"],
          security: [],
          operationId: "getReadiness",
        },
      },
    );
}
