// The open database, whichever engine it is, for the few things that are engine-specific (readiness, data metrics, shutdown, rate limits).
import type { Sql } from "postgres";
import type { Db } from "./client";

/** SQLite: the connection in the data dir. PostgreSQL: the pool. Services never see this: they use the stores. */
export type DatabaseRef = { readonly kind: "sqlite"; readonly db: Db } | { readonly kind: "postgres"; readonly sql: Sql };
