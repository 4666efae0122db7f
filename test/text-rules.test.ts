// The text rules on every route that takes text: what is acknowledged is what is stored (no lone surrogates),
// lengths in characters (code points), one rule for single-line and multi-line text, null descriptions on create.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { codePointLength, isBlank, textProblem } from "../src/lib/text";
import { createTestEnv, type TestEnv } from "./helpers";

let env: TestEnv;
let a: Awaited<ReturnType<TestEnv["org"]>>;
let ticketId: string;
let folderId: string;
let webhookId: string;

const HOOK_URL = "http://127.0.0.1:9/hook";

beforeAll(async () => {
  env = await createTestEnv({ config: { webhookAllowPrivate: true } });
  a = await env.org("Acme", "pro");
  ticketId = ((await (await env.request("/v1/tickets", { method: "POST", key: a.key, json: { subject: "Existing" } })).json()) as { id: string }).id;
  folderId = ((await (await env.request("/v1/folders", { method: "POST", key: a.key, json: { name: "Existing" } })).json()) as { id: string }).id;
  const wh = await env.request("/v1/webhooks", { method: "POST", key: a.key, json: { url: HOOK_URL, events: ["*"] } });
  expect(wh.status, await wh.clone().text()).toBe(201);
  webhookId = ((await wh.json()) as { id: string }).id;
});
afterAll(() => env.close());

/** Sends raw JSON text (so escapes such as \ud800 reach the server exactly as written). */
function sendRaw(method: string, path: string, raw: string) {
  return env.request(path, { method, key: a.key, body: raw, headers: { "content-type": "application/json" } });
}

const rows = async () =>
  JSON.stringify([
    await env.db.all("SELECT * FROM tickets ORDER BY id"),
    await env.db.all("SELECT * FROM folders ORDER BY id"),
    await env.db.all("SELECT * FROM webhooks ORDER BY id"),
    await env.db.get("SELECT COUNT(*) AS n FROM events"),
  ]);

async function expect400(res: Response, field: string, message?: RegExp) {
  const text = await res.text();
  expect(res.status, text).toBe(400);
  const body = JSON.parse(text);
  expect(body.error).toBe("validation_error");
  expect(body.details.map((d: { field: string }) => d.field)).toContain(field);
  if (message) expect(body.details.find((d: { field: string }) => d.field === field).message).toMatch(message);
  return body;
}

