// Shared folders: create, names, siblings, list, get, rename and move (no cycles), delete (empty, non-empty, recursive) (the access matrix: test/folders-access.test.ts).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { manualClock } from "../src/lib/clock";
import { createTestEnv, type TestEnv } from "./helpers";
import { createFolder, storedState, uploadOk, type FolderJson } from "./files-fixtures";

interface Page {
  data: FolderJson[];
  meta: { page: number; per_page: number; total: number };
}

async function dbRow(env: TestEnv, id: string) {
  return (await env.db.get("SELECT parent_id, parent_key, name FROM folders WHERE id = ?", id)) as {
    parent_id: string | null;
    parent_key: string;
    name: string;
  } | null;
}

describe("folders: create and names", () => {
  let env: TestEnv;
  let a: Awaited<ReturnType<TestEnv["org"]>>;
  let b: Awaited<ReturnType<TestEnv["org"]>>;
  beforeAll(async () => {
    env = await createTestEnv();
    a = await env.org("Alpha");
    b = await env.org("Beta");
  });
  afterAll(() => env.close());

  test("POST /v1/folders → 201 with the folder and its Location; parent_key '' at the top, the parent id below", async () => {
    const res = await env.request("/v1/folders", { method: "POST", key: a.key, json: { name: "Contracts" } });
    expect(res.status).toBe(201);
    const top = (await res.json()) as FolderJson;
    expect(Object.keys(top).sort()).toEqual(["created_at", "id", "name", "parent_id", "updated_at"]);
    expect(top).toMatchObject({ name: "Contracts", parent_id: null });
    expect(top.id).toMatch(/^fld_[0-9a-z]{16}$/);
    expect(res.headers.get("location")).toBe(`${env.config.publicUrl}/v1/folders/${top.id}`);
    expect(await dbRow(env, top.id)).toEqual({ parent_id: null, parent_key: "", name: "Contracts" });
    const child = await createFolder(env, a.key, "2026", top.id);
    expect(child.parent_id).toBe(top.id);
    expect(await dbRow(env, child.id)).toEqual({ parent_id: top.id, parent_key: top.id, name: "2026" });
    const explicitNull = await createFolder(env, a.key, "Top via null", null);
    expect(explicitNull.parent_id).toBeNull();
  });

  const good: [string, string][] = [
    ["  Padded  ", "Padded"],
    ["Ünïcødé 文件夹 📁", "Ünïcødé 文件夹 📁"],
    ["a\\b", "a\\b"],
    ["x".repeat(255), "x".repeat(255)],
    ["📁".repeat(255), "📁".repeat(255)],
  ];
  for (const [sent, kept] of good) {
    test(`name ${JSON.stringify(sent.slice(0, 20))}… is accepted as ${JSON.stringify(kept.slice(0, 20))}…`, async () => {
      expect((await createFolder(env, a.key, sent)).name).toBe(kept);
    });
  }

  const bad: [string, unknown][] = [
    ["empty", ""],
    ["only spaces", "   "],
    ["256 characters", "y".repeat(256)],
    ["a slash", "a/b"],
    ["a control character", "tab\there"],
    ["a newline", "two\nlines"],
    ["DEL", "del\u007f"],
    ["not a string", 42],
  ];
  for (const [label, name] of bad) {
    test(`a name with ${label} → 400 validation_error on name, nothing created`, async () => {
      const before = ((await (await env.request("/v1/folders", { key: a.key })).json()) as Page).meta.total;
      const res = await env.request("/v1/folders", { method: "POST", key: a.key, json: { name } });
      expect(res.status).toBe(400);
      const body = (await res.json()) as { error: string; details: { field: string }[] };
      expect(body.error).toBe("validation_error");
      expect(body.details.map((d) => d.field)).toEqual(["name"]);
      expect(((await (await env.request("/v1/folders", { key: a.key })).json()) as Page).meta.total).toBe(before);
    });
  }

  test("unknown fields and a missing name are 400s", async () => {
    for (const json of [{}, { name: "x", color: "red" }]) {
      const res = await env.request("/v1/folders", { method: "POST", key: a.key, json });
      expect(res.status).toBe(400);
    }
  });

  test("names are unique among siblings (409 conflict), free across parents and organizations", async () => {
    const p1 = await createFolder(env, a.key, "Parent 1");
    const p2 = await createFolder(env, a.key, "Parent 2");
    await createFolder(env, a.key, "Shared", p1.id);
    const dup = await env.request("/v1/folders", { method: "POST", key: a.key, json: { name: " Shared ", parent_id: p1.id } });
    expect(dup.status).toBe(409);
    expect(await dup.json()).toEqual({ error: "conflict", message: 'A folder named "Shared" already exists here.' });
    expect((await createFolder(env, a.key, "Shared", p2.id)).name).toBe("Shared");
    expect((await createFolder(env, a.key, "shared", p1.id)).name).toBe("shared");
    await createFolder(env, a.key, "Top name");
    expect((await env.request("/v1/folders", { method: "POST", key: a.key, json: { name: "Top name" } })).status).toBe(409);
    expect((await createFolder(env, b.key, "Top name")).name).toBe("Top name");
  });

  test("an unknown parent, or another organization's, is a 404", async () => {
    const theirs = await createFolder(env, b.key, "B's");
    for (const parent_id of ["fld_0000000000000000", theirs.id]) {
      const res = await env.request("/v1/folders", { method: "POST", key: a.key, json: { name: "Child", parent_id } });
      expect(res.status).toBe(404);
      expect(await res.json()).toEqual({ error: "not_found", message: "Parent folder was not found." });
    }
  });
});

