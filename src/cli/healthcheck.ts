// `clientcove healthcheck`: exit 0 when a running server answers /readyz with 200 (for container HEALTHCHECKs without curl).
import { loadConfig } from "../config";
import { CONFIG_FLAGS, optionalFlag, parseArgs, UsageError } from "./args";
import type { Io } from "./context";

export const HEALTHCHECK_HELP = `Usage: clientcove healthcheck [--url URL] [--port PORT]
Asks a running server whether it is ready (GET /readyz); exit 0 if it answers 200, else 1.
Default URL: http://127.0.0.1:<port>/readyz (or the --host address if it is not a wildcard), with the
port and host from flags, CLIENTCOVE_* or the config file, like serve.`;

export async function runHealthcheck(argv: string[], io: Io): Promise<number> {
  const args = parseArgs(argv, { ...CONFIG_FLAGS, url: "string", help: "boolean" });
  if (args.flags.help) {
    io.out(HEALTHCHECK_HELP);
    return 0;
  }
  if (args.positionals.length) throw new UsageError(`unexpected argument ${args.positionals[0]}`);
  const { host, port } = loadConfig(args.flags, io.env).config;
  // A wildcard listen address is reachable on loopback; a specific one only on itself.
  const target = host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host.includes(":") ? `[${host}]` : host;
  const url = optionalFlag(args, "url") ?? `http://${target}:${port}/readyz`;
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
    const body = await res.text();
    if (res.status === 200) return 0;
    io.err(`not ready: ${res.status} ${body.slice(0, 500)}`);
  } catch (err) {
    io.err(`not ready: ${(err as Error).message}`);
  }
  return 1;
}
