// Files on S3-compatible storage through the real server (a child process on a real Swift bucket, SQLite database): uploads, downloads as on disk, deletes, refusals, the start-up sweep, verify, backup and restore both ways, and the start-up errors.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { removeUploadLeftovers, writeIntent } from "../src/files/recovery";
import { STALE_UPLOAD_MS } from "../src/files/recovery";
import { manualClock } from "../src/lib/clock";
import { createS3Storage, type S3Storage } from "../src/storage/s3";
import { dataDirLayout } from "../src/storage/layout";
import { createTestEnv, freePort, runCli, startServerProcess, tempDir, type ServerProcess } from "./helpers";
import { BOUNDARY, multipartBody, pseudoRandomBytes, sha256Hex, type FileJson } from "./files-fixtures";
import { s3Server, signedRequest } from "./services/s3";

// Swift takes a while to start on a loaded machine; uploads of a few MiB go through it.
setDefaultTimeout(120_000);

const MiB = 1024 * 1024;
const server = await s3Server();
const BUCKET = `cc-files-${randomBytes(4).toString("hex")}`;
if (server) await server.createBucket(BUCKET);
else console.warn("files-s3.test.ts: the tests on S3 storage are skipped (no S3-compatible server; see the line above)");

/** Nothing in the environment but what a test gives: no stray AWS_* or S3_* credentials from the machine. */
const NO_AMBIENT_CREDENTIALS = {
  AWS_ACCESS_KEY_ID: undefined,
  AWS_SECRET_ACCESS_KEY: undefined,
  AWS_SESSION_TOKEN: undefined,
  S3_SESSION_TOKEN: undefined,
};

function storageUrl(prefix: string, bucket = BUCKET, endpoint = server?.endpoint ?? "http://127.0.0.1:9"): string {
  return `s3://${bucket}/${prefix}?endpoint=${endpoint}&region=us-east-1`;
}

/** The environment that puts a command on `<bucket>/<prefix>`. */
function s3Env(prefix: string, over: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  return {
    ...NO_AMBIENT_CREDENTIALS,
    CLIENTCOVE_STORAGE_URL: storageUrl(prefix),
    CLIENTCOVE_S3_ACCESS_KEY_ID: server?.accessKeyId ?? "id",
    CLIENTCOVE_S3_SECRET_ACCESS_KEY: server?.secretAccessKey ?? "secret",
    ...over,
  };
}

/** A driver on the same bucket and prefix as a server, to look at what it stored. */
function bucketView(prefix: string): S3Storage {
  const s = server!;
  return createS3Storage({
    bucket: BUCKET,
    prefix,
    endpoint: s.endpoint,
    region: s.region,
    pathStyle: true,
    accessKeyId: s.accessKeyId,
    secretAccessKey: s.secretAccessKey,
  });
}

async function keysIn(storage: S3Storage): Promise<string[]> {
  const keys: string[] = [];
  for await (const o of storage.list()) keys.push(o.key);
  return keys;
}

/** Pending multipart uploads under a prefix and, on Swift, parts in the segments container with no object. */
async function uploadLeftovers(prefix: string): Promise<string[]> {
  const s = server!;
  const pending = (await s.pendingUploads(BUCKET, `${prefix}/`)).map((u) => `upload ${u.key}`);
  const objects = new Set((await keysIn(bucketView(prefix))).map((k) => `${prefix}/${k}`));
  const segments = ((await s.segments(BUCKET)) ?? [])
    .filter((name) => name.startsWith(`${prefix}/`) && !objects.has(name.split("/").slice(0, -2).join("/")))
    .map((name) => `segment ${name}`);
  return [...pending, ...segments];
}

interface Served {
  proc: ServerProcess;
  url: string;
  key: string;
  dir: string;
}

async function serve(dir: string, env: Record<string, string | undefined>): Promise<Served> {
  const proc = await startServerProcess(["--host", "127.0.0.1", "--port", "0", "--data-dir", dir, "--max-upload-bytes", String(12 * MiB)], {
    env: { ...NO_AMBIENT_CREDENTIALS, ...env },
  });
  const [, key] = await proc.waitForStderr(/API key \(shown once, store it now\): (\S+)/);
  return { proc, url: proc.url, key: key!, dir };
}

async function uploadTo(s: Served, data: Uint8Array, filename: string): Promise<FileJson> {
  const form = new FormData();
  form.append("file", new Blob([data], { type: "application/octet-stream" }), filename);
  const res = await fetch(`${s.url}/v1/files`, { method: "POST", headers: { authorization: `Bearer ${s.key}` }, body: form });
  if (res.status !== 201) throw new Error(`upload answered ${res.status}: ${await res.text()}`);
  return (await res.json()) as FileJson;
}

