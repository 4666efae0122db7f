// Tickets lifecycle over the API: create (201, Location, defaults), get, patch each field and subsets, no-op patches, delete.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createKey } from "../src/keys/service";
import { manualClock } from "../src/lib/clock";
import { createUser } from "../src/orgs/service";
import { createTestEnv, type TestEnv } from "./helpers";

const T0 = Date.UTC(2026, 1, 25, 14, 30, 0);
const TICKET_FIELDS = [
  "assignee_id",
  "created_at",
  "created_by",
  "custom_fields",
  "description",
  "id",
  "priority",
  "requester_id",
  "status",
  "subject",
  "tags",
  "updated_at",
];

interface TicketBody {
  id: string;
  subject: string;
  description: string | null;
  status: string;
  priority: string;
  created_by: string | null;
  requester_id: string | null;
  assignee_id: string | null;
  tags: string[];
  custom_fields: Record<string, unknown>;
  created_at: string;
  updated_at: string;
}

let env: TestEnv;
let clock: ReturnType<typeof manualClock>;
let a: Awaited<ReturnType<TestEnv["org"]>>;

beforeAll(async () => {
  clock = manualClock(T0);
  env = await createTestEnv({ clock, config: { publicUrl: "https://support.example.com/cc" } });
  a = await env.org("Acme", "pro");
});
afterAll(() => env.close());

async function create(json: unknown, key = a.key): Promise<TicketBody> {
  const res = await env.request("/v1/tickets", { method: "POST", key, json });
  expect(res.status).toBe(201);
  return (await res.json()) as TicketBody;
}

async function get(id: string): Promise<Response> {
  return env.request(`/v1/tickets/${id}`, { key: a.key });
}

async function patch(id: string, json: unknown): Promise<Response> {
  return env.request(`/v1/tickets/${id}`, { method: "PATCH", key: a.key, json });
}

async function eventsFor(id: string): Promise<{ type: string }[]> {
  const events = await env.db.all<{ type: string; data: string }>("SELECT type, data FROM events ORDER BY seq");
  return events.filter((e) => JSON.parse(e.data).id === id).map((e) => ({ type: e.type }));
}

describe("POST /v1/tickets", () => {
  test("201 with the ticket, defaults, an absolute Location from the public URL, and JSON", async () => {
    clock.set(T0);
    const res = await env.request("/v1/tickets", { method: "POST", key: a.key, json: { subject: "Cannot upload files over 10MB" } });
    expect(res.status).toBe(201);
    expect(res.headers.get("content-type")).toStartWith("application/json");
    const body = (await res.json()) as TicketBody;
    expect(Object.keys(body).sort()).toEqual(TICKET_FIELDS);
    expect(body.id).toMatch(/^tkt_[0-9a-z]{16}$/);
    expect(body).toEqual({
      id: body.id,
      subject: "Cannot upload files over 10MB",
      description: null,
      status: "open",
      priority: "medium",
      created_by: a.userId,
      requester_id: null,
      assignee_id: null,
      tags: [],
      custom_fields: {},
      created_at: "2026-02-25T14:30:00Z",
      updated_at: "2026-02-25T14:30:00Z",
    });
    expect(res.headers.get("location")).toBe(`https://support.example.com/cc/v1/tickets/${body.id}`);
  });

  test("the reference's create example: subject, description and priority are kept", async () => {
    const body = await create({
      subject: "Cannot upload files over 10MB",
      description: "When I try to upload a PDF larger than 10MB, the upload fails silently.",
      priority: "medium",
    });
    expect(body.description).toBe("When I try to upload a PDF larger than 10MB, the upload fails silently.");
    expect(body.priority).toBe("medium");
  });

  test("every priority is accepted", async () => {
    for (const priority of ["low", "medium", "high", "urgent"]) expect((await create({ subject: "p", priority })).priority).toBe(priority);
  });

  test("the subject is stored trimmed", async () => {
    expect((await create({ subject: "  Login issues on mobile \n" })).subject).toBe("Login issues on mobile");
  });

  test("created_by is the user behind the key, not the organization's owner", async () => {
    const deps = env.deps;
    const member = await createUser(deps, { orgId: a.orgId, email: "member@acme.test", role: "member" });
    const memberKey = (await createKey(deps, { orgId: a.orgId, userId: member.id })).key;
    const body = await create({ subject: "from a member" }, memberKey);
    expect(body.created_by).toBe(member.id);
    expect(body.created_by).not.toBe(a.userId);
  });

  test("the Location header leads to the same ticket", async () => {
    const res = await env.request("/v1/tickets", { method: "POST", key: a.key, json: { subject: "follow me" } });
    const created = await res.json();
    const path = new URL(res.headers.get("location")!).pathname.replace(/^\/cc/, "");
    const again = await env.request(path, { key: a.key });
    expect(again.status).toBe(200);
    expect(await again.json()).toEqual(created);
  });
});

