// Downloads: signed links (no Authorization; tampered, expired), Bearer content, headers, HEAD, conditional requests, ranges, active content.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { buildApp } from "../src/app";
import { loadDownloadKey } from "../src/files/signed-url";
import { DOWNLOAD_KEY_FILENAME } from "../src/storage/layout";
import { manualClock } from "../src/lib/clock";
import { createLogger } from "../src/lib/log";
import { createTestEnv, ON_POSTGRES, runCli, tempDir, testDeps, type TestEnv } from "./helpers";
import { listen, pseudoRandomBytes, sha256Hex, uploadOk, type FileJson } from "./files-fixtures";

/** The path and query of a download_url, to send through the test app. */
function linkPath(file: FileJson): string {
  const u = new URL(file.download_url);
  return u.pathname + u.search;
}

function withQuery(file: FileJson, change: (q: URLSearchParams) => void, pathname?: string): string {
  const u = new URL(file.download_url);
  change(u.searchParams);
  return (pathname ?? u.pathname) + "?" + u.searchParams.toString();
}

describe("downloads", () => {
  const clock = manualClock(Date.UTC(2026, 1, 27, 10, 15));
  let env: TestEnv;
  let a: Awaited<ReturnType<TestEnv["org"]>>;
  let b: Awaited<ReturnType<TestEnv["org"]>>;
  const content = pseudoRandomBytes(1000, 3);
  let file: FileJson;

  beforeAll(async () => {
    env = await createTestEnv({ clock });
    a = await env.org("Alpha");
    b = await env.org("Beta");
    file = await uploadOk(env, a.key, { content, filename: "données été.bin" });
  });
  afterAll(() => env.close());

  test("the signed link is absolute, built from the public URL, and works without Authorization", async () => {
    expect(file.download_url).toMatch(
      new RegExp(`^${env.config.publicUrl}/files/${file.id}/donn%C3%A9es%20%C3%A9t%C3%A9\\.bin\\?expires=\\d+&signature=[A-Za-z0-9_-]{43}$`),
    );
    const expires = Number(new URL(file.download_url).searchParams.get("expires"));
    expect(expires).toBe(Math.floor(clock.now() / 1000) + env.config.downloadUrlTtlSeconds);
    const res = await env.request(linkPath(file));
    expect(res.status).toBe(200);
    expect(sha256Hex(new Uint8Array(await res.arrayBuffer()))).toBe(sha256Hex(content));
  });

  test("download headers: type, length, ETag, Last-Modified, RFC 5987 disposition, nosniff, CSP sandbox", async () => {
    const base = listen(env);
    try {
      for (const [url, init] of [
        [`${base}${linkPath(file)}`, {}],
        [`${base}/v1/files/${file.id}/content`, { headers: { authorization: `Bearer ${a.key}` } }],
      ] as const) {
        const res = await fetch(url, init);
        expect(res.status).toBe(200);
        const h = res.headers;
        expect(h.get("content-type")).toBe("application/octet-stream");
        expect(h.get("content-length")).toBe("1000");
        expect(h.get("etag")).toBe(`"${file.sha256}"`);
        expect(h.get("last-modified")).toBe(new Date(clock.now()).toUTCString());
        expect(h.get("content-disposition")).toBe(`attachment; filename="donn_es _t_.bin"; filename*=UTF-8''donn%C3%A9es%20%C3%A9t%C3%A9.bin`);
        expect(h.get("x-content-type-options")).toBe("nosniff");
        expect(h.get("content-security-policy")).toBe("sandbox");
        expect(h.get("accept-ranges")).toBe("bytes");
        expect(new Uint8Array(await res.arrayBuffer())).toEqual(content);
      }
    } finally {
      env.app.stop(true);
    }
  });

  test("HEAD answers the headers without the body", async () => {
    const base = listen(env);
    try {
      for (const [url, init] of [
        [`${base}${linkPath(file)}`, {}],
        [`${base}/v1/files/${file.id}/content`, { headers: { authorization: `Bearer ${a.key}` } }],
      ] as const) {
        const res = await fetch(url, { ...init, method: "HEAD" });
        expect(res.status).toBe(200);
        expect(res.headers.get("content-length")).toBe("1000");
        expect(res.headers.get("etag")).toBe(`"${file.sha256}"`);
        expect((await res.arrayBuffer()).byteLength).toBe(0);
      }
    } finally {
      env.app.stop(true);
    }
  });

  test("the Bearer content route: 401 without a key, 404 for another organization", async () => {
    expect((await env.request(`/v1/files/${file.id}/content`)).status).toBe(401);
    const other = await env.request(`/v1/files/${file.id}/content`, { key: b.key });
    expect(other.status).toBe(404);
    expect(await other.json()).toEqual({ error: "not_found", message: "File was not found." });
    // HEAD has no body to carry the error, but the status is the same.
    expect((await env.request(`/v1/files/${file.id}/content`, { method: "HEAD" })).status).toBe(401);
    expect((await env.request(`/v1/files/${file.id}/content`, { method: "HEAD", key: b.key })).status).toBe(404);
    expect(
      (
        await env.request(
          withQuery(file, (q) => q.set("signature", "x".repeat(43))),
          { method: "HEAD" },
        )
      ).status,
    ).toBe(403);
  });

  test("If-None-Match with the ETag (strong, weak, in a list, or *) → 304 without a body; another tag → 200", async () => {
    for (const value of [`"${file.sha256}"`, `W/"${file.sha256}"`, `"nope", "${file.sha256}"`, "*"]) {
      const res = await env.request(linkPath(file), { headers: { "if-none-match": value } });
      expect(res.status, value).toBe(304);
      expect(res.headers.get("etag")).toBe(`"${file.sha256}"`);
      expect(await res.text()).toBe("");
    }
    const changed = await env.request(`/v1/files/${file.id}/content`, { key: a.key, headers: { "if-none-match": '"other"' } });
    expect(changed.status).toBe(200);
  });

  test("If-Modified-Since: not older than the upload → 304; older → 200", async () => {
    const at = new Date(clock.now());
    expect((await env.request(linkPath(file), { headers: { "if-modified-since": at.toUTCString() } })).status).toBe(304);
    expect((await env.request(linkPath(file), { headers: { "if-modified-since": new Date(at.getTime() - 1000).toUTCString() } })).status).toBe(200);
  });

  const ranges: [string, number, [number, number] | null][] = [
    ["bytes=0-0", 206, [0, 0]],
    ["bytes=10-19", 206, [10, 19]],
    ["bytes=990-", 206, [990, 999]],
    ["bytes=-5", 206, [995, 999]],
    ["bytes=-5000", 206, [0, 999]],
    ["bytes=500-5000", 206, [500, 999]],
    ["bytes=1000-", 416, null],
    ["bytes=-0", 416, null],
    ["bytes=0-1,5-6", 200, null],
    ["bytes=9-3", 200, null],
    ["items=0-5", 200, null],
  ];
  for (const [range, status, span] of ranges) {
    test(`Range ${range} → ${status}`, async () => {
      const res = await env.request(`/v1/files/${file.id}/content`, { key: a.key, headers: { range } });
      expect(res.status).toBe(status);
      if (status === 206) {
        const [s, e] = span!;
        expect(res.headers.get("content-range")).toBe(`bytes ${s}-${e}/1000`);
        expect(new Uint8Array(await res.arrayBuffer())).toEqual(content.slice(s, e + 1));
      } else if (status === 416) {
        expect(res.headers.get("content-range")).toBe("bytes */1000");
        expect(((await res.json()) as { error: string }).error).toBe("range_not_satisfiable");
      } else {
        expect(new Uint8Array(await res.arrayBuffer())).toEqual(content);
      }
    });
  }

  test("ranges work on the signed link too, and If-Range with a stale validator gets the whole file", async () => {
    const part = await env.request(linkPath(file), { headers: { range: "bytes=1-2" } });
    expect(part.status).toBe(206);
    expect(new Uint8Array(await part.arrayBuffer())).toEqual(content.slice(1, 3));
    const stale = await env.request(linkPath(file), { headers: { range: "bytes=1-2", "if-range": '"stale"' } });
    expect(stale.status).toBe(200);
    const fresh = await env.request(linkPath(file), { headers: { range: "bytes=1-2", "if-range": `"${file.sha256}"` } });
    expect(fresh.status).toBe(206);
  });

  test("a tampered link is a 403 invalid_download_link", async () => {
    const other = await uploadOk(env, a.key, { content: "other", filename: "o.txt" });
    const sig = new URL(file.download_url).searchParams.get("signature")!;
    const tampered = [
      withQuery(file, (q) => q.set("signature", (sig[0] === "A" ? "B" : "A") + sig.slice(1))),
      withQuery(file, (q) => q.set("expires", String(Number(q.get("expires")) + 3600))),
      withQuery(file, (q) => q.delete("signature")),
      withQuery(file, (q) => q.delete("expires")),
      withQuery(file, (q) => q.set("expires", "soon")),
      // Another file's id with this file's signature.
      withQuery(file, () => {}, `/files/${other.id}/o.txt`),
      `/files/${file.id}/x.bin`,
    ];
    for (const path of tampered) {
      const res = await env.request(path);
      expect(res.status, path).toBe(403);
      expect(((await res.json()) as { error: string }).error).toBe("invalid_download_link");
    }
  });

  test("the filename segment must be the stored name (compared decoded): a renamed link is a 403 like a tampered one", async () => {
    // `curl -O` and browsers name the saved file after this segment: `x.exe` must not be a working link.
    for (const name of [
      "x.exe",
      "whatever.exe",
      "donn%C3%A9es%20%C3%A9t%C3%A9.bin.exe",
      "DONN%C3%89ES%20%C3%89T%C3%89.BIN",
      "donnees ete.bin",
      "%E0%A4%A",
      "donn%C3%A9es%20%C3%A9t%C3%A9.bin%2F..%2Fx.exe",
    ]) {
      const res = await env.request(withQuery(file, () => {}, `/files/${file.id}/${name}`));
      expect(res.status, name).toBe(403);
      expect(await res.json()).toEqual({
        error: "invalid_download_link",
        message: "This download link is not valid. Fetch the file's metadata for a fresh download_url.",
      });
    }
    // The name as the link encodes it works, and so does any other valid encoding of the same name.
    for (const name of ["donn%C3%A9es%20%C3%A9t%C3%A9.bin", "donn%c3%a9es%20%c3%a9t%c3%a9%2Ebin"]) {
      const res = await env.request(withQuery(file, () => {}, `/files/${file.id}/${name}`));
      expect(res.status, name).toBe(200);
      expect(res.headers.get("content-disposition")).toContain("donn%C3%A9es");
    }
  });

  test("over HTTP, the link as given works and a renamed one is refused (what `curl -O` would save)", async () => {
    const base = listen(env);
    try {
      const good = await fetch(file.download_url.replace(env.config.publicUrl, base));
      expect(good.status).toBe(200);
      const u = new URL(file.download_url.replace(env.config.publicUrl, base));
      u.pathname = `/files/${file.id}/x.exe`;
      const renamed = await fetch(u);
      expect(renamed.status).toBe(403);
      expect(((await renamed.json()) as { error: string }).error).toBe("invalid_download_link");
    } finally {
      env.app.stop(true);
    }
  });

  test("an expired link is a 403 download_link_expired; fresh metadata mints a working one", async () => {
    const fresh = (await (await env.request(`/v1/files/${file.id}`, { key: a.key })).json()) as FileJson;
    clock.advance(env.config.downloadUrlTtlSeconds * 1000 - 1000);
    expect((await env.request(linkPath(fresh))).status).toBe(200);
    clock.advance(1000);
    const res = await env.request(linkPath(fresh));
    expect(res.status).toBe(403);
    expect(await res.json()).toEqual({
      error: "download_link_expired",
      message: "This download link has expired. Fetch the file's metadata for a fresh download_url.",
    });
    const again = (await (await env.request(`/v1/files/${file.id}`, { key: a.key })).json()) as FileJson;
    expect(again.download_url).not.toBe(fresh.download_url);
    expect((await env.request(linkPath(again))).status).toBe(200);
  });

  test("a link to a deleted file is a 404", async () => {
    const gone = await uploadOk(env, a.key, { content: "bye" });
    expect((await env.request(`/v1/files/${gone.id}`, { method: "DELETE", key: a.key })).status).toBe(204);
    const res = await env.request(linkPath(gone));
    expect(res.status).toBe(404);
    expect(((await res.json()) as { error: string }).error).toBe("not_found");
  });
});

