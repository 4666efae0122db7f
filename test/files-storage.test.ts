// The local storage driver (the shared contract and the data dir's layout), crash recovery (intents and the start-up sweep), type detection and filename rules, as units.
import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { clearIntent, removeUploadLeftovers, writeIntent, writeIntentSync } from "../src/files/recovery";
import { cleanFilename, contentDisposition } from "../src/files/filename";
import { detectMimeType, isInlineSafe } from "../src/files/mime";
import { parseRange } from "../src/files/download";
import { openStorage } from "../src/storage";
import { dataDirLayout } from "../src/storage/layout";
import { createTestEnv, tempDir, type TestEnv } from "./helpers";
import { listObjects, listTemp, pseudoRandomBytes, uploadOk } from "./files-fixtures";
import { describeStorageContract } from "./storage.contract";

const dirs: string[] = [];
function freshDir(): string {
  const d = tempDir("storage");
  dirs.push(d);
  return d;
}
afterEach(() => {
  while (dirs.length) rmSync(dirs.pop()!, { recursive: true, force: true });
});

async function* chunks(...parts: (string | Uint8Array)[]) {
  for (const p of parts) yield typeof p === "string" ? new TextEncoder().encode(p) : p;
}

describeStorageContract("local", async () => {
  const dir = tempDir("storage");
  const { tmp } = dataDirLayout(dir);
  return {
    storage: openStorage({ dataDir: dir }),
    // Uploads in progress live in tmp/ as <random>.part: nothing may stay there once a put has settled.
    leftovers: async () => (existsSync(tmp) ? readdirSync(tmp) : []),
    largeSize: 3 * 1024 * 1024 + 12_345,
    close: () => rmSync(dir, { recursive: true, force: true }),
  };
});

describe("local storage driver: the data dir's layout", () => {
  test("objects are files at <dataDir>/files/<key>, private (dirs 0700, files 0600); locate names files/<key>", async () => {
    const dir = freshDir();
    const storage = openStorage({ dataDir: dir });
    const data = pseudoRandomBytes(300_000);
    await storage.put("org_a/file_1", chunks(data.subarray(0, 1000), data.subarray(1000)));
    expect(readFileSync(join(dir, "files", "org_a", "file_1"))).toEqual(Buffer.from(data));
    expect(statSync(join(dir, "files", "org_a")).mode & 0o777).toBe(0o700);
    expect(statSync(join(dir, "files", "org_a", "file_1")).mode & 0o777).toBe(0o600);
    expect(readdirSync(dataDirLayout(dir).tmp)).toEqual([]);
    expect(storage.kind).toBe("local");
    expect(storage.locate("org_a/file_1")).toBe("files/org_a/file_1");
    expect(storage.description).toBe(join(dir, "files"));
  });

  test("list walks files/: what is not a valid key (a stray file, a nested one) is listed too, for verify to report", async () => {
    const dir = freshDir();
    const storage = openStorage({ dataDir: dir });
    await storage.put("org_a/file_1", chunks("abc"));
    mkdirSync(join(dir, "files", "org_a", "deeper"), { recursive: true });
    writeFileSync(join(dir, "files", "org_a", "deeper", "x"), "1234");
    writeFileSync(join(dir, "files", "stray.txt"), "12");
    const keys: [string, number][] = [];
    for await (const o of storage.list!()) keys.push([o.key, o.size]);
    expect(keys).toEqual([
      ["org_a/deeper/x", 4],
      ["org_a/file_1", 3],
      ["stray.txt", 2],
    ]);
    expect(await Array.fromAsync(openStorage({ dataDir: freshDir() }).list!())).toEqual([]);
  });

  test("read opens what is there, a FIFO too (waiting for its writer): backup's tests use one to pause a backup", async () => {
    const dir = freshDir();
    const storage = openStorage({ dataDir: dir });
    mkdirSync(join(dir, "files", "org_a"), { recursive: true });
    expect(Bun.spawnSync(["mkfifo", join(dir, "files", "org_a", "pipe")]).exitCode).toBe(0);
    const reading = storage.read("org_a/pipe");
    const { open } = await import("node:fs/promises");
    await (await open(join(dir, "files", "org_a", "pipe"), "w")).close();
    const read = await reading;
    expect(read?.size).toBe(0);
    expect(await Array.fromAsync(read!.body)).toEqual([]);
  });
});