describe("folders: list and get", () => {
  const clock = manualClock(Date.UTC(2026, 1, 1));
  let env: TestEnv;
  let a: Awaited<ReturnType<TestEnv["org"]>>;
  let b: Awaited<ReturnType<TestEnv["org"]>>;
  const ids: Record<string, string> = {};
  beforeAll(async () => {
    env = await createTestEnv({ clock });
    a = await env.org("Alpha");
    b = await env.org("Beta");
    for (const [name, parent] of [
      ["top1", null],
      ["top2", null],
      ["kid1", "top1"],
      ["kid2", "top1"],
      ["grandkid", "kid1"],
    ] as const) {
      clock.advance(1000);
      ids[name] = (await createFolder(env, a.key, name, parent ? ids[parent] : undefined)).id;
    }
    await createFolder(env, b.key, "b-top");
  });
  afterAll(() => env.close());

  const cases: [string, string[]][] = [
    ["", ["grandkid", "kid2", "kid1", "top2", "top1"]],
    ["?parent_id=root", ["top2", "top1"]],
    ["?parent_id=TOP1", ["kid2", "kid1"]],
    ["?parent_id=KID1", ["grandkid"]],
    ["?parent_id=fld_0000000000000000", []],
  ];
  for (const [q, expected] of cases) {
    test(`GET /v1/folders${q || " (all)"}: org A's folders, newest first`, async () => {
      const res = await env.request(`/v1/folders${q.replace("TOP1", ids.top1!).replace("KID1", ids.kid1!)}`, { key: a.key });
      expect(res.status).toBe(200);
      const page = (await res.json()) as Page;
      expect(page.data.map((f) => f.name)).toEqual(expected);
      expect(page.meta).toEqual({ page: 1, per_page: 25, total: expected.length });
    });
  }

  test("pages", async () => {
    const p2 = (await (await env.request("/v1/folders?per_page=2&page=2", { key: a.key })).json()) as Page;
    expect(p2.data.map((f) => f.name)).toEqual(["kid1", "top2"]);
    expect(p2.meta).toEqual({ page: 2, per_page: 2, total: 5 });
    expect((await env.request("/v1/folders?per_page=500", { key: a.key })).status).toBe(400);
  });

  test("org B sees none of org A's folders", async () => {
    const page = (await (await env.request(`/v1/folders?parent_id=${ids.top1}`, { key: b.key })).json()) as Page;
    expect(page.meta.total).toBe(0);
    const all = (await (await env.request("/v1/folders", { key: b.key })).json()) as Page;
    expect(all.data.map((f) => f.name)).toEqual(["b-top"]);
  });

  test("GET /v1/folders/:id", async () => {
    const res = await env.request(`/v1/folders/${ids.kid1}`, { key: a.key });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ id: ids.kid1, name: "kid1", parent_id: ids.top1 });
    const missing = await env.request("/v1/folders/fld_0000000000000000", { key: a.key });
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({ error: "not_found", message: "Folder was not found." });
  });
});

