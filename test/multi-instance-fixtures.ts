// Fixtures of the multi-instance test: a webhook receiver on 127.0.0.1 that knows which server process sent each attempt (the owner of its TCP connection, read from /proc), counts attempts of one delivery in flight at once and holds answers on demand; and the CLI run without blocking the event loop.
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { BUN, cleanEnv, REPO_ROOT, type CliResult } from "./helpers";
import { pulse } from "./webhooks-fixtures";

/** One attempt as the receiver saw it. `seq` orders arrivals and ends; `at` (wall clock) is only compared with a lease's end. */
export interface Attempt {
  deliveryId: string;
  /** The pid of the process whose socket sent it, among the watched ones; null when none of them. */
  sender: number | null;
  event: string;
  /** `data.id` of the payload (the ticket). */
  dataId: string;
  json: any;
  seq: number;
  /** When it arrived (Date.now()). */
  at: number;
  /** How it ended: answered (with `status`), or cut off by the sender (its timeout, or its death) first. */
  ended: "answered" | "aborted" | null;
  status: number | null;
  endSeq: number | null;
}

/** Two attempts of one delivery on the wire at the same moment. */
export interface Overlap {
  deliveryId: string;
  senders: (number | null)[];
}

export interface InstanceReceiver {
  url: string;
  attempts: Attempt[];
  /** Attempts of each delivery id still on the wire (arrived, neither answered nor cut off). */
  open(): Attempt[];
  /** Every moment a delivery's attempt arrived while another of the same delivery was on the wire. */
  overlaps: Overlap[];
  /** The most attempts on the wire at once (one endpoint: its concurrency across instances), and by whom then. */
  peak(): { count: number; senders: (number | null)[] };
  /** Delivery id → the attempt answered with a 2xx that reached its sender's socket unbroken. */
  delivered: Map<string, Attempt>;
  /** The pids whose attempts are attributed (the server processes). */
  watch(pids: number[]): void;
  /** `answer`: 204 after `delayMs` (a slow receiver); `hold`: no answer until `releaseHeld()`. */
  setMode(mode: "answer" | "hold", delayMs?: number): void;
  /** Answers every held attempt (204). */
  releaseHeld(): void;
  stop(): void;
}

/** The inode of the TCP socket from `localPort` to `remotePort` on this machine, from /proc/net/tcp{,6}; null if none. */
function socketInode(localPort: number, remotePort: number): string | null {
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text: string;
    try {
      text = readFileSync(table, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10) continue;
      const local = Number.parseInt(f[1]!.split(":")[1]!, 16);
      const remote = Number.parseInt(f[2]!.split(":")[1]!, 16);
      if (local === localPort && remote === remotePort) return f[9]!;
    }
  }
  return null;
}

/** Which of `pids` holds the socket `inode` open (scans their /proc/<pid>/fd); null if none. */
function ownerOf(inode: string, pids: number[]): number | null {
  const target = `socket:[${inode}]`;
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        if (readlinkSync(`/proc/${pid}/fd/${fd}`) === target) return pid;
      } catch {
        // closed meanwhile
      }
    }
  }
  return null;
}

/**
 * A real receiver (Bun.serve on 127.0.0.1). Each attempt is attributed to the watched process owning the client end
 * of its connection while the request is open (the sender is alive and waiting then). An attempt is on the wire from
 * its arrival until it is answered or its connection breaks, whichever comes first: a lower bound of what the sender
 * sees, so an overlap found here is a real one. Wakes `until` (webhooks-fixtures) on every arrival and end.
 */
export function startInstanceReceiver(): InstanceReceiver {
  const attempts: Attempt[] = [];
  const overlaps: Overlap[] = [];
  const delivered = new Map<string, Attempt>();
  const onWire = new Map<string, Attempt[]>();
  const held: (() => void)[] = [];
  let pids: number[] = [];
  let mode: "answer" | "hold" = "answer";
  let delayMs = 0;
  let seq = 0;
  let peak = { count: 0, senders: [] as (number | null)[] };

  const end = (a: Attempt, how: "answered" | "aborted", status: number | null) => {
    if (a.ended) return;
    a.ended = how;
    a.status = status;
    a.endSeq = ++seq;
    const list = onWire.get(a.deliveryId) ?? [];
    const i = list.indexOf(a);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) onWire.delete(a.deliveryId);
    if (how === "answered" && status !== null && status >= 200 && status < 300 && !delivered.has(a.deliveryId)) delivered.set(a.deliveryId, a);
    pulse();
  };

  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    idleTimeout: 0,
    async fetch(request, srv) {
      const peer = srv.requestIP(request);
      const inode = peer ? socketInode(peer.port, srv.port!) : null;
      const sender = inode ? ownerOf(inode, pids) : null;
      const text = await request.text();
      let json: any = null;
      try {
        json = JSON.parse(text);
      } catch {}
      const a: Attempt = {
        deliveryId: request.headers.get("webhook-id") ?? "",
        sender,
        event: json?.event ?? "",
        dataId: json?.data?.id ?? "",
        json,
        seq: ++seq,
        at: Date.now(),
        ended: null,
        status: null,
        endSeq: null,
      };
      const list = onWire.get(a.deliveryId) ?? [];
      if (list.length > 0) overlaps.push({ deliveryId: a.deliveryId, senders: [...list.map((o) => o.sender), sender] });
      list.push(a);
      onWire.set(a.deliveryId, list);
      attempts.push(a);
      const now = [...onWire.values()].flat();
      if (now.length > peak.count) peak = { count: now.length, senders: now.map((o) => o.sender) };
      request.signal.addEventListener("abort", () => end(a, "aborted", null));
      pulse();
      if (mode === "hold") await new Promise<void>((resolve) => held.push(resolve));
      else if (delayMs > 0) await Bun.sleep(delayMs);
      end(a, "answered", 204);
      return new Response(null, { status: 204 });
    },
  });

  return {
    url: `http://127.0.0.1:${server.port}`,
    attempts,
    open: () => [...onWire.values()].flat(),
    overlaps,
    peak: () => peak,
    delivered,
    watch(next) {
      pids = next;
    },
    setMode(next, ms = 0) {
      mode = next;
      delayMs = ms;
    },
    releaseHeld() {
      held.splice(0).forEach((resolve) => resolve());
    },
    stop() {
      held.splice(0).forEach((resolve) => resolve());
      server.stop(true);
    },
  };
}

/** Runs `clientcove <args>` from source like runCli (test/helpers.ts), but without blocking this process (the receiver keeps answering). */
export async function runCliAsync(args: string[], env: Record<string, string | undefined> = {}): Promise<CliResult> {
  const p = Bun.spawn([BUN, join(REPO_ROOT, "src", "main.ts"), ...args], { cwd: REPO_ROOT, env: cleanEnv(env), stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { code, stdout, stderr };
}
