// Uploads: the reference's response shape, fields in any order, filenames and types, every refusal leaving nothing behind, limits, disconnects, idempotent retries.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { createTestEnv, startServerProcess, tempDir, type ServerProcess, type TestEnv } from "./helpers";
import {
  BOUNDARY,
  createFolder,
  createTicket,
  eventually,
  FILE_KEYS,
  listen,
  listObjects,
  listTemp,
  multipartBody,
  pseudoRandomBytes,
  rawJson,
  rawRequest,
  rawStatus,
  sendMultipart,
  sha256Hex,
  storedState,
  upload,
  uploadHead,
  uploadOk,
  type FileJson,
} from "./files-fixtures";

describe("upload: success", () => {
  let env: TestEnv;
  let a: Awaited<ReturnType<TestEnv["org"]>>;
  beforeAll(async () => {
    env = await createTestEnv();
    a = await env.org("Acme");
  });
  afterAll(() => env.close());

  test("201 with exactly the reference's fields plus ticket_id and sha256; row, bytes, event", async () => {
    const folder = await createFolder(env, a.key, "Contracts");
    const content = "%PDF-1.7\n" + "x".repeat(5000);
    const res = await upload(env, a.key, { content, filename: "document.pdf", fields: { folder_id: folder.id } });
    expect(res.status).toBe(201);
    const file = (await res.json()) as FileJson;
    expect(Object.keys(file).sort()).toEqual(FILE_KEYS);
    expect(file).toMatchObject({
      filename: "document.pdf",
      size_bytes: content.length,
      mime_type: "application/pdf",
      folder_id: folder.id,
      ticket_id: null,
      sha256: sha256Hex(content),
    });
    expect(file.id).toMatch(/^file_[0-9a-z]{16}$/);
    expect(file.uploaded_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(file.download_url).toStartWith(`${env.config.publicUrl}/files/${file.id}/document.pdf?expires=`);
    expect(res.headers.get("location")).toBe(`${env.config.publicUrl}/v1/files/${file.id}`);

    // Stored by id under the data dir, never under the client's name.
    const onDisk = join(env.dir, "files", a.orgId, file.id);
    expect(readFileSync(onDisk, "utf8")).toBe(content);
    const row = (await env.db.get("SELECT * FROM files WHERE id = ?", file.id)) as Record<string, unknown>;
    expect(row).toMatchObject({ org_id: a.orgId, storage_key: `${a.orgId}/${file.id}`, uploaded_by: a.userId, size_bytes: content.length });

    const event = (await env.db.get("SELECT org_id, data FROM events WHERE type = 'file.uploaded'")) as { org_id: string; data: string };
    expect(event.org_id).toBe(a.orgId);
    const { download_url: _omitted, ...withoutUrl } = file;
    expect(JSON.parse(event.data)).toEqual(withoutUrl);
    expect((await storedState(env)).temp).toEqual([]);
  });

  test("fields may come before or after the file; folder and ticket together", async () => {
    const folder = await createFolder(env, a.key, "Either order");
    const ticket = await createTicket(env, a.key);
    for (const fieldsFirst of [true, false]) {
      const file = await uploadOk(env, a.key, { fields: { folder_id: folder.id, ticket_id: ticket.id }, fieldsFirst });
      expect(file.folder_id).toBe(folder.id);
      expect(file.ticket_id).toBe(ticket.id);
    }
    const loose = await uploadOk(env, a.key);
    expect([loose.folder_id, loose.ticket_id]).toEqual([null, null]);
  });

  test("filenames: kept as sent (Unicode too), minus directory parts and control characters; empty becomes `file`", async () => {
    const cases: [string, string][] = [
      ["résumé — 履歴書 📄.txt", "résumé — 履歴書 📄.txt"],
      ["../../etc/passwd", "passwd"],
      ["C:\\Users\\me\\report.txt", "report.txt"],
      ["a\u0001b\u007fc\u202e.txt", "abc.txt"],
      ["..", "file"],
      ["", "file"],
    ];
    for (const [sent, kept] of cases) {
      // Control characters cannot appear raw in a header; clients send them percent-encoded in filename*.
      const body = multipartBody([{ name: "file", filename: sent, content: "x", extended: /[\u0000-\u001f\u007f]/.test(sent) }]);
      const res = await sendMultipart(env, a.key, body);
      expect(res.status, sent).toBe(201);
      expect(((await res.json()) as FileJson).filename, JSON.stringify(sent)).toBe(kept);
    }
    const long = "n".repeat(300) + ".txt";
    const file = await uploadOk(env, a.key, { filename: long });
    expect([...file.filename].length).toBe(255);
    expect(file.filename).toEndWith(".txt");
  });

  test("mime_type comes from the content, else the extension, never from the client", async () => {
    const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13]);
    const cases: [Uint8Array | string, string, string, string][] = [
      [png, "picture.txt", "text/plain", "image/png"],
      ["%PDF-1.4", "x.bin", "image/png", "application/pdf"],
      [new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 0, 0x10]), "photo", "text/html", "image/jpeg"],
      ["GIF89a....", "a.gif", "", "image/gif"],
      [new Uint8Array([0x1f, 0x8b, 8, 0]), "logs.gz", "", "application/gzip"],
      [new Uint8Array([0x50, 0x4b, 3, 4, 20, 0]), "archive.zip", "", "application/zip"],
      [new Uint8Array([0x50, 0x4b, 3, 4, 20, 0]), "letter.docx", "", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"],
      ["RIFF\0\0\0\0WEBPVP8 ", "a.webp", "", "image/webp"],
      ["a,b\n1,2\n", "data.csv", "application/pdf", "text/csv"],
      ["<html><script>alert(1)</script></html>", "page.html", "image/png", "text/html"],
      ["<svg xmlns='http://www.w3.org/2000/svg'/>", "x.svg", "image/png", "image/svg+xml"],
      ["<html>not a png</html>", "fake.png", "image/png", "application/octet-stream"],
      ["just bytes", "noext", "application/pdf", "application/octet-stream"],
    ];
    for (const [content, filename, declared, expected] of cases) {
      const file = await uploadOk(env, a.key, { content, filename, type: declared || "application/octet-stream" });
      expect(file.mime_type, filename).toBe(expected);
    }
  });

  test("an empty file is a file", async () => {
    const file = await uploadOk(env, a.key, { content: "", filename: "empty.txt" });
    expect(file.size_bytes).toBe(0);
    expect(file.sha256).toBe(sha256Hex(""));
  });
});

