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
import { runMigrateData } from "./cli/migrate-data";
import { runOrgs, runUsers } from "./cli/orgs";
import { SERVE_HELP, startServer } from "./cli/serve";
import { runVersion } from "./cli/version";
import { runBackup } from "./cli/backup";
import { runConfig } from "./cli/config";
import { runHealthcheck } from "./cli/healthcheck";
import { runRestore } from "./cli/restore";
import { runStatus } from "./cli/status";
import { runVerify } from "./cli/verify";
import { usePrivateUmask } from "./ops/data-dir-modes";
import { InUseError, OpsError } from "./ops/errors";

async function main(argv: string[]): Promise<number> {
  // Before anything is created: the data dir, database, stored files and backups hold secrets (0700/0600).
  usePrivateUmask();
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
      return await new Promise<number>((resolve, reject) => {
        let signals = 0;
        const onSignal = (sig: string) => {
          signals++;
          if (signals > 1) {
            processIo.err(`received ${sig} again; exiting now`);
            resolve(1);
            return;
          }
          // A signal during start waits for the start to finish (or fail), then stops what was started.
          started
            .then((server) => server.stop())
            .then(
              () => resolve(0),
              () => resolve(1),
            );
        };
        // Handlers before starting: a signal during start (e.g. right after "listening") would otherwise get the
        // default action and kill the process.
        process.on("SIGTERM", () => onSignal("SIGTERM"));
        process.on("SIGINT", () => onSignal("SIGINT"));
        const started = startServer(args, processIo);
        // A failed start (port or data dir in use, bad config) ends the command with its one-line message.
        started.catch(reject);
      });
    }
    case "migrate":
      return runMigrate(args, processIo);
    case "migrate-data":
      return await runMigrateData(args, processIo);
    case "orgs":
      return runOrgs(args, processIo);
    case "users":
      return runUsers(args, processIo);
    case "keys":
      return runKeys(args, processIo);
    case "version":
      return runVersion(args, processIo);
    case "status":
      return runStatus(args, processIo);
    case "backup":
      return await runBackup(args, processIo);
    case "restore":
      return await runRestore(args, processIo);
    case "verify":
      return await runVerify(args, processIo);
    case "config":
      return runConfig(args, processIo);
    case "healthcheck":
      return await runHealthcheck(args, processIo);
    default:
      throw new UsageError(`unknown command "${command}"; see clientcove --help`);
  }
}

try {
  process.exit(await main(process.argv.slice(2)));
} catch (err) {
  if (err instanceof UsageError || err instanceof ConfigError || err instanceof InUseError) {
    process.stderr.write(`clientcove: ${err.message}\n`);
    process.exit(2);
  }
  if (err instanceof SchemaError || err instanceof ApiError || err instanceof OpsError) {
    process.stderr.write(`clientcove: ${err.message}\n`);
    process.exit(1);
  }
  process.stderr.write(`clientcove: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
}
