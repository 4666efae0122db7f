// The storage driver contract (put a stream all or nothing, open whole or a range, read, stat, list, delete, key rules), run unchanged against every driver.
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { NotFoundInStorage, type Storage } from "../src/storage/storage";
import { pseudoRandomBytes, sha256Hex } from "./files-fixtures";

/** One driver over fresh, empty storage. */
export interface OpenedStorage {
  storage: Storage;
  /**
   * Whatever a put of `key` may have left besides the object itself: temp files, pending multipart uploads, parts.
   * Empty after every put (it succeeded or it failed) and after a delete.
   */
  leftovers(key: string): Promise<string[]>;
  /** Bytes that certainly take more than one part / write (a multi-part upload on S3). */
  largeSize: number;
  close(): Promise<void> | void;
}

async function* chunks(...parts: (string | Uint8Array)[]) {
  for (const p of parts) yield typeof p === "string" ? new TextEncoder().encode(p) : p;
}

/** `data` in pieces of `step` bytes (odd sizes, so pieces never line up with part boundaries). */
async function* pieces(data: Uint8Array, step = 100_003) {
  for (let i = 0; i < data.length; i += step) yield data.subarray(i, i + step);
}

/** `good` bytes, then a failure, as a client that goes away mid-upload. */
async function* failingAfter(good: number, message: string) {
  yield* pieces(pseudoRandomBytes(good, 9));
  throw new Error(message);
}

async function bytes(blob: Blob): Promise<Uint8Array> {
  return new Uint8Array(await blob.arrayBuffer());
}

