// A ticket's conversation over HTTP: add (body rules, authors, attachments), read, list (pages, keyset, filter), redact (roles, files and bytes removed, once), events, append-only, on the engine of this pass.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { manualClock } from "../src/lib/clock";
import { newId } from "../src/lib/ids";
import { createKey } from "../src/keys/service";
import { createUser } from "../src/orgs/service";
import { type FileJson, listObjects, listTemp, uploadOk } from "./files-fixtures";
import { createTestEnv, type TestEnv } from "./helpers";

interface CommentJson {
  id: string;
  ticket_id: string;
  author_id: string;
  author_type: "user" | "contact";
  body: string;
  public: boolean;
  attachments: FileJson[];
  created_at: string;
  redacted_at: string | null;
  redacted_by: string | null;
}

interface Page {
  data: CommentJson[];
  meta: { page: number; per_page: number; total: number };
}

interface ErrorJson {
  error: string;
  message: string;
  details?: { field: string; message: string }[];
}

const COMMENT_KEYS = ["attachments", "author_id", "author_type", "body", "created_at", "id", "public", "redacted_at", "redacted_by", "ticket_id"];
const T_START = Date.UTC(2026, 11, 2, 9, 0, 0);

type Org = Awaited<ReturnType<TestEnv["org"]>>;