describe("lone surrogates are refused (400 naming the field), never stored as U+FFFD", () => {
  const cases: [string, string, () => string, string, string][] = [
    ["POST", "ticket subject", () => "/v1/tickets", '{"subject":"a\\ud800b"}', "subject"],
    ["POST", "ticket description", () => "/v1/tickets", '{"subject":"ok","description":"x\\udfffy"}', "description"],
    ["PATCH", "ticket subject", () => `/v1/tickets/${ticketId}`, '{"subject":"\\ud83d"}', "subject"],
    ["PATCH", "ticket description", () => `/v1/tickets/${ticketId}`, '{"description":"\\udc00"}', "description"],
    ["POST", "folder name", () => "/v1/folders", '{"name":"a\\ud800b"}', "name"],
    ["PATCH", "folder name", () => `/v1/folders/${folderId}`, '{"name":"\\ud800"}', "name"],
    ["POST", "folder parent_id", () => "/v1/folders", '{"name":"x","parent_id":"fld_\\ud800"}', "parent_id"],
    ["POST", "webhook description", () => "/v1/webhooks", `{"url":"${HOOK_URL}","events":["*"],"description":"\\ud800"}`, "description"],
    ["POST", "webhook url", () => "/v1/webhooks", '{"url":"http://127.0.0.1:9/\\ud800","events":["*"]}', "url"],
    ["PATCH", "webhook description", () => `/v1/webhooks/${webhookId}`, '{"description":"ok \\udbff"}', "description"],
    ["PATCH", "webhook event name", () => `/v1/webhooks/${webhookId}`, '{"events":["ticket.created","\\ud800"]}', "events.1"],
  ];
  for (const [method, name, path, raw, field] of cases) {
    test(`${method} ${name}`, async () => {
      const before = await rows();
      await expect400(await sendRaw(method, path(), raw), field, /valid Unicode/);
      expect(await rows()).toBe(before);
    });
  }

  test("a lone surrogate in a field name is refused too", async () => {
    const before = await rows();
    await expect400(await sendRaw("POST", "/v1/tickets", '{"subject":"ok","\\ud800":1}'), "body", /valid Unicode/);
    expect(await rows()).toBe(before);
  });

  test("a proper surrogate pair (an emoji written as escapes) is accepted and stored as sent", async () => {
    const res = await sendRaw("POST", "/v1/tickets", '{"subject":"a\\ud83d\\ude00b"}');
    expect(res.status).toBe(201);
    const body = (await res.json()) as { id: string; subject: string };
    expect(body.subject).toBe("a😀b");
    expect(await env.db.get("SELECT subject FROM tickets WHERE id = ?", body.id)).toEqual({ subject: "a😀b" });
  });

  test("a query text parameter whose percent-encoding is not UTF-8 is a 400 naming it", async () => {
    for (const [path, field] of [
      ["/v1/tickets?starting_after=%FF", "starting_after"],
      ["/v1/tickets?starting_after=%ED%A0%80", "starting_after"], // UTF-8 of the surrogate U+D800
      ["/v1/folders?parent_id=%C3", "parent_id"],
      ["/v1/files?folder_id=%E2%82", "folder_id"],
      ["/v1/files?ticket_id=tkt_%FE", "ticket_id"],
    ] as const) {
      await expect400(await env.request(path, { key: a.key }), field, /UTF-8/);
    }
    // Unknown parameters stay ignored, whatever their encoding.
    expect((await env.request("/v1/tickets?utm=%FF", { key: a.key })).status).toBe(200);
  });
});

describe("lengths are counted in characters (code points), as documented", () => {
  const emoji = (n: number) => "😀".repeat(n);

  test("a folder name of 255 emoji is accepted; 256 is refused as 'at most 255 characters'", async () => {
    const ok = await env.request("/v1/folders", { method: "POST", key: a.key, json: { name: emoji(255) } });
    expect(ok.status, await ok.clone().text()).toBe(201);
    expect(((await ok.json()) as { name: string }).name).toBe(emoji(255));
    const body = await expect400(await env.request("/v1/folders", { method: "POST", key: a.key, json: { name: emoji(256) } }), "name");
    expect(body.details).toEqual([{ field: "name", message: "must be at most 255 characters." }]);
    const renamed = await env.request(`/v1/folders/${folderId}`, { method: "PATCH", key: a.key, json: { name: emoji(256) } });
    expect((await expect400(renamed, "name")).details[0].message).toBe("must be at most 255 characters.");
  });

  test("a webhook description of 300 emoji (600 UTF-16 units) is accepted; 501 characters are refused as 'at most 500'", async () => {
    const ok = await env.request("/v1/webhooks", { method: "POST", key: a.key, json: { url: HOOK_URL, events: ["*"], description: emoji(300) } });
    expect(ok.status, await ok.clone().text()).toBe(201);
    expect(((await ok.json()) as { description: string }).description).toBe(emoji(300));
    const patched = await env.request(`/v1/webhooks/${webhookId}`, { method: "PATCH", key: a.key, json: { description: emoji(500) } });
    expect(patched.status, await patched.clone().text()).toBe(200);
    for (const [method, path, json] of [
      ["POST", "/v1/webhooks", { url: HOOK_URL, events: ["*"], description: emoji(501) }],
      ["PATCH", `/v1/webhooks/${webhookId}`, { description: "x".repeat(501) }],
    ] as const) {
      const body = await expect400(await env.request(path, { method, key: a.key, json }), "description");
      expect(body.details).toEqual([{ field: "description", message: "must be at most 500 characters." }]);
    }
  });

  test("a ticket subject of 200 emoji is accepted; 201 is refused as 'at most 200 characters'", async () => {
    expect((await env.request("/v1/tickets", { method: "POST", key: a.key, json: { subject: emoji(200) } })).status).toBe(201);
    const body = await expect400(await env.request("/v1/tickets", { method: "POST", key: a.key, json: { subject: emoji(201) } }), "subject");
    expect(body.details).toEqual([{ field: "subject", message: "must be at most 200 characters." }]);
  });

  test("the OpenAPI document states the limits in the schemas (maxLength), as characters", async () => {
    const spec: any = await (await env.request("/docs/json")).json();
    const schemas = spec.components.schemas;
    expect(schemas.CreateTicket.properties.subject).toMatchObject({ type: "string", minLength: 1, maxLength: 200 });
    expect(schemas.CreateFolder.properties.name).toMatchObject({ type: "string", minLength: 1, maxLength: 255 });
    expect(JSON.stringify(schemas.CreateWebhook.properties.description)).toContain('"maxLength":500');
    expect(JSON.stringify(schemas.CreateTicket.properties.description)).toContain('"maxLength":65536');
  });
});

