// End to end with the compiled executable: the reference's upload curl as written, signed download with curl -O, the limit, leftovers removed at start.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BUN, freePort, REPO_ROOT, startServerProcess, tempDir, type ServerProcess } from "./helpers";
import {
  eventually,
  FILE_KEYS,
  listObjects,
  listTemp,
  multipartBody,
  pseudoRandomBytes,
  rawJson,
  rawRequest,
  rawStatus,
  sha256Hex,
  uploadHead,
  type FileJson,
} from "./files-fixtures";

setDefaultTimeout(30_000);

let buildDir: string;
let runDir: string;
let workDir: string;
let exe: string;
let port: number;
let server: ServerProcess;
let key: string;
let pdfPath: string;
let pdf: Uint8Array;

function curl(args: string[], cwd?: string) {
  const p = Bun.spawnSync(["curl", "-sS", "-w", "\n%{http_code}", ...args], { stdout: "pipe", stderr: "pipe", cwd });
  expect(p.exitCode, p.stderr.toString()).toBe(0);
  const text = p.stdout.toString();
  const cut = text.lastIndexOf("\n");
  return { status: Number(text.slice(cut + 1)), body: text.slice(0, cut) };
}

async function start(extra: string[] = []) {
  port = freePort();
  server = await startServerProcess(["--port", String(port), "--data-dir", "./data", ...extra], { cmd: [exe], cwd: runDir });
}

beforeAll(async () => {
  buildDir = tempDir("cc-files-build");
  const built = Bun.spawnSync([BUN, "run", "scripts/build.ts", join(buildDir, "clientcove")], { cwd: REPO_ROOT, stdout: "pipe", stderr: "pipe" });
  expect(built.exitCode, built.stderr.toString() + built.stdout.toString()).toBe(0);
  runDir = tempDir("cc-files-run");
  exe = join(runDir, "clientcove");
  copyFileSync(join(buildDir, "clientcove"), exe);
  chmodSync(exe, 0o755);
  workDir = tempDir("cc-files-work");
  mkdirSync(join(workDir, "path", "to"), { recursive: true });
  // A 2 MB PDF-looking file (the reference's example is ~2 MB).
  pdf = new Uint8Array(2_048_576);
  pdf.set(new TextEncoder().encode("%PDF-1.7\n"));
  pdf.set(pseudoRandomBytes(pdf.length - 9, 11), 9);
  pdfPath = join(workDir, "path", "to", "document.pdf");
  writeFileSync(pdfPath, pdf);
  await start();
  key = (await server.waitForStderr(/cc_[0-9A-Za-z]{32,}/))[0];
}, 120_000);

afterAll(async () => {
  await server?.stop("SIGKILL").catch(() => {});
  for (const d of [buildDir, runDir, workDir]) if (d) rmSync(d, { recursive: true, force: true });
});