async function* once(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield bytes;
}

async function bytesOf(res: Response): Promise<Uint8Array> {
  return new Uint8Array(await res.arrayBuffer());
}

/** The headers a download answer must have alike on disk and on S3 (dates and the length are compared apart). */
const COMPARED = [
  "content-type",
  "content-disposition",
  "content-range",
  "etag",
  "accept-ranges",
  "cache-control",
  "x-content-type-options",
  "content-security-policy",
  "referrer-policy",
];

function answer(res: Response, body: Uint8Array) {
  return { status: res.status, headers: Object.fromEntries(COMPARED.map((h) => [h, res.headers.get(h)])), sha256: sha256Hex(body), length: body.length };
}

const describeS3 = describe.skipIf(!server);

describeS3("the server on S3 storage, beside one on disk", () => {
  const PREFIX = `srv-${randomBytes(4).toString("hex")}`;
  let s3: Served;
  let disk: Served;
  const data = pseudoRandomBytes(11 * MiB + 12_345, 21);
  let onS3: FileJson;
  let onDisk: FileJson;
  const work = tempDir("cc-files-s3");

  beforeAll(async () => {
    [s3, disk] = await Promise.all([serve(join(work, "s3"), s3Env(PREFIX)), serve(join(work, "disk"), {})]);
    [onS3, onDisk] = await Promise.all([uploadTo(s3, data, "report.bin"), uploadTo(disk, data, "report.bin")]);
  });
  afterAll(async () => {
    await Promise.all([s3?.proc.stop(), disk?.proc.stop()]);
    rmSync(work, { recursive: true, force: true });
  });

  test("an upload of a few parts lands in the bucket at <prefix>/<org>/<file>, with the size and sha256 it was sent with", async () => {
    expect(onS3.size_bytes).toBe(data.length);
    expect(onS3.sha256).toBe(sha256Hex(data));
    const keys = await keysIn(bucketView(PREFIX));
    expect(keys).toHaveLength(1);
    expect(keys[0]).toMatch(new RegExp(`^org_[0-9A-Za-z]+/${onS3.id}$`));
    expect((await bucketView(PREFIX).stat(keys[0]!))?.size).toBe(data.length);
    // Nothing of the upload is left besides the object; nothing went to the data dir's files/.
    expect(await uploadLeftovers(PREFIX)).toEqual([]);
    expect(existsSync(join(s3.dir, "files", keys[0]!))).toBe(false);
    const list = (await (await fetch(`${s3.url}/v1/files`, { headers: { authorization: `Bearer ${s3.key}` } })).json()) as { data: FileJson[] };
    expect(list.data.map((f) => f.id)).toEqual([onS3.id]);
  });

  test("downloads answer as on disk: whole, ranges (across a part boundary, suffix), If-None-Match, If-Range, 416, signed link", async () => {
    const cases: [string, Record<string, string>][] = [
      ["whole", {}],
      ["across the first part boundary", { range: `bytes=${5 * MiB - 3}-${5 * MiB + 2}` }],
      ["open-ended", { range: `bytes=${data.length - 100}-` }],
      ["suffix", { range: "bytes=-10" }],
      ["unsatisfiable", { range: `bytes=${data.length}-` }],
      ["several ranges: the whole body", { range: "bytes=0-1,5-6" }],
      ["if-none-match", { "if-none-match": `"${onS3.sha256}"` }],
      ["if-range that no longer holds", { range: "bytes=0-9", "if-range": '"other"' }],
    ];
    for (const [what, headers] of cases) {
      const get = async (s: Served, f: FileJson) => {
        const res = await fetch(`${s.url}/v1/files/${f.id}/content`, { headers: { authorization: `Bearer ${s.key}`, ...headers } });
        return answer(res, await bytesOf(res));
      };
      const [a, b] = await Promise.all([get(s3, onS3), get(disk, onDisk)]);
      expect({ what, ...a }).toEqual({ what, ...b });
    }
    const range = await fetch(`${s3.url}/v1/files/${onS3.id}/content`, { headers: { authorization: `Bearer ${s3.key}`, range: "bytes=5242877-5242882" } });
    expect(range.status).toBe(206);
    expect(await bytesOf(range)).toEqual(data.slice(5242877, 5242883));

    // The signed link, followed as a browser would (the public URL names localhost).
    const link = async (s: Served, f: FileJson, headers: Record<string, string> = {}) => {
      const url = new URL(f.download_url);
      const res = await fetch(`${s.url}${url.pathname}${url.search}`, { headers });
      return answer(res, await bytesOf(res));
    };
    expect(await link(s3, onS3)).toEqual(await link(disk, onDisk));
    expect(await link(s3, onS3, { range: "bytes=100-199" })).toEqual(await link(disk, onDisk, { range: "bytes=100-199" }));
    expect((await link(s3, onS3)).sha256).toBe(sha256Hex(data));
  });

  test("Content-Length: HEAD carries it on both; a GET from S3 is sent chunked by Bun 1.4 (oven-sh/bun#10507), from disk with it", async () => {
    for (const s of [s3, disk]) {
      const f = s === s3 ? onS3 : onDisk;
      const head = await fetch(`${s.url}/v1/files/${f.id}/content`, { method: "HEAD", headers: { authorization: `Bearer ${s.key}` } });
      expect(head.status).toBe(200);
      expect(head.headers.get("content-length")).toBe(String(data.length));
      expect((await bytesOf(head)).length).toBe(0);
    }
    const fromDisk = await fetch(`${disk.url}/v1/files/${onDisk.id}/content`, { headers: { authorization: `Bearer ${disk.key}`, range: "bytes=0-9" } });
    expect(fromDisk.headers.get("content-length")).toBe("10");
    await fromDisk.body?.cancel();
    const fromS3 = await fetch(`${s3.url}/v1/files/${onS3.id}/content`, { headers: { authorization: `Bearer ${s3.key}`, range: "bytes=0-9" } });
    // docs/operations.md ("S3-compatible storage") describes this; the day Bun keeps the header it is the same as on disk.
    expect([null, "10"]).toContain(fromS3.headers.get("content-length"));
    if (fromS3.headers.get("content-length") === null) expect(fromS3.headers.get("transfer-encoding")).toBe("chunked");
    expect((await bytesOf(fromS3)).length).toBe(10);
  });

  test("an upload refused midway (over --max-upload-bytes, no Content-Length) leaves no object and no pending multipart upload", async () => {
    const before = await keysIn(bucketView(PREFIX));
    // 13 MiB: the limit (12 MiB) is passed after two full parts were sent and a third begun.
    const body = multipartBody([{ name: "file", filename: "big.bin", content: pseudoRandomBytes(13 * MiB, 5) }]);
    const stream = new ReadableStream<Uint8Array>({
      start(c) {
        for (let i = 0; i < body.length; i += 256 * 1024) c.enqueue(body.slice(i, i + 256 * 1024));
        c.close();
      },
    });
    const res = await fetch(`${s3.url}/v1/files`, {
      method: "POST",
      headers: { authorization: `Bearer ${s3.key}`, "content-type": `multipart/form-data; boundary=${BOUNDARY}` },
      body: stream,
    });
    expect(res.status).toBe(413);
    expect(((await res.json()) as { error: string }).error).toBe("payload_too_large");
    // The answer is sent after the multipart upload was aborted: nothing to wait for.
    expect(await keysIn(bucketView(PREFIX))).toEqual(before);
    expect(await uploadLeftovers(PREFIX)).toEqual([]);
  });

  test("backup on S3 → restore into a data dir: same files, same sha256; a backup on disk → restore into a bucket: the same", async () => {
    // A second file, so the archive holds more than one object.
    const small = pseudoRandomBytes(70_000, 8);
    const second = await uploadTo(s3, small, "notes.txt");
    const fromS3 = join(work, "s3.tar.gz");
    const backup = runCli(["backup", "--data-dir", s3.dir, "--out", fromS3, "--json"], { env: s3Env(PREFIX) });
    expect(backup.stderr).toBe("");
    expect(backup.code).toBe(0);
    expect(JSON.parse(backup.stdout).manifest.counts.files).toBe(2);

    const local = join(work, "restored-local");
    const restored = runCli(["restore", fromS3, "--data-dir", local], { env: NO_AMBIENT_CREDENTIALS });
    expect(restored.stderr).toBe("");
    expect(restored.code).toBe(0);
    const keys = await keysIn(bucketView(PREFIX));
    for (const [file, bytes] of [
      [onS3, data],
      [second, small],
    ] as const) {
      const key = keys.find((k) => k.endsWith(`/${file.id}`))!;
      expect(sha256Hex(readFileSync(join(local, "files", key)))).toBe(sha256Hex(bytes));
    }
    expect(runCli(["verify", "--data-dir", local], { env: NO_AMBIENT_CREDENTIALS }).code).toBe(0);

    // The other way: the disk server's backup into an empty prefix of the bucket, its database into a new data dir.
    const fromDisk = join(work, "disk.tar.gz");
    expect(runCli(["backup", "--data-dir", disk.dir, "--out", fromDisk], { env: NO_AMBIENT_CREDENTIALS }).code).toBe(0);
    const PREFIX2 = `${PREFIX}-restored`;
    const intoBucket = runCli(["restore", fromDisk, "--data-dir", join(work, "restored-s3"), "--json"], { env: s3Env(PREFIX2) });
    expect(intoBucket.stderr).toBe("");
    expect(intoBucket.code).toBe(0);
    const restoredKeys = await keysIn(bucketView(PREFIX2));
    expect(restoredKeys.map((k) => k.split("/")[1])).toEqual([onDisk.id]);
    const read = await bucketView(PREFIX2).read(restoredKeys[0]!);
    const hash = new Bun.CryptoHasher("sha256");
    for await (const chunk of read!.body) hash.update(chunk);
    expect(hash.digest("hex")).toBe(sha256Hex(data));
    expect(existsSync(join(work, "restored-s3", "files", restoredKeys[0]!))).toBe(false);
    const verified = runCli(["verify", "--data-dir", join(work, "restored-s3"), "--json"], { env: s3Env(PREFIX2) });
    expect(verified.code).toBe(0);
    expect(JSON.parse(verified.stdout)).toMatchObject({ ok: true, files_checked: 1, bytes_checked: data.length, storage: `s3://${BUCKET}/${PREFIX2}` });

    // A bucket prefix that already holds objects is refused, and left as it was.
    const again = runCli(["restore", fromDisk, "--data-dir", join(work, "restored-s3-again")], { env: s3Env(PREFIX2) });
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(
      /^clientcove: refusing to restore into s3:\/\/\S+: it is not empty \(e\.g\. org_\w+\/file_\w+\); restore into an empty bucket or prefix\n$/,
    );
    expect(await keysIn(bucketView(PREFIX2))).toEqual(restoredKeys);
  });

  test("delete removes the object from the bucket", async () => {
    const file = await uploadTo(s3, pseudoRandomBytes(1000, 3), "gone.bin");
    const key = (await keysIn(bucketView(PREFIX))).find((k) => k.endsWith(`/${file.id}`))!;
    const res = await fetch(`${s3.url}/v1/files/${file.id}`, { method: "DELETE", headers: { authorization: `Bearer ${s3.key}` } });
    expect(res.status).toBe(204);
    expect(await bucketView(PREFIX).stat(key)).toBeNull();
    const head = await signedRequest(server!, "HEAD", `/${BUCKET}/${PREFIX}/${key}`);
    await head.body?.cancel();
    expect(head.status).toBe(404);
    expect((await fetch(`${s3.url}/v1/files/${file.id}/content`, { headers: { authorization: `Bearer ${s3.key}` } })).status).toBe(404);
  });

  test("verify reports an object missing from the bucket and an orphan in it; the download is a clear 500", async () => {
    const keys = await keysIn(bucketView(PREFIX));
    const key = keys.find((k) => k.endsWith(`/${onS3.id}`))!;
    await bucketView(PREFIX).delete(key);
    await bucketView(PREFIX).put("org_stray/file_nobody", once(new TextEncoder().encode("leftover")));
    const r = runCli(["verify", "--data-dir", s3.dir, "--json"], { env: s3Env(PREFIX) });
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout);
    expect(report.storage).toBe(`s3://${BUCKET}/${PREFIX}`);
    expect(report.problems).toEqual([
      {
        kind: "missing",
        file_id: onS3.id,
        org_id: key.split("/")[0],
        path: `s3://${BUCKET}/${PREFIX}/${key}`,
        message: `bytes missing (expected ${data.length} bytes at s3://${BUCKET}/${PREFIX}/${key})`,
      },
    ]);
    expect(report.orphans).toEqual([{ path: `s3://${BUCKET}/${PREFIX}/org_stray/file_nobody`, size: 8 }]);
    const text = runCli(["verify", "--data-dir", s3.dir], { env: s3Env(PREFIX) });
    expect(text.stdout).toContain(`Storage: s3://${BUCKET}/${PREFIX}\n`);
    const res = await fetch(`${s3.url}/v1/files/${onS3.id}/content`, { headers: { authorization: `Bearer ${s3.key}` } });
    expect(res.status).toBe(500);
    expect(((await res.json()) as { error: string }).error).toBe("file_content_missing");
    await bucketView(PREFIX).delete("org_stray/file_nobody");
  });
});