describe("GET /v1/tickets/:id", () => {
  test("200 with exactly what create returned", async () => {
    const created = await create({ subject: "read me", description: "body", priority: "high" });
    const res = await get(created.id);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual(created);
  });

  test("404 not_found for an id that does not exist, whatever its shape", async () => {
    for (const id of ["tkt_0000000000000000", "tkt_", "nope", "org_0000000000000000", "%E2%9C%93", "1%20OR%201%3D1"]) {
      const res = await get(id);
      expect(res.status, id).toBe(404);
      const body = await res.json();
      expect(body).toEqual({ error: "not_found", message: expect.any(String) });
    }
  });
});

describe("PATCH /v1/tickets/:id", () => {
  test("each field alone changes only that field and moves updated_at", async () => {
    clock.set(T0);
    const t = await create({ subject: "original", description: "first", priority: "low" });
    const changes: [string, unknown, unknown][] = [
      ["subject", "  renamed  ", "renamed"],
      ["description", "second", "second"],
      ["description", null, null],
      ["status", "in_progress", "in_progress"],
      ["status", "resolved", "resolved"],
      ["status", "closed", "closed"],
      ["status", "open", "open"],
      ["priority", "urgent", "urgent"],
      ["priority", "high", "high"],
      ["priority", "medium", "medium"],
      ["priority", "low", "low"],
    ];
    let current: TicketBody = t;
    for (const [i, [field, value, stored]] of changes.entries()) {
      clock.set(T0 + (i + 1) * 60_000);
      const res = await patch(t.id, { [field]: value });
      expect(res.status, `${field}=${value}`).toBe(200);
      const body = (await res.json()) as TicketBody;
      expect(body).toEqual({ ...current, [field]: stored, updated_at: new Date(T0 + (i + 1) * 60_000).toISOString().replace(/\.\d{3}Z$/, "Z") });
      expect(body.created_at).toBe(t.created_at);
      expect(await (await get(t.id)).json()).toEqual(body);
      current = body;
    }
  });

  test("a subset changes those fields together and leaves the rest", async () => {
    const t = await create({ subject: "subset", description: "keep me", priority: "low" });
    const body = (await (await patch(t.id, { status: "resolved", priority: "urgent" })).json()) as TicketBody;
    expect(body.status).toBe("resolved");
    expect(body.priority).toBe("urgent");
    expect(body.subject).toBe("subset");
    expect(body.description).toBe("keep me");
    const all = (await (await patch(t.id, { subject: "all", description: "d", status: "closed", priority: "medium" })).json()) as TicketBody;
    expect([all.subject, all.description, all.status, all.priority]).toEqual(["all", "d", "closed", "medium"]);
  });

  test("sending the current values changes nothing: same body, same updated_at, no event", async () => {
    clock.set(T0);
    const t = await create({ subject: "same", description: "same", priority: "high" });
    clock.set(T0 + 3_600_000);
    for (const json of [
      { subject: "same" },
      { subject: "  same " },
      { description: "same" },
      { status: "open" },
      { priority: "high" },
      { subject: "same", description: "same", status: "open", priority: "high" },
    ]) {
      const res = await patch(t.id, json);
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual(t);
    }
    expect((await eventsFor(t.id)).map((e) => e.type)).toEqual(["ticket.created"]);
  });

  test("updated_at never goes back, even when the clock does", async () => {
    clock.set(T0 + 7_200_000);
    const t = await create({ subject: "clock" });
    clock.set(T0); // e.g. an NTP step backwards
    const body = (await (await patch(t.id, { status: "closed" })).json()) as TicketBody;
    expect(Date.parse(body.updated_at)).toBeGreaterThanOrEqual(Date.parse(t.updated_at));
  });
});

describe("DELETE /v1/tickets/:id", () => {
  test("204 with no body; afterwards the ticket is gone for every route and from the list", async () => {
    const t = await create({ subject: "delete me" });
    const listBefore = (await (await env.request("/v1/tickets?per_page=1", { key: a.key })).json()) as { meta: { total: number } };
    const res = await env.request(`/v1/tickets/${t.id}`, { method: "DELETE", key: a.key });
    expect(res.status).toBe(204);
    expect(await res.text()).toBe("");
    expect(res.headers.get("x-request-id")).toBeTruthy();
    expect((await get(t.id)).status).toBe(404);
    expect((await patch(t.id, { status: "closed" })).status).toBe(404);
    const again = await env.request(`/v1/tickets/${t.id}`, { method: "DELETE", key: a.key });
    expect(again.status).toBe(404);
    expect(((await again.json()) as { error: string }).error).toBe("not_found");
    const listAfter = (await (await env.request("/v1/tickets?per_page=100", { key: a.key })).json()) as { data: { id: string }[]; meta: { total: number } };
    expect(listAfter.meta.total).toBe(listBefore.meta.total - 1);
    expect(listAfter.data.map((x) => x.id)).not.toContain(t.id);
  });
});