describe("downloads: a file whose stored bytes are missing", () => {
  let env: TestEnv;
  let a: Awaited<ReturnType<TestEnv["org"]>>;
  let app: ReturnType<typeof buildApp>;
  const lines: string[] = [];
  let file: FileJson;
  beforeAll(async () => {
    env = await createTestEnv();
    a = await env.org("Acme");
    // The same app on the same data dir, with a logger we can read.
    app = buildApp(testDeps(env, { log: createLogger({ level: "error", write: (l) => lines.push(l) }) }));
    file = await uploadOk(env, a.key, { content: "soon gone", filename: "gone.txt" });
    // Lost outside the server (deleted by hand, a restore without files/): the row stays.
    rmSync(join(env.dir, "files", a.orgId, file.id));
  });
  afterAll(() => env.close());

  const send = (path: string, init: RequestInit & { key?: string } = {}) => {
    const headers = new Headers(init.headers);
    if (init.key) headers.set("authorization", `Bearer ${init.key}`);
    return app.handle(new Request(`http://localhost${path}`, { ...init, headers }));
  };

  test("signed link, Bearer content and a range: 500 file_content_missing in the error shape, logged once per request with the file id", async () => {
    const cases: [string, RequestInit & { key?: string }][] = [
      [linkPath(file), {}],
      [`/v1/files/${file.id}/content`, { key: a.key }],
      [`/v1/files/${file.id}/content`, { key: a.key, headers: { range: "bytes=0-3" } }],
      [linkPath(file), { headers: { range: "bytes=2-" } }],
    ];
    for (const [path, init] of cases) {
      lines.length = 0;
      const res = await send(path, init);
      expect(res.status, path).toBe(500);
      expect(res.headers.get("content-type")).toStartWith("application/json");
      expect(await res.json()).toEqual({
        error: "file_content_missing",
        message: `The stored content of ${file.id} is missing; an administrator can run \`clientcove verify\`.`,
      });
      const errors = lines.map((l) => JSON.parse(l)).filter((l) => l.level === "error");
      expect(errors.length).toBe(1);
      expect(errors[0]).toMatchObject({ error: "file_content_missing", request_id: res.headers.get("x-request-id") });
      expect(errors[0].cause.message).toBe(`stored content of ${file.id} (org ${a.orgId}) is missing at files/${a.orgId}/${file.id}`);
    }
  });

  test("HEAD on both routes is a 500 too, without a body", async () => {
    for (const [path, key] of [
      [linkPath(file), undefined],
      [`/v1/files/${file.id}/content`, a.key],
    ] as const) {
      const res = await send(path, { method: "HEAD", key });
      expect(res.status, path).toBe(500);
      expect(await res.text()).toBe("");
    }
  });

  test("`clientcove verify` names the file the message points to", async () => {
    // The env's database as the admin names it: the data dir's file, or the PostgreSQL URL.
    const database = env.engine === "postgres" ? ["--database-url", env.config.databaseUrl] : [];
    const r = runCli(["verify", "--data-dir", env.dir, ...database, "--json"]);
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout) as { problems: { kind: string; file_id?: string; org_id?: string }[] };
    expect(report.problems).toContainEqual(expect.objectContaining({ kind: "missing", file_id: file.id, org_id: a.orgId }));
  });
});

