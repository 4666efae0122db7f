// The filesystem storage driver: bytes at `<root>/<key>`, written via a temp file, fsync and rename.
import { mkdirSync } from "node:fs";
import { mkdir, open, rename, rm, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import { randomBase62 } from "../lib/ids";
import { assertValidKey, NotFoundInStorage, type ByteRange, type ByteSource, type ObjectStat, type Storage } from "./storage";

/** fsyncs a directory, so a rename or a new entry in it survives a power loss. */
export async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
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
 */
export function createLocalStorage(opts: { root: string; tmpDir: string }): Storage {
  const { root, tmpDir } = opts;
  const pathOf = (key: string) => {
    assertValidKey(key);
    return join(root, key);
  };

  return {
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
        const created = await mkdir(dir, { recursive: true });
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

    async stat(key: string): Promise<ObjectStat | null> {
      const info = await stat(pathOf(key)).catch(() => null);
      return info?.isFile() ? { size: info.size, modifiedAt: info.mtimeMs } : null;
    },

    async delete(key: string): Promise<void> {
      await rm(pathOf(key), { force: true });
    },
  };
}