describeS3("the start-up sweep on S3 storage", () => {
  test("aborts multipart uploads begun over a day ago (not younger ones: other instances' uploads), and settles this data dir's intents", async () => {
    const env = await createTestEnv();
    const prefix = `sweep-${randomBytes(4).toString("hex")}`;
    const storage = bucketView(prefix);
    try {
      // A crash mid-upload: an upload begun and never completed nor aborted.
      const created = await signedRequest(server!, "POST", `/${BUCKET}/${prefix}/org_a/file_crashed`, { uploads: "" });
      expect(created.status).toBe(200);
      await created.text();
      // A crash after the object was complete but before its row committed: the intent names it.
      await storage.put("org_a/file_norow", once(new Uint8Array(10)));
      await writeIntent(dataDirLayout(env.dir).tmp, [{ id: "file_norow", key: "org_a/file_norow" }]);

      const now = Date.now();
      const sweep = (at: number) => removeUploadLeftovers({ dataDir: env.dir, stores: env.deps.stores, storage, clock: manualClock(at) });
      expect(await sweep(now)).toEqual({ removedTemp: 1, removedObjects: 1, abortedUploads: 0 });
      expect(await storage.stat("org_a/file_norow")).toBeNull();
      expect((await storage.pendingUploads()).map((u) => u.key)).toEqual(["org_a/file_crashed"]);
      expect(await sweep(now + STALE_UPLOAD_MS + 60_000)).toEqual({ removedTemp: 0, removedObjects: 0, abortedUploads: 1 });
      expect(await storage.pendingUploads()).toEqual([]);
      expect(await uploadLeftovers(prefix)).toEqual([]);
    } finally {
      env.close();
    }
  });
});

