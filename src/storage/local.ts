// The filesystem storage driver: bytes at `<root>/<key>`, written via a temp file, fsync and rename.
import { mkdirSync, type Dirent } from "node:fs";
import { mkdir, open, readdir, rename, rm, stat, type FileHandle } from "node:fs/promises";
import { dirname, join } from "node:path";
import { randomBase62 } from "../lib/ids";
import {
  assertValidKey,
  NotFoundInStorage,
  type ByteRange,
  type ByteSource,
  type ListedObject,
  type ObjectRead,
  type ObjectStat,
  type Storage,
} from "./storage";

const READ_CHUNK = 1024 * 1024;

/** fsyncs a directory, so a rename or a new entry in it survives a power loss. */
export async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * `size` bytes of an open file in fresh chunks (the consumer may keep them). The file is closed at the end, on an
 * error, or when the iteration is returned early.
 */
function fileBody(fh: FileHandle, size: number): AsyncIterable<Uint8Array> {
  let position = 0;
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await fh.close();
  };
  const done = { done: true as const, value: undefined };
  return {
    [Symbol.asyncIterator]: () => ({
      async next(): Promise<IteratorResult<Uint8Array>> {
        if (closed) return done;
        try {
          const buf = Buffer.allocUnsafe(Math.min(READ_CHUNK, size - position));
          const { bytesRead } = buf.length ? await fh.read(buf, 0, buf.length, position) : { bytesRead: 0 };
          if (bytesRead === 0) {
            await close();
            return done;
          }
          position += bytesRead;
          return { done: false, value: buf.subarray(0, bytesRead) };
        } catch (err) {
          await close().catch(() => {});
          throw err;
        }
      },
      async return(): Promise<IteratorResult<Uint8Array>> {
        await close();
        return done;
      },
    }),
  };
}

/**
 * Every non-directory under `root` (relative paths, `/`-separated), in the order of their full paths: a directory
 * sorts as its name plus `/`, which is where its entries fall among the others. Names under `prefix` only.
 */
async function* walk(root: string, rel: string, prefix: string): AsyncGenerator<ListedObject> {
  let entries: Dirent[];
  try {
    entries = await readdir(join(root, rel), { withFileTypes: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return;
    throw err;
  }
  const named = entries.map((e) => ({ e, path: rel ? `${rel}/${e.name}` : e.name }));
  const sortName = (x: (typeof named)[number]) => (x.e.isDirectory() ? `${x.path}/` : x.path);
  named.sort((a, b) => (sortName(a) < sortName(b) ? -1 : sortName(a) > sortName(b) ? 1 : 0));
  for (const x of named) {
    const name = sortName(x);
    // Skip what cannot hold a key under the prefix: neither it starts with the prefix nor the prefix with it.
    if (!name.startsWith(prefix) && !prefix.startsWith(name)) continue;
    if (x.e.isDirectory()) {
      yield* walk(root, x.path, prefix);
      continue;
    }
    if (!x.path.startsWith(prefix)) continue;
    // Followed like verify always did; a dangling link or an entry gone meanwhile is skipped.
    const info = await stat(join(root, x.path)).catch(() => null);
    if (info) yield { key: x.path, size: info.size, modifiedAt: info.mtimeMs };
  }
}

async function writeAll(handle: Awaited<ReturnType<typeof open>>, chunk: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < chunk.byteLength) {
    const { bytesWritten } = await handle.write(chunk, offset, chunk.byteLength - offset);
    offset += bytesWritten;
  }
}

/**
 * `root` holds the objects; `tmpDir` (same filesystem, so rename is atomic) holds uploads in progress
 * as `<random>.part`. Whatever is left in `tmpDir` after a crash is garbage (see files/recovery.ts).
 * `label` names the root in messages (`files` for a data dir's files/; the root's path by default).
 */
export function createLocalStorage(opts: { root: string; tmpDir: string; label?: string }): Storage {
  const { root, tmpDir } = opts;
  const label = opts.label ?? root;
  const pathOf = (key: string) => {
    assertValidKey(key);
    return join(root, key);
  };

  return {
    kind: "local",
    description: root,
    async put(key: string, source: ByteSource): Promise<ObjectStat> {
      const finalPath = pathOf(key);
      mkdirSync(tmpDir, { recursive: true });
      const tmp = join(tmpDir, `${randomBase62(24)}.part`);
      const handle = await open(tmp, "wx", 0o600);
      let closed = false;
      let size = 0;
      try {
        for await (const chunk of source as AsyncIterable<Uint8Array>) {
          await writeAll(handle, chunk);
          size += chunk.byteLength;
        }
        await handle.sync();
        await handle.close();
        closed = true;
        const dir = dirname(finalPath);
        // A new org directory must itself be made durable in its parent.
        const created = await mkdir(dir, { recursive: true, mode: 0o700 });
        if (created) await syncDir(dirname(dir));
        await rename(tmp, finalPath);
        await syncDir(dir);
      } catch (err) {
        if (!closed) await handle.close().catch(() => {});
        await rm(tmp, { force: true }).catch(() => {});
        throw err;
      }
      return { size, modifiedAt: Date.now() };
    },

    async open(key: string, range?: ByteRange): Promise<Blob> {
      const path = pathOf(key);
      const info = await stat(path).catch(() => null);
      if (!info?.isFile()) throw new NotFoundInStorage(key);
      const file = Bun.file(path);
      return range ? file.slice(range.start, range.end + 1) : file;
    },

    async read(key: string): Promise<ObjectRead | null> {
      const path = pathOf(key);
      let fh: FileHandle;
      try {
        fh = await open(path, "r");
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === "ENOENT" || code === "ENOTDIR") return null;
        throw err;
      }
      // The open descriptor keeps the bytes readable even if the file is deleted from here on.
      const info = await fh.stat().catch(async (err) => {
        await fh.close();
        throw err;
      });
      if (info.isDirectory()) {
        await fh.close();
        return null;
      }
      return { size: info.size, body: fileBody(fh, info.size) };
    },

    async stat(key: string): Promise<ObjectStat | null> {
      const info = await stat(pathOf(key)).catch(() => null);
      return info?.isFile() ? { size: info.size, modifiedAt: info.mtimeMs } : null;
    },

    async delete(key: string): Promise<void> {
      await rm(pathOf(key), { force: true });
    },

    locate: (key) => `${label}/${key}`,

    list: (prefix = "") => walk(root, "", prefix),
  };
}
