// `clientcove config`: the effective configuration, secrets masked, with where each value came from.
import { loadConfig, OPTIONS, type Config } from "../config";
import { CONFIG_FLAGS, parseArgs, UsageError } from "./args";
import { print, type Io } from "./context";

export const CONFIG_HELP = `Usage: clientcove config [--config FILE] [any server option] [--json]
Prints the configuration \`serve\` would run with: each setting's value (secrets masked) and where it
came from (a flag, an environment variable, the config file, or the default). Precedence:
flags > environment > config file > defaults.`;

const MASK = "********";

function display(value: Config[keyof Config], option: (typeof OPTIONS)[number]): unknown {
  if (option.secret) return value === "" ? "" : MASK;
  return option.display ? option.display(value) : value;
}

export function runConfig(argv: string[], io: Io): number {
  const args = parseArgs(argv, { ...CONFIG_FLAGS, json: "boolean", help: "boolean" });
  if (args.flags.help) {
    io.out(CONFIG_HELP);
    return 0;
  }
  if (args.positionals.length) throw new UsageError(`unexpected argument ${args.positionals[0]}`);
  const loaded = loadConfig(args.flags, io.env);
  const settings = OPTIONS.map((o) => ({
    key: o.flag,
    value: display(loaded.config[o.key], o),
    source: loaded.sources[o.key],
    from: loaded.origins[o.key],
  }));
  const text = (v: unknown) => (Array.isArray(v) ? v.join(",") : String(v)) || "(none)";
  print(
    io,
    args,
    {
      config_file: loaded.config.configFile || null,
      settings: Object.fromEntries(settings.map((s) => [s.key, { value: s.value, source: s.source, from: s.from }])),
    },
    () => {
      const width = Math.max(...settings.map((s) => s.key.length)) + 2;
      const valueWidth = Math.min(40, Math.max(...settings.map((s) => text(s.value).length)) + 2);
      // A value longer than the column (a database URL) still keeps two spaces before its source.
      const cell = (v: string) => (v.length + 2 <= valueWidth ? v.padEnd(valueWidth) : `${v}  `);
      return settings.map((s) => `${s.key.padEnd(width)}${cell(text(s.value))}${s.source === "default" ? "default" : `${s.source} (${s.from})`}`).join("\n");
    },
  );
  return 0;
}