describe("upload: refusals store nothing", () => {
  let env: TestEnv;
  let a: Awaited<ReturnType<TestEnv["org"]>>;
  let b: Awaited<ReturnType<TestEnv["org"]>>;
  let bFolder: string;
  let bTicket: string;
  let aFolder: string;

  beforeAll(async () => {
    env = await createTestEnv();
    a = await env.org("Alpha");
    b = await env.org("Beta");
    bFolder = (await createFolder(env, b.key, "B's folder")).id;
    bTicket = (await createTicket(env, b.key)).id;
    aFolder = (await createFolder(env, a.key, "A's folder")).id;
  });
  afterAll(() => env.close());

  const file = { name: "file", filename: "a.txt", content: "hello" };
  const cases: { label: string; send: () => Promise<Response>; status: number; error: string; field?: string }[] = [
    {
      label: "JSON body",
      send: () => env.request("/v1/files", { method: "POST", key: a.key, json: { file: "x" } }),
      status: 415,
      error: "unsupported_media_type",
    },
    {
      label: "text/plain body",
      send: () => env.request("/v1/files", { method: "POST", key: a.key, body: "x", headers: { "content-type": "text/plain" } }),
      status: 415,
      error: "unsupported_media_type",
    },
    {
      label: "no Content-Type",
      send: () => env.request("/v1/files", { method: "POST", key: a.key, body: new Uint8Array([1, 2]) }),
      status: 415,
      error: "unsupported_media_type",
    },
    {
      label: "multipart without a boundary",
      send: () => env.request("/v1/files", { method: "POST", key: a.key, body: "x", headers: { "content-type": "multipart/form-data" } }),
      status: 400,
      error: "validation_error",
      field: "content-type",
    },
    { label: "no file part", send: () => sendMultipart(env, a.key, multipartBody([])), status: 400, error: "validation_error", field: "file" },
    {
      label: "two file parts",
      send: () => sendMultipart(env, a.key, multipartBody([file, { ...file, filename: "b.txt" }])),
      status: 400,
      error: "validation_error",
      field: "file",
    },
    {
      label: "file sent as a text field",
      send: () => sendMultipart(env, a.key, multipartBody([{ name: "file", value: "not a file" }])),
      status: 400,
      error: "validation_error",
      field: "file",
    },
    {
      label: "a file under another name",
      send: () => sendMultipart(env, a.key, multipartBody([{ ...file, name: "attachment" }])),
      status: 400,
      error: "validation_error",
      field: "attachment",
    },
    {
      label: "an unknown field",
      send: () => sendMultipart(env, a.key, multipartBody([file, { name: "owner", value: "me" }])),
      status: 400,
      error: "validation_error",
      field: "owner",
    },
    {
      label: "folder_id twice",
      send: () => sendMultipart(env, a.key, multipartBody([file, { name: "folder_id", value: aFolder }, { name: "folder_id", value: aFolder }])),
      status: 400,
      error: "validation_error",
      field: "folder_id",
    },
    {
      label: "an empty folder_id",
      send: () => sendMultipart(env, a.key, multipartBody([file, { name: "folder_id", value: "" }])),
      status: 400,
      error: "validation_error",
      field: "folder_id",
    },
    {
      label: "an unknown folder_id after the file",
      send: () => upload(env, a.key, { fields: { folder_id: "fld_0000000000000000" } }),
      status: 404,
      error: "not_found",
    },
    {
      label: "an unknown folder_id before the file",
      send: () => upload(env, a.key, { fields: { folder_id: "fld_0000000000000000" }, fieldsFirst: true }),
      status: 404,
      error: "not_found",
    },
    { label: "another organization's folder_id", send: () => upload(env, a.key, { fields: { folder_id: bFolder } }), status: 404, error: "not_found" },
    { label: "an unknown ticket_id", send: () => upload(env, a.key, { fields: { ticket_id: "tkt_0000000000000000" } }), status: 404, error: "not_found" },
    {
      label: "another organization's ticket_id",
      send: () => upload(env, a.key, { fields: { ticket_id: bTicket }, fieldsFirst: true }),
      status: 404,
      error: "not_found",
    },
    {
      label: "a truncated body (no closing boundary)",
      send: () => sendMultipart(env, a.key, multipartBody([file], { close: false })),
      status: 400,
      error: "validation_error",
      field: "body",
    },
    {
      label: "a body cut inside the file",
      send: () => sendMultipart(env, a.key, multipartBody([{ ...file, content: "x".repeat(10_000) }]).subarray(0, 5000)),
      status: 400,
      error: "validation_error",
      field: "body",
    },
    {
      label: "a malformed part header",
      send: () => sendMultipart(env, a.key, new TextEncoder().encode(`--${BOUNDARY}\r\nContent-Disposition form-data\r\n\r\nx\r\n--${BOUNDARY}--\r\n`)),
      status: 400,
      error: "validation_error",
    },
  ];

  for (const c of cases) {
    test(`${c.label} → ${c.status} ${c.error}, nothing stored`, async () => {
      const before = await storedState(env);
      const res = await c.send();
      const body = (await res.json()) as { error: string; message: string; details?: { field: string }[] };
      expect(res.status, JSON.stringify(body)).toBe(c.status);
      expect(body.error).toBe(c.error);
      expect(typeof body.message).toBe("string");
      if (c.field) expect(body.details?.map((d) => d.field)).toContain(c.field);
      expect(await storedState(env)).toEqual(before);
      expect(before).toMatchObject({ rows: 0, objects: [], temp: [] });
    });
  }

  test("a folder deleted while the file streams in: 404 and nothing stored (checked again at commit)", async () => {
    const folder = await createFolder(env, a.key, "Going away");
    const base = listen(env);
    // Stream the file part slowly: the folder is deleted before the body ends.
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const head = new TextEncoder().encode(
      `--${BOUNDARY}\r\nContent-Disposition: form-data; name="folder_id"\r\n\r\n${folder.id}\r\n--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n\r\nfirst half `,
    );
    const tail = new TextEncoder().encode(`second half\r\n--${BOUNDARY}--\r\n`);
    const stream = new ReadableStream<Uint8Array>({
      async start(c) {
        c.enqueue(head);
        await gate;
        c.enqueue(tail);
        c.close();
      },
    });
    const pending = fetch(`${base}/v1/files`, {
      method: "POST",
      body: stream,
      headers: { authorization: `Bearer ${a.key}`, "content-type": `multipart/form-data; boundary=${BOUNDARY}` },
      duplex: "half",
    } as RequestInit);
    await eventually(async () => (await storedState(env)).temp.some((n) => n.endsWith(".part")), "the upload to start writing");
    expect((await env.request(`/v1/folders/${folder.id}`, { method: "DELETE", key: a.key })).status).toBe(204);
    release();
    const res = await pending;
    expect(res.status).toBe(404);
    expect(((await res.json()) as { error: string }).error).toBe("not_found");
    expect(await storedState(env)).toMatchObject({ rows: 0, objects: [], temp: [] });
    env.app.stop(true);
  });
});

