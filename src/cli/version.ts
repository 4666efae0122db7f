// `clientcove version`: what this executable is.
import { SCHEMA_VERSION } from "../db/migrate";
import { VERSION } from "../version";
import { parseArgs, UsageError } from "./args";
import { print, type Io } from "./context";

export function versionInfo() {
  return { version: VERSION, schema_version: SCHEMA_VERSION, bun: Bun.version, commit: BUILD_COMMIT };
}

// Replaced at build time by scripts/build.ts (`--define`); "unknown" when running from source.
declare const __CLIENTCOVE_COMMIT__: string | undefined;
const BUILD_COMMIT = typeof __CLIENTCOVE_COMMIT__ === "string" ? __CLIENTCOVE_COMMIT__ : "unknown";

export function runVersion(argv: string[], io: Io): number {
  const args = parseArgs(argv, { json: "boolean", help: "boolean" });
  if (args.positionals.length) throw new UsageError(`unexpected argument ${args.positionals[0]}`);
  const info = versionInfo();
  print(io, args, info, () => `clientcove ${info.version} (schema ${info.schema_version}, commit ${info.commit}, bun ${info.bun})`);
  return 0;
}
