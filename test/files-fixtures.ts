// Test fixtures for files and folders: uploads (FormData and hand-built multipart), real HTTP, and what is stored on disk and in the db.
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { connect } from "node:net";
import type { TestEnv } from "./helpers";

export interface FileJson {
  id: string;
  filename: string;
  size_bytes: number;
  mime_type: string;
  folder_id: string | null;
  ticket_id: string | null;
  sha256: string;
  uploaded_at: string;
  download_url: string;
}

export interface FolderJson {
  id: string;
  name: string;
  parent_id: string | null;
  created_at: string;
  updated_at: string;
}

export const FILE_KEYS = ["download_url", "filename", "folder_id", "id", "mime_type", "sha256", "size_bytes", "ticket_id", "uploaded_at"];

export function sha256Hex(bytes: Uint8Array | string): string {
  return new Bun.CryptoHasher("sha256").update(bytes).digest("hex");
}

/** Deterministic pseudo-random bytes (xorshift), so failures reproduce. */
export function pseudoRandomBytes(n: number, seed = 1): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** Uploads through the app (FormData, file first unless `fieldsFirst`). */
export async function upload(
  env: TestEnv,
  key: string,
  opts: {
    content?: Uint8Array | string;
    filename?: string;
    type?: string;
    fields?: Record<string, string>;
    fieldsFirst?: boolean;
    headers?: Record<string, string>;
  } = {},
): Promise<Response> {
  const fd = new FormData();
  const add = () => {
    for (const [k, v] of Object.entries(opts.fields ?? {})) fd.append(k, v);
  };
  if (opts.fieldsFirst) add();
  fd.append("file", new Blob([opts.content ?? "hello"], { type: opts.type ?? "application/octet-stream" }), opts.filename ?? "hello.txt");
  if (!opts.fieldsFirst) add();
  return env.request("/v1/files", { method: "POST", key, body: fd, headers: opts.headers });
}

export async function uploadOk(env: TestEnv, key: string, opts: Parameters<typeof upload>[2] = {}): Promise<FileJson> {
  const res = await upload(env, key, opts);
  if (res.status !== 201) throw new Error(`upload answered ${res.status}: ${await res.text()}`);
  return (await res.json()) as FileJson;
}

export async function createFolder(env: TestEnv, key: string, name: string, parentId?: string | null): Promise<FolderJson> {
  const res = await env.request("/v1/folders", { method: "POST", key, json: parentId === undefined ? { name } : { name, parent_id: parentId } });
  if (res.status !== 201) throw new Error(`create folder answered ${res.status}: ${await res.text()}`);
  return (await res.json()) as FolderJson;
}

export async function createTicket(env: TestEnv, key: string, subject = "A ticket"): Promise<{ id: string }> {
  const res = await env.request("/v1/tickets", { method: "POST", key, json: { subject } });
  if (res.status !== 201) throw new Error(`create ticket answered ${res.status}: ${await res.text()}`);
  return (await res.json()) as { id: string };
}

export type Part =
  | { name: string; value: string }
  | {
      name: string;
      filename: string;
      content: Uint8Array | string;
      type?: string /** Sent as RFC 5987 `filename*` (percent-encoded UTF-8). */;
      extended?: boolean;
    };

export const BOUNDARY = "----clientcove-test-boundary-7MA4YWxkTrZu0gW";

/** A multipart/form-data body built by hand, for cases FormData cannot express (duplicates, truncation, raw names). */
export function multipartBody(parts: Part[], opts: { boundary?: string; close?: boolean } = {}): Uint8Array {
  const b = opts.boundary ?? BOUNDARY;
  const chunks: (Uint8Array | string)[] = [];
  for (const p of parts) {
    chunks.push(`--${b}\r\n`);
    if ("filename" in p) {
      const filename = p.extended ? `filename*=UTF-8''${encodeURIComponent(p.filename)}` : `filename="${p.filename}"`;
      chunks.push(`Content-Disposition: form-data; name="${p.name}"; ${filename}\r\nContent-Type: ${p.type ?? "application/octet-stream"}\r\n\r\n`);
      chunks.push(p.content);
    } else {
      chunks.push(`Content-Disposition: form-data; name="${p.name}"\r\n\r\n${p.value}`);
    }
    chunks.push("\r\n");
  }
  if (opts.close !== false) chunks.push(`--${b}--\r\n`);
  return new Uint8Array(Buffer.concat(chunks.map((c) => (typeof c === "string" ? Buffer.from(c, "utf8") : Buffer.from(c)))));
}

