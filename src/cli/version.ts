// `clientcove version`: what this executable is.
import { versionInfo } from "../version";
import { parseArgs, UsageError } from "./args";
import { print, type Io } from "./context";

export function runVersion(argv: string[], io: Io): number {
  const args = parseArgs(argv, { json: "boolean", help: "boolean" });
  if (args.positionals.length) throw new UsageError(`unexpected argument ${args.positionals[0]}`);
  const info = versionInfo();
  print(io, args, info, () => `clientcove ${info.version} (schema ${info.schema_version}, commit ${info.commit}, bun ${info.bun})`);
  return 0;
}