describe("files with the compiled executable", () => {
  let folderId: string;
  let uploaded: FileJson;

  test("the reference's upload curl, as written, stores the file in the folder", () => {
    const folder = curl([
      "-X",
      "POST",
      `http://localhost:${port}/v1/folders`,
      "-H",
      `Authorization: Bearer ${key}`,
      "-H",
      "Content-Type: application/json",
      "-d",
      '{"name": "Contracts"}',
    ]);
    expect(folder.status).toBe(201);
    folderId = JSON.parse(folder.body).id;

    const r = curl([
      "-X",
      "POST",
      `http://localhost:${port}/v1/files`,
      "-H",
      `Authorization: Bearer ${key}`,
      "-F",
      `file=@${pdfPath}`,
      "-F",
      `folder_id=${folderId}`,
    ]);
    expect(r.status).toBe(201);
    uploaded = JSON.parse(r.body);
    expect(Object.keys(uploaded).sort()).toEqual(FILE_KEYS);
    expect(uploaded).toMatchObject({
      filename: "document.pdf",
      size_bytes: 2_048_576,
      mime_type: "application/pdf",
      folder_id: folderId,
      ticket_id: null,
      sha256: sha256Hex(pdf),
    });
    expect(uploaded.id).toMatch(/^file_[0-9a-z]{16}$/);
    expect(uploaded.uploaded_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(uploaded.download_url).toStartWith(`http://localhost:${port}/files/${uploaded.id}/document.pdf?expires=`);
    const orgDirs = listObjects(join(runDir, "data"));
    expect(orgDirs).toHaveLength(1);
    expect(orgDirs[0]).toEndWith(`/${uploaded.id}`);
    expect(statSync(join(runDir, "data", "files", orgDirs[0]!)).size).toBe(2_048_576);
  });

  test("fields in the other order work too", () => {
    const r = curl([
      "-X",
      "POST",
      `http://localhost:${port}/v1/files`,
      "-H",
      `Authorization: Bearer ${key}`,
      "-F",
      `folder_id=${folderId}`,
      "-F",
      `file=@${pdfPath};filename=second.pdf`,
    ]);
    expect(r.status).toBe(201);
    expect(JSON.parse(r.body)).toMatchObject({ filename: "second.pdf", folder_id: folderId });
  });

  test("download_url opens with curl -O and no Authorization header; the bytes are identical", () => {
    const dl = tempDir("cc-files-dl");
    try {
      const r = curl(["-O", uploaded.download_url], dl);
      expect(r.status).toBe(200);
      expect(sha256Hex(readFileSync(join(dl, "document.pdf")))).toBe(uploaded.sha256);
    } finally {
      rmSync(dl, { recursive: true, force: true });
    }
  });

  test("a download link renamed to x.exe is refused like a tampered one", () => {
    const u = new URL(uploaded.download_url);
    u.pathname = `/files/${uploaded.id}/x.exe`;
    const r = curl([u.toString()]);
    expect(r.status).toBe(403);
    expect(JSON.parse(r.body).error).toBe("invalid_download_link");
  });

  test("the Bearer content route and a range with curl", () => {
    const r = curl(["-H", `Authorization: Bearer ${key}`, "-r", "0-8", `http://localhost:${port}/v1/files/${uploaded.id}/content`]);
    expect(r.status).toBe(206);
    expect(r.body).toBe("%PDF-1.7\n");
  });

  test("after a restart: leftovers of a crash are removed at start, and the upload limit flag applies (413)", async () => {
    expect(await server.stop("SIGTERM")).toBe(0);
    const dataDir = join(runDir, "data");
    const orgId = listObjects(dataDir)[0]!.split("/")[0]!;
    // What a crash could leave: a partial upload, and bytes renamed into place whose row was never committed.
    writeFileSync(join(dataDir, "tmp", "crashed.part"), "partial");
    writeFileSync(join(dataDir, "files", orgId, "file_crashed00000000"), "orphan");
    writeFileSync(join(dataDir, "tmp", "crashed.intent"), JSON.stringify({ id: "file_crashed00000000", key: `${orgId}/file_crashed00000000` }) + "\n");

    await start(["--max-upload-bytes", "1048576"]);
    await eventually(
      () => listTemp(dataDir).length === 0 && !existsSync(join(dataDir, "files", orgId, "file_crashed00000000")),
      "leftovers to be removed at start",
    );
    await eventually(() => server.stdout().includes('"removed upload leftovers"'), "the cleanup to be logged");
    expect(server.stdout()).toMatch(/"removed upload leftovers","removed_temp":2,"removed_objects":1/);

    const before = listObjects(dataDir);
    const r = curl([
      "-X",
      "POST",
      `http://localhost:${port}/v1/files`,
      "-H",
      `Authorization: Bearer ${key}`,
      "-F",
      `file=@${pdfPath}`,
      "-F",
      `folder_id=${folderId}`,
    ]);
    expect(r.status).toBe(413);
    expect(JSON.parse(r.body)).toEqual({ error: "payload_too_large", message: "The file is too large; the upload limit is 1 MiB" });
    expect(listObjects(dataDir)).toEqual(before);
    expect(listTemp(dataDir)).toEqual([]);
    const list = curl(["-H", `Authorization: Bearer ${key}`, `http://localhost:${port}/v1/files?folder_id=${folderId}`]);
    expect(JSON.parse(list.body).meta.total).toBe(2);
  });

  test("bytes lost outside the server: 500 file_content_missing, logged with the file id; `verify` names the file", async () => {
    const dataDir = join(runDir, "data");
    const smallPath = join(workDir, "lost.txt");
    writeFileSync(smallPath, "bytes that will be lost");
    const lost = JSON.parse(
      curl(["-X", "POST", `http://localhost:${port}/v1/files`, "-H", `Authorization: Bearer ${key}`, "-F", `file=@${smallPath}`]).body,
    ) as FileJson;
    const orgId = listObjects(dataDir)
      .find((k) => k.endsWith(`/${lost.id}`))!
      .split("/")[0]!;
    rmSync(join(dataDir, "files", orgId, lost.id));
    for (const args of [[lost.download_url], ["-H", `Authorization: Bearer ${key}`, `http://localhost:${port}/v1/files/${lost.id}/content`]]) {
      const r = curl(args);
      expect(r.status).toBe(500);
      expect(JSON.parse(r.body)).toEqual({
        error: "file_content_missing",
        message: `The stored content of ${lost.id} is missing; an administrator can run \`clientcove verify\`.`,
      });
    }
    // One error line per request (two requests), read as the server's stdout arrives.
    const logged = () =>
      server
        .stdout()
        .split("\n")
        .filter((l) => l.includes('"file_content_missing"'));
    await eventually(() => logged().length >= 2, "the two failures to be logged");
    expect(logged().length).toBe(2);
    for (const l of logged())
      expect(JSON.parse(l)).toMatchObject({ level: "error", error: "file_content_missing", cause: { message: expect.stringContaining(lost.id) } });
    const v = Bun.spawnSync([exe, "verify", "--data-dir", "./data", "--json"], { cwd: runDir, stdout: "pipe", stderr: "pipe" });
    expect(v.exitCode).toBe(1);
    expect(JSON.parse(v.stdout.toString()).problems).toContainEqual(expect.objectContaining({ kind: "missing", file_id: lost.id }));
  });

  test("with --upload-idle-timeout-ms and --max-uploads-per-key: a stalled upload is 408 and holds its slot until then (429 meanwhile)", async () => {
    expect(await server.stop("SIGTERM")).toBe(0);
    await start(["--upload-idle-timeout-ms", "1500", "--max-uploads-per-key", "1"]);
    const dataDir = join(runDir, "data");
    const before = listObjects(dataDir);
    const body = multipartBody([{ name: "file", filename: "stalled.bin", content: pseudoRandomBytes(64 * 1024, 9) }]);
    const stalled = rawRequest(`http://127.0.0.1:${port}`, uploadHead(key, body.length), body.subarray(0, 4096));
    await eventually(() => listTemp(dataDir).some((n) => n.endsWith(".part")), "the stalled upload to reach the disk");
    const refused = curl([
      "-i",
      "-X",
      "POST",
      `http://localhost:${port}/v1/files`,
      "-H",
      `Authorization: Bearer ${key}`,
      "-F",
      `file=@${join(workDir, "lost.txt")}`,
    ]);
    expect(refused.status).toBe(429);
    expect(refused.body).toMatch(/\r\nretry-after: 5\r\n/i);
    expect(refused.body).toContain('"error":"too_many_uploads"');
    const answer = await stalled.response;
    expect(rawStatus(answer)).toBe(408);
    expect(rawJson(answer).error).toBe("upload_timeout");
    await eventually(() => listTemp(dataDir).length === 0, "the stalled upload to be removed");
    expect(listObjects(dataDir)).toEqual(before);
  });
});