describe("comments API", () => {
  const clock = manualClock(T_START);
  let env: TestEnv;
  let a: Org;
  let b: Org;
  /** Keys of org A's other users: an admin and a member. */
  let admin: { userId: string; key: string };
  let member: { userId: string; key: string };

  beforeAll(async () => {
    env = await createTestEnv({ clock });
    a = await env.org("Alpha");
    b = await env.org("Beta");
    const made = async (role: "admin" | "member") => {
      const user = await createUser(env.deps, { orgId: a.orgId, email: `${role}@alpha.test`, role });
      return { userId: user.id, key: (await createKey(env.deps, { orgId: a.orgId, userId: user.id })).key };
    };
    admin = await made("admin");
    member = await made("member");
  });
  afterAll(() => env.close());

  // ---- helpers ------------------------------------------------------------------------------------------------

  const ticketOf = async (key = a.key, subject = "Printer on fire") => {
    const res = await env.request("/v1/tickets", { method: "POST", key, json: { subject } });
    expect(res.status).toBe(201);
    return (await res.json()) as { id: string; updated_at: string };
  };
  const post = (ticketId: string, json: unknown, key = a.key, headers: Record<string, string> = {}) =>
    env.request(`/v1/tickets/${ticketId}/comments`, { method: "POST", key, json, headers });
  const comment = async (ticketId: string, json: Record<string, unknown>, key = a.key) => {
    const res = await post(ticketId, json, key);
    if (res.status !== 201) throw new Error(`comment answered ${res.status}: ${await res.text()}`);
    return (await res.json()) as CommentJson;
  };
  const redact = (ticketId: string, commentId: string, key = admin.key, init: { json?: unknown } = {}) =>
    env.request(`/v1/tickets/${ticketId}/comments/${commentId}/redact`, { method: "POST", key, ...init });
  const list = async (ticketId: string, query = "", key = a.key) => {
    const res = await env.request(`/v1/tickets/${ticketId}/comments${query}`, { key });
    return { res, page: (await res.clone().json()) as Page & Partial<ErrorJson> };
  };
  /** What would show a change anywhere: comments, attachments, files (rows and ticket_id), tickets' times, events. */
  const state = async () => ({
    comments: await env.db.all("SELECT id, body, public, redacted_at, redacted_by FROM comments ORDER BY id"),
    attachments: await env.db.all("SELECT comment_id, file_id, position FROM comment_attachments ORDER BY comment_id, position"),
    files: await env.db.all("SELECT id, ticket_id FROM files ORDER BY id"),
    tickets: await env.db.all("SELECT id, updated_at FROM tickets ORDER BY id"),
    events: await env.db.all("SELECT seq, type FROM events ORDER BY seq"),
    objects: listObjects(env.dir),
  });
  const eventsAfter = async (seq: number) =>
    (await env.db.all<{ seq: number; type: string; data: string }>("SELECT seq, type, data FROM events WHERE seq > ? ORDER BY seq", seq)).map((e) => ({
      type: e.type,
      data: JSON.parse(e.data),
    }));
  const lastSeq = async () => (await env.db.get<{ seq: number | null }>("SELECT MAX(seq) AS seq FROM events"))?.seq ?? 0;
  const getFile = async (id: string, key = a.key) => (await (await env.request(`/v1/files/${id}`, { key })).json()) as FileJson;
  const addContact = async (orgId: string, deleted = false) => {
    const id = `con_${newId("tkt").slice(4)}`;
    const now = clock.now();
    const email = deleted ? null : `${id}@example.test`;
    await env.db.run(
      "INSERT INTO contacts (id, org_id, email, email_key, name, name_key, phone, external_id, created_at, updated_at, deleted_at) VALUES (?, ?, ?, ?, ?, ?, NULL, NULL, ?, ?, ?)",
      id,
      orgId,
      email,
      email,
      deleted ? null : "Rita Requester",
      deleted ? null : "rita requester",
      now,
      now,
      deleted ? now : null,
    );
    return id;
  };
  const expectError = async (res: Response, status: number, error: string, fields?: string[]) => {
    expect(res.status).toBe(status);
    expect(res.headers.get("content-type")).toContain("application/json");
    const body = (await res.json()) as ErrorJson;
    expect(body.error).toBe(error);
    expect(typeof body.message).toBe("string");
    if (fields) expect(body.details?.map((d) => d.field)).toEqual(fields);
    return body;
  };

  // ---- create -------------------------------------------------------------------------------------------------

  describe("POST /v1/tickets/{id}/comments", () => {
    test("201 with the comment and its Location: a public reply by the key's user, by default; the row and GET agree", async () => {
      const t = await ticketOf();
      clock.advance(1000);
      const res = await post(t.id, { body: "Thanks, we are on it.\n\n— Ana" });
      expect(res.status).toBe(201);
      const c = (await res.json()) as CommentJson;
      expect(Object.keys(c).sort()).toEqual(COMMENT_KEYS);
      expect(c).toEqual({
        id: c.id,
        ticket_id: t.id,
        author_id: a.userId,
        author_type: "user",
        body: "Thanks, we are on it.\n\n— Ana",
        public: true,
        attachments: [],
        created_at: new Date(clock.now()).toISOString().replace(".000Z", "Z"),
        redacted_at: null,
        redacted_by: null,
      });
      expect(c.id).toMatch(/^cmt_[0-9a-z]{16}$/);
      expect(res.headers.get("location")).toBe(`${env.config.publicUrl}/v1/tickets/${t.id}/comments/${c.id}`);
      const got = await env.request(new URL(res.headers.get("location")!).pathname, { key: a.key });
      expect(got.status).toBe(200);
      expect(await got.json()).toEqual(c);
      expect(await env.db.get("SELECT org_id, ticket_id, author_id, author_type, public, created_at FROM comments WHERE id = ?", c.id)).toEqual({
        org_id: a.orgId,
        ticket_id: t.id,
        author_id: a.userId,
        author_type: "user",
        public: 1,
        created_at: clock.now(),
      });
    });

    test("public: false is an internal note; bodies keep their text exactly (Unicode, tabs, line breaks, 64 KiB)", async () => {
      const t = await ticketOf();
      const note = await comment(t.id, { body: "internal: refund approved", public: false });
      expect(note.public).toBe(false);
      for (const body of ["👩🏽‍💻 ZWJ, 🇫🇷, e\u0301 vs \u00e9", "  tab\tand\r\nCRLF  ", "x", "é".repeat(32 * 1024), "a".repeat(64 * 1024)]) {
        expect((await comment(t.id, { body })).body).toBe(body);
      }
    });

    test("adding a comment moves the ticket's updated_at to its created_at, and records comment.created (no ticket.updated)", async () => {
      const t = await ticketOf();
      clock.advance(5000);
      const before = await lastSeq();
      const c = await comment(t.id, { body: "Any news?" });
      const ticket = (await (await env.request(`/v1/tickets/${t.id}`, { key: a.key })).json()) as { updated_at: string };
      expect(ticket.updated_at).toBe(c.created_at);
      expect(ticket.updated_at).not.toBe(t.updated_at);
      expect(await eventsAfter(before)).toEqual([{ type: "comment.created", data: c }]);
    });

    const badBodies: [string, unknown, string][] = [
      ["no body", undefined, "body"],
      ["an empty body", "", "body"],
      ["a blank body", "  \n\t  ", "body"],
      ["an invisible body", "\u200B\u2060", "body"],
      ["a body over 64 KiB", "é".repeat(32 * 1024 + 1), "body"],
      ["a control character", "bell\u0007", "body"],
      ["a number", 42, "body"],
      ["public not a boolean", { public: "yes" }, "public"],
      ["attachments not an array", { attachments: "file_x" }, "attachments"],
      ["21 attachments", { attachments: Array.from({ length: 21 }, (_, i) => `file_${i}`) }, "attachments"],
      ["a duplicate attachment", { attachments: ["file_aaaa", "file_aaaa"] }, "attachments"],
      ["an unknown field", { extra: 1 }, "extra"],
    ];
    for (const [label, value, field] of badBodies) {
      test(`${label} → 400 validation_error naming ${field}, nothing changed`, async () => {
        const t = await ticketOf();
        const before = await state();
        const json = value !== null && typeof value === "object" ? { body: "ok", ...value } : value === undefined ? {} : { body: value };
        await expectError(await post(t.id, json), 400, "validation_error", [field]);
        expect(await state()).toEqual(before);
      });
    }

    test("not JSON → 400, another content type → 415, nothing changed", async () => {
      const t = await ticketOf();
      const before = await state();
      const path = `/v1/tickets/${t.id}/comments`;
      await expectError(
        await env.request(path, { method: "POST", key: a.key, body: "{", headers: { "content-type": "application/json" } }),
        400,
        "validation_error",
      );
      await expectError(
        await env.request(path, { method: "POST", key: a.key, body: "body=hi", headers: { "content-type": "text/plain" } }),
        415,
        "unsupported_media_type",
      );
      expect(await state()).toEqual(before);
    });

    test("an unknown ticket, or another organization's, → 404 not_found (the same answer), nothing changed", async () => {
      const theirs = await ticketOf(b.key);
      const before = await state();
      const unknown = await expectError(await post("tkt_0000000000000000", { body: "hi" }), 404, "not_found");
      const foreign = await expectError(await post(theirs.id, { body: "hi" }), 404, "not_found");
      expect(foreign).toEqual(unknown);
      expect(unknown.message).toBe("Ticket was not found.");
      expect(await state()).toEqual(before);
    });

    test("author_id: another user of the organization, or one of its contacts (public only)", async () => {
      const t = await ticketOf();
      const byAdmin = await comment(t.id, { body: "from the admin", author_id: admin.userId, public: false });
      expect(byAdmin).toMatchObject({ author_id: admin.userId, author_type: "user", public: false });
      const contact = await addContact(a.orgId);
      const byContact = await comment(t.id, { body: "The printer is still on fire.", author_id: contact });
      expect(byContact).toMatchObject({ author_id: contact, author_type: "contact", public: true });
      expect(await env.db.get("SELECT author_type FROM comments WHERE id = ?", byContact.id)).toEqual({ author_type: "contact" });
    });

    test("author_id not a user or non-deleted contact of the organization → 400 on author_id; a contact's internal note → 400 on public", async () => {
      const t = await ticketOf();
      const deleted = await addContact(a.orgId, true);
      const theirContact = await addContact(b.orgId);
      const contact = await addContact(a.orgId);
      const before = await state();
      for (const author_id of [b.userId, theirContact, deleted, "user_0000000000000000", "con_0000000000000000", "nobody", "tkt_x"]) {
        await expectError(await post(t.id, { body: "hi", author_id }), 400, "validation_error", ["author_id"]);
      }
      await expectError(await post(t.id, { body: "hi", author_id: contact, public: false }), 400, "validation_error", ["public"]);
      expect(await state()).toEqual(before);
    });

    test("Idempotency-Key: a retry gets the first answer back (Idempotent-Replayed); one comment, one event", async () => {
      const t = await ticketOf();
      const before = await lastSeq();
      const first = await post(t.id, { body: "once" }, a.key, { "idempotency-key": "comment-once" });
      expect(first.status).toBe(201);
      const again = await post(t.id, { body: "once" }, a.key, { "idempotency-key": "comment-once" });
      expect(again.status).toBe(201);
      expect(again.headers.get("idempotent-replayed")).toBe("true");
      expect(again.headers.get("location")).toBe(first.headers.get("location"));
      expect(await again.json()).toEqual(await first.json());
      expect((await list(t.id)).page.meta.total).toBe(1);
      expect((await eventsAfter(before)).map((e) => e.type)).toEqual(["comment.created"]);
    });
  });

  // ---- attachments --------------------------------------------------------------------------------------------

  describe("attachments", () => {
    test("files of the organization, in the order given, as GET /v1/files/{id} shows them; attaching sets their ticket_id", async () => {
      const t = await ticketOf();
      const elsewhere = await ticketOf();
      const f1 = await uploadOk(env, a.key, { content: "one", filename: "one.txt" });
      const f2 = await uploadOk(env, a.key, { content: "two", filename: "two.pdf" });
      const f3 = await uploadOk(env, a.key, { content: "three", filename: "three.txt", fields: { ticket_id: elsewhere.id } });
      const before = await lastSeq();
      const c = await comment(t.id, { body: "See the attached.", attachments: [f2.id, f1.id, f3.id] });
      expect(c.attachments.map((f) => f.id)).toEqual([f2.id, f1.id, f3.id]);
      for (const f of c.attachments) {
        expect(f.ticket_id).toBe(t.id);
        expect(f).toEqual(await getFile(f.id));
      }
      expect(await env.db.all("SELECT file_id, position FROM comment_attachments WHERE comment_id = ? ORDER BY position", c.id)).toEqual([
        { file_id: f2.id, position: 0 },
        { file_id: f1.id, position: 1 },
        { file_id: f3.id, position: 2 },
      ]);
      // The event carries the files without download_url.
      const [event] = await eventsAfter(before);
      expect(event!.type).toBe("comment.created");
      expect(event!.data).toEqual({ ...c, attachments: c.attachments.map(({ download_url: _, ...rest }) => rest) });
      // Reads show the attachments with fresh links.
      clock.advance(60_000);
      const got = (await (await env.request(`/v1/tickets/${t.id}/comments/${c.id}`, { key: a.key })).json()) as CommentJson;
      expect(got.attachments).toEqual(await Promise.all([f2.id, f1.id, f3.id].map((id) => getFile(id))));
      expect(got.attachments[0]!.download_url).not.toBe(c.attachments[0]!.download_url);
      expect((await list(t.id)).page.data.find((x) => x.id === c.id)!.attachments).toEqual(got.attachments);
      // The files list by ticket sees them.
      const onTicket = (await (await env.request(`/v1/files?ticket_id=${t.id}`, { key: a.key })).json()) as { data: FileJson[] };
      expect(onTicket.data.map((f) => f.id).sort()).toEqual([f1.id, f2.id, f3.id].sort());
    });

    test("an unknown, malformed or foreign file → 404 naming it; nothing is created or attached", async () => {
      const t = await ticketOf();
      const mine = await uploadOk(env, a.key, { content: "mine" });
      const theirs = await uploadOk(env, b.key, { content: "theirs" });
      const before = await state();
      for (const bad of ["file_0000000000000000", theirs.id, "not-a-file"]) {
        const body = await expectError(await post(t.id, { body: "see attached", attachments: [mine.id, bad] }), 404, "not_found");
        expect(body.message).toBe(`File ${bad} was not found.`);
      }
      expect(await state()).toEqual(before);
      expect((await getFile(mine.id)).ticket_id).toBeNull();
      expect((await getFile(theirs.id, b.key)).ticket_id).toBeNull();
    });

    test("a deleted file leaves the comment; it drops out of its attachments", async () => {
      const t = await ticketOf();
      const [f1, f2] = [await uploadOk(env, a.key, { content: "1" }), await uploadOk(env, a.key, { content: "2" })];
      const c = await comment(t.id, { body: "two files", attachments: [f1.id, f2.id] });
      expect((await env.request(`/v1/files/${f1.id}`, { method: "DELETE", key: a.key })).status).toBe(204);
      const got = (await (await env.request(`/v1/tickets/${t.id}/comments/${c.id}`, { key: a.key })).json()) as CommentJson;
      expect(got.attachments.map((f) => f.id)).toEqual([f2.id]);
    });
  });

  // ---- read and list ------------------------------------------------------------------------------------------

  describe("GET", () => {
    let t: { id: string };
    let other: { id: string };
    /** Org A's comments on `t`, oldest first: 7 of them, public and internal alternately, two at each second. */
    const made: CommentJson[] = [];
    beforeAll(async () => {
      t = await ticketOf();
      other = await ticketOf();
      for (let i = 0; i < 7; i++) {
        if (i % 2 === 0) clock.advance(1000);
        made.push(await comment(t.id, { body: `message ${i}`, public: i % 3 !== 1 }));
      }
      await comment(other.id, { body: "on another ticket" });
    });

    const byId = (rows: CommentJson[]) => rows.map((c) => c.id);
    /** The list order: oldest first, ties by id (the API's times are to the second). */
    const ordered = () => byId([...made].sort((x, y) => x.created_at.localeCompare(y.created_at) || (x.id < y.id ? -1 : 1)));

    test("GET one: 200; another ticket's comment, an unknown comment or ticket, or another organization → 404 not_found", async () => {
      const c = made[0]!;
      const ok = await env.request(`/v1/tickets/${t.id}/comments/${c.id}`, { key: a.key });
      expect(ok.status).toBe(200);
      expect(await ok.json()).toEqual(c);
      const notComment = await expectError(await env.request(`/v1/tickets/${other.id}/comments/${c.id}`, { key: a.key }), 404, "not_found");
      expect(notComment.message).toBe("Comment was not found.");
      await expectError(await env.request(`/v1/tickets/${t.id}/comments/cmt_0000000000000000`, { key: a.key }), 404, "not_found");
      const unknownTicket = await expectError(await env.request(`/v1/tickets/tkt_0000000000000000/comments/${c.id}`, { key: a.key }), 404, "not_found");
      expect(unknownTicket.message).toBe("Ticket was not found.");
      const foreign = await expectError(await env.request(`/v1/tickets/${t.id}/comments/${c.id}`, { key: b.key }), 404, "not_found");
      expect(foreign).toEqual(unknownTicket);
    });

    test("list: oldest first (ties by id), every comment of the ticket and no other, exact total", async () => {
      const { res, page } = await list(t.id);
      expect(res.status).toBe(200);
      expect(byId(page.data)).toEqual(ordered());
      expect(page.meta).toEqual({ page: 1, per_page: 25, total: 7 });
      expect(res.headers.get("link")).toBeNull();
    });

    test("public=true|false filters replies or internal notes, with their own totals", async () => {
      for (const [q, want] of [
        ["true", made.filter((c) => c.public)],
        ["false", made.filter((c) => !c.public)],
      ] as const) {
        const { page } = await list(t.id, `?public=${q}`);
        expect(byId(page.data)).toEqual(ordered().filter((id) => want.some((c) => c.id === id)));
        expect(page.meta.total).toBe(want.length);
      }
      await expectError((await list(t.id, "?public=maybe")).res, 400, "validation_error", ["public"]);
    });

    test("page/per_page with Link rel=next to the end; a page past the end is empty with the total", async () => {
      const seen: string[] = [];
      let url: string | null = `/v1/tickets/${t.id}/comments?per_page=3&public=true`;
      const pages: Page[] = [];
      while (url) {
        const res = await env.request(url, { key: a.key });
        expect(res.status).toBe(200);
        const page = (await res.json()) as Page;
        pages.push(page);
        seen.push(...byId(page.data));
        const link = res.headers.get("link");
        url = link ? new URL(/^<([^>]+)>; rel="next"$/.exec(link)![1]!).pathname + new URL(/^<([^>]+)>/.exec(link)![1]!).search : null;
        if (link) expect(link).toStartWith(`<${env.config.publicUrl}/v1/tickets/${t.id}/comments?public=true&per_page=3&page=`);
      }
      const publicOnes = ordered().filter((id) => made.find((c) => c.id === id)!.public);
      expect(seen).toEqual(publicOnes);
      expect(pages.map((p) => p.meta.page)).toEqual([1, 2]);
      const past = (await list(t.id, "?page=9&per_page=3")).page;
      expect(past).toEqual({ data: [], meta: { page: 9, per_page: 3, total: 7 } });
    });

    test("starting_after walks the conversation by keyset: Link in the same mode, no repeats or skips", async () => {
      const first = (await list(t.id, "?per_page=2")).page;
      const seen: string[] = byId(first.data);
      let query = `?per_page=2&starting_after=${seen[1]}`;
      for (;;) {
        const { res, page } = await list(t.id, query);
        expect(res.status).toBe(200);
        expect(page.meta).toEqual({ page: 1, per_page: 2, total: 7 });
        seen.push(...byId(page.data));
        const link = res.headers.get("link");
        if (!link) break;
        const next = new URL(/^<([^>]+)>; rel="next"$/.exec(link)![1]!);
        expect(next.pathname).toBe(`/v1/tickets/${t.id}/comments`);
        expect(next.search).toBe(`?per_page=2&starting_after=${seen[seen.length - 1]}`);
        query = next.search;
      }
      expect(seen).toEqual(ordered());
      const after = (await list(t.id, `?starting_after=${ordered()[4]}`)).page;
      expect(byId(after.data)).toEqual(ordered().slice(5));
      expect(after.meta).toEqual({ page: 1, per_page: 25, total: 7 });
    });

    test("starting_after not a comment of this ticket, or with page=2 → 400 on starting_after; an unknown or foreign ticket → 404", async () => {
      const elsewhere = (await list(other.id)).page.data[0]!.id;
      for (const q of [`?starting_after=${elsewhere}`, "?starting_after=cmt_0000000000000000", `?starting_after=${made[0]!.id}&page=2`]) {
        await expectError((await list(t.id, q)).res, 400, "validation_error", ["starting_after"]);
      }
      const unknown = await expectError((await list("tkt_0000000000000000")).res, 404, "not_found");
      const foreign = await expectError((await list(t.id, "", b.key)).res, 404, "not_found");
      expect(foreign).toEqual(unknown);
      await expectError((await list(t.id, "?per_page=101")).res, 400, "validation_error", ["per_page"]);
    });
  });

  // ---- redaction ----------------------------------------------------------------------------------------------

  describe("POST /v1/tickets/{id}/comments/{comment_id}/redact", () => {
    test("owner or admin: body [redacted], who and when kept, attachments deleted (rows, events, bytes); the download then 404s", async () => {
      const t = await ticketOf();
      const f1 = await uploadOk(env, a.key, { content: "card number 4111…", filename: "card.txt" });
      const f2 = await uploadOk(env, a.key, { content: "passport scan", filename: "passport.png" });
      const keep = await uploadOk(env, a.key, { content: "keep me" });
      const c = await comment(t.id, { body: "My card is 4111 1111 1111 1111", attachments: [f1.id, f2.id] });
      const other = await comment(t.id, { body: "unrelated", attachments: [keep.id] });
      const objectsBefore = listObjects(env.dir);
      expect(objectsBefore).toContain(`${a.orgId}/${f1.id}`);
      const ticketBefore = await env.db.get("SELECT updated_at FROM tickets WHERE id = ?", t.id);
      clock.advance(3000);
      const before = await lastSeq();
      const res = await redact(t.id, c.id);
      expect(res.status).toBe(200);
      const after = (await res.json()) as CommentJson;
      expect(after).toEqual({
        ...c,
        body: "[redacted]",
        attachments: [],
        redacted_at: new Date(clock.now()).toISOString().replace(".000Z", "Z"),
        redacted_by: admin.userId,
      });
      // The files are gone as DELETE /v1/files/{id} removes them: rows, one file.deleted each, then comment.redacted.
      const events = await eventsAfter(before);
      expect(events.map((e) => e.type)).toEqual(["file.deleted", "file.deleted", "comment.redacted"]);
      expect(events.slice(0, 2).map((e) => e.data.id)).toEqual([f1.id, f2.id]);
      expect(events[2]!.data).toEqual(after);
      for (const f of [f1, f2]) {
        expect((await env.request(`/v1/files/${f.id}`, { key: a.key })).status).toBe(404);
        const link = new URL(f.download_url);
        expect((await env.request(link.pathname + link.search)).status).toBe(404);
      }
      expect(listObjects(env.dir)).toEqual(objectsBefore.filter((o) => o !== `${a.orgId}/${f1.id}` && o !== `${a.orgId}/${f2.id}`));
      expect(listObjects(env.dir)).toContain(`${a.orgId}/${keep.id}`);
      expect(await env.db.all("SELECT file_id FROM comment_attachments WHERE comment_id = ?", c.id)).toEqual([]);
      expect(await env.db.get("SELECT body FROM comments WHERE id = ?", c.id)).toEqual({ body: "[redacted]" });
      // The other comment and the ticket's time are untouched; GET and the list show the redaction.
      expect((await (await env.request(`/v1/tickets/${t.id}/comments/${other.id}`, { key: a.key })).json()) as CommentJson).toEqual({
        ...other,
        attachments: [await getFile(keep.id)],
      });
      expect(await env.db.get("SELECT updated_at FROM tickets WHERE id = ?", t.id)).toEqual(ticketBefore);
      expect(await (await env.request(`/v1/tickets/${t.id}/comments/${c.id}`, { key: a.key })).json()).toEqual(after);
      expect((await list(t.id)).page.data.find((x) => x.id === c.id)).toEqual(after);
      expect(listObjects(env.dir).length).toBe(objectsBefore.length - 2);
      // The intent that made the byte removal crash-safe is gone once bytes and rows agree.
      expect(listTemp(env.dir)).toEqual([]);
    });

    test("redacting again: 200 with the comment unchanged, no event; by the owner's key, with {} or no body", async () => {
      const t = await ticketOf();
      const c = await comment(t.id, { body: "secret" });
      const first = await redact(t.id, c.id, a.key, { json: {} });
      expect(first.status).toBe(200);
      const redacted = (await first.json()) as CommentJson;
      expect(redacted.redacted_by).toBe(a.userId);
      clock.advance(1000);
      const before = await state();
      for (const key of [admin.key, a.key]) {
        const again = await redact(t.id, c.id, key);
        expect(again.status).toBe(200);
        expect(await again.json()).toEqual(redacted);
      }
      expect(await state()).toEqual(before);
    });

    test("a member key → 403 forbidden, nothing changed; a body with fields → 400; unknown comment or ticket, or another organization → 404", async () => {
      const t = await ticketOf();
      const f = await uploadOk(env, a.key, { content: "attached" });
      const c = await comment(t.id, { body: "keep", attachments: [f.id] });
      const before = await state();
      const denied = await expectError(await redact(t.id, c.id, member.key), 403, "forbidden");
      expect(denied.message).toBe("Only an owner or admin key may redact a comment.");
      await expectError(await redact(t.id, c.id, admin.key, { json: { reason: "gdpr" } }), 400, "validation_error", ["reason"]);
      await expectError(await redact(t.id, "cmt_0000000000000000"), 404, "not_found");
      const unknown = await expectError(await redact("tkt_0000000000000000", c.id), 404, "not_found");
      // Org B's owner key: the same 404 as a ticket that does not exist.
      expect(await expectError(await redact(t.id, c.id, b.key), 404, "not_found")).toEqual(unknown);
      expect(await state()).toEqual(before);
      expect((await getFile(f.id)).ticket_id).toBe(t.id);
    });
  });

  // ---- concurrency --------------------------------------------------------------------------------------------

  describe("concurrency", () => {
    test("8 redactions of one comment at once: all 200 with the same comment; its files deleted once, one comment.redacted", async () => {
      const t = await ticketOf();
      const files = [await uploadOk(env, a.key, { content: "x1" }), await uploadOk(env, a.key, { content: "x2" })];
      const c = await comment(t.id, { body: "redact me", attachments: files.map((f) => f.id) });
      const before = await lastSeq();
      const answers = await Promise.all(Array.from({ length: 8 }, (_, i) => redact(t.id, c.id, i % 2 ? admin.key : a.key)));
      expect(answers.map((r) => r.status)).toEqual(Array(8).fill(200));
      const bodies = (await Promise.all(answers.map((r) => r.json()))) as CommentJson[];
      for (const body of bodies) expect(body).toEqual(bodies[0]!);
      expect(bodies[0]).toMatchObject({ body: "[redacted]", attachments: [] });
      expect((await eventsAfter(before)).map((e) => e.type)).toEqual(["file.deleted", "file.deleted", "comment.redacted"]);
      for (const f of files) expect(listObjects(env.dir)).not.toContain(`${a.orgId}/${f.id}`);
      expect(listTemp(env.dir)).toEqual([]);
    });

    test("10 comments on one ticket at once: all created, listed in order, counted; the ticket's updated_at is the latest", async () => {
      const t = await ticketOf();
      clock.advance(2000);
      const files: FileJson[] = [];
      for (let i = 0; i < 10; i++) files.push(await uploadOk(env, a.key, { content: `f${i}` }));
      const before = await lastSeq();
      const answers = await Promise.all(files.map((f, i) => post(t.id, { body: `reply ${i}`, attachments: [f.id], public: i % 2 === 0 })));
      expect(answers.map((r) => r.status)).toEqual(Array(10).fill(201));
      const made = (await Promise.all(answers.map((r) => r.json()))) as CommentJson[];
      const { page } = await list(t.id);
      expect(page.meta.total).toBe(10);
      expect(page.data.map((c) => c.id).sort()).toEqual(made.map((c) => c.id).sort());
      for (const c of page.data) expect(c.attachments.map((f) => f.ticket_id)).toEqual([t.id]);
      expect((await eventsAfter(before)).map((e) => e.type)).toEqual(Array(10).fill("comment.created"));
      const ticket = (await (await env.request(`/v1/tickets/${t.id}`, { key: a.key })).json()) as { updated_at: string };
      expect(ticket.updated_at).toBe(
        made
          .map((c) => c.created_at)
          .sort()
          .at(-1)!,
      );
    });

    test("attaching a file while it is deleted: the comment is created with it (then it drops out) or is a 404; never a 500, never a dangling attachment", async () => {
      const t = await ticketOf();
      for (let round = 0; round < 6; round++) {
        const f = await uploadOk(env, a.key, { content: `race ${round}` });
        const before = (await list(t.id)).page.meta.total;
        const [created, deleted] = await Promise.all([
          post(t.id, { body: `race ${round}`, attachments: [f.id] }),
          env.request(`/v1/files/${f.id}`, { method: "DELETE", key: a.key }),
        ]);
        expect(deleted.status).toBe(204);
        expect([201, 404]).toContain(created.status);
        const after = (await list(t.id)).page;
        expect(after.meta.total).toBe(before + (created.status === 201 ? 1 : 0));
        if (created.status === 201) {
          const c = (await created.json()) as CommentJson;
          expect(after.data.find((x) => x.id === c.id)!.attachments).toEqual([]);
        }
        expect(await env.db.all("SELECT comment_id FROM comment_attachments WHERE file_id = ?", f.id)).toEqual([]);
      }
    });
  });

  // ---- the route table ----------------------------------------------------------------------------------------

  describe("routes", () => {
    test("append-only: PATCH or DELETE on a comment (or PUT on the list) → 405 with Allow", async () => {
      const t = await ticketOf();
      const c = await comment(t.id, { body: "final" });
      const before = await state();
      for (const [method, path] of [
        ["PATCH", `/v1/tickets/${t.id}/comments/${c.id}`],
        ["DELETE", `/v1/tickets/${t.id}/comments/${c.id}`],
        ["PUT", `/v1/tickets/${t.id}/comments`],
        ["GET", `/v1/tickets/${t.id}/comments/${c.id}/redact`],
      ] as const) {
        const res = await env.request(path, { method, key: a.key, ...(method === "PATCH" ? { json: { body: "edited" } } : {}) });
        await expectError(res, 405, "method_not_allowed");
        expect(res.headers.get("allow")).toBeTruthy();
      }
      expect(await state()).toEqual(before);
    });

    test("ids with U+0000 or lone-surrogate escapes name nothing: 404 (or 400 for starting_after), never a 500", async () => {
      const t = await ticketOf();
      const c = await comment(t.id, { body: "x" });
      const before = await state();
      // A NUL is a 404 as any unknown id; a path that is not UTF-8 (an encoded lone surrogate) a 400 from the router.
      for (const [bad, status] of [
        ["%00", 404],
        [`${t.id}%00`, 404],
        ["%ED%A0%80", 400],
      ] as const) {
        expect((await env.request(`/v1/tickets/${bad}/comments`, { key: a.key })).status).toBe(status);
        expect((await env.request(`/v1/tickets/${bad}/comments/${c.id}`, { key: a.key })).status).toBe(status);
        expect((await env.request(`/v1/tickets/${t.id}/comments/${bad}`, { key: a.key })).status).toBe(status);
        expect((await post(bad, { body: "x" })).status).toBe(status);
        expect((await redact(t.id, bad)).status).toBe(status);
      }
      await expectError((await list(t.id, "?starting_after=cmt_%00")).res, 400, "validation_error", ["starting_after"]);
      await expectError(await post(t.id, { body: "x", attachments: ["file_\u0000"] }), 404, "not_found");
      await expectError(await post(t.id, { body: "x", author_id: "user_\u0000" }), 400, "validation_error", ["author_id"]);
      expect(await state()).toEqual(before);
    });

    test("every route without a key → 401 unauthorized with WWW-Authenticate, nothing changed", async () => {
      const t = await ticketOf();
      const c = await comment(t.id, { body: "x" });
      const before = await state();
      for (const [method, path] of [
        ["GET", `/v1/tickets/${t.id}/comments`],
        ["POST", `/v1/tickets/${t.id}/comments`],
        ["GET", `/v1/tickets/${t.id}/comments/${c.id}`],
        ["POST", `/v1/tickets/${t.id}/comments/${c.id}/redact`],
      ] as const) {
        const res = await env.request(path, { method, ...(method === "POST" ? { json: { body: "x" } } : {}) });
        await expectError(res, 401, "unauthorized");
        expect(res.headers.get("www-authenticate")).toBe("Bearer");
      }
      expect(await state()).toEqual(before);
    });
  });
});
