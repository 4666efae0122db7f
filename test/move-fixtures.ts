// Fixtures for moving an install between engines (migrate-data, backup and restore across SQLite/PostgreSQL and disk/S3): seed one through the real API, and capture the API's answers to compare before and after.
import { afterAll, expect } from "bun:test";
import { randomBytes } from "node:crypto";
import { rmSync } from "node:fs";
import type { Sql } from "postgres";
import { openPostgres } from "../src/db/postgres/client";
import { createS3Storage, type S3Storage } from "../src/storage/s3";
import { startServerProcess, tempDir, type ServerProcess } from "./helpers";
import { pseudoRandomBytes, sha256Hex } from "./files-fixtures";
import { freshDatabase } from "./services/postgres";
import type { S3TestServer } from "./services/s3";
import { type Receiver, waitFor } from "./webhooks-fixtures";

/** No stray AWS_* or S3_* credentials from the machine reach the child processes. */
export const NO_AMBIENT_CREDENTIALS = {
  AWS_ACCESS_KEY_ID: undefined,
  AWS_SECRET_ACCESS_KEY: undefined,
  AWS_SESSION_TOKEN: undefined,
  S3_SESSION_TOKEN: undefined,
};

export interface Bucket {
  name: string;
  prefix: string;
  url: string;
  env: Record<string, string | undefined>;
  view: S3Storage;
}

/** A fresh prefix in `bucket` on the test S3 server: its storage URL, the environment with its credentials, and a driver to look into it. */
export function bucketPrefix(server: S3TestServer, bucket: string, label: string): Bucket {
  const prefix = `${label}-${randomBytes(4).toString("hex")}`;
  const url = `s3://${bucket}/${prefix}?endpoint=${server.endpoint}&region=${server.region}`;
  return {
    name: bucket,
    prefix,
    url,
    env: { ...NO_AMBIENT_CREDENTIALS, CLIENTCOVE_S3_ACCESS_KEY_ID: server.accessKeyId, CLIENTCOVE_S3_SECRET_ACCESS_KEY: server.secretAccessKey },
    view: createS3Storage({
      bucket,
      prefix,
      endpoint: server.endpoint,
      region: server.region,
      pathStyle: true,
      accessKeyId: server.accessKeyId,
      secretAccessKey: server.secretAccessKey,
    }),
  };
}

export async function keysIn(storage: S3Storage): Promise<string[]> {
  const keys: string[] = [];
  for await (const o of storage.list()) keys.push(o.key);
  return keys;
}

export interface Served extends ServerProcess {
  dir: string;
}

/** `serve` on 127.0.0.1 with the test-friendly options (private webhook targets, fast retries, no rate limit). */
export async function serveOn(dir: string, extra: string[] = [], env: Record<string, string | undefined> = {}): Promise<Served> {
  const s = await startServerProcess(
    [
      "--host",
      "127.0.0.1",
      "--port",
      "0",
      "--data-dir",
      dir,
      "--webhook-allow-private",
      "--webhook-retry-base-ms",
      "50",
      "--rate-limit-per-minute",
      "0",
      ...extra,
    ],
    { env: { ...NO_AMBIENT_CREDENTIALS, ...env } },
  );
  return Object.assign(s, { dir });
}

export async function api(url: string, key: string, method: string, path: string, json?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(json === undefined ? {} : { "content-type": "application/json" }) },
    body: json === undefined ? undefined : JSON.stringify(json),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

async function upload(url: string, key: string, bytes: Uint8Array, filename: string, fields: Record<string, string>): Promise<any> {
  const fd = new FormData();
  for (const [k, v] of Object.entries(fields)) fd.append(k, v);
  fd.append("file", new Blob([bytes], { type: "application/octet-stream" }), filename);
  const res = await fetch(`${url}/v1/files`, { method: "POST", headers: { authorization: `Bearer ${key}` }, body: fd });
  const body = (await res.json()) as any;
  expect({ status: res.status, error: body.error }).toEqual({ status: 201, error: undefined });
  return body;
}

/** What a seeded install holds: the ids to ask for, the files' bytes, and links signed before the move. */
export interface Seeded {
  tickets: string[];
  folders: string[];
  files: { id: string; sha256: string; size: number; downloadUrl: string }[];
  webhooks: string[];
}

/**
 * Tickets (several statuses, one updated, one deleted), a folder tree, files of a few sizes (in folders, on a ticket),
 * and a webhook to `receiverUrl` whose deliveries are all settled (succeeded) before this returns, so that the
 * answers cannot change by themselves after the move.
 */