describe("upload: size limit", () => {
  const LIMIT = 64 * 1024;
  let env: TestEnv;
  let a: Awaited<ReturnType<TestEnv["org"]>>;
  beforeAll(async () => {
    env = await createTestEnv({ config: { maxUploadBytes: LIMIT } });
    a = await env.org("Acme");
  });
  afterAll(() => env.close());

  test("exactly the limit is accepted", async () => {
    const file = await uploadOk(env, a.key, { content: pseudoRandomBytes(LIMIT) });
    expect(file.size_bytes).toBe(LIMIT);
    await env.request(`/v1/files/${file.id}`, { method: "DELETE", key: a.key });
  });

  test("one byte over (counted while streaming, no Content-Length) → 413 naming the limit, nothing stored", async () => {
    const before = await storedState(env);
    const body = multipartBody([{ name: "file", filename: "big.bin", content: pseudoRandomBytes(LIMIT + 1) }]);
    const stream = new ReadableStream<Uint8Array>({
      start(c) {
        for (let i = 0; i < body.length; i += 4096) c.enqueue(body.subarray(i, i + 4096));
        c.close();
      },
    });
    const res = await sendMultipart(env, a.key, stream as never);
    expect(res.status).toBe(413);
    expect(await res.json()).toEqual({ error: "payload_too_large", message: "The file is too large; the upload limit is 64 KiB" });
    expect(await storedState(env)).toEqual(before);
  });

  test("a Content-Length over the limit → 413 before the body is read, with the default limit of 100 MiB too", async () => {
    const defaults = await createTestEnv();
    const d = await defaults.org("Defaults");
    for (const [e, key, size, limitText] of [
      [env, a.key, 50 * 1024 * 1024 * 1024, "64 KiB"],
      [defaults, d.key, 101 * 1024 * 1024, "100 MiB"],
    ] as const) {
      const base = listen(e);
      const { socket, received } = rawRequest(base, uploadHead(key, size), new Uint8Array(0));
      await eventually(() => received().includes("}"), "the 413 answer");
      socket.destroy();
      expect(received()).toStartWith("HTTP/1.1 413");
      const body = JSON.parse(received().slice(received().indexOf("{")));
      expect(body).toEqual({ error: "payload_too_large", message: `The file is too large; the upload limit is ${limitText}` });
      expect(body.message).toEndWith(`limit is ${limitText}`);
      expect(await storedState(e)).toMatchObject({ rows: 0, objects: [], temp: [] });
      e.app.stop(true);
    }
    defaults.close();
  });
});

