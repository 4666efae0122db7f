// Entry point: argv → command. The only place that calls process.exit. Exports nothing (see STACK-NOTES).
process.env.NODE_ENV ??= "production";

import { ConfigError } from "./config";
import { SchemaError } from "./db/migrate";
import { ApiError } from "./errors";
import { UsageError } from "./cli/args";
import { processIo } from "./cli/context";
import { MAIN_HELP } from "./cli/help";
import { runKeys } from "./cli/keys";
import { runMigrate } from "./cli/migrate";
import { runOrgs, runUsers } from "./cli/orgs";
import { SERVE_HELP, startServer } from "./cli/serve";
import { runVersion } from "./cli/version";

async function main(argv: string[]): Promise<number> {
  const [first, ...rest] = argv;
  const command = first === undefined || first.startsWith("-") ? "serve" : first;
  const args = command === "serve" && first !== "serve" ? argv : rest;
  if (first === "--help" || first === "-h" || first === "help") {
    processIo.out(MAIN_HELP);
    return 0;
  }
  switch (command) {
    case "serve": {
      if (args.includes("--help")) {
        processIo.out(SERVE_HELP);
        return 0;
      }
      const server = startServer(args, processIo);
      return await new Promise<number>((resolve) => {
        let signals = 0;
        const onSignal = (sig: string) => {
          signals++;
          if (signals > 1) {
            processIo.err(`received ${sig} again; exiting now`);
            resolve(1);
            return;
          }
          server.stop().then(() => resolve(0), () => resolve(1));
        };
        process.on("SIGTERM", () => onSignal("SIGTERM"));
        process.on("SIGINT", () => onSignal("SIGINT"));
      });
    }
    case "migrate":
      return runMigrate(args, processIo);
    case "orgs":
      return runOrgs(args, processIo);
    case "users":
      return runUsers(args, processIo);
    case "keys":
      return runKeys(args, processIo);
    case "version":
      return runVersion(args, processIo);
    default:
      throw new UsageError(`unknown command "${command}"; see clientcove --help`);
  }
}

try {
  process.exit(await main(process.argv.slice(2)));
} catch (err) {
  if (err instanceof UsageError || err instanceof ConfigError) {
    process.stderr.write(`clientcove: ${err.message}\n`);
    process.exit(2);
  }
  if (err instanceof SchemaError || err instanceof ApiError) {
    process.stderr.write(`clientcove: ${err.message}\n`);
    process.exit(1);
  }
  process.stderr.write(`clientcove: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
}
