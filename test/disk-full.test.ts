// A full disk under a running server (a size-limited tmpfs holding the data dir, filled to the last byte): writes are
// refused with 507 insufficient_storage and leave nothing half-written, reads keep working, and writes work again once
// there is room. files-upload.test.ts covers a single upload that overflows a nearly empty disk; this covers a disk
// that is already full, concurrent and idempotent uploads, JSON writes (SQLite's SQLITE_FULL), reads, and recovery.
import { afterAll, describe, expect, test } from "bun:test";
import { closeSync, openSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";
import { verifyDataDir } from "../src/ops/verify";
import { startServerProcess, tempDir, type ServerProcess } from "./helpers";
import { listObjects, listTemp, pseudoRandomBytes, sha256Hex } from "./files-fixtures";

const mountPoint = tempDir("cc-disk-full");
const mount = Bun.spawnSync(["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", mountPoint], { stdout: "pipe", stderr: "pipe" });
const mounted = mount.exitCode === 0;
if (!mounted) {
  console.warn(
    `disk-full: SKIPPED — cannot mount a size-limited tmpfs here (needs root or CAP_SYS_ADMIN): ${mount.stderr.toString().trim() || `exit ${mount.exitCode}`}`,
  );
}
const dataDir = join(mountPoint, "data");
const ballast = join(mountPoint, "ballast");
let server: ServerProcess | undefined;

afterAll(async () => {
  await server?.stop("SIGKILL");
  if (mounted) Bun.spawnSync(["umount", mountPoint]);
  rmSync(mountPoint, { recursive: true, force: true });
});

/** Writes a file outside the data dir until the filesystem refuses another byte. */
function fillDisk(): number {
  const fd = openSync(ballast, "a");
  let written = 0;
  try {
    for (const size of [256 * 1024, 4096, 512, 1]) {
      const chunk = Buffer.alloc(size, 0xab);
      try {
        for (;;) written += writeSync(fd, chunk);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ENOSPC") throw err;
      }
    }
  } finally {
    closeSync(fd);
  }
  return written;
}

describe("a full disk", () => {
  test.skipIf(!mounted)(
    "uploads and JSON writes → 507 insufficient_storage with nothing half-written; reads keep working; writes resume once there is room",
    async () => {
      server = await startServerProcess(["--port", "0", "--host", "127.0.0.1", "--data-dir", dataDir]);
      const key = (await server.waitForStderr(/cc_[0-9A-Za-z]{32,}/))[0];
      const base = server.url;
      const auth = { authorization: `Bearer ${key}` };
      const upload = (bytes: Uint8Array, headers: Record<string, string> = {}) => {
        const fd = new FormData();
        fd.append("file", new Blob([bytes as Uint8Array<ArrayBuffer>]), "f.bin");
        return fetch(`${base}/v1/files`, { method: "POST", body: fd, headers: { ...auth, ...headers } });
      };
      const createTicket = (subject: string) =>
        fetch(`${base}/v1/tickets`, {
          method: "POST",
          headers: { ...auth, "content-type": "application/json" },
          body: JSON.stringify({ subject, description: "d".repeat(20_000) }),
        });

      // Before: a few files and a ticket.
      const seeded = new Map<string, Uint8Array>();
      for (let i = 0; i < 3; i++) {
        const bytes = pseudoRandomBytes(40_000 + i, 100 + i);
        const r = await upload(bytes);
        expect(r.status).toBe(201);
        seeded.set(((await r.json()) as { id: string }).id, bytes);
      }
      const ticket = await createTicket("before the disk filled");
      expect(ticket.status).toBe(201);
      const ticketId = ((await ticket.json()) as { id: string }).id;
      const objectsBefore = listObjects(dataDir);
      const countsBefore = async () => {
        const files: any = await (await fetch(`${base}/v1/files`, { headers: auth })).json();
        const tickets: any = await (await fetch(`${base}/v1/tickets`, { headers: auth })).json();
        return { files: files.meta.total, tickets: tickets.meta.total };
      };
      expect(await countsBefore()).toEqual({ files: 3, tickets: 1 });

      expect(fillDisk()).toBeGreaterThan(0);

      // Uploads on the full disk: one with an Idempotency-Key, five at once. All 507, none leaves bytes, rows or temp files.
      const big = pseudoRandomBytes(300_000, 7);
      const refused = await upload(big, { "idempotency-key": "full-disk-1" });
      expect(refused.status).toBe(507);
      expect(await refused.json()).toEqual({ error: "insufficient_storage", message: expect.any(String) });
      const burst = await Promise.all([1, 2, 3, 4, 5].map((i) => upload(pseudoRandomBytes(100_000, 200 + i))));
      for (const r of burst) {
        expect(r.status).toBe(507);
        expect(((await r.json()) as { error: string }).error).toBe("insufficient_storage");
      }
      // A JSON write whose transaction cannot grow the database: 507 too (not a 500), and no ticket appears.
      const noRoom = await createTicket("while full");
      expect(noRoom.status).toBe(507);
      expect(((await noRoom.json()) as { error: string }).error).toBe("insufficient_storage");
      expect(listObjects(dataDir)).toEqual(objectsBefore);
      expect(listTemp(dataDir)).toEqual([]);

      // Reads keep working while the disk is full: lists, metadata, downloads byte for byte, one ticket.
      expect(await countsBefore()).toEqual({ files: 3, tickets: 1 });
      for (const [id, bytes] of seeded) {
        expect((await fetch(`${base}/v1/files/${id}`, { headers: auth })).status).toBe(200);
        const content = await fetch(`${base}/v1/files/${id}/content`, { headers: auth });
        expect(content.status).toBe(200);
        expect(sha256Hex(new Uint8Array(await content.arrayBuffer()))).toBe(sha256Hex(bytes));
      }
      expect((await fetch(`${base}/v1/tickets/${ticketId}`, { headers: auth })).status).toBe(200);
      expect((await fetch(`${base}/healthz`)).status).toBe(200);

      // Room again: the refused upload's key was released, so the same request now stores it once; a retry replays it.
      rmSync(ballast);
      const stored = await upload(big, { "idempotency-key": "full-disk-1" });
      expect(stored.status).toBe(201);
      expect(stored.headers.get("idempotent-replayed")).toBeNull();
      const file = (await stored.json()) as { id: string; sha256: string };
      expect(file.sha256).toBe(sha256Hex(big));
      const replay = await upload(big, { "idempotency-key": "full-disk-1" });
      expect(replay.headers.get("idempotent-replayed")).toBe("true");
      expect((await createTicket("after")).status).toBe(201);
      expect(await countsBefore()).toEqual({ files: 4, tickets: 2 });

      // The data dir is sound: database intact, every row's bytes right, no orphans, nothing in tmp/.
      const report = await verifyDataDir({ dataDir });
      expect({ ok: report.ok, problems: report.problems, orphans: report.orphans, files: report.files_checked }).toEqual({
        ok: true,
        problems: [],
        orphans: [],
        files: 4,
      });
      expect(listTemp(dataDir)).toEqual([]);
      // The server logged each refusal's cause for the operator (stdout; stderr only had the first-start banner).
      expect(server.stdout()).toContain('"error":"insufficient_storage"');
      expect(server.stdout()).not.toContain(key);
    },
    30_000,
  );
});