describe("upload: streaming over HTTP", () => {
  let env: TestEnv;
  let a: Awaited<ReturnType<TestEnv["org"]>>;
  let base: string;
  beforeAll(async () => {
    env = await createTestEnv();
    a = await env.org("Acme");
    base = listen(env);
  });
  afterAll(() => {
    env.app.stop(true);
    env.close();
  });

  test("an 8 MiB binary file round-trips byte for byte (sha256 equal), streamed in small chunks", async () => {
    const content = pseudoRandomBytes(8 * 1024 * 1024, 7);
    const body = multipartBody([{ name: "file", filename: "disk.img", content }]);
    const stream = new ReadableStream<Uint8Array>({
      start(c) {
        for (let i = 0; i < body.length; i += 64 * 1024) c.enqueue(body.slice(i, i + 64 * 1024));
        c.close();
      },
    });
    const res = await fetch(`${base}/v1/files`, {
      method: "POST",
      body: stream,
      headers: { authorization: `Bearer ${a.key}`, "content-type": `multipart/form-data; boundary=${BOUNDARY}` },
      duplex: "half",
    } as RequestInit);
    expect(res.status).toBe(201);
    const file = (await res.json()) as FileJson;
    expect(file.size_bytes).toBe(content.length);
    expect(file.sha256).toBe(sha256Hex(content));
    expect(statSync(join(env.dir, "files", a.orgId, file.id)).size).toBe(content.length);

    const down = await fetch(file.download_url.replace(env.config.publicUrl, base));
    expect(down.status).toBe(200);
    expect(down.headers.get("content-length")).toBe(String(content.length));
    const bytes = new Uint8Array(await down.arrayBuffer());
    expect(sha256Hex(bytes)).toBe(file.sha256);
  });

  test("a client that disconnects mid-upload leaves neither a row nor a file", async () => {
    const before = await storedState(env);
    const partial = multipartBody([{ name: "file", filename: "cut.bin", content: pseudoRandomBytes(256 * 1024) }]).subarray(0, 200 * 1024);
    const { socket } = rawRequest(base, uploadHead(a.key, 1024 * 1024), partial);
    // Disconnect only once the server has really begun storing the file.
    await eventually(async () => (await storedState(env)).temp.some((n) => n.endsWith(".part")), "the partial upload to reach the disk");
    socket.destroy();
    await eventually(async () => (await storedState(env)).temp.length === 0, "the partial upload to be removed");
    expect(await storedState(env)).toEqual(before);
  });
});

