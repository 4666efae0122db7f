// Signed download links: the server secret (in the data dir on SQLite, in the database on PostgreSQL), minting `download_url`s and checking them (HMAC, expiry).
import { closeSync, fsyncSync, linkSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import type { Sql } from "postgres";
import { ApiError } from "../errors";
import { dataDirLayout } from "../storage/layout";
import { DOWNLOAD_KEY_SETTING } from "../db/postgres/settings";
const KEY_TEXT = /^[0-9a-f]{64}$/;

/**
 * The signing secret: 32 random bytes, created at first start as `<dataDir>/download-url.key`
 * (mode 0600, hex) and read from there afterwards, so links survive restarts. Written to a temp
 * file and linked into place, so a crash can never leave a half-written key, and two processes
 * starting at once agree on one key.
 */
export function loadDownloadKey(dataDir: string): Buffer {
  const path = dataDirLayout(dataDir).downloadKey;
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    const tmp = `${path}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`;
    const fd = openSync(tmp, "wx", 0o600);
    try {
      writeSync(fd, randomBytes(32).toString("hex") + "\n");
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    try {
      linkSync(tmp, path);
      const dirFd = openSync(dataDir, "r");
      try {
        fsyncSync(dirFd);
      } finally {
        closeSync(dirFd);
      }
    } catch (linkErr) {
      if ((linkErr as NodeJS.ErrnoException).code !== "EEXIST") throw linkErr;
    } finally {
      rmSync(tmp, { force: true });
    }
    text = readFileSync(path, "utf8");
  }
  const hex = text.trim();
  if (!KEY_TEXT.test(hex))
    throw new Error(`${path} is not a download signing key (64 hex characters); remove it to generate a new one (old links stop working)`);
  return Buffer.from(hex, "hex");
}

/**
 * The signing secret on PostgreSQL: every instance on the database must accept every other's links, so the key lives
 * in the `settings` table. The first start offers a random key (`ON CONFLICT DO NOTHING`) and every start reads back
 * the one stored, so instances starting at once agree on the first offer that committed.
 */
export async function loadDatabaseDownloadKey(sql: Sql): Promise<Buffer> {
  const offer = randomBytes(32).toString("hex");
  await sql`INSERT INTO settings (name, value) VALUES (${DOWNLOAD_KEY_SETTING}, ${offer}) ON CONFLICT (name) DO NOTHING`;
  const [row] = await sql`SELECT value FROM settings WHERE name = ${DOWNLOAD_KEY_SETTING}`;
  const hex = String(row?.value ?? "").trim();
  if (!KEY_TEXT.test(hex))
    throw new Error(
      `the database's download signing key (settings row "${DOWNLOAD_KEY_SETTING}") is not 64 hex characters; delete that row to generate a new one (old links stop working)`,
    );
  return Buffer.from(hex, "hex");
}

export interface DownloadSigner {
  /** The absolute, expiring link for a file: `<publicUrl>/files/<id>/<filename>?expires=…&signature=…`. */
  url(fileId: string, filename: string, nowMs: number): string;
  /** Throws a 403 ApiError unless `signature` is ours for this file and `expires` is still ahead of now. */
  verify(fileId: string, expires: string | undefined, signature: string | undefined, nowMs: number): void;
}

export const invalidLink = () =>
  new ApiError(403, "invalid_download_link", "This download link is not valid. Fetch the file's metadata for a fresh download_url.");
export const expiredLink = () =>
  new ApiError(403, "download_link_expired", "This download link has expired. Fetch the file's metadata for a fresh download_url.");

const SIGNATURE = /^[A-Za-z0-9_-]{43}$/;

export function createDownloadSigner(opts: { key: Buffer; publicUrl: string; ttlSeconds: number }): DownloadSigner {
  // The signature covers the id and the expiry, which is all that grants access. The filename in the path
  // is what browsers and `curl -O` name the download after: the route requires it to be the stored name
  // (so links minted before that check still work), rather than it being signed.
  const sign = (fileId: string, expires: number) => createHmac("sha256", opts.key).update(`download:${fileId}:${expires}`).digest("base64url");
  return {
    url(fileId, filename, nowMs) {
      const expires = Math.floor(nowMs / 1000) + opts.ttlSeconds;
      return `${opts.publicUrl}/files/${encodeURIComponent(fileId)}/${encodeURIComponent(filename)}?expires=${expires}&signature=${sign(fileId, expires)}`;
    },
    verify(fileId, expires, signature, nowMs) {
      if (!expires || !/^\d{1,12}$/.test(expires) || !signature || !SIGNATURE.test(signature)) throw invalidLink();
      const expected = Buffer.from(sign(fileId, Number(expires)));
      if (!timingSafeEqual(expected, Buffer.from(signature))) throw invalidLink();
      if (Number(expires) * 1000 <= nowMs) throw expiredLink();
    },
  };
}