describe("recovery: intents and the start-up sweep", () => {
  let env: TestEnv | undefined;
  afterEach(() => {
    env?.close();
    env = undefined;
  });

  test("removes partial uploads; deletes objects an intent names without a row; keeps committed ones", async () => {
    env = await createTestEnv();
    const a = await env.org("Acme");
    const committed = await uploadOk(env, a.key, { content: "committed" });
    const storage = openStorage(env.config);
    const tmpDir = dataDirLayout(env.dir).tmp;
    // A crash after the rename but before the commit: bytes in place, no row, intent on disk.
    await storage.put(`${a.orgId}/file_orphan0000000000`, chunks("orphan"));
    await writeIntent(tmpDir, [{ id: "file_orphan0000000000", key: `${a.orgId}/file_orphan0000000000` }]);
    // A crash after the commit, before the intent was cleared: keep the bytes.
    writeIntentSync(tmpDir, [{ id: committed.id, key: `${a.orgId}/${committed.id}` }]);
    // A crash mid-upload: a partial temp file; and a torn intent.
    writeFileSync(join(tmpDir, "abc.part"), "half");
    writeFileSync(join(tmpDir, "torn.intent"), '{"id":"file_x","ke');
    mkdirSync(join(tmpDir, "stray-dir"));

    const report = await removeUploadLeftovers({ dataDir: env.dir, stores: env.deps.stores, storage });
    expect(report).toEqual({ removedTemp: 5, removedObjects: 1, abortedUploads: 0 });
    expect(listTemp(env.dir)).toEqual([]);
    expect(listObjects(env.dir)).toEqual([`${a.orgId}/${committed.id}`]);
    expect(await (await env.request(`/v1/files/${committed.id}/content`, { key: a.key })).text()).toBe("committed");
  });

  test("an unfinished delete (row gone, bytes left) is finished by the sweep", async () => {
    env = await createTestEnv();
    const a = await env.org("Acme");
    const file = await uploadOk(env, a.key, { content: "to delete" });
    const tmpDir = dataDirLayout(env.dir).tmp;
    writeIntentSync(tmpDir, [{ id: file.id, key: `${a.orgId}/${file.id}` }]);
    await env.db.run("DELETE FROM files WHERE id = ?", file.id);
    await removeUploadLeftovers({ dataDir: env.dir, stores: env.deps.stores, storage: openStorage(env.config) });
    expect(existsSync(join(env.dir, "files", a.orgId, file.id))).toBe(false);
  });

  test("the listing is taken when called: an upload that starts afterwards is not touched", async () => {
    env = await createTestEnv();
    const tmpDir = dataDirLayout(env.dir).tmp;
    mkdirSync(tmpDir, { recursive: true });
    writeFileSync(join(tmpDir, "old.part"), "old");
    const sweeping = removeUploadLeftovers({ dataDir: env.dir, stores: env.deps.stores, storage: openStorage(env.config) });
    const intent = await writeIntent(tmpDir, [{ id: "file_new", key: "org_x/file_new" }]);
    await sweeping;
    expect(listTemp(env.dir)).toEqual([intent.path.slice(tmpDir.length + 1)]);
    await clearIntent(intent);
    expect(listTemp(env.dir)).toEqual([]);
  });

  test("no tmp dir at all is fine", async () => {
    env = await createTestEnv();
    expect(await removeUploadLeftovers({ dataDir: env.dir, stores: env.deps.stores, storage: openStorage(env.config) })).toEqual({
      removedTemp: 0,
      removedObjects: 0,
      abortedUploads: 0,
    });
  });
});

describe("types, filenames, ranges", () => {
  test("detectMimeType: signatures beat extensions; extensions only for formats without a signature", () => {
    const b = (...xs: number[]) => new Uint8Array(xs);
    const tar = new Uint8Array(512);
    tar.set(new TextEncoder().encode("ustar"), 257);
    const cases: [Uint8Array, string, string][] = [
      [tar, "a.tar", "application/x-tar"],
      [new TextEncoder().encode("SQLite format 3\0"), "db", "application/vnd.sqlite3"],
      [b(0, 0, 0, 0x18, ...new TextEncoder().encode("ftypmp42")), "v.mp4", "video/mp4"],
      [b(0, 0, 0, 0x18, ...new TextEncoder().encode("ftypheic")), "p.heic", "image/heic"],
      [b(0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1), "old.doc", "application/msword"],
      [new TextEncoder().encode("ID3\x03"), "song.mp3", "audio/mpeg"],
      [new TextEncoder().encode("BMxxxx\0\0\0\0"), "i.bmp", "image/bmp"],
      [new TextEncoder().encode("BMW drivers"), "cars.txt", "text/plain"],
      [new TextEncoder().encode("{}"), "x.JSON", "application/json"],
      [new TextEncoder().encode("x"), ".bashrc", "application/octet-stream"],
      [new Uint8Array(0), "empty.pdf", "application/octet-stream"],
    ];
    for (const [head, name, type] of cases) expect(detectMimeType(head, name), name).toBe(type);
  });

  test("only passive types are inline", () => {
    for (const t of ["image/png", "image/jpeg", "text/plain", "video/mp4"]) expect(isInlineSafe(t)).toBe(true);
    for (const t of ["text/html", "image/svg+xml", "application/xml", "text/javascript", "application/pdf", "application/octet-stream"])
      expect(isInlineSafe(t)).toBe(false);
  });

  test("cleanFilename and contentDisposition", () => {
    expect(cleanFilename(undefined)).toBe("file");
    expect(cleanFilename("a/b\\c.txt")).toBe("c.txt");
    expect(cleanFilename("x\u0000y\u009b.txt")).toBe("xy.txt");
    expect(contentDisposition("attachment", 'say "hi" 100%.txt')).toBe(
      `attachment; filename="say _hi_ 100_.txt"; filename*=UTF-8''say%20%22hi%22%20100%25.txt`,
    );
    expect(contentDisposition("inline", "it's (1).png")).toBe(`inline; filename="it's (1).png"; filename*=UTF-8''it%27s%20%281%29.png`);
  });

  test("parseRange", () => {
    expect(parseRange(null, 10)).toEqual({ kind: "none" });
    expect(parseRange("bytes=0-", 0)).toEqual({ kind: "unsatisfiable" });
    expect(parseRange("bytes=-1", 0)).toEqual({ kind: "unsatisfiable" });
    expect(parseRange("bytes = 2 - 4", 10)).toEqual({ kind: "range", start: 2, end: 4 });
    expect(parseRange("bytes=-", 10)).toEqual({ kind: "none" });
  });
});
