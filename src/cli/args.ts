// Command-line parsing: `--name value`, `--name=value` and boolean `--flag`; unknown flags are errors.
import { BOOLEAN_KEYS, OPTIONS } from "../config";

/** A usage mistake: printed as one line on stderr, exit code 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

export type FlagKind = "string" | "boolean";
export type FlagSpec = Record<string, FlagKind>;

export interface ParsedArgs {
  positionals: string[];
  flags: Record<string, string | boolean | undefined>;
}

/** Every configuration option as a flag (`--data-dir`, `--port`, ...). */
export const CONFIG_FLAGS: FlagSpec = Object.fromEntries(OPTIONS.map((o) => [o.flag, BOOLEAN_KEYS.has(o.key) ? "boolean" : "string"]));

export function parseArgs(argv: string[], spec: FlagSpec): ParsedArgs {
  const positionals: string[] = [];
  const flags: ParsedArgs["flags"] = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith("--") || arg === "--") {
      if (arg.startsWith("-") && arg !== "-") throw new UsageError(`unknown option ${arg}`);
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf("=");
    const name = arg.slice(2, eq === -1 ? undefined : eq);
    const kind = spec[name];
    if (!kind) throw new UsageError(`unknown option --${name}`);
    if (kind === "boolean") {
      flags[name] = eq === -1 ? true : arg.slice(eq + 1);
      continue;
    }
    let value: string | undefined;
    if (eq !== -1) value = arg.slice(eq + 1);
    else {
      value = argv[i + 1];
      if (value === undefined || value.startsWith("--")) throw new UsageError(`option --${name} needs a value`);
      i++;
    }
    flags[name] = value;
  }
  return { positionals, flags };
}

/** The value of a required string flag, or a UsageError naming it. */
export function requireFlag(args: ParsedArgs, name: string): string {
  const v = args.flags[name];
  if (typeof v !== "string" || v === "") throw new UsageError(`--${name} is required`);
  return v;
}

export function optionalFlag(args: ParsedArgs, name: string): string | undefined {
  const v = args.flags[name];
  return typeof v === "string" ? v : undefined;
}