export function describeStorageContract(driverName: string, open: () => Promise<OpenedStorage>) {
  describe(`storage contract (${driverName})`, () => {
    let w: OpenedStorage;
    let storage: Storage;
    beforeEach(async () => {
      w = await open();
      storage = w.storage;
    });
    afterEach(() => w.close());

    test("put streams to the key; open (whole and ranges), stat, delete; a missing key is null, fine to delete, NotFoundInStorage to open", async () => {
      const data = pseudoRandomBytes(300_000);
      const stat = await storage.put("org_a/file_1", chunks(data.subarray(0, 1000), data.subarray(1000)));
      expect(stat.size).toBe(data.length);
      expect(Number.isFinite(stat.modifiedAt)).toBe(true);
      expect(await w.leftovers("org_a/file_1")).toEqual([]);
      expect(sha256Hex(await bytes(await storage.open("org_a/file_1")))).toBe(sha256Hex(data));
      expect(await bytes(await storage.open("org_a/file_1", { start: 10, end: 19 }))).toEqual(data.slice(10, 20));
      expect(await bytes(await storage.open("org_a/file_1", { start: 0, end: 0 }))).toEqual(data.slice(0, 1));
      expect(await bytes(await storage.open("org_a/file_1", { start: data.length - 1, end: data.length - 1 }))).toEqual(data.slice(-1));
      const s = await storage.stat("org_a/file_1");
      expect(s?.size).toBe(data.length);
      expect(Number.isFinite(s?.modifiedAt)).toBe(true);
      await storage.delete("org_a/file_1");
      expect(await storage.stat("org_a/file_1")).toBeNull();
      await storage.delete("org_a/file_1"); // missing is fine
      await expect(storage.open("org_a/file_1")).rejects.toBeInstanceOf(NotFoundInStorage);
      await expect(storage.open("org_a/never", { start: 0, end: 0 })).rejects.toBeInstanceOf(NotFoundInStorage);
    });

    test("an empty source stores an empty object", async () => {
      expect((await storage.put("org_a/empty", chunks())).size).toBe(0);
      expect((await storage.stat("org_a/empty"))?.size).toBe(0);
      expect((await bytes(await storage.open("org_a/empty"))).length).toBe(0);
    });

    test("a web ReadableStream is a source too", async () => {
      const data = pseudoRandomBytes(70_000, 3);
      await storage.put("org_a/web", new Response(data).body!);
      expect(await bytes(await storage.open("org_a/web"))).toEqual(data);
    });

    test("a large source (several parts) arrives whole; a range across a part boundary is exact", async () => {
      const data = pseudoRandomBytes(w.largeSize, 5);
      expect((await storage.put("org_a/large", pieces(data))).size).toBe(data.length);
      expect(await w.leftovers("org_a/large")).toEqual([]);
      expect(sha256Hex(await bytes(await storage.open("org_a/large")))).toBe(sha256Hex(data));
      const mid = Math.floor(data.length / 2);
      for (const boundary of [5 * 1024 * 1024, mid]) {
        const range = { start: boundary - 3, end: boundary + 2 };
        expect(await bytes(await storage.open("org_a/large", range))).toEqual(data.slice(range.start, range.end + 1));
      }
      await storage.delete("org_a/large");
      expect(await storage.stat("org_a/large")).toBeNull();
      expect(await w.leftovers("org_a/large")).toEqual([]);
    });

    test("an existing object is replaced", async () => {
      await storage.put("org_a/again", chunks("first version"));
      await storage.put("org_a/again", chunks("second"));
      expect(await (await storage.open("org_a/again")).text()).toBe("second");
      expect((await storage.stat("org_a/again"))?.size).toBe(6);
    });

    test("open is lazy: the bytes are read when the Blob is, not when it is opened", async () => {
      await storage.put("org_a/lazy", chunks("old bytes"));
      const blob = await storage.open("org_a/lazy");
      await storage.put("org_a/lazy", chunks("new bytes!"));
      expect(await blob.text()).toBe("new bytes!");
    });

    test("a source that fails mid-way leaves nothing at the key and nothing behind", async () => {
      await expect(storage.put("org_a/file_2", failingAfter(5000, "client went away"))).rejects.toThrow("client went away");
      expect(await storage.stat("org_a/file_2")).toBeNull();
      expect(await w.leftovers("org_a/file_2")).toEqual([]);
    });

    test("a source that fails after several parts leaves nothing at the key and nothing behind", async () => {
      await expect(storage.put("org_a/file_3", failingAfter(w.largeSize, "cut off"))).rejects.toThrow("cut off");
      expect(await storage.stat("org_a/file_3")).toBeNull();
      expect(await w.leftovers("org_a/file_3")).toEqual([]);
    });

    test("a failed put does not disturb an object already stored at another key", async () => {
      await storage.put("org_a/keep", chunks("keep me"));
      await expect(storage.put("org_a/other", failingAfter(10, "boom"))).rejects.toThrow("boom");
      expect(await (await storage.open("org_a/keep")).text()).toBe("keep me");
    });

    test("read: the whole object with its size, at once; null for a missing key; an empty object is empty", async () => {
      const data = pseudoRandomBytes(w.largeSize, 11);
      await storage.put("org_a/whole", pieces(data));
      const read = await storage.read("org_a/whole");
      expect(read?.size).toBe(data.length);
      const hash = new Bun.CryptoHasher("sha256");
      let length = 0;
      for await (const chunk of read!.body) {
        hash.update(chunk);
        length += chunk.byteLength;
      }
      expect(length).toBe(data.length);
      expect(hash.digest("hex")).toBe(sha256Hex(data));
      expect(await storage.read("org_a/never")).toBeNull();
      await storage.put("org_a/none", chunks());
      const empty = await storage.read("org_a/none");
      expect(empty?.size).toBe(0);
      for await (const _ of empty!.body) throw new Error("an empty object yielded bytes");
    });

    test("read: once opened, the bytes stay readable to the end though the object is deleted meanwhile", async () => {
      const data = pseudoRandomBytes(300_000, 13);
      await storage.put("org_a/going", chunks(data));
      const read = await storage.read("org_a/going");
      await storage.delete("org_a/going");
      expect(await storage.stat("org_a/going")).toBeNull();
      const got: Uint8Array[] = [];
      for await (const chunk of read!.body) got.push(chunk);
      expect(sha256Hex(Buffer.concat(got))).toBe(sha256Hex(data));
    });

    test("list: every object with its size, keys as put takes them, in key order; a prefix narrows it; deletes show", async () => {
      if (!storage.list) return;
      const listed = async (prefix?: string) => {
        const out: { key: string; size: number }[] = [];
        for await (const o of storage.list!(prefix)) {
          expect(Number.isFinite(o.modifiedAt)).toBe(true);
          out.push({ key: o.key, size: o.size });
        }
        return out;
      };
      expect(await listed()).toEqual([]);
      // "org_a" < "org_a-b" as org directories, but "org_a-b/…" < "org_a/…" as keys: the order is the keys'.
      for (const [key, size] of [
        ["org_b/file_2", 3],
        ["org_a/file_9", 1],
        ["org_a-b/file_1", 4],
        ["org_a/file_10", 2],
      ] as const)
        await storage.put(key, chunks(new Uint8Array(size)));
      expect(await listed()).toEqual([
        { key: "org_a-b/file_1", size: 4 },
        { key: "org_a/file_10", size: 2 },
        { key: "org_a/file_9", size: 1 },
        { key: "org_b/file_2", size: 3 },
      ]);
      expect((await listed("org_a/")).map((o) => o.key)).toEqual(["org_a/file_10", "org_a/file_9"]);
      expect((await listed("org_a")).map((o) => o.key)).toEqual(["org_a-b/file_1", "org_a/file_10", "org_a/file_9"]);
      await storage.delete("org_a/file_9");
      expect((await listed("org_a/")).map((o) => o.key)).toEqual(["org_a/file_10"]);
    });

    test("locate names where a key's bytes are, for messages", () => {
      expect(storage.locate("org_a/file_1")).toEndWith("/org_a/file_1");
    });

    test("keys are ids only: traversal and odd characters are refused", async () => {
      // One rule (storage/layout.ts), the same verify and restore apply: exactly `<org_id>/<file_id>`, ids only.
      for (const key of ["../etc/passwd", "org/../../x", "/abs", "a//b", "a/b/", "name with space", "a/..", "org_a", "org_a/b/c", "org.a/file_b"]) {
        await expect(storage.put(key, chunks("x"))).rejects.toThrow(/invalid storage key/);
        await expect(storage.stat(key)).rejects.toThrow(/invalid storage key/);
        await expect(storage.open(key)).rejects.toThrow(/invalid storage key/);
        await expect(storage.delete(key)).rejects.toThrow(/invalid storage key/);
        await expect(storage.read(key)).rejects.toThrow(/invalid storage key/);
      }
    });
  });
}