describe("upload: Idempotency-Key", () => {
  let env: TestEnv;
  let a: Awaited<ReturnType<TestEnv["org"]>>;
  beforeAll(async () => {
    env = await createTestEnv();
    a = await env.org("Acme");
  });
  afterAll(() => env.close());

  test("a retried upload replays the first answer and stores one copy; other content under the same key is a 422", async () => {
    const headers = { "idempotency-key": "upload-1" };
    const first = await upload(env, a.key, { content: "same bytes", filename: "r.txt", headers });
    expect(first.status).toBe(201);
    const created = (await first.json()) as FileJson;
    const again = await upload(env, a.key, { content: "same bytes", filename: "r.txt", headers });
    expect(again.status).toBe(201);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect(again.headers.get("location")).toBe(`${env.config.publicUrl}/v1/files/${created.id}`);
    expect(((await again.json()) as FileJson).id).toBe(created.id);
    expect(await storedState(env)).toMatchObject({ rows: 1, events: ["file.uploaded"], objects: [`${a.orgId}/${created.id}`], temp: [] });

    const other = await upload(env, a.key, { content: "different bytes", filename: "r.txt", headers });
    expect(other.status).toBe(422);
    expect(((await other.json()) as { error: string }).error).toBe("idempotency_key_reused");
    expect(await storedState(env)).toMatchObject({ rows: 1, objects: [`${a.orgId}/${created.id}`], temp: [] });
  });

  test("a refused upload releases its key, so a corrected retry runs", async () => {
    const headers = { "idempotency-key": "upload-2" };
    const bad = await upload(env, a.key, { content: "x", fields: { folder_id: "fld_0000000000000000" }, headers });
    expect(bad.status).toBe(404);
    const good = await upload(env, a.key, { content: "x", headers });
    expect(good.status).toBe(201);
    expect(good.headers.get("idempotent-replayed")).toBeNull();
  });
});

