// Fixtures for the ops tests: run the real CLI and server as child processes, and seed rows + stored bytes.
import type { Database } from "bun:sqlite";
import { createHash } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { newId } from "../src/lib/ids";

export const ROOT = resolve(import.meta.dir, "..");
const MAIN = join(ROOT, "src/main.ts");

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `clientcove <args>` from source in a child process (no inherited CLIENTCOVE_* settings). */
export async function runCli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  const proc = Bun.spawn([process.execPath, MAIN, ...args], { cwd: ROOT, env: cleanEnv(env), stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout, stderr };
}

export function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith("CLIENTCOVE_") && k !== "PORT") env[k] = v;
  return { ...env, ...extra };
}

/** A `clientcove serve` child process, with its JSON log lines collected as they arrive. */
export interface ServeProcess {
  proc: ReturnType<typeof Bun.spawn>;
  pid: number;
  url: string;
  /** The bootstrap owner's API key (first start of an empty data dir), if one was printed. */
  key: string | undefined;
  logs: Record<string, unknown>[];
  stderr(): string;
  /** Resolves with the first log line matching `pred` (already seen or still to come). */
  waitForLog(pred: (line: Record<string, unknown>) => boolean): Promise<Record<string, unknown>>;
  exited: Promise<number>;
}

export async function startServe(args: string[], opts: { env?: Record<string, string>; wrap?: string[]; expectKey?: boolean } = {}): Promise<ServeProcess> {
  const cmd = [...(opts.wrap ?? []), process.execPath, MAIN, "serve", "--host", "127.0.0.1", "--port", "0", ...args];
  const proc = Bun.spawn(cmd, { cwd: ROOT, env: cleanEnv(opts.env), stdout: "pipe", stderr: "pipe" });
  const logs: Record<string, unknown>[] = [];
  const waiters: { pred: (l: Record<string, unknown>) => boolean; resolve: (l: Record<string, unknown>) => void }[] = [];
  let errText = "";
  (async () => {
    const decoder = new TextDecoder();
    let buf = "";
    for await (const chunk of proc.stdout as ReadableStream<Uint8Array>) {
      buf += decoder.decode(chunk, { stream: true });
      let nl: number;
      while ((nl = buf.indexOf("\n")) !== -1) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        let parsed: Record<string, unknown>;
        try {
          parsed = JSON.parse(line);
        } catch {
          parsed = { msg: "(not json)", line };
        }
        logs.push(parsed);
        for (const w of [...waiters]) {
          if (w.pred(parsed)) {
            waiters.splice(waiters.indexOf(w), 1);
            w.resolve(parsed);
          }
        }
      }
    }
  })();
  let onKey: (key: string) => void = () => {};
  const keyPrinted = new Promise<string>((r) => (onKey = r));
  (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of proc.stderr as ReadableStream<Uint8Array>) {
      errText += decoder.decode(chunk, { stream: true });
      const m = /API key \(shown once, store it now\): (\S+)/.exec(errText);
      if (m) onKey(m[1]!);
    }
  })();
  const waitForLog = (pred: (l: Record<string, unknown>) => boolean) =>
    new Promise<Record<string, unknown>>((resolveLine, reject) => {
      const seen = logs.find(pred);
      if (seen) return resolveLine(seen);
      waiters.push({ pred, resolve: resolveLine });
      proc.exited.then((code) => reject(new Error(`serve exited (${code}) before the expected log line; stderr: ${errText}`)));
    });
  const listening = await waitForLog((l) => l.msg === "listening");
  // On an empty data dir the bootstrap banner with the owner's key follows on stderr (another pipe, so no ordering).
  const key = opts.expectKey ? await keyPrinted : undefined;
  const url = String(listening.url);
  return { proc, pid: proc.pid, url, key, logs, stderr: () => errText, waitForLog, exited: proc.exited };
}

export function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** Deterministic pseudo-random bytes (so a failing test can be rerun with the same content). */
export function bytesOf(size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/**
 * A file row plus its bytes at `<dataDir>/files/<org>/<file>`, the layout the files module uses; for
 * tests that need files where the upload API is not the point (or not mounted yet).
 */
export function seedFile(
  sqlite: Database,
  dataDir: string,
  orgId: string,
  bytes: Uint8Array,
  opts: { folderId?: string; filename?: string } = {},
): { id: string; storageKey: string; path: string } {
  const id = newId("file");
  const storageKey = `${orgId}/${id}`;
  const path = join(dataDir, "files", storageKey);
  mkdirSync(join(dataDir, "files", orgId), { recursive: true });
  writeFileSync(path, bytes);
  sqlite
    .query("INSERT INTO files (id, org_id, folder_id, filename, size_bytes, mime_type, sha256, storage_key, uploaded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
    .run(id, orgId, opts.folderId ?? null, opts.filename ?? `${id}.bin`, bytes.byteLength, "application/octet-stream", sha256(bytes), storageKey, Date.now());
  return { id, storageKey, path };
}

export function seedFolder(sqlite: Database, orgId: string, name: string): string {
  const id = newId("fld");
  const now = Date.now();
  sqlite
    .query("INSERT INTO folders (id, org_id, parent_id, parent_key, name, created_at, updated_at) VALUES (?, ?, NULL, '', ?, ?, ?)")
    .run(id, orgId, name, now, now);
  return id;
}

export function seedWebhook(sqlite: Database, orgId: string): string {
  const id = newId("wh");
  const now = Date.now();
  sqlite
    .query("INSERT INTO webhooks (id, org_id, url, events, secret, active, created_at, updated_at) VALUES (?, ?, ?, ?, ?, 1, ?, ?)")
    .run(id, orgId, "https://example.com/hook", JSON.stringify(["*"]), "whsec_dGVzdHRlc3R0ZXN0dGVzdHRlc3Q=", now, now);
  return id;
}

export function seedDelivery(sqlite: Database, orgId: string, webhookId: string, status: "pending" | "succeeded" | "failed" | "cancelled"): string {
  const id = newId("dlv");
  const now = Date.now();
  sqlite
    .query(
      "INSERT INTO webhook_deliveries (id, org_id, webhook_id, event_id, event_type, payload, status, next_attempt_at, created_at, updated_at) VALUES (?, ?, ?, ?, 'ticket.created', '{}', ?, ?, ?, ?)",
    )
    .run(id, orgId, webhookId, newId("evt"), status, status === "pending" ? now : null, now, now);
  return id;
}

/** Prometheus text → "name{labels}" → value. */
export function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const cut = line.lastIndexOf(" ");
    out.set(line.slice(0, cut), Number(line.slice(cut + 1)));
  }
  return out;
}
