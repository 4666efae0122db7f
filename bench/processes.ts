// Server processes for the bench: spawn pinned to a core, wait for /healthz, read and reset RSS from /proc.
import { readFileSync, writeFileSync } from "node:fs";

export interface Server {
  name: string;
  proc: Bun.Subprocess;
  url: string;
  /** Milliseconds from spawn to the first 200 from /healthz. */
  startMs: number;
  stop(): Promise<void>;
}

/** A TCP port that was free a moment ago. */
export function freePort(): number {
  const probe = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = probe.port;
  probe.stop(true);
  return port;
}

/** `taskset -c <cpus>` when taskset exists and the machine has more than one core; else nothing. */
export function pinPrefix(cpus: string | null): string[] {
  if (cpus === null) return [];
  return ["taskset", "-c", cpus];
}

function statusField(pid: number, field: string): number | null {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

export const rssBytes = (pid: number) => statusField(pid, "VmRSS");

/** CPU time (user + system, all threads) the process has used so far, in microseconds; NaN where /proc is missing. */
export function cpuMicros(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    const ticks = Number(fields[11]) + Number(fields[12]);
    return (ticks * 1_000_000) / CLOCK_TICKS;
  } catch {
    return NaN;
  }
}
const CLOCK_TICKS = Number(Bun.spawnSync(["getconf", "CLK_TCK"]).stdout.toString().trim()) || 100;
export const peakRssBytes = (pid: number) => statusField(pid, "VmHWM");

/**
 * Resets the kernel's peak-RSS mark to the current RSS (clear_refs 5), so VmHWM afterwards is the peak of what
 * follows. Returns false where that is not allowed; callers then sample RSS instead.
 */
export function resetPeakRss(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, "5");
    return true;
  } catch {
    return false;
  }
}

/** Tracks the peak RSS of a process over a stretch of work: the kernel's mark when resettable, else 50 ms samples. */
export function watchPeakRss(pid: number): { stop(): number } {
  const kernel = resetPeakRss(pid);
  let peak = rssBytes(pid) ?? 0;
  const timer = kernel ? null : setInterval(() => (peak = Math.max(peak, rssBytes(pid) ?? 0)), 50);
  return {
    stop() {
      if (timer) clearInterval(timer);
      return Math.max(peak, kernel ? (peakRssBytes(pid) ?? 0) : (rssBytes(pid) ?? 0));
    },
  };
}

/** Spawns `cmd` (already pinned), polls `url`/healthz every 2 ms, resolves once it answers 200. */
export async function startServer(name: string, cmd: string[], url: string, opts: { env?: Record<string, string>; timeoutMs?: number } = {}): Promise<Server> {
  const t0 = performance.now();
  const proc = Bun.spawn(cmd, { stdin: "ignore", stdout: "ignore", stderr: "pipe", env: { ...process.env, ...opts.env } });
  const deadline = t0 + (opts.timeoutMs ?? 60_000);
  let stderr = "";
  (async () => {
    for await (const chunk of proc.stderr) stderr += new TextDecoder().decode(chunk);
  })().catch(() => {});
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`${name} exited with ${proc.exitCode} before answering /healthz:\n${stderr}`);
    try {
      const res = await fetch(`${url}/healthz`);
      await res.arrayBuffer();
      if (res.status === 200) break;
    } catch {
      // not listening yet
    }
    if (performance.now() > deadline) {
      proc.kill("SIGKILL");
      throw new Error(`${name} did not answer /healthz within ${opts.timeoutMs ?? 60_000} ms:\n${stderr}`);
    }
    await Bun.sleep(2);
  }
  const startMs = performance.now() - t0;
  return {
    name,
    proc,
    url,
    startMs,
    async stop() {
      if (proc.exitCode === null) proc.kill("SIGTERM");
      const timer = setTimeout(() => proc.kill("SIGKILL"), 10_000);
      await proc.exited;
      clearTimeout(timer);
    },
  };
}