describe("upload: Idempotency-Key while the first upload still streams", () => {
  let env: TestEnv;
  let a: Awaited<ReturnType<TestEnv["org"]>>;
  let base: string;
  beforeAll(async () => {
    env = await createTestEnv();
    a = await env.org("Acme");
    base = listen(env);
  });
  afterAll(() => {
    env.app.stop(true);
    env.close();
  });

  const keyRows = async () => ((await env.db.get("SELECT COUNT(*) AS n FROM idempotency_keys")) as { n: number }).n;
  const send = (bytes: Uint8Array, idem: string) => {
    const fd = new FormData();
    fd.append("file", new Blob([bytes as Uint8Array<ArrayBuffer>]), "twin.bin");
    return fetch(`${base}/v1/files`, { method: "POST", body: fd, headers: { authorization: `Bearer ${a.key}`, "idempotency-key": idem } });
  };

  test("a twin is 409 idempotency_in_progress at once (same or other content); afterwards the same content replays, other content is 422", async () => {
    const content = pseudoRandomBytes(256 * 1024, 11);
    const body = multipartBody([{ name: "file", filename: "twin.bin", content }]);
    const first = rawRequest(base, uploadHead(a.key, body.length, { "Idempotency-Key": "twin-1" }), body.subarray(0, 100 * 1024));
    // The first upload is really under way: its bytes are reaching the disk.
    await eventually(async () => (await storedState(env)).temp.some((n) => n.endsWith(".part")), "the first upload to reach the disk");
    for (const bytes of [content, pseudoRandomBytes(1000, 12)]) {
      const twin = await send(bytes, "twin-1");
      expect(twin.status).toBe(409);
      expect(await twin.json()).toEqual({
        error: "idempotency_in_progress",
        message: "A request with this Idempotency-Key is still being processed. Retry after it finishes.",
      });
    }
    first.socket.write(body.subarray(100 * 1024));
    await eventually(() => rawJson(first.received()) !== null, "the first upload's answer");
    expect(rawStatus(first.received())).toBe(201);
    const created = rawJson(first.received()) as FileJson;
    expect(created.sha256).toBe(sha256Hex(content));
    first.socket.destroy();

    const replay = await send(content, "twin-1");
    expect(replay.status).toBe(201);
    expect(replay.headers.get("idempotent-replayed")).toBe("true");
    expect(((await replay.json()) as FileJson).id).toBe(created.id);
    const other = await send(pseudoRandomBytes(1000, 13), "twin-1");
    expect(other.status).toBe(422);
    expect(((await other.json()) as { error: string }).error).toBe("idempotency_key_reused");
    expect(await storedState(env)).toMatchObject({ rows: 1, events: ["file.uploaded"], objects: [`${a.orgId}/${created.id}`], temp: [] });
  });

  test("an upload cut off mid-body releases its key: the retry with the same key runs and stores the file", async () => {
    const before = await storedState(env);
    const rows = await keyRows();
    const content = pseudoRandomBytes(256 * 1024, 14);
    const body = multipartBody([{ name: "file", filename: "twin.bin", content }]);
    const cut = rawRequest(base, uploadHead(a.key, body.length, { "Idempotency-Key": "twin-2" }), body.subarray(0, 100 * 1024));
    await eventually(async () => (await storedState(env)).temp.some((n) => n.endsWith(".part")), "the upload to reach the disk");
    expect(await keyRows()).toBe(rows + 1);
    cut.socket.destroy();
    await eventually(
      async () => (await storedState(env)).temp.length === 0 && (await keyRows()) === rows,
      "the cut upload to be cleaned up and its key released",
    );
    expect(await storedState(env)).toEqual(before);
    const retry = await send(content, "twin-2");
    expect(retry.status).toBe(201);
    expect(retry.headers.get("idempotent-replayed")).toBeNull();
  });
});

