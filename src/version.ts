// What this executable is: the product version (package.json at build time), the commit it was built from, its schema version.
import pkg from "../package.json" with { type: "json" };
import { SCHEMA_VERSION } from "./db/migrate";

export const VERSION: string = pkg.version;

// Replaced at build time by scripts/build.ts (`--define`); "unknown" when running from source.
declare const __CLIENTCOVE_COMMIT__: string | undefined;
const BUILD_COMMIT = typeof __CLIENTCOVE_COMMIT__ === "string" ? __CLIENTCOVE_COMMIT__ : "unknown";

/** What `clientcove version`, backups' manifests and /metrics report. */
export function versionInfo() {
  return { version: VERSION, schema_version: SCHEMA_VERSION, bun: Bun.version, commit: BUILD_COMMIT };
}
