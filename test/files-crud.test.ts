// File metadata: get, list (filters, pages), delete (bytes and event), tickets deleted under their files (the access matrix of every files route: test/files-access.test.ts).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { manualClock } from "../src/lib/clock";
import { createTestEnv, type TestEnv } from "./helpers";
import { BOUNDARY, createFolder, createTicket, FILE_KEYS, multipartBody, storedState, uploadOk, type FileJson } from "./files-fixtures";

interface Page {
  data: FileJson[];
  meta: { page: number; per_page: number; total: number };
}

describe("files: get, list, delete", () => {
  const clock = manualClock(Date.UTC(2026, 1, 27, 10, 0));
  let env: TestEnv;
  let a: Awaited<ReturnType<TestEnv["org"]>>;
  let b: Awaited<ReturnType<TestEnv["org"]>>;
  let folder: string;
  let ticket: string;
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    env = await createTestEnv({ clock });
    a = await env.org("Alpha");
    b = await env.org("Beta");
    folder = (await createFolder(env, a.key, "Docs")).id;
    ticket = (await createTicket(env, a.key)).id;
    // One second apart, so "newest first" is a real order.
    const uploads: [string, Record<string, string>][] = [
      ["loose", {}],
      ["inFolder", { folder_id: folder }],
      ["onTicket", { ticket_id: ticket }],
      ["both", { folder_id: folder, ticket_id: ticket }],
    ];
    for (const [name, fields] of uploads) {
      clock.advance(1000);
      ids[name] = (await uploadOk(env, a.key, { content: name, filename: `${name}.txt`, fields })).id;
    }
    clock.advance(1000);
    await uploadOk(env, b.key, { content: "b's file" });
  });
  afterAll(() => env.close());

  test("GET /v1/files/:id returns the metadata with a fresh download_url", async () => {
    const res = await env.request(`/v1/files/${ids.both}`, { key: a.key });
    expect(res.status).toBe(200);
    const file = (await res.json()) as FileJson;
    expect(Object.keys(file).sort()).toEqual(FILE_KEYS);
    expect(file).toMatchObject({ id: ids.both, filename: "both.txt", folder_id: folder, ticket_id: ticket, size_bytes: 4, mime_type: "text/plain" });
  });

  const filters: [string, string[]][] = [
    ["", ["both", "onTicket", "inFolder", "loose"]],
    ["?folder_id=FOLDER", ["both", "inFolder"]],
    ["?folder_id=root", ["onTicket", "loose"]],
    ["?ticket_id=TICKET", ["both", "onTicket"]],
    ["?folder_id=FOLDER&ticket_id=TICKET", ["both"]],
    ["?folder_id=root&ticket_id=TICKET", ["onTicket"]],
    ["?folder_id=fld_0000000000000000", []],
  ];
  for (const [query, expected] of filters) {
    test(`GET /v1/files${query || " (no filter)"}: only org A's matching files, newest first`, async () => {
      const res = await env.request(`/v1/files${query.replace("FOLDER", folder).replace("TICKET", ticket)}`, { key: a.key });
      expect(res.status).toBe(200);
      const page = (await res.json()) as Page;
      expect(page.data.map((f) => f.id)).toEqual(expected.map((n) => ids[n]!));
      expect(page.meta).toEqual({ page: 1, per_page: 25, total: expected.length });
    });
  }

  test("another organization's folder or ticket as a filter finds nothing", async () => {
    for (const q of [`folder_id=${folder}`, `ticket_id=${ticket}`]) {
      const page = (await (await env.request(`/v1/files?${q}`, { key: b.key })).json()) as Page;
      expect(page).toEqual({ data: [], meta: { page: 1, per_page: 25, total: 0 } });
    }
  });

  test("pages: per_page and page; past the end is an empty page with the total", async () => {
    const p1 = (await (await env.request("/v1/files?per_page=3", { key: a.key })).json()) as Page;
    const p2 = (await (await env.request("/v1/files?per_page=3&page=2", { key: a.key })).json()) as Page;
    const p9 = (await (await env.request("/v1/files?per_page=3&page=9", { key: a.key })).json()) as Page;
    expect(p1.data.map((f) => f.id)).toEqual([ids.both, ids.onTicket, ids.inFolder]);
    expect(p2.data.map((f) => f.id)).toEqual([ids.loose]);
    expect(p9).toEqual({ data: [], meta: { page: 9, per_page: 3, total: 4 } });
    for (const bad of ["per_page=0", "per_page=101", "page=0", "page=x"]) {
      const res = await env.request(`/v1/files?${bad}`, { key: a.key });
      expect(res.status, bad).toBe(400);
      expect(((await res.json()) as { error: string }).error).toBe("validation_error");
    }
  });

  test("DELETE removes the row and the bytes, records file.deleted; a second DELETE is a 404", async () => {
    const file = await uploadOk(env, a.key, { content: "temporary", filename: "t.txt" });
    const onDisk = join(env.dir, "files", a.orgId, file.id);
    expect(existsSync(onDisk)).toBe(true);
    const res = await env.request(`/v1/files/${file.id}`, { method: "DELETE", key: a.key });
    expect(res.status).toBe(204);
    expect(await res.text()).toBe("");
    expect(existsSync(onDisk)).toBe(false);
    expect((await env.request(`/v1/files/${file.id}`, { key: a.key })).status).toBe(404);
    const event = (await env.db.get("SELECT data FROM events WHERE type = 'file.deleted' ORDER BY seq DESC LIMIT 1")) as { data: string };
    const { download_url: _u, ...expected } = file;
    expect(JSON.parse(event.data)).toEqual(expected);
    expect((await storedState(env)).temp).toEqual([]);
    const again = await env.request(`/v1/files/${file.id}`, { method: "DELETE", key: a.key });
    expect(again.status).toBe(404);
    expect(await again.json()).toEqual({ error: "not_found", message: "File was not found." });
  });

  test("deleting a ticket keeps its files and clears their ticket_id", async () => {
    const doomed = await createTicket(env, a.key, "Doomed");
    const file = await uploadOk(env, a.key, { content: "evidence", fields: { ticket_id: doomed.id, folder_id: folder } });
    expect((await env.request(`/v1/tickets/${doomed.id}`, { method: "DELETE", key: a.key })).status).toBe(204);
    const after = (await (await env.request(`/v1/files/${file.id}`, { key: a.key })).json()) as FileJson;
    expect(after).toMatchObject({ id: file.id, ticket_id: null, folder_id: folder, sha256: file.sha256 });
    expect(existsSync(join(env.dir, "files", a.orgId, file.id))).toBe(true);
    const listed = (await (await env.request(`/v1/files?ticket_id=${doomed.id}`, { key: a.key })).json()) as Page;
    expect(listed.meta.total).toBe(0);
  });
});