describe("upload: stalled clients time out", () => {
  let env: TestEnv;
  let a: Awaited<ReturnType<TestEnv["org"]>>;
  let base: string;
  beforeAll(async () => {
    // Small, so the test waits a fraction of a second instead of the default minute.
    env = await createTestEnv({ config: { uploadIdleTimeoutMs: 200 } });
    a = await env.org("Acme");
    base = listen(env);
  });
  afterAll(() => {
    env.app.stop(true);
    env.close();
  });

  test("a client that trickles a few bytes then sends nothing gets 408 upload_timeout; nothing is left, the key is released", async () => {
    const before = await storedState(env);
    const content = pseudoRandomBytes(64 * 1024, 21);
    const body = multipartBody([{ name: "file", filename: "slow.bin", content }]);
    const slow = rawRequest(base, uploadHead(a.key, body.length, { "Idempotency-Key": "slow-1" }), body.subarray(0, 8 * 1024));
    await eventually(async () => (await storedState(env)).temp.some((n) => n.endsWith(".part")), "the upload to reach the disk");
    // A few more bytes, one at a time, then silence.
    for (let i = 0; i < 3; i++) slow.socket.write(body.subarray(8 * 1024 + i, 8 * 1024 + i + 1));
    await eventually(() => rawJson(slow.received()) !== null, "the timeout answer");
    expect(rawStatus(slow.received())).toBe(408);
    const answer = rawJson(slow.received());
    expect(answer).toEqual({ error: "upload_timeout", message: "No bytes of the upload arrived for 200 ms; nothing was stored. Send the file again." });
    // The server hangs up: the rest of a body it will never read must not keep the connection.
    expect(await slow.response).toStartWith("HTTP/1.1 408");
    await eventually(async () => (await storedState(env)).temp.length === 0, "the stalled upload to be removed");
    expect(await storedState(env)).toEqual(before);
    expect(await env.db.get("SELECT COUNT(*) AS n FROM idempotency_keys")).toEqual({ n: 0 });

    const retry = await upload(env, a.key, { content, filename: "slow.bin", headers: { "idempotency-key": "slow-1" } });
    expect(retry.status).toBe(201);
    expect(retry.headers.get("idempotent-replayed")).toBeNull();
  });

  test("a client that sends the head and no body at all times out the same way", async () => {
    const before = await storedState(env);
    const silent = rawRequest(base, uploadHead(a.key, 4096), new Uint8Array(0));
    expect(rawStatus(await silent.response)).toBe(408);
    expect(rawJson(silent.received()).error).toBe("upload_timeout");
    expect(await storedState(env)).toEqual(before);
  });
});