export async function seedInstall(url: string, key: string, receiverUrl: string): Promise<Seeded> {
  const hook = await api(url, key, "POST", "/v1/webhooks", { url: `${receiverUrl}/hook`, events: ["*"], description: "tab\tand ünïcødé" });
  expect(hook.status, JSON.stringify(hook.body)).toBe(201);
  const tickets: string[] = [];
  const statuses = ["open", "in_progress", "resolved", "closed"];
  for (let i = 0; i < 9; i++) {
    const r = await api(url, key, "POST", "/v1/tickets", {
      subject: `Ticket ${i}: back\\slash "quoted" 🎫`,
      description: i % 2 ? `line\nbreak\ttab \\N ${i}` : undefined,
      priority: ["low", "high"][i % 2],
    });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    tickets.push(r.body.id);
    if (i % 4) expect((await api(url, key, "PATCH", `/v1/tickets/${r.body.id}`, { status: statuses[i % 4] })).status).toBe(200);
  }
  expect((await api(url, key, "DELETE", `/v1/tickets/${tickets.pop()}`)).status).toBe(204);
  const root = await api(url, key, "POST", "/v1/folders", { name: "Contracts" });
  expect(root.status, JSON.stringify(root.body)).toBe(201);
  const child = await api(url, key, "POST", "/v1/folders", { name: "2026", parent_id: root.body.id });
  expect(child.status, JSON.stringify(child.body)).toBe(201);
  const folders = [root.body.id, child.body.id];
  const files = [];
  for (const [i, size] of [0, 1, 70_000, 1024 * 1024 + 3].entries()) {
    const bytes = pseudoRandomBytes(size, 40 + i);
    const fields: Record<string, string> = i === 1 ? { folder_id: child.body.id } : i === 2 ? { folder_id: root.body.id, ticket_id: tickets[0]! } : {};
    const f = await upload(url, key, bytes, `doc-${i}.bin`, fields);
    expect(f.sha256).toBe(sha256Hex(bytes));
    files.push({ id: f.id, sha256: f.sha256, size, downloadUrl: f.download_url });
  }
  const webhooks = [hook.body.id];
  await waitFor(
    async () => {
      const d = await api(url, key, "GET", `/v1/webhooks/${hook.body.id}/deliveries?per_page=100`);
      return d.body.meta.total > 0 && d.body.data.every((x: { status: string }) => x.status === "succeeded");
    },
    "every delivery to succeed",
    30_000,
  );
  return { tickets, folders, files, webhooks };
}

/** Drops what differs by design between two servers: absolute links (their own public URL, a fresh expiry). */
function comparable(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(comparable);
  if (value && typeof value === "object")
    return Object.fromEntries(Object.entries(value).flatMap(([k, v]) => (k === "download_url" ? [] : [[k, comparable(v)]])));
  return value;
}

/** The path and query of a signed link, sent to `url` (a link names the public URL of the server that minted it). */
export function fetchLink(url: string, link: string, init?: RequestInit): Promise<Response> {
  const u = new URL(link);
  return fetch(`${url}${u.pathname}${u.search}`, init);
}

/**
 * The API's answers for a seeded install: lists with their meta (totals, filtered), every get, every delivery list,
 * and every file's bytes through the link signed before the move (status, sha256, ETag and the other headers).
 */
export async function answers(url: string, key: string, seeded: Seeded): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  const get = async (path: string) => {
    const r = await api(url, key, "GET", path);
    out[path] = { status: r.status, body: comparable(r.body) };
  };
  for (const path of [
    "/v1/tickets?per_page=100",
    "/v1/tickets?per_page=3",
    "/v1/tickets?status=open",
    "/v1/tickets?priority=high",
    "/v1/folders",
    `/v1/folders?parent_id=${seeded.folders[0]}`,
    "/v1/files?per_page=100",
    `/v1/files?folder_id=${seeded.folders[0]}`,
    "/v1/webhooks",
  ])
    await get(path);
  for (const id of seeded.tickets) await get(`/v1/tickets/${id}`);
  for (const id of seeded.folders) await get(`/v1/folders/${id}`);
  for (const f of seeded.files) await get(`/v1/files/${f.id}`);
  for (const id of seeded.webhooks) {
    await get(`/v1/webhooks/${id}`);
    await get(`/v1/webhooks/${id}/deliveries?per_page=100`);
  }
  for (const f of seeded.files) {
    const res = await fetchLink(url, f.downloadUrl);
    const bytes = new Uint8Array(await res.arrayBuffer());
    const headers = Object.fromEntries(["etag", "content-type", "content-disposition", "last-modified", "accept-ranges"].map((h) => [h, res.headers.get(h)]));
    out[`link ${f.id}`] = { status: res.status, sha256: sha256Hex(bytes), length: bytes.length, headers };
    expect({ id: f.id, status: res.status, sha256: sha256Hex(bytes) }).toEqual({ id: f.id, status: 200, sha256: f.sha256 });
  }
  return out;
}

export function workDir(label: string, dirs: string[]): string {
  const d = tempDir(label);
  dirs.push(d);
  return d;
}

/**
 * What a move test file keeps (a bucket of its own when there is an S3 server, its work dirs, servers, receivers,
 * database pools and fresh databases), all removed after the file's tests; and `database()`, a fresh database with a
 * small pool on it.
 */
export async function moveTestState(label: string, s3: S3TestServer | null) {
  const bucket = `${label}-${randomBytes(4).toString("hex")}`;
  if (s3) await s3.createBucket(bucket);
  const dirs: string[] = [];
  const servers: Served[] = [];
  const receivers: Receiver[] = [];
  const pools: Sql[] = [];
  const drops: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const s of servers) await s.stop("SIGKILL").catch(() => {});
    receivers.forEach((r) => r.stop());
    for (const p of pools) await p.end({ timeout: 5 });
    for (const d of drops) await d().catch(() => {});
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }, 60_000);
  async function database(): Promise<{ url: string; sql: Sql }> {
    const db = await freshDatabase();
    drops.push(db.drop);
    const { sql } = openPostgres({ url: db.url, poolSize: 2, statementTimeoutMs: 20_000 });
    pools.push(sql);
    return { url: db.url, sql };
  }
  return { bucket, KEY: /API key \(shown once, store it now\): (\S+)/, dirs, servers, receivers, database };
}
