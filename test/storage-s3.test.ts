// The S3 storage driver against a real S3-compatible server (test/services/s3.ts): the storage contract, aborts, crash leftovers, memory, URLs.
import { afterAll, describe, expect, test } from "bun:test";
import { S3Client } from "bun";
import { rmSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { checkS3, createS3Storage, DEFAULT_PART_BYTES, parseStorageUrl, type S3Storage, type S3StorageOptions } from "../src/storage/s3";
import { openStorage } from "../src/storage";
import { BUN, cleanEnv, freePort, tempDir } from "./helpers";
import { abortUploadsOf, partsOf, s3Server, signedRequest } from "./services/s3";
import { describeStorageContract } from "./storage.contract";

const server = await s3Server();
const BUCKET = `cc-test-${randomBytes(4).toString("hex")}`;
if (server) await server.createBucket(BUCKET);
else console.warn("storage-s3.test.ts: S3 tests skipped (no S3-compatible server; see the line above)");

/** A driver on the test bucket under a fresh prefix, so tests never see each other's objects. */
function driver(over: Partial<S3StorageOptions> = {}): S3Storage {
  return createS3Storage({
    bucket: BUCKET,
    prefix: `t-${randomBytes(6).toString("hex")}`,
    endpoint: server!.endpoint,
    region: server!.region,
    pathStyle: true,
    accessKeyId: server!.accessKeyId,
    secretAccessKey: server!.secretAccessKey,
    ...over,
  });
}

/**
 * Pending multipart uploads of one object and, on Swift, its parts in the segments container when there is no object
 * (a completed multipart object on Swift is made of those segments).
 */
async function leftoversOf(objectKey: string): Promise<string[]> {
  const pending = (await server!.pendingUploads(BUCKET, objectKey)).filter((u) => u.key === objectKey).map((u) => `upload ${u.key} ${u.uploadId}`);
  const head = await signedRequest(server!, "HEAD", `/${BUCKET}/${objectKey}`);
  await head.body?.cancel();
  if (head.ok) return pending;
  const segments = ((await server!.segments(BUCKET)) ?? []).filter((name) => name.startsWith(`${objectKey}/`)).map((name) => `segment ${name}`);
  return [...pending, ...segments];
}

async function* generated(total: number) {
  for (let sent = 0; sent < total; sent += 65_536) yield new Uint8Array(Math.min(65_536, total - sent)).fill(sent & 255);
}

const describeS3 = describe.skipIf(!server);

if (server) {
  for (const style of ["path-style", "virtual-hosted"] as const) {
    if (style === "virtual-hosted" && !server.virtualHostedEndpoint) continue;
    describeStorageContract(`s3, ${style}`, async () => {
      const prefix = `c-${randomBytes(6).toString("hex")}`;
      const storage = driver(style === "path-style" ? { prefix } : { prefix, pathStyle: false, endpoint: server.virtualHostedEndpoint });
      return {
        storage,
        leftovers: (key) => leftoversOf(`${prefix}/${key}`),
        largeSize: 2 * DEFAULT_PART_BYTES + 12_345,
        close() {},
      };
    });
  }
}

describeS3("s3 driver", () => {
  test("objects live at <prefix>/<key>; list() gives them back without the prefix, optionally under a sub-prefix", async () => {
    const storage = driver({ prefix: "lists/deeper" });
    for (const key of ["org_a/file_1", "org_a/file_2", "org_b/file_3"]) await storage.put(key, generated(10));
    const all: string[] = [];
    for await (const o of storage.list()) {
      expect(o.size).toBe(10);
      all.push(o.key);
    }
    expect(all).toEqual(["org_a/file_1", "org_a/file_2", "org_b/file_3"]);
    const underB: string[] = [];
    for await (const o of storage.list("org_b/")) underB.push(o.key);
    expect(underB).toEqual(["org_b/file_3"]);
    expect(storage.description).toBe(`s3://${BUCKET}/lists/deeper`);
    for (const key of all) await storage.delete(key);
  });

  test("S3 failing the upload part-way (the upload vanished before part 3) rejects the put and leaves nothing", async () => {
    const prefix = `t-${randomBytes(6).toString("hex")}`;
    const storage = driver({ prefix });
    const objectKey = `${prefix}/org_a/vanishing`;
    async function* source() {
      yield* generated(2 * DEFAULT_PART_BYTES + 1);
      // Parts 1 and 2 are stored and nothing is in flight: another client aborts the upload under the driver's feet.
      while ((await partsOf(server!, BUCKET, objectKey)) < 2) await Bun.sleep(20);
      expect(await abortUploadsOf(server!, BUCKET, objectKey)).toBe(1);
      yield* generated(DEFAULT_PART_BYTES + 1);
    }
    await expect(storage.put("org_a/vanishing", source())).rejects.toThrow(/NoSuchUpload/);
    expect(await storage.stat("org_a/vanishing")).toBeNull();
    expect(await leftoversOf(objectKey)).toEqual([]);
  });

  test("a bucket that does not exist fails the put before anything is stored", async () => {
    const storage = driver({ bucket: `${BUCKET}-missing` });
    await expect(storage.put("org_a/file_x", generated(2 * DEFAULT_PART_BYTES + 1))).rejects.toThrow(/NoSuchBucket/);
    await expect(storage.put("org_a/file_y", generated(10))).rejects.toThrow(/NoSuchBucket|does not exist/);
  });

  test("a crash mid-upload leaves a pending upload that abortUploadsBefore removes, with its parts", async () => {
    const prefix = `t-${randomBytes(6).toString("hex")}`;
    const storage = driver({ prefix });
    const child = Bun.spawn([BUN, join(import.meta.dir, "storage-s3.child.ts"), "hang"], {
      env: cleanEnv({ CC_S3_CHILD: JSON.stringify({ ...server, bucket: BUCKET, prefix }) }),
      stdout: "pipe",
      stderr: "inherit",
    });
    const reader = child.stdout.getReader();
    let out = "";
    while (!out.includes("parts sent")) {
      const { done, value } = await reader.read();
      if (done) throw new Error(`child ended early: ${out}`);
      out += new TextDecoder().decode(value);
    }
    child.kill("SIGKILL");
    await child.exited;
    expect((await storage.pendingUploads()).map((u) => u.key)).toEqual(["org_a/crashed"]);
    expect(await storage.abortUploadsBefore(0)).toBe(0); // begun after the epoch: kept
    expect(await storage.abortUploadsBefore(Number.MAX_SAFE_INTEGER)).toBe(1);
    expect(await storage.pendingUploads()).toEqual([]);
    expect(await leftoversOf(`${prefix}/org_a/crashed`)).toEqual([]);
    expect(await storage.stat("org_a/crashed")).toBeNull();
  });

  test("a few hundred MiB stream through with bounded memory (measured in a child process)", async () => {
    const mib = 256;
    // Bun's S3 client falls back to S3_* / AWS_* variables: wrong ones in the environment must not matter.
    const decoys = { S3_ENDPOINT: "http://127.0.0.1:9", AWS_ACCESS_KEY_ID: "decoy", S3_BUCKET: "decoy", AWS_REGION: "eu-decoy-1" };
    const child = Bun.spawnSync([BUN, join(import.meta.dir, "storage-s3.child.ts"), "rss", String(mib)], {
      env: cleanEnv({ ...decoys, CC_S3_CHILD: JSON.stringify({ ...server, bucket: BUCKET, prefix: "rss" }) }),
      stderr: "pipe",
    });
    expect(child.stderr.toString()).toBe("");
    const result = JSON.parse(child.stdout.toString());
    console.log(`s3 upload of ${mib} MiB: RSS growth ${result.growthMiB.toFixed(1)} MiB`);
    expect(result.size).toBe(mib * 1024 * 1024);
    expect(result.storedSize).toBe(mib * 1024 * 1024);
    expect(result.readBack).toBe(true);
    expect(result.growthMiB).toBeLessThan(96);
  }, 120_000);

  test("a session token in the environment that the credentials do not carry is refused (Bun's client would send it)", () => {
    const saved = process.env.AWS_SESSION_TOKEN;
    process.env.AWS_SESSION_TOKEN = "from-some-other-profile";
    try {
      expect(() => driver()).toThrow("AWS_SESSION_TOKEN is set but the S3 credentials given have no session token");
      expect(() => driver({ sessionToken: "given" })).not.toThrow();
    } finally {
      if (saved === undefined) delete process.env.AWS_SESSION_TOKEN;
      else process.env.AWS_SESSION_TOKEN = saved;
    }
  });

  test("checkS3: true for a reachable bucket, false (never a throw) for wrong credentials, a missing bucket, a dead endpoint", async () => {
    expect(await checkS3(driver())).toBe(true);
    expect(await checkS3(driver({ secretAccessKey: "wrong" }))).toBe(false);
    expect(await checkS3(driver({ bucket: `${BUCKET}-missing` }))).toBe(false);
    expect(await checkS3(driver({ endpoint: `http://127.0.0.1:${freePort()}` }), 500)).toBe(false);
    const dir = tempDir("s3-local");
    expect(await checkS3(openStorage({ dataDir: dir }))).toBe(true);
    rmSync(dir, { recursive: true, force: true });
  });
});

describe("parseStorageUrl", () => {
  test("good URLs", () => {
    const cases: [string, ReturnType<typeof parseStorageUrl>][] = [
      ["s3://files", { bucket: "files", prefix: "", endpoint: undefined, region: "us-east-1", pathStyle: false }],
      ["s3://files/", { bucket: "files", prefix: "", endpoint: undefined, region: "us-east-1", pathStyle: false }],
      ["s3://files/cove/prod/?region=eu-west-3", { bucket: "files", prefix: "cove/prod", endpoint: undefined, region: "eu-west-3", pathStyle: false }],
      [
        "s3://my-bucket/p?endpoint=https://minio.internal:9000&region=us-east-1",
        { bucket: "my-bucket", prefix: "p", endpoint: "https://minio.internal:9000", region: "us-east-1", pathStyle: true },
      ],
      [
        "s3://my.bucket?endpoint=http://127.0.0.1:8080/&path_style=true",
        { bucket: "my.bucket", prefix: "", endpoint: "http://127.0.0.1:8080", region: "us-east-1", pathStyle: true },
      ],
      [
        "s3://b-1?endpoint=https://s3.example.com&path_style=false",
        { bucket: "b-1", prefix: "", endpoint: "https://s3.example.com", region: "us-east-1", pathStyle: false },
      ],
      ["  S3://Legacy_Bucket/a?path_style=1  ", { bucket: "Legacy_Bucket", prefix: "a", endpoint: undefined, region: "us-east-1", pathStyle: true }],
    ];
    for (const [raw, expected] of cases) expect(parseStorageUrl(raw), raw).toEqual(expected);
  });

  test("bad URLs: one clear line each, never echoing credentials", () => {
    const cases: [string, RegExp][] = [
      ["", /expected s3:\/\/bucket/],
      ["https://bucket/x", /does not start with s3:\/\//],
      ["s3://", /bucket name is missing/],
      ["s3:///prefix", /bucket name is missing/],
      ["s3://ab", /not a valid bucket name/],
      ["s3://-bucket", /not a valid bucket name/],
      ["s3://bu..cket?path_style=true", /not a valid bucket name/],
      ["s3://AKIA:s3cr3t@bucket", /credentials do not belong in the storage URL/],
      ["s3://bucket:9000", /cannot have a port/],
      ["s3://bucket#x", /no #fragment/],
      ["s3://bucket/a//b", /empty segment/],
      ["s3://bucket/a/../b", /`\.` or `\.\.`/],
      ["s3://bucket/a%20b", /characters other than/],
      ["s3://bucket?regin=eu", /unknown parameter "regin"/],
      ["s3://bucket?region=eu&region=us", /given twice/],
      ["s3://bucket?region=EU_WEST", /not a region name/],
      ["s3://bucket?path_style=yes", /path_style must be true or false/],
      ["s3://bucket?endpoint=ftp://host", /http:\/\/ or https:\/\//],
      ["s3://bucket?endpoint=not a url", /http:\/\/ or https:\/\//],
      ["s3://bucket?endpoint=https://key:secret@host", /must not carry credentials/],
      ["s3://bucket?endpoint=https://host/path", /bare origin/],
      ["s3://my.bucket", /cannot be a host name.*path_style=true/],
      ["s3://Upper?endpoint=https://h&path_style=false", /cannot be a host name/],
    ];
    for (const [raw, message] of cases) {
      let error: Error | undefined;
      try {
        parseStorageUrl(raw);
      } catch (err) {
        error = err as Error;
      }
      expect(error, raw).toBeInstanceOf(Error);
      expect(error!.message, raw).toMatch(message);
      expect(error!.message, raw).toStartWith("invalid storage URL: ");
      expect(error!.message.includes("\n"), raw).toBe(false);
      expect(error!.message.includes("s3cr3t") || error!.message.includes("secret@"), raw).toBe(false);
    }
  });
});

afterAll(async () => {
  if (!server) return;
  // No test may leave a multipart upload pending; then the bucket goes (it matters on an external server).
  expect(await server.pendingUploads(BUCKET)).toEqual([]);
  const client = new S3Client({ ...server, bucket: BUCKET, sessionToken: "" });
  for (let page = await client.list(); ; page = await client.list({ continuationToken: page.nextContinuationToken })) {
    for (const o of page.contents ?? []) await client.delete(o.key);
    if (!page.isTruncated) break;
  }
  await server.deleteBucket(BUCKET).catch(() => {});
});