describe("one rule for single-line text (subjects, folder names) and one for multi-line text (descriptions)", () => {
  const singleLine: [string, string, RegExp][] = [
    ["NUL", "a\u0000b", /control characters/],
    ["an escape sequence", "\u001b[31mred", /control characters/],
    ["a tab inside", "a\tb", /control characters/],
    ["a line break inside", "line one\nline two", /control characters/],
    ["DEL", "a\u007fb", /control characters/],
    ["a C1 control", "a\u0085b", /control characters/],
    ["only a zero-width space", "\u200b", /blank/],
    ["only zero-width characters and spaces", " \u200c\u200d\u2060\ufeff ", /blank|empty/],
    ["only spaces", "   ", /blank|empty/],
  ];
  for (const [name, value, message] of singleLine) {
    test(`${name} is refused in a ticket subject and a folder name, on create and on update`, async () => {
      const before = await rows();
      await expect400(await env.request("/v1/tickets", { method: "POST", key: a.key, json: { subject: value } }), "subject", message);
      await expect400(await env.request(`/v1/tickets/${ticketId}`, { method: "PATCH", key: a.key, json: { subject: value } }), "subject", message);
      await expect400(await env.request("/v1/folders", { method: "POST", key: a.key, json: { name: value } }), "name", message);
      await expect400(await env.request(`/v1/folders/${folderId}`, { method: "PATCH", key: a.key, json: { name: value } }), "name", message);
      expect(await rows()).toBe(before);
    });
  }

  test("spaces and line breaks around single-line text are trimmed, not refused; zero-width characters inside text are kept", async () => {
    const res = await env.request("/v1/tickets", { method: "POST", key: a.key, json: { subject: "\n  Printer on fire\t\r\n" } });
    expect(res.status).toBe(201);
    expect(((await res.json()) as { subject: string }).subject).toBe("Printer on fire");
    const zw = await env.request("/v1/folders", { method: "POST", key: a.key, json: { name: "ab\u200dcd" } });
    expect(zw.status).toBe(201);
    expect(((await zw.json()) as { name: string }).name).toBe("ab\u200dcd");
  });

  test("descriptions may hold tabs and line breaks (LF and CRLF), and nothing else of the control characters", async () => {
    const multi = "Steps:\n\t1. open\r\n\t2. crash";
    const t = await env.request("/v1/tickets", { method: "POST", key: a.key, json: { subject: "Multi", description: multi } });
    expect(t.status).toBe(201);
    expect(((await t.json()) as { description: string }).description).toBe(multi);
    const w = await env.request(`/v1/webhooks/${webhookId}`, { method: "PATCH", key: a.key, json: { description: multi } });
    expect(w.status).toBe(200);
    for (const bad of ["a\u0000b", "\u001b[2J", "a\u0007", "\u007f", "\u009b"]) {
      const before = await rows();
      await expect400(
        await env.request("/v1/tickets", { method: "POST", key: a.key, json: { subject: "x", description: bad } }),
        "description",
        /control characters/,
      );
      await expect400(
        await env.request(`/v1/tickets/${ticketId}`, { method: "PATCH", key: a.key, json: { description: bad } }),
        "description",
        /control characters/,
      );
      await expect400(
        await env.request("/v1/webhooks", { method: "POST", key: a.key, json: { url: HOOK_URL, events: ["*"], description: bad } }),
        "description",
        /control characters/,
      );
      await expect400(
        await env.request(`/v1/webhooks/${webhookId}`, { method: "PATCH", key: a.key, json: { description: bad } }),
        "description",
        /control characters/,
      );
      expect(await rows()).toBe(before);
    }
  });

  test("an empty or blank description is allowed (descriptions are free text)", async () => {
    for (const description of ["", "   ", "\n"]) {
      expect((await env.request("/v1/tickets", { method: "POST", key: a.key, json: { subject: "x", description } })).status).toBe(201);
    }
  });
});