export function sendMultipart(env: TestEnv, key: string, body: Uint8Array, headers: Record<string, string> = {}): Promise<Response> {
  return env.request("/v1/files", { method: "POST", key, body, headers: { "content-type": `multipart/form-data; boundary=${BOUNDARY}`, ...headers } });
}

/** Serves the test env's app on a real socket; returns its base URL. */
export function listen(env: TestEnv): string {
  env.app.listen({ port: 0, hostname: "127.0.0.1", reusePort: false, maxRequestBodySize: Number.MAX_SAFE_INTEGER } as never);
  return `http://127.0.0.1:${env.app.server!.port}`;
}

/** Everything that would show a stored upload: rows, file events, objects on disk, temp files. */
export async function storedState(env: TestEnv) {
  const rows = (await env.db.get<{ n: number }>("SELECT COUNT(*) AS n FROM files"))!.n;
  const events = (await env.db.all<{ type: string }>("SELECT type FROM events WHERE type LIKE 'file.%' ORDER BY seq")).map((e) => e.type);
  return { rows, events, objects: listObjects(env.dir), temp: listTemp(env.dir) };
}

export function listObjects(dataDir: string): string[] {
  const root = join(dataDir, "files");
  if (!existsSync(root)) return [];
  return readdirSync(root, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => join(d.parentPath, d.name).slice(root.length + 1))
    .sort();
}

export function listTemp(dataDir: string): string[] {
  const dir = join(dataDir, "tmp");
  return existsSync(dir) ? readdirSync(dir).sort() : [];
}

/** Waits (bounded) until `check` holds: for effects that finish after the response, such as cleanup after a disconnect. */
export async function eventually(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await Bun.sleep(10);
  }
}

/**
 * Opens a socket and sends `head` and `body` as they are (no framing added). `response` resolves with
 * whatever the server answered when the connection closes; `socket.destroy()` simulates a client that
 * goes away mid-request.
 */
export function rawRequest(base: string, head: string, body: Uint8Array) {
  const { hostname, port } = new URL(base);
  const socket = connect(Number(port), hostname);
  let received = "";
  const response = new Promise<string>((resolve) => {
    socket.on("data", (d) => {
      received += d.toString("latin1");
    });
    socket.on("error", () => resolve(received));
    socket.on("close", () => resolve(received));
  });
  socket.on("connect", () => {
    socket.write(head);
    socket.write(body);
  });
  return { socket, response, received: () => received };
}

/** The head of a hand-written HTTP/1.1 upload request; `extra` adds headers (e.g. Idempotency-Key). */
export function uploadHead(key: string, contentLength: number, extra: Record<string, string> = {}): string {
  return [
    "POST /v1/files HTTP/1.1",
    "Host: localhost",
    `Authorization: Bearer ${key}`,
    `Content-Type: multipart/form-data; boundary=${BOUNDARY}`,
    `Content-Length: ${contentLength}`,
    ...Object.entries(extra).map(([k, v]) => `${k}: ${v}`),
    "",
    "",
  ].join("\r\n");
}

/** The status code of a raw HTTP response received so far, or null while its status line has not arrived. */
export function rawStatus(received: string): number | null {
  const m = /^HTTP\/1\.1 (\d{3}) /.exec(received);
  return m ? Number(m[1]) : null;
}

/** The JSON body of a complete raw HTTP/1.1 response with Content-Length, or null until all of it has arrived. */
export function rawJson(received: string): any {
  const split = received.indexOf("\r\n\r\n");
  if (split < 0) return null;
  const length = /\r\ncontent-length: (\d+)/i.exec(received.slice(0, split));
  const body = received.slice(split + 4);
  if (!length || Buffer.byteLength(body, "latin1") < Number(length[1])) return null;
  return JSON.parse(Buffer.from(body.slice(0, Number(length[1])), "latin1").toString("utf8"));
}