describe("folders: rename and move", () => {
  const clock = manualClock(Date.UTC(2026, 1, 1));
  let env: TestEnv;
  let a: Awaited<ReturnType<TestEnv["org"]>>;
  let b: Awaited<ReturnType<TestEnv["org"]>>;
  beforeAll(async () => {
    env = await createTestEnv({ clock });
    a = await env.org("Alpha");
    b = await env.org("Beta");
  });
  afterAll(() => env.close());

  async function patch(id: string, json: unknown, key = a.key) {
    return env.request(`/v1/folders/${id}`, { method: "PATCH", key, json });
  }

  test("rename: new name and updated_at; parent unchanged", async () => {
    const f = await createFolder(env, a.key, "Old");
    clock.advance(5000);
    const res = await patch(f.id, { name: "New" });
    expect(res.status).toBe(200);
    const after = (await res.json()) as FolderJson;
    expect(after).toMatchObject({ id: f.id, name: "New", parent_id: null, created_at: f.created_at });
    expect(after.updated_at).not.toBe(f.updated_at);
    expect(await dbRow(env, f.id)).toEqual({ parent_id: null, parent_key: "", name: "New" });
  });

  test("move under another folder, then back to the top with null; parent_key follows", async () => {
    const target = await createFolder(env, a.key, "Target");
    const f = await createFolder(env, a.key, "Mover");
    const moved = (await (await patch(f.id, { parent_id: target.id })).json()) as FolderJson;
    expect(moved.parent_id).toBe(target.id);
    expect(await dbRow(env, f.id)).toEqual({ parent_id: target.id, parent_key: target.id, name: "Mover" });
    const back = (await (await patch(f.id, { parent_id: null, name: "Mover again" })).json()) as FolderJson;
    expect(back).toMatchObject({ parent_id: null, name: "Mover again" });
    expect(await dbRow(env, f.id)).toEqual({ parent_id: null, parent_key: "", name: "Mover again" });
  });

  test("a move into itself or anything below it is a 400; nothing changes", async () => {
    const root = await createFolder(env, a.key, "Root of cycle");
    const mid = await createFolder(env, a.key, "Mid", root.id);
    const leaf = await createFolder(env, a.key, "Leaf", mid.id);
    for (const target of [root.id, mid.id, leaf.id]) {
      const res = await patch(root.id, { parent_id: target });
      expect(res.status, target).toBe(400);
      const body = (await res.json()) as { error: string; details: { field: string }[] };
      expect(body.error).toBe("validation_error");
      expect(body.details.map((d) => d.field)).toEqual(["parent_id"]);
    }
    expect((await patch(mid.id, { parent_id: leaf.id })).status).toBe(400);
    expect((await dbRow(env, root.id))?.parent_id).toBeNull();
    expect((await dbRow(env, mid.id))?.parent_id).toBe(root.id);
    // Moving a leaf up is fine.
    expect(((await (await patch(leaf.id, { parent_id: root.id })).json()) as FolderJson).parent_id).toBe(root.id);
  });

  test("a rename or move onto a sibling's name is a 409; renaming to its own name is a no-op", async () => {
    const p = await createFolder(env, a.key, "Conflicts");
    const x = await createFolder(env, a.key, "X", p.id);
    await createFolder(env, a.key, "Y", p.id);
    const elsewhere = await createFolder(env, a.key, "Y");
    expect((await patch(x.id, { name: "Y" })).status).toBe(409);
    expect((await patch(elsewhere.id, { parent_id: p.id })).status).toBe(409);
    const same = await patch(x.id, { name: "X" });
    expect(same.status).toBe(200);
    expect(((await same.json()) as FolderJson).updated_at).toBe(x.updated_at);
  });

  test("validation: empty body, unknown fields, bad names; unknown parent 404; other org 404", async () => {
    const f = await createFolder(env, a.key, "Validated");
    for (const json of [{}, { color: "red" }, { name: "" }, { name: "a/b" }]) expect((await patch(f.id, json)).status).toBe(400);
    expect((await patch(f.id, { parent_id: "fld_0000000000000000" })).status).toBe(404);
    const theirs = await createFolder(env, b.key, "Theirs");
    expect((await patch(f.id, { parent_id: theirs.id })).status).toBe(404);
    expect((await patch(theirs.id, { name: "Stolen" })).status).toBe(404);
    expect((await dbRow(env, theirs.id))?.name).toBe("Theirs");
  });
});

