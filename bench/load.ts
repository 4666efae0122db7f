// Load generation for the bench: find or install wrk, run it pinned to its own core, parse its report.
import { existsSync } from "node:fs";

export interface WrkResult {
  rps: number;
  /** Latency percentiles in milliseconds. */
  p50: number;
  p99: number;
  requests: number;
  non2xx: number;
  socketErrors: string | null;
}

export interface LoadSettings {
  duration: number;
  connections: number;
  threads: number;
  /** `taskset -c <cpus>` prefix for the generator, or [] when not pinning. */
  pin: string[];
}

function which(cmd: string): string | null {
  const r = Bun.spawnSync(["sh", "-c", `command -v ${cmd}`]);
  const out = r.stdout.toString().trim();
  return r.exitCode === 0 && out ? out : null;
}

/** wrk's path, installing Debian's package with apt-get when missing and running as root. Says what it did. */
export function findOrInstallWrk(say: (line: string) => void): string | null {
  let path = which("wrk");
  if (path) {
    say(`load generator: ${path} (${Bun.spawnSync([path, "--version"]).stdout.toString().split("\n")[0]?.trim() || "wrk"})`);
    return path;
  }
  if (process.getuid?.() === 0 && existsSync("/usr/bin/apt-get")) {
    say("wrk not found: installing it with apt-get install -y wrk");
    let r = Bun.spawnSync(["apt-get", "install", "-y", "wrk"], {
      stdout: "ignore",
      stderr: "pipe",
      env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
    });
    if (r.exitCode !== 0) {
      Bun.spawnSync(["apt-get", "update"], { stdout: "ignore", stderr: "ignore" });
      r = Bun.spawnSync(["apt-get", "install", "-y", "wrk"], { stdout: "ignore", stderr: "pipe", env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } });
    }
    path = which("wrk");
    if (path) {
      say(`load generator: ${path} (installed from Debian's packages)`);
      return path;
    }
    say(`apt-get could not install wrk: ${r.stderr.toString().trim().split("\n").at(-1)}`);
  } else {
    say("wrk not found and not root: install it (apt-get install -y wrk) to get the HTTP rows");
  }
  return null;
}

/** Milliseconds from wrk's "986.00us" / "1.10ms" / "2.00s" / "1.00m". */
function toMs(text: string): number {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(text.trim());
  if (!m) return NaN;
  const v = Number(m[1]);
  return m[2] === "us" ? v / 1000 : m[2] === "ms" ? v : m[2] === "s" ? v * 1000 : v * 60_000;
}

export function parseWrk(out: string): WrkResult {
  const pct = (p: string) => toMs(new RegExp(`^\\s+${p}%\\s+(\\S+)`, "m").exec(out)?.[1] ?? "");
  return {
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN),
    p50: pct("50"),
    p99: pct("99"),
    requests: Number(/(\d+) requests in/.exec(out)?.[1] ?? 0),
    non2xx: Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0),
    socketErrors: /Socket errors:.*$/m.exec(out)?.[0] ?? null,
  };
}

/** Runs wrk once against `url`; `headers` as "Name: value"; `script` a Lua file; `env` for the script. */
export async function runWrk(
  wrk: string,
  s: LoadSettings,
  url: string,
  opts: { headers?: string[]; script?: string; env?: Record<string, string>; duration?: number } = {},
): Promise<WrkResult> {
  const args = [...s.pin, wrk, `-t${s.threads}`, `-c${s.connections}`, `-d${opts.duration ?? s.duration}s`, "--latency", "--timeout", "10s"];
  for (const h of opts.headers ?? []) args.push("-H", h);
  if (opts.script) args.push("-s", opts.script);
  args.push(url);
  const p = Bun.spawn(args, { stdout: "pipe", stderr: "pipe", env: { ...process.env, ...opts.env } });
  const [out, err] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text()]);
  await p.exited;
  const r = parseWrk(out);
  if (!Number.isFinite(r.rps)) throw new Error(`wrk gave no result for ${url}:\n${out}\n${err}`);
  return r;
}