describe("downloads: active content cannot run on our origin", () => {
  let env: TestEnv;
  let a: Awaited<ReturnType<TestEnv["org"]>>;
  beforeAll(async () => {
    env = await createTestEnv();
    a = await env.org("Acme");
  });
  afterAll(() => env.close());

  const cases: [string, string, string, "inline" | "attachment"][] = [
    ["<html><script>alert(document.cookie)</script></html>", "x.html", "text/html", "attachment"],
    ["<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>", "x.svg", "image/svg+xml", "attachment"],
    ["<?xml version='1.0'?><x/>", "x.xml", "application/xml", "attachment"],
    ["alert(1)", "x.js", "text/javascript", "attachment"],
    ["<html>", "x.xhtml", "application/xhtml+xml", "attachment"],
    ["%PDF-1.4", "x.pdf", "application/pdf", "attachment"],
    ["<script>alert(1)</script>", "notes.txt", "text/plain", "inline"],
    [String.fromCharCode(0x89) + "PNG\r\n\x1a\n", "p.png", "image/png", "inline"],
  ];
  for (const [content, filename, type, disposition] of cases) {
    test(`${filename} (${type}) is served ${disposition}, with nosniff and CSP sandbox`, async () => {
      const bytes = typeof content === "string" ? Uint8Array.from(content, (c) => c.charCodeAt(0)) : content;
      const file = await uploadOk(env, a.key, { content: bytes, filename });
      expect(file.mime_type).toBe(type);
      for (const res of [await env.request(linkPath(file)), await env.request(`/v1/files/${file.id}/content`, { key: a.key })]) {
        expect(res.headers.get("content-type")).toBe(type);
        expect(res.headers.get("content-disposition")).toStartWith(`${disposition}; filename="${filename}"`);
        expect(res.headers.get("x-content-type-options")).toBe("nosniff");
        expect(res.headers.get("content-security-policy")).toBe("sandbox");
      }
    });
  }
});