describe("start-up errors and secrets (no S3 server needed)", () => {
  const dir = tempDir("cc-files-s3-cli");
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const oneLine = (r: { code: number; stderr: string }, code: number, message: RegExp) => {
    expect(r.code).toBe(code);
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trimEnd().split("\n")).toHaveLength(1);
  };

  test("a bad storage URL: one line, exit 2 (serve and the ops commands)", () => {
    const env = s3Env("p", { CLIENTCOVE_STORAGE_URL: "s3://ab?endpoint=http://127.0.0.1:9" });
    oneLine(
      runCli(["serve", "--data-dir", dir, "--port", "0"], { env }),
      2,
      /^clientcove: CLIENTCOVE_STORAGE_URL: invalid storage URL: bucket "ab" is not a valid bucket name/,
    );
    oneLine(
      runCli(["verify", "--data-dir", dir, "--storage-url", "https://bucket/x"], { env: NO_AMBIENT_CREDENTIALS }),
      2,
      /--storage-url: invalid storage URL: .*does not start with s3:\/\//,
    );
  });

  test("missing credentials: one line naming what to set, exit 2", () => {
    const env = s3Env("p", { CLIENTCOVE_S3_SECRET_ACCESS_KEY: undefined });
    oneLine(
      runCli(["serve", "--data-dir", dir, "--port", "0"], { env }),
      2,
      /^clientcove: --storage-url is set but the S3 secret access key is missing; set CLIENTCOVE_S3_ACCESS_KEY_ID and CLIENTCOVE_S3_SECRET_ACCESS_KEY/,
    );
    oneLine(
      runCli(["backup", "--data-dir", dir, "--out", join(dir, "b.tar.gz")], {
        env: s3Env("p", { CLIENTCOVE_S3_ACCESS_KEY_ID: undefined, CLIENTCOVE_S3_SECRET_ACCESS_KEY: undefined }),
      }),
      2,
      /the S3 access key id and secret access key are missing/,
    );
  });

  test("credentials: AWS_* as a fallback, but never mixed with ours; a stray session token is refused", () => {
    const url = storageUrl("p", "bucket", `http://127.0.0.1:${freePort()}`);
    const config = (env: Record<string, string | undefined>) =>
      runCli(["config", "--json"], { env: { ...NO_AMBIENT_CREDENTIALS, CLIENTCOVE_STORAGE_URL: url, ...env } });
    const aws = config({ AWS_ACCESS_KEY_ID: "AKIAEXAMPLE", AWS_SECRET_ACCESS_KEY: "aws-secret", AWS_SESSION_TOKEN: "aws-token" });
    expect(aws.code).toBe(0);
    const settings = JSON.parse(aws.stdout).settings;
    expect(settings["s3-access-key-id"]).toEqual({ value: "********", source: "env", from: "AWS_ACCESS_KEY_ID" });
    expect(settings["s3-secret-access-key"]).toEqual({ value: "********", source: "env", from: "AWS_SECRET_ACCESS_KEY" });
    expect(settings["s3-session-token"]).toEqual({ value: "********", source: "env", from: "AWS_SESSION_TOKEN" });
    expect(settings["storage-url"].value).toBe(url);
    for (const secret of ["AKIAEXAMPLE", "aws-secret", "aws-token"]) expect(aws.stdout).not.toContain(secret);
    const text = runCli(["config"], {
      env: { ...NO_AMBIENT_CREDENTIALS, CLIENTCOVE_STORAGE_URL: url, CLIENTCOVE_S3_ACCESS_KEY_ID: "ours", CLIENTCOVE_S3_SECRET_ACCESS_KEY: "our-secret" },
    });
    expect(text.code).toBe(0);
    expect(text.stdout).not.toContain("our-secret");

    oneLine(
      config({ CLIENTCOVE_S3_ACCESS_KEY_ID: "ours", AWS_SECRET_ACCESS_KEY: "theirs" }),
      2,
      /the S3 access key id comes from CLIENTCOVE_S3_ACCESS_KEY_ID but the secret access key from AWS_SECRET_ACCESS_KEY/,
    );
    oneLine(
      config({ CLIENTCOVE_S3_ACCESS_KEY_ID: "ours", CLIENTCOVE_S3_SECRET_ACCESS_KEY: "our-secret", AWS_SESSION_TOKEN: "not-for-these-keys" }),
      2,
      /AWS_SESSION_TOKEN is set but the S3 keys come from CLIENTCOVE_S3_ACCESS_KEY_ID/,
    );
    oneLine(
      config({ CLIENTCOVE_S3_ACCESS_KEY_ID: "ours", CLIENTCOVE_S3_SECRET_ACCESS_KEY: "our-secret", S3_SESSION_TOKEN: "bun-would-send-it" }),
      2,
      /S3_SESSION_TOKEN is set but the S3 credentials given have no session token/,
    );
    // Without a storage URL, AWS_* in the environment are nobody's business.
    expect(runCli(["config"], { env: { ...NO_AMBIENT_CREDENTIALS, AWS_SESSION_TOKEN: "x", AWS_ACCESS_KEY_ID: "y" } }).code).toBe(0);
  });

  test("a bucket that does not answer: serve, verify, backup and restore say so in one line, exit 2, before touching anything", () => {
    const env = s3Env("p", { CLIENTCOVE_STORAGE_URL: storageUrl("p", "bucket", `http://127.0.0.1:${freePort()}`) });
    // An archive that exists (restore looks for it first, then asks the bucket before reading it).
    writeFileSync(join(dir, "none.tar.gz"), "");
    for (const args of [
      ["serve", "--data-dir", join(dir, "serve"), "--port", "0"],
      ["verify", "--data-dir", dir],
      ["backup", "--data-dir", dir, "--out", join(dir, "b.tar.gz")],
      ["restore", join(dir, "none.tar.gz"), "--data-dir", join(dir, "target")],
    ]) {
      const r = runCli(args, { env });
      oneLine(r, 2, /^clientcove: storage s3:\/\/bucket\/p is not reachable: .+; check --storage-url and the S3 credentials\n$/);
      expect(r.stderr).not.toContain(env.CLIENTCOVE_S3_SECRET_ACCESS_KEY!);
    }
    expect(existsSync(join(dir, "target"))).toBe(false);
    expect(existsSync(join(dir, "b.tar.gz"))).toBe(false);
  });
});

afterAll(async () => {
  if (!server) return;
  // No test may leave a multipart upload pending; then the bucket goes.
  expect(await server.pendingUploads(BUCKET)).toEqual([]);
  const all = createS3Storage({
    bucket: BUCKET,
    prefix: "",
    endpoint: server.endpoint,
    region: server.region,
    pathStyle: true,
    accessKeyId: server.accessKeyId,
    secretAccessKey: server.secretAccessKey,
  });
  for await (const o of all.list()) {
    const res = await signedRequest(server, "DELETE", `/${BUCKET}/${o.key}`);
    await res.body?.cancel();
  }
  await server.deleteBucket(BUCKET).catch(() => {});
});