describe("null means no description, on create as on update", () => {
  test("POST /v1/tickets with description: null is a 201 with description null", async () => {
    const res = await env.request("/v1/tickets", { method: "POST", key: a.key, json: { subject: "No description", description: null } });
    expect(res.status, await res.clone().text()).toBe(201);
    const body = (await res.json()) as { id: string; description: unknown };
    expect(body.description).toBeNull();
    expect(await env.db.get("SELECT description FROM tickets WHERE id = ?", body.id)).toEqual({ description: null });
  });

  test("PATCH description: null still clears it; webhooks accept null on both", async () => {
    const t = (await (await env.request("/v1/tickets", { method: "POST", key: a.key, json: { subject: "x", description: "some" } })).json()) as { id: string };
    const res = await env.request(`/v1/tickets/${t.id}`, { method: "PATCH", key: a.key, json: { description: null } });
    expect(((await res.json()) as { description: unknown }).description).toBeNull();
    const w = await env.request("/v1/webhooks", { method: "POST", key: a.key, json: { url: HOOK_URL, events: ["*"], description: null } });
    expect(w.status).toBe(201);
  });
});

describe("the text rules as a function (src/lib/text.ts)", () => {
  test("code points, not UTF-16 units", () => {
    expect(codePointLength("😀😀")).toBe(2);
    expect(codePointLength("abc")).toBe(3);
    expect(codePointLength("e\u0301")).toBe(2);
  });

  test("blank is white space and invisible characters only", () => {
    for (const s of ["", " ", "\u200b", "\u200b\u200c\u200d\u2060\ufeff", "\u00a0\u3000"]) expect(isBlank(s), JSON.stringify(s)).toBe(true);
    for (const s of ["a", ".", "\u200ba"]) expect(isBlank(s), JSON.stringify(s)).toBe(false);
  });

  test("each rule names what failed, without echoing the value", () => {
    const line = { kind: "line", minLength: 1, maxLength: 3 } as const;
    expect(textProblem("ab", line)).toBeNull();
    expect(textProblem("  ab  ", line)).toBeNull();
    expect(textProblem("😀😀😀", line)).toBeNull();
    expect(textProblem("abcd", line)).toBe("must be at most 3 characters.");
    expect(textProblem("", line)).toBe("must not be empty.");
    expect(textProblem("\u200b", line)).toMatch(/^must not be blank/);
    expect(textProblem("a\nb", line)).toMatch(/^must not contain control characters/);
    expect(textProblem("a\ud800", line)).toMatch(/valid Unicode/);
    expect(textProblem(5, line)).toBe("must be a string.");
    const multi = { kind: "multiline", maxBytes: 4 } as const;
    expect(textProblem("a\tb\r\n", multi)).toBe("must be at most 4 bytes (UTF-8).");
    expect(textProblem("\t\r\n", multi)).toBeNull();
    expect(textProblem("\u0000", multi)).toMatch(/^must not contain control characters other than tabs and line breaks/);
  });
});