describe("download signing key", () => {
  // SQLite only: on PostgreSQL the key is a row of the database (test/pg-serve.test.ts shares it between instances).
  test.skipIf(ON_POSTGRES)("created at first start in the data dir with mode 0600, reused after a restart, so links survive", async () => {
    const env = await createTestEnv();
    const a = await env.org("Acme");
    const path = join(env.dir, DOWNLOAD_KEY_FILENAME);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const file = await uploadOk(env, a.key, { content: "persist" });
    // A second app on the same data dir (a restart) accepts the first one's link.
    const restarted = buildApp(testDeps(env));
    const res = await restarted.handle(new Request(`http://localhost${linkPath(file)}`));
    expect(res.status).toBe(200);
    expect(await res.text()).toBe("persist");
    env.close();
  });

  test("another data dir has another key: a link from one install is refused by another", async () => {
    const one = await createTestEnv();
    const two = await createTestEnv();
    expect(loadDownloadKey(one.dir).equals(loadDownloadKey(two.dir))).toBe(false);
    const file = await uploadOk(one, (await one.org("One")).key, { content: "mine" });
    // Same file id in the other install would still need the other install's signature.
    const res = await two.request(linkPath(file));
    expect(res.status).toBe(403);
    one.close();
    two.close();
  });

  test("a corrupt key file stops the start with a clear message instead of silently making a new key", () => {
    const dir = tempDir();
    writeFileSync(join(dir, DOWNLOAD_KEY_FILENAME), "not a key\n");
    expect(() => loadDownloadKey(dir)).toThrow(/download-url\.key is not a download signing key/);
  });
});
