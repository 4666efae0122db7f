// Every validation rule of the tickets API (400), content types (415), body size (413): one error shape, nothing leaked.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createTestEnv, type TestEnv } from "./helpers";

/** A value no error message may echo back (Elysia's default errors print `found` values). */
const MARKER = "ZZ_MARKER_ZZ";

let env: TestEnv;
let a: Awaited<ReturnType<TestEnv["org"]>>;
let ticketId: string;
let ticketBefore: unknown;

beforeAll(async () => {
  env = await createTestEnv({ config: { maxJsonBytes: 2048 } });
  a = await env.org("Acme", "pro");
  const res = await env.request("/v1/tickets", { method: "POST", key: a.key, json: { subject: "Existing", description: "keep", priority: "high" } });
  ticketBefore = await res.json();
  ticketId = (ticketBefore as { id: string }).id;
});
afterAll(() => env.close());

async function ticketCount(): Promise<number> {
  return ((await env.db.get("SELECT COUNT(*) AS n FROM tickets")) as { n: number }).n;
}

/** The shared error shape, strictly: no schema dumps, no `found`, no stack, no echoed values. */
function expectErrorShape(text: string, _status: number, code: string) {
  const body = JSON.parse(text);
  expect(Object.keys(body).sort()).toEqual(code === "validation_error" ? ["details", "error", "message"] : ["error", "message"]);
  expect(body.error).toBe(code);
  expect(typeof body.message).toBe("string");
  expect(body.message.length).toBeGreaterThan(0);
  if (body.details) {
    expect(body.details.length).toBeGreaterThan(0);
    for (const d of body.details) {
      expect(Object.keys(d).sort()).toEqual(["field", "message"]);
      expect(typeof d.field).toBe("string");
      expect(typeof d.message).toBe("string");
    }
  }
  expect(text).not.toContain(MARKER);
  expect(text).not.toMatch(/found|schema|"type"|at \w+ \(|\.ts:|node_modules|SQLITE/i);
  return body as { error: string; message: string; details?: { field: string; message: string }[] };
}

interface Case {
  name: string;
  method?: string;
  /** Defaults to /v1/tickets for POST, /v1/tickets/<existing> for PATCH. */
  path?: string;
  json?: unknown;
  raw?: string;
  /** Fields that must be named in `details` (at least these). */
  fields: string[];
}

const LONG = "x".repeat(201);

const createCases: Case[] = [
  { name: "malformed JSON (truncated)", raw: '{"subject":', fields: ["body"] },
  { name: "malformed JSON (unquoted key)", raw: '{subject: "x"}', fields: ["body"] },
  { name: "malformed JSON (trailing comma)", raw: '{"subject": "x",}', fields: ["body"] },
  { name: "malformed JSON (single quotes)", raw: "{'subject': 'x'}", fields: ["body"] },
  { name: "an empty body", raw: "", fields: ["body"] },
  { name: "a JSON array", json: [{ subject: "x" }], fields: ["body"] },
  { name: "a JSON string", json: "subject", fields: ["body"] },
  { name: "a JSON number", json: 42, fields: ["body"] },
  { name: "JSON null", raw: "null", fields: ["body"] },
  { name: "a missing subject", json: { priority: "low" }, fields: ["subject"] },
  { name: "a numeric subject", json: { subject: 5 }, fields: ["subject"] },
  { name: "a boolean subject", json: { subject: true }, fields: ["subject"] },
  { name: "a null subject", json: { subject: null }, fields: ["subject"] },
  { name: "an object subject", json: { subject: { [MARKER]: MARKER } }, fields: ["subject"] },
  { name: "an array subject", json: { subject: [MARKER] }, fields: ["subject"] },
  { name: "an empty subject", json: { subject: "" }, fields: ["subject"] },
  { name: "a whitespace-only subject", json: { subject: "   " }, fields: ["subject"] },
  { name: "a subject of tabs and newlines", json: { subject: "\t\n \r\n" }, fields: ["subject"] },
  { name: "a subject of 201 characters", json: { subject: LONG }, fields: ["subject"] },
  { name: "a subject of 201 characters after trimming", json: { subject: `  ${LONG}  ` }, fields: ["subject"] },
  { name: "a subject of 201 emoji", json: { subject: "😀".repeat(201) }, fields: ["subject"] },
  { name: "a subject with NUL", json: { subject: "a\u0000b" }, fields: ["subject"] },
  { name: "a subject with an escape sequence", json: { subject: "\u001b[31mred" }, fields: ["subject"] },
  { name: "a zero-width-only subject", json: { subject: "\u200b\u2060\ufeff" }, fields: ["subject"] },
  { name: "a subject with a lone surrogate", raw: '{"subject":"a\\ud800b"}', fields: ["subject"] },
  { name: "a description with NUL", json: { subject: "x", description: "a\u0000" }, fields: ["description"] },
  { name: "a numeric description", json: { subject: "x", description: 1 }, fields: ["description"] },
  { name: "an object description", json: { subject: "x", description: { a: MARKER } }, fields: ["description"] },
  { name: "an unknown priority", json: { subject: "x", priority: MARKER }, fields: ["priority"] },
  { name: "a priority in the wrong case", json: { subject: "x", priority: "HIGH" }, fields: ["priority"] },
  { name: "an empty priority", json: { subject: "x", priority: "" }, fields: ["priority"] },
  { name: "a numeric priority", json: { subject: "x", priority: 3 }, fields: ["priority"] },
  { name: "a null priority", json: { subject: "x", priority: null }, fields: ["priority"] },
  { name: "an unknown field", json: { subject: "x", [`color_${MARKER}`.toLowerCase()]: "red" }, fields: [] },
  { name: "a status on create (not a create field)", json: { subject: "x", status: "closed" }, fields: ["status"] },
  { name: "a client-chosen id", json: { subject: "x", id: "tkt_mine" }, fields: ["id"] },
  { name: "a client-chosen created_by", json: { subject: "x", created_by: "user_x" }, fields: ["created_by"] },
  { name: "several problems at once", json: { subject: 5, priority: "nope", extra: true }, fields: ["subject", "priority", "extra"] },
  {
    name: "a body nested deeper than any ticket",
    raw: `{"subject":"x","description":${"[".repeat(20_000).slice(0, 1000)}${"]".repeat(1000)}}`,
    fields: ["body"],
  },
  { name: "a deeply nested array body", raw: `${"[".repeat(1000)}${"]".repeat(1000)}`, fields: ["body"] },
];

const patchCases: Case[] = [
  { name: "an empty object", json: {}, fields: [] },
  { name: "no body at all", fields: ["body"] },
  { name: "malformed JSON", raw: '{"status": "open"', fields: ["body"] },
  { name: "a JSON array", json: [{ status: "open" }], fields: ["body"] },
  { name: "JSON null", raw: "null", fields: ["body"] },
  { name: "an unknown status", json: { status: "done" }, fields: ["status"] },
  { name: "a status in the wrong case", json: { status: "OPEN" }, fields: ["status"] },
  { name: "a null status", json: { status: null }, fields: ["status"] },
  { name: "a numeric status", json: { status: 1 }, fields: ["status"] },
  { name: "an unknown priority", json: { priority: MARKER }, fields: ["priority"] },
  { name: "an empty subject", json: { subject: "" }, fields: ["subject"] },
  { name: "a whitespace-only subject", json: { subject: " \n " }, fields: ["subject"] },
  { name: "a null subject", json: { subject: null }, fields: ["subject"] },
  { name: "a subject of 201 characters after trimming", json: { subject: ` ${LONG} ` }, fields: ["subject"] },
  { name: "a numeric description", json: { description: 7 }, fields: ["description"] },
  { name: "an unknown field", json: { status: "closed", color: "red" }, fields: ["color"] },
  { name: "the id", json: { id: "tkt_other" }, fields: ["id"] },
  { name: "created_by", json: { created_by: "user_x" }, fields: ["created_by"] },
  { name: "created_at", json: { created_at: "2020-01-01T00:00:00Z" }, fields: ["created_at"] },
];

async function send(c: Case, method: string): Promise<Response> {
  const path = c.path ?? (method === "POST" ? "/v1/tickets" : `/v1/tickets/${ticketId}`);
  if (c.raw !== undefined) return env.request(path, { method, key: a.key, body: c.raw, headers: { "content-type": "application/json" } });
  if (c.json !== undefined) return env.request(path, { method, key: a.key, json: c.json });
  return env.request(path, { method, key: a.key, headers: { "content-type": "application/json" } });
}

describe("POST /v1/tickets: 400 validation_error", () => {
  for (const c of createCases) {
    test(c.name, async () => {
      const before = await ticketCount();
      const res = await send(c, "POST");
      const text = await res.text();
      expect(res.status, text).toBe(400);
      const body = expectErrorShape(text, 400, "validation_error");
      for (const f of c.fields) expect(body.details!.map((d) => d.field)).toContain(f);
      expect(await ticketCount()).toBe(before);
    });
  }

  test("an unknown field is named in details", async () => {
    const body = expectErrorShape(
      await (await env.request("/v1/tickets", { method: "POST", key: a.key, json: { subject: "x", color: "red" } })).text(),
      400,
      "validation_error",
    );
    expect(body.details).toEqual([{ field: "color", message: expect.any(String) }]);
  });
});

describe("POST /v1/tickets: the limits' edges are accepted", () => {
  const accepted: [string, Record<string, unknown>][] = [
    ["a one-character subject", { subject: "x" }],
    ["a subject of exactly 200 characters", { subject: "x".repeat(200) }],
    ["a subject of 200 characters with spaces around it (limit is after trimming)", { subject: `   ${"x".repeat(200)}\n` }],
    ["a subject of 200 emoji (characters, not UTF-16 units)", { subject: "😀".repeat(200) }],
    ["an empty description", { subject: "x", description: "" }],
    ["a null description (no description, as on PATCH)", { subject: "x", description: null }],
    ["a description of exactly 64 KiB of ASCII", { subject: "x", description: "d".repeat(65536) }],
    ["a description of exactly 64 KiB of two-byte characters", { subject: "x", description: "é".repeat(32768) }],
    ["a description of exactly 64 KiB of four-byte characters", { subject: "x", description: "😀".repeat(16384) }],
  ];
  let big: TestEnv;
  let key: string;
  beforeAll(async () => {
    big = await createTestEnv(); // default maxJsonBytes (1 MiB) so 64 KiB descriptions fit
    key = (await big.org("Big", "pro")).key;
  });
  afterAll(() => big.close());

  for (const [name, json] of accepted) {
    test(name, async () => {
      const res = await big.request("/v1/tickets", { method: "POST", key, json });
      expect(res.status, await res.clone().text()).toBe(201);
      const body = (await res.json()) as { subject: string; description: string | null };
      expect(body.subject).toBe(String(json.subject).trim());
      if ("description" in json) expect(body.description).toBe(json.description as string | null);
    });
  }

  const rejected: [string, string][] = [
    ["one byte over 64 KiB of ASCII", "d".repeat(65537)],
    ["64 KiB + 2 bytes of two-byte characters (fewer than 65536 characters)", "é".repeat(32769)],
    ["64 KiB + 4 bytes of four-byte characters", "😀".repeat(16385)],
  ];
  for (const [name, description] of rejected) {
    test(`a description of ${name} is a 400 naming description`, async () => {
      const res = await big.request("/v1/tickets", { method: "POST", key, json: { subject: "x", description } });
      const body = expectErrorShape(await res.text(), 400, "validation_error");
      expect(res.status).toBe(400);
      expect(body.details!.map((d) => d.field)).toEqual(["description"]);
    });
  }

  test("a PATCH description over 64 KiB is a 400 and changes nothing", async () => {
    const t = (await (await big.request("/v1/tickets", { method: "POST", key, json: { subject: "p", description: "short" } })).json()) as { id: string };
    const res = await big.request(`/v1/tickets/${t.id}`, { method: "PATCH", key, json: { description: "é".repeat(32769) } });
    expect(res.status).toBe(400);
    expect(await (await big.request(`/v1/tickets/${t.id}`, { key })).json()).toEqual(t);
  });
});

describe("PATCH /v1/tickets/:id: 400 validation_error, and nothing changes", () => {
  for (const c of patchCases) {
    test(c.name, async () => {
      const res = await send(c, "PATCH");
      const text = await res.text();
      expect(res.status, text).toBe(400);
      const body = expectErrorShape(text, 400, "validation_error");
      for (const f of c.fields) expect(body.details!.map((d) => d.field)).toContain(f);
      expect(await (await env.request(`/v1/tickets/${ticketId}`, { key: a.key })).json()).toEqual(ticketBefore);
    });
  }

  test("validation comes before the lookup: an invalid PATCH of a missing ticket is a 400", async () => {
    const res = await env.request("/v1/tickets/tkt_0000000000000000", { method: "PATCH", key: a.key, json: {} });
    expect(res.status).toBe(400);
  });
});

describe("GET /v1/tickets: query validation", () => {
  const bad: [string, string[]][] = [
    ["page=0", ["page"]],
    ["page=-1", ["page"]],
    ["page=abc", ["page"]],
    ["page=", ["page"]],
    ["page=1.5", ["page"]],
    ["per_page=0", ["per_page"]],
    ["per_page=-3", ["per_page"]],
    ["per_page=101", ["per_page"]],
    ["per_page=1000000", ["per_page"]],
    ["per_page=abc", ["per_page"]],
    ["per_page=2.5", ["per_page"]],
    ["status=done", ["status"]],
    ["status=OPEN", ["status"]],
    ["status=", ["status"]],
    [`priority=${MARKER}`, ["priority"]],
    ["page=0&per_page=10", ["page"]],
    ["page=2&per_page=0", ["per_page"]],
    ["page=0x10", ["page"]],
    ["page=1e2", ["page"]],
    ["page=%2B5", ["page"]],
    ["page=+5", ["page"]], // a literal + in a query is a space: " 5"
    ["page=%205", ["page"]],
    ["per_page=1e1", ["per_page"]],
    ["page=9007199254740993", ["page"]],
    ["status=open&status=closed", ["status"]],
    ["page=1&page=2", ["page"]],
  ];
  for (const [query, fields] of bad) {
    test(`?${query} is a 400 naming ${fields.join(" and ")}`, async () => {
      const res = await env.request(`/v1/tickets?${query}`, { key: a.key });
      const text = await res.text();
      expect(res.status, text).toBe(400);
      const body = expectErrorShape(text, 400, "validation_error");
      for (const f of fields) expect(body.details!.map((d) => d.field)).toContain(f);
    });
  }

  for (const query of ["page=1", "per_page=1", "per_page=100", "page=1000000", "status=in_progress&priority=urgent", "cache_buster=123", "_=1&page=1"]) {
    test(`?${query} is accepted`, async () => {
      const res = await env.request(`/v1/tickets?${query}`, { key: a.key });
      expect(res.status, await res.clone().text()).toBe(200);
    });
  }
});

describe("415 unsupported_media_type", () => {
  const types: [string, string, string | undefined][] = [
    ["text/plain", '{"subject":"x"}', "text/plain"],
    ["application/x-www-form-urlencoded", "subject=x", "application/x-www-form-urlencoded"],
    ["application/xml", "<subject>x</subject>", "application/xml"],
    ["no content type", '{"subject":"x"}', undefined],
  ];
  for (const [name, body, type] of types) {
    for (const method of ["POST", "PATCH"]) {
      test(`${method} with ${name}`, async () => {
        const before = await ticketCount();
        const headers: Record<string, string> = type ? { "content-type": type } : {};
        const path = method === "POST" ? "/v1/tickets" : `/v1/tickets/${ticketId}`;
        const req = new Request(`http://localhost${path}`, { method, body, headers: { ...headers, authorization: `Bearer ${a.key}` } });
        if (!type) req.headers.delete("content-type");
        const res = await env.app.handle(req);
        const text = await res.text();
        expect(res.status, text).toBe(415);
        expectErrorShape(text, 415, "unsupported_media_type");
        expect(await ticketCount()).toBe(before);
      });
    }
  }

  test("a multipart form is not a way to create a ticket", async () => {
    const before = await ticketCount();
    const form = new FormData();
    form.set("subject", "via a form");
    const res = await env.request("/v1/tickets", { method: "POST", key: a.key, body: form });
    const text = await res.text();
    expect(res.status, text).toBe(415);
    expectErrorShape(text, 415, "unsupported_media_type");
    expect(await ticketCount()).toBe(before);
  });

  test("application/json with a charset, and +json types, are JSON", async () => {
    for (const type of ["application/json; charset=utf-8", "Application/JSON", "application/merge-patch+json"]) {
      const res = await env.request("/v1/tickets", { method: "POST", key: a.key, body: '{"subject":"typed"}', headers: { "content-type": type } });
      expect(res.status, type).toBe(201);
    }
  });

  test("a JSON body that is not UTF-8 is a 400", async () => {
    const bytes = new Uint8Array([...new TextEncoder().encode('{"subject":"'), 0xff, 0xfe, ...new TextEncoder().encode('"}')]);
    const before = await ticketCount();
    const res = await env.request("/v1/tickets", { method: "POST", key: a.key, body: bytes, headers: { "content-type": "application/json" } });
    expect(res.status).toBe(400);
    expectErrorShape(await res.text(), 400, "validation_error");
    expect(await ticketCount()).toBe(before);
  });
});

describe("413 payload_too_large (maxJsonBytes 2048)", () => {
  const oversized = JSON.stringify({ subject: "big", description: "y".repeat(2100) });

  test("a body with a Content-Length over the limit", async () => {
    const before = await ticketCount();
    const res = await env.request("/v1/tickets", { method: "POST", key: a.key, body: oversized, headers: { "content-type": "application/json" } });
    const text = await res.text();
    expect(res.status).toBe(413);
    const body = expectErrorShape(text, 413, "payload_too_large");
    expect(body.message).toContain("2 KiB");
    expect(await ticketCount()).toBe(before);
  });

  test("a streamed body without Content-Length that grows over the limit", async () => {
    const bytes = new TextEncoder().encode(oversized);
    const stream = new ReadableStream<Uint8Array>({
      start(c) {
        for (let i = 0; i < bytes.length; i += 512) c.enqueue(bytes.slice(i, i + 512));
        c.close();
      },
    });
    const res = await env.request("/v1/tickets", {
      method: "POST",
      key: a.key,
      body: stream,
      headers: { "content-type": "application/json" },
      duplex: "half",
    } as RequestInit);
    expect(res.status).toBe(413);
    expectErrorShape(await res.text(), 413, "payload_too_large");
  });

  test("a PATCH over the limit changes nothing", async () => {
    const res = await env.request(`/v1/tickets/${ticketId}`, {
      method: "PATCH",
      key: a.key,
      body: JSON.stringify({ description: "z".repeat(3000) }),
      headers: { "content-type": "application/json" },
    });
    expect(res.status).toBe(413);
    expect(await (await env.request(`/v1/tickets/${ticketId}`, { key: a.key })).json()).toEqual(ticketBefore);
  });

  test("a body of exactly the limit is accepted", async () => {
    const base = JSON.stringify({ subject: "edge", description: "" });
    const exact = JSON.stringify({ subject: "edge", description: "e".repeat(2048 - base.length) });
    expect(new TextEncoder().encode(exact).length).toBe(2048);
    const res = await env.request("/v1/tickets", { method: "POST", key: a.key, body: exact, headers: { "content-type": "application/json" } });
    expect(res.status).toBe(201);
  });

  test("over real HTTP, from a real client", async () => {
    const server = env.app.listen({ hostname: "127.0.0.1", port: 0, reusePort: false });
    try {
      const url = `http://127.0.0.1:${server.server!.port}/v1/tickets`;
      const res = await fetch(url, { method: "POST", body: oversized, headers: { "content-type": "application/json", authorization: `Bearer ${a.key}` } });
      expect(res.status).toBe(413);
      expectErrorShape(await res.text(), 413, "payload_too_large");
      expect(res.headers.get("x-request-id")).toBeTruthy();
      const ok = await fetch(url, {
        method: "POST",
        body: '{"subject":"small"}',
        headers: { "content-type": "application/json", authorization: `Bearer ${a.key}` },
      });
      expect(ok.status).toBe(201);
      const typed = await fetch(url, { method: "POST", body: "subject", headers: { "content-type": "text/plain", authorization: `Bearer ${a.key}` } });
      expect(typed.status).toBe(415);
    } finally {
      server.stop(true);
    }
  });
});

describe("nullable fields name the rule that failed", () => {
  test("PATCH description: too long, or neither a string nor null, each gets its own message", async () => {
    const e = await createTestEnv();
    try {
      const a = await e.org("Acme");
      const t: any = await (await e.request("/v1/tickets", { method: "POST", key: a.key, json: { subject: "S" } })).json();
      const patch = async (description: unknown) => {
        const r = await e.request(`/v1/tickets/${t.id}`, { method: "PATCH", key: a.key, json: { description } });
        expect(r.status).toBe(400);
        return ((await r.json()) as any).details;
      };
      // The documented limit is 64 KiB of UTF-8 (not a count of UTF-16 units), and the message says so.
      expect(await patch("x".repeat(70_000))).toEqual([{ field: "description", message: "must be at most 64 KiB (UTF-8)." }]);
      expect(await patch("\u0000")).toEqual([{ field: "description", message: "must not contain control characters other than tabs and line breaks." }]);
      expect(await patch(5)).toEqual([{ field: "description", message: "must be a string or null." }]);
    } finally {
      e.close();
    }
  });
});