describe("files: uploads by another organization cannot use org A's folder or ticket", () => {
  test("org B's upload into org A's folder or onto org A's ticket is a 404 and stores nothing", async () => {
    const env = await createTestEnv();
    const a = await env.org("Alpha");
    const b = await env.org("Beta");
    const folder = await createFolder(env, a.key, "Private");
    const ticket = await createTicket(env, a.key);
    const before = await storedState(env);
    for (const fields of [{ folder_id: folder.id }, { ticket_id: ticket.id }]) {
      const res = await env.request("/v1/files", {
        method: "POST",
        key: b.key,
        body: multipartBody([{ name: "file", filename: "x.txt", content: "x" }, ...Object.entries(fields).map(([name, value]) => ({ name, value }))]),
        headers: { "content-type": `multipart/form-data; boundary=${BOUNDARY}` },
      });
      expect(res.status).toBe(404);
    }
    expect(await storedState(env)).toEqual(before);
    env.close();
  });
});

describe("files and folders in the OpenAPI document", () => {
  test("the upload's multipart body (file as binary, folder_id, ticket_id), the download routes and the tags are documented", async () => {
    const env = await createTestEnv();
    const spec = (await (await env.request("/docs/json")).json()) as any;
    const upload = spec.paths["/v1/files"].post;
    const schema = upload.requestBody.content["multipart/form-data"].schema;
    expect(schema.required).toEqual(["file"]);
    expect(schema.properties.file).toMatchObject({ type: "string", format: "binary" });
    expect(Object.keys(schema.properties).sort()).toEqual(["file", "folder_id", "ticket_id"]);
    // 408 upload_timeout, 409 idempotency_in_progress, 422 idempotency_key_reused, 429 too_many_uploads too.
    expect(Object.keys(upload.responses).sort()).toEqual(["201", "400", "401", "403", "404", "408", "409", "413", "415", "422", "429"]);
    const signed = spec.paths["/files/{id}/{filename}"].get;
    expect(signed.security).toEqual([]);
    expect(signed.responses["200"].content["*/*"].schema).toEqual({ type: "string", format: "binary" });
    expect(Object.keys(signed.responses)).toEqual(expect.arrayContaining(["200", "206", "304", "403", "404", "416", "500"]));
    expect(signed.parameters.find((p: { name: string }) => p.name === "filename").schema.type).toBe("string");
    expect(spec.paths["/v1/files/{id}/content"].get.responses["206"]).toBeDefined();
    expect(spec.paths["/v1/files/{id}/content"].get.responses["500"].description).toContain("file_content_missing");
    for (const path of ["/v1/folders", "/v1/folders/{id}"]) expect(spec.paths[path]).toBeDefined();
    expect(spec.paths["/v1/folders/{id}"].delete.parameters.map((p: { name: string }) => p.name)).toContain("recursive");
    const tags = new Set(spec.tags.map((t: { name: string }) => t.name));
    expect(tags.has("Files") && tags.has("Folders")).toBe(true);
    env.close();
  });
});
