// The ustar writer and reader against GNU tar: archives each writes, the other reads byte-identically; damage is detected.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { buildHeader, readTar, tarBytes, tarDirectory, tarEnd, TarError } from "../src/ops/tar";
import { tempDir } from "./helpers";
import { bytesOf, sha256 } from "./ops-fixtures";

let work: string;
beforeAll(() => {
  work = tempDir("cc-tar");
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

const LONG = `files/${"o".repeat(60)}/${"f".repeat(90)}`;
const MEMBERS: [string, Uint8Array][] = [
  ["empty.bin", new Uint8Array(0)],
  ["one.bin", bytesOf(1, 1)],
  ["block.bin", bytesOf(512, 2)],
  ["block-plus-one.bin", bytesOf(513, 3)],
  [LONG, bytesOf(70_000, 4)],
];

async function collect(gen: AsyncGenerator<Uint8Array, unknown>): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const c of gen) parts.push(c);
  return Buffer.concat(parts);
}

async function ourArchive(): Promise<Buffer> {
  const parts: Buffer[] = [Buffer.from(tarDirectory("files"))];
  for (const [name, data] of MEMBERS) parts.push(await collect(tarBytes(name, data)));
  parts.push(Buffer.from(tarEnd()));
  return Buffer.concat(parts);
}

async function readAll(bytes: Uint8Array): Promise<{ path: string; type: string; data: Buffer }[]> {
  const out: { path: string; type: string; data: Buffer }[] = [];
  for await (const e of readTar(
    (async function* () {
      // Odd chunk sizes exercise the reader's buffering across header and body boundaries.
      for (let i = 0; i < bytes.length; i += 777) yield bytes.subarray(i, i + 777);
    })(),
  )) {
    const parts: Uint8Array[] = [];
    for await (const c of e.body) parts.push(c);
    out.push({ path: e.path, type: e.type, data: Buffer.concat(parts) });
  }
  return out;
}

describe("tar", () => {
  test("GNU tar extracts what we write, byte for byte (long names use the ustar prefix)", async () => {
    const file = join(work, "ours.tar");
    writeFileSync(file, await ourArchive());
    const dir = join(work, "gnu-out");
    mkdirSync(dir);
    const r = Bun.spawnSync(["tar", "-xf", file, "-C", dir]);
    expect(r.stderr.toString()).toBe("");
    expect(r.exitCode).toBe(0);
    for (const [name, data] of MEMBERS) expect(sha256(readFileSync(join(dir, name)))).toBe(sha256(data));
    expect(Bun.spawnSync(["tar", "-tf", file]).stdout.toString().trim().split("\n")).toEqual(["files/", ...MEMBERS.map(([n]) => n)]);
  });

  test("we read what we write, and what GNU tar writes (ustar and gnu formats)", async () => {
    const mine = await readAll(await ourArchive());
    expect(mine.filter((e) => e.type === "file").map((e) => [e.path, sha256(e.data)])).toEqual(MEMBERS.map(([n, d]) => [n, sha256(d)]));

    const src = join(work, "gnu-src");
    for (const [name, data] of MEMBERS) {
      mkdirSync(join(src, name, ".."), { recursive: true });
      writeFileSync(join(src, name), data);
    }
    for (const format of ["ustar", "gnu"]) {
      const file = join(work, `gnu-${format}.tar`);
      expect(Bun.spawnSync(["tar", `--format=${format}`, "-cf", file, "-C", src, ...MEMBERS.map(([n]) => n)]).exitCode).toBe(0);
      const theirs = await readAll(readFileSync(file));
      expect(theirs.filter((e) => e.type === "file").map((e) => [e.path, sha256(e.data)])).toEqual(MEMBERS.map(([n, d]) => [n, sha256(d)]));
    }
  });

  test("sizes past the 8 GiB octal limit use GNU base-256, which both sides read", async () => {
    const size = 9 * 1024 ** 3 + 5;
    const header = buildHeader("big.bin", size);
    expect(header[124]).toBe(0x80);
    const gen = readTar(
      (async function* () {
        yield header;
      })(),
    );
    const first = await gen.next();
    expect(first.value!.size).toBe(size);
    // GNU tar agrees on the size it encodes (it lists the header before noticing the missing body).
    const file = join(work, "big-header.tar");
    writeFileSync(file, header);
    expect(Bun.spawnSync(["tar", "-tvf", file]).stdout.toString()).toContain(String(size));
  });

  test("damage is an error: bad header checksum, truncation inside a member, missing end marker, links", async () => {
    const good = await ourArchive();
    const badChecksum = Buffer.from(good);
    badChecksum[512 + 10] ^= 1; // a byte of the second header's name
    await expect(readAll(badChecksum)).rejects.toThrow("checksum mismatch");
    await expect(readAll(good.subarray(0, 512 * 6))).rejects.toThrow(/truncated/);
    await expect(readAll(good.subarray(0, good.length - 1024))).rejects.toThrow("end-of-archive marker");

    const src = join(work, "links");
    mkdirSync(src);
    writeFileSync(join(src, "target"), "x");
    symlinkSync("target", join(src, "link"));
    const file = join(work, "links.tar");
    expect(Bun.spawnSync(["tar", "-cf", file, "-C", src, "link"]).exitCode).toBe(0);
    const err = await readAll(readFileSync(file)).catch((e) => e);
    expect(err).toBeInstanceOf(TarError);
    expect(err.message).toBe('unsupported member type "2" for link');
  });

  test("a source that yields a different length than declared is refused (a file changing under the backup)", async () => {
    const gen = (async function* () {
      yield new Uint8Array(10);
    })();
    const { tarFile } = await import("../src/ops/tar");
    await expect(collect(tarFile("x", 11, gen))).rejects.toThrow("shrank while being archived");
  });
});