describe("upload: uploads in flight per API key", () => {
  let env: TestEnv;
  let a: Awaited<ReturnType<TestEnv["org"]>>;
  let b: Awaited<ReturnType<TestEnv["org"]>>;
  let base: string;
  beforeAll(async () => {
    env = await createTestEnv({ config: { maxUploadsPerKey: 2 } });
    a = await env.org("Acme");
    b = await env.org("Beta");
    base = listen(env);
  });
  afterAll(() => {
    env.app.stop(true);
    env.close();
  });

  test("past the bound, 429 too_many_uploads with Retry-After and nothing stored; other keys are not affected; a slot frees when an upload ends", async () => {
    const body = multipartBody([{ name: "file", filename: "held.bin", content: pseudoRandomBytes(64 * 1024, 31) }]);
    const held = [0, 1].map(() => rawRequest(base, uploadHead(a.key, body.length), body.subarray(0, 8 * 1024)));
    await eventually(async () => (await storedState(env)).temp.filter((n) => n.endsWith(".part")).length === 2, "both uploads to be under way");
    const refused = await upload(env, a.key, { content: "third", headers: { "idempotency-key": "third" } });
    expect(refused.status).toBe(429);
    expect(refused.headers.get("retry-after")).toBe("5");
    expect(await refused.json()).toEqual({
      error: "too_many_uploads",
      message: "This API key already has 2 uploads in progress, the most allowed at once. Retry when one has finished.",
    });
    // The refusal claimed nothing: the key is free for the retry.
    expect(await env.db.get("SELECT COUNT(*) AS n FROM idempotency_keys")).toEqual({ n: 0 });
    // Another organization's key, and requests other than uploads, go on.
    expect((await upload(env, b.key, { content: "other key" })).status).toBe(201);
    expect((await env.request("/v1/files", { key: a.key })).status).toBe(200);

    // One held upload goes away: once it has cleaned up (its .part and .intent gone), its slot is free again.
    held[0]!.socket.destroy();
    await eventually(async () => (await storedState(env)).temp.length === 2, "the first upload to be cleaned up");
    const retry = await upload(env, a.key, { content: "third", headers: { "idempotency-key": "third" } });
    expect(retry.status).toBe(201);
    held[1]!.socket.destroy();
    await eventually(async () => (await storedState(env)).temp.length === 0, "the second upload to be cleaned up");
    expect((await storedState(env)).rows).toBe(2);
  });
});

describe("upload: a full disk", () => {
  // A real full filesystem: a 2 MiB tmpfs holding the whole data dir (needs root to mount; skipped otherwise).
  const mountPoint = tempDir("cc-fulldisk");
  const mounted = Bun.spawnSync(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", mountPoint], { stdout: "pipe", stderr: "pipe" }).exitCode === 0;
  let server: ServerProcess | undefined;
  afterAll(async () => {
    await server?.stop("SIGKILL");
    if (mounted) Bun.spawnSync(["umount", mountPoint]);
    rmSync(mountPoint, { recursive: true, force: true });
  });

  test.skipIf(!mounted)("ENOSPC mid-upload → 507 insufficient_storage; no row, no file, no temp; the next small upload works", async () => {
    const dataDir = join(mountPoint, "data");
    server = await startServerProcess(["--port", "0", "--host", "127.0.0.1", "--data-dir", dataDir]);
    const key = (await server.waitForStderr(/cc_[0-9A-Za-z]{32,}/))[0];
    const send = (bytes: Uint8Array) => {
      const fd = new FormData();
      fd.append("file", new Blob([bytes]), "big.bin");
      return fetch(`${server!.url}/v1/files`, { method: "POST", body: fd, headers: { authorization: `Bearer ${key}` } });
    };
    const res = await send(pseudoRandomBytes(3 * 1024 * 1024));
    expect(res.status).toBe(507);
    expect(((await res.json()) as { error: string }).error).toBe("insufficient_storage");
    expect(listObjects(dataDir)).toEqual([]);
    expect(listTemp(dataDir)).toEqual([]);
    const ok = await send(new TextEncoder().encode("small"));
    expect(ok.status).toBe(201);
    const list = (await (await fetch(`${server.url}/v1/files`, { headers: { authorization: `Bearer ${key}` } })).json()) as { meta: { total: number } };
    expect(list.meta.total).toBe(1);
  });
});