describe("folders: delete", () => {
  let env: TestEnv;
  let a: Awaited<ReturnType<TestEnv["org"]>>;
  beforeAll(async () => {
    env = await createTestEnv();
    a = await env.org("Alpha");
  });
  afterAll(() => env.close());

  test("an empty folder: 204, gone", async () => {
    const f = await createFolder(env, a.key, "Empty");
    const res = await env.request(`/v1/folders/${f.id}`, { method: "DELETE", key: a.key });
    expect(res.status).toBe(204);
    expect((await env.request(`/v1/folders/${f.id}`, { key: a.key })).status).toBe(404);
    expect((await env.request(`/v1/folders/${f.id}`, { method: "DELETE", key: a.key })).status).toBe(404);
  });

  test("a folder with a sub-folder or a file: 409 folder_not_empty, nothing deleted", async () => {
    const withChild = await createFolder(env, a.key, "Has child");
    await createFolder(env, a.key, "Child", withChild.id);
    const withFile = await createFolder(env, a.key, "Has file");
    await uploadOk(env, a.key, { fields: { folder_id: withFile.id } });
    for (const f of [withChild, withFile]) {
      for (const q of ["", "?recursive=false"]) {
        const res = await env.request(`/v1/folders/${f.id}${q}`, { method: "DELETE", key: a.key });
        expect(res.status).toBe(409);
        expect(((await res.json()) as { error: string }).error).toBe("folder_not_empty");
        expect(await dbRow(env, f.id)).not.toBeNull();
      }
    }
  });

  test("?recursive=true deletes the subtree, its files' rows and bytes, with one file.deleted each; siblings stay", async () => {
    const root = await createFolder(env, a.key, "Tree");
    const mid = await createFolder(env, a.key, "Mid", root.id);
    const leaf = await createFolder(env, a.key, "Leaf", mid.id);
    const sibling = await createFolder(env, a.key, "Sibling");
    const inTree = [
      await uploadOk(env, a.key, { content: "r", fields: { folder_id: root.id } }),
      await uploadOk(env, a.key, { content: "m", fields: { folder_id: mid.id } }),
      await uploadOk(env, a.key, { content: "l", fields: { folder_id: leaf.id } }),
    ];
    const kept = await uploadOk(env, a.key, { content: "s", fields: { folder_id: sibling.id } });
    const deletedBefore = (await storedState(env)).events.filter((e) => e === "file.deleted").length;

    const res = await env.request(`/v1/folders/${root.id}?recursive=true`, { method: "DELETE", key: a.key });
    expect(res.status).toBe(204);
    for (const f of [root, mid, leaf]) expect(await dbRow(env, f.id)).toBeNull();
    for (const file of inTree) {
      expect((await env.request(`/v1/files/${file.id}`, { key: a.key })).status).toBe(404);
      expect(existsSync(join(env.dir, "files", a.orgId, file.id))).toBe(false);
    }
    const state = await storedState(env);
    expect(state.events.filter((e) => e === "file.deleted").length - deletedBefore).toBe(3);
    expect(state.temp).toEqual([]);
    expect(await dbRow(env, sibling.id)).not.toBeNull();
    expect((await env.request(`/v1/files/${kept.id}`, { key: a.key })).status).toBe(200);
    expect(existsSync(join(env.dir, "files", a.orgId, kept.id))).toBe(true);
  });

  test("recursive must be true or false", async () => {
    const f = await createFolder(env, a.key, "Strict");
    const res = await env.request(`/v1/folders/${f.id}?recursive=yes`, { method: "DELETE", key: a.key });
    expect(res.status).toBe(400);
    expect(await dbRow(env, f.id)).not.toBeNull();
  });
});
