// The comments store contract (a ticket's comments oldest first, pages and keyset, counts, attachments, redaction) and the files store's attachToTicket, written against the interfaces so every engine runs them unchanged.
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { type CommentRow, type CommentStore, REDACTED_BODY } from "../../src/comments/store";
import type { Writer } from "../../src/db/writer";
import type { FileStore } from "../../src/files/store";
import { newId } from "../../src/lib/ids";
import type { TicketStore } from "../../src/tickets/store";
import { CONCURRENCY, settle, warmUp } from "./concurrent";
import { compareIds, expectSameRow, type Open, type Opened, type SeededOrg, T0, TEXTS } from "./fixtures";

/** The list order: oldest first, then id ascending among equal times. */
const oldestFirst = (a: CommentRow, b: CommentRow) => a.created_at - b.created_at || compareIds(a.id, b.id);

/**
 * What the suite runs against: the comments store outside a unit (committed rows), the files and tickets stores its
 * rows point at, and the engine's writer whose units get them bound to their transaction.
 */
export interface CommentsUnderTest {
  comments: CommentStore;
  files: FileStore;
  tickets: TicketStore;
  writer: Writer<{ comments: CommentStore; files: FileStore; tickets: TicketStore }>;
}

export function describeCommentsStoreContract(engineName: string, open: Open<CommentsUnderTest>) {
  describe(`comments store contract (${engineName})`, () => {
    let w: Opened<CommentsUnderTest>;
    let store: CommentStore;
    let files: FileStore;
    let a: SeededOrg;
    let b: SeededOrg;
    let ticket: string;
    beforeEach(async () => {
      w = await open();
      store = w.store.comments;
      files = w.store.files;
      a = await w.seed.org("A");
      b = await w.seed.org("B");
      ticket = await w.seed.ticket(a.orgId);
    });
    afterEach(() => w.close());

    const row = (org: SeededOrg, ticketId: string, over: Partial<CommentRow> = {}): CommentRow => ({
      id: newId("cmt"),
      org_id: org.orgId,
      ticket_id: ticketId,
      author_id: org.userId,
      author_type: "user",
      body: "Hello",
      public: 1,
      created_at: T0,
      redacted_at: null,
      redacted_by: null,
      ...over,
    });
    const put = async (r: CommentRow, fileIds: string[] = []) => {
      await store.insert(r, fileIds);
      return r;
    };
    const ids = (rows: { id: string }[]) => rows.map((r) => r.id);
    const file = (org: SeededOrg, at = T0) => w.seed.file(org.orgId, null, at);

    test("insert then get returns every field exactly: Unicode bodies, public and internal, user and contact authors", async () => {
      const rows: CommentRow[] = [];
      for (const [i, body] of TEXTS.entries()) {
        rows.push(
          await put(
            row(a, ticket, {
              body,
              public: i % 2,
              author_type: i % 3 ? "user" : "contact",
              author_id: i % 3 ? a.userId : "con_0123456789abcdef",
              created_at: T0 + i,
            }),
          ),
        );
      }
      for (const r of rows) expectSameRow(await store.get(r.id, ticket, a.orgId), r);
      for (const r of await store.page(a.orgId, ticket, {}, 100, 0)) expectSameRow(r, rows.find((x) => x.id === r.id)!);
    });

    test("get is scoped by ticket and organization: another ticket, another organization, an unknown or NUL id finds nothing", async () => {
      const other = await w.seed.ticket(a.orgId);
      const r = await put(row(a, ticket));
      expect(await store.get(r.id, other, a.orgId)).toBeNull();
      expect(await store.get(r.id, ticket, b.orgId)).toBeNull();
      expect(await store.get(newId("cmt"), ticket, a.orgId)).toBeNull();
      expect(await store.get(`${r.id}\0`, ticket, a.orgId)).toBeNull();
      expect(await store.get(r.id, `${ticket}\0`, a.orgId)).toBeNull();
      expect(await store.total(a.orgId, `${ticket}\0`, {})).toBe(0);
      expect(await store.page(a.orgId, `${ticket}\0`, {}, 10, 0)).toEqual([]);
    });

    test("pages list the ticket's comments oldest first with id tie-break, by offset and by keyset, with exact totals and the public filter", async () => {
      const other = await w.seed.ticket(a.orgId);
      const rows: CommentRow[] = [];
      // Three per instant, so ties are broken by id; alternately public and internal.
      for (let i = 0; i < 11; i++) rows.push(await put(row(a, ticket, { created_at: T0 + Math.floor(i / 3), public: i % 2 === 0 ? 1 : 0 })));
      await put(row(a, other));
      const cases: [{ public?: boolean }, CommentRow[]][] = [
        [{}, rows],
        [{ public: true }, rows.filter((r) => r.public === 1)],
        [{ public: false }, rows.filter((r) => r.public === 0)],
      ];
      for (const [f, subset] of cases) {
        const want = ids([...subset].sort(oldestFirst));
        expect(await store.total(a.orgId, ticket, f)).toBe(want.length);
        expect(ids(await store.page(a.orgId, ticket, f, 100, 0))).toEqual(want);
        const byOffset: string[] = [];
        for (let off = 0; off < want.length + 2; off += 2) byOffset.push(...ids(await store.page(a.orgId, ticket, f, 2, off)));
        expect(byOffset).toEqual(want);
        // Keyset: from each comment, the ones after it; walking pages of 2 never repeats or skips one.
        const sorted = [...subset].sort(oldestFirst);
        for (const [i, c] of sorted.entries()) expect(ids(await store.pageAfter(a.orgId, ticket, f, c, 100))).toEqual(want.slice(i + 1));
        const walked: string[] = ids(await store.page(a.orgId, ticket, f, 2, 0));
        for (;;) {
          const last = sorted.find((r) => r.id === walked[walked.length - 1]);
          if (!last) break;
          const next = await store.pageAfter(a.orgId, ticket, f, last, 2);
          if (!next.length) break;
          walked.push(...ids(next));
        }
        expect(walked).toEqual(want);
      }
      // The other ticket and the other organization see only their own.
      expect(await store.total(a.orgId, other, {})).toBe(1);
      expect(await store.total(b.orgId, ticket, {})).toBe(0);
      expect(await store.page(b.orgId, ticket, {}, 100, 0)).toEqual([]);
      expect(await store.pageAfter(b.orgId, ticket, {}, { created_at: 0, id: "" }, 100)).toEqual([]);
    });

    test("attachments: attachedFiles returns the file rows exactly, by comment, in the order given; one query for several comments", async () => {
      const f = [await file(a), await file(a), await file(a), await file(a)];
      const c1 = await put(row(a, ticket, { created_at: T0 }), [f[2]!.id, f[0]!.id, f[3]!.id]);
      const c2 = await put(row(a, ticket, { created_at: T0 + 1 }), [f[1]!.id]);
      const c3 = await put(row(a, ticket, { created_at: T0 + 2 }));
      const got = await store.attachedFiles(a.orgId, [c1.id, c2.id, c3.id]);
      const byComment = (cid: string) => got.filter((x) => x.comment_id === cid);
      expect(ids(byComment(c1.id))).toEqual([f[2]!.id, f[0]!.id, f[3]!.id]);
      expect(ids(byComment(c2.id))).toEqual([f[1]!.id]);
      expect(byComment(c3.id)).toEqual([]);
      for (const x of got) expectSameRow(x, { ...f.find((y) => y.id === x.id)!, comment_id: x.comment_id });
      expect(await store.attachedFiles(a.orgId, [])).toEqual([]);
      expect(await store.attachedFiles(b.orgId, [c1.id, c2.id])).toEqual([]);
      expect(await store.attachedFiles(a.orgId, [`${c1.id}\0`, "x\ud800"])).toEqual([]);
    });

    test("a deleted file leaves its comment (the attachment goes); a deleted ticket takes its comments with it", async () => {
      const [f1, f2] = [await file(a), await file(a)];
      const c = await put(row(a, ticket), [f1.id, f2.id]);
      expect(await files.remove(f1.id, a.orgId)).toBe(true);
      expect(ids(await store.attachedFiles(a.orgId, [c.id]))).toEqual([f2.id]);
      expectSameRow(await store.get(c.id, ticket, a.orgId), c);
      const t = (await w.store.tickets.get(ticket, a.orgId))!;
      expect(await w.store.tickets.remove(t)).toBe(true);
      expect(await store.get(c.id, ticket, a.orgId)).toBeNull();
      expect(await store.total(a.orgId, ticket, {})).toBe(0);
      expect(await store.attachedFiles(a.orgId, [c.id])).toEqual([]);
      expect(await files.get(f2.id, a.orgId)).not.toBeNull();
    });

    test("files.attachToTicket sets ticket_id of the organization's files only, returns their rows as now; unknown and foreign ids are left out", async () => {
      const mine = [await file(a), await file(a)];
      const theirs = await file(b);
      const untouched = await file(a);
      const got = await files.attachToTicket([mine[0]!.id, "file_unknown", theirs.id, mine[1]!.id, `${mine[0]!.id}\0`, "file_\ud800"], a.orgId, ticket);
      expect(ids(got).sort(compareIds)).toEqual(ids(mine).sort(compareIds));
      for (const g of got) expectSameRow(g, { ...mine.find((m) => m.id === g.id)!, ticket_id: ticket });
      expectSameRow(await files.get(mine[0]!.id, a.orgId), { ...mine[0]!, ticket_id: ticket });
      expectSameRow(await files.get(theirs.id, b.orgId), theirs);
      expectSameRow(await files.get(untouched.id, a.orgId), untouched);
      expect(await files.attachToTicket([], a.orgId, ticket)).toEqual([]);
      // Attaching to another ticket moves the file there.
      const other = await w.seed.ticket(a.orgId);
      expect((await files.attachToTicket([mine[0]!.id], a.orgId, other))[0]!.ticket_id).toBe(other);
    });

    test("redact: body [redacted], redacted_at and redacted_by set, attachment rows removed (the files stay: the caller deletes them); once only", async () => {
      const [f1, f2] = [await file(a), await file(a)];
      const c = await put(row(a, ticket, { body: TEXTS[1] }), [f1.id, f2.id]);
      const keep = await put(row(a, ticket, { created_at: T0 + 1 }), [f2.id]);
      expect(await store.redact(c.id, b.orgId, T0 + 5, b.userId)).toBe(false);
      expectSameRow(await store.get(c.id, ticket, a.orgId), c);
      expect(await store.redact(c.id, a.orgId, T0 + 5, a.userId)).toBe(true);
      const after = { ...c, body: REDACTED_BODY, redacted_at: T0 + 5, redacted_by: a.userId };
      expectSameRow(await store.get(c.id, ticket, a.orgId), after);
      expect(await store.attachedFiles(a.orgId, [c.id])).toEqual([]);
      expect(ids(await store.attachedFiles(a.orgId, [keep.id]))).toEqual([f2.id]);
      expect(await files.get(f1.id, a.orgId)).not.toBeNull();
      // A second redaction changes nothing, not even the time or the user.
      expect(await store.redact(c.id, a.orgId, T0 + 9, b.userId)).toBe(false);
      expectSameRow(await store.get(c.id, ticket, a.orgId), after);
      expect(await store.redact(newId("cmt"), a.orgId, T0, a.userId)).toBe(false);
      expect(await store.redact(`${c.id}\0`, a.orgId, T0, a.userId)).toBe(false);
    });

    test("in units: a rolled-back insert leaves no comment and no attachment; an insert naming a missing file fails and leaves nothing", async () => {
      const f1 = await file(a);
      const r = row(a, ticket);
      const boom = new Error("boom");
      await expect(
        w.store.writer.write(async (tx) => {
          await tx.comments.insert(r, [f1.id]);
          throw boom;
        }),
      ).rejects.toBe(boom);
      expect(await store.get(r.id, ticket, a.orgId)).toBeNull();
      expect(await store.total(a.orgId, ticket, {})).toBe(0);
      const r2 = row(a, ticket);
      await expect(w.store.writer.write((tx) => tx.comments.insert(r2, [f1.id, "file_missing"]))).rejects.toBeDefined();
      expect(await store.get(r2.id, ticket, a.orgId)).toBeNull();
      expect(await store.attachedFiles(a.orgId, [r.id, r2.id])).toEqual([]);
    });

    describe("concurrency", () => {
      beforeEach(() => warmUp(() => store.total(a.orgId, ticket, {})));

      test(`${CONCURRENCY} concurrent units that each read then redact one comment: exactly one redacts, the others find it redacted`, async () => {
        const f1 = await file(a);
        const c = await put(row(a, ticket), [f1.id]);
        const { fulfilled, rejected } = await settle(
          Array.from(
            { length: CONCURRENCY },
            (_, i) => () =>
              w.store.writer.write(async (tx) => {
                const before = await tx.comments.get(c.id, ticket, a.orgId);
                if (!before || before.redacted_at !== null) return "already";
                const attached = await tx.comments.attachedFiles(a.orgId, [c.id]);
                expect(ids(attached)).toEqual([f1.id]);
                return (await tx.comments.redact(c.id, a.orgId, T0 + 10 + i, a.userId)) ? "redacted" : "lost";
              }),
          ),
        );
        expect(rejected).toEqual([]);
        expect(fulfilled.filter((x) => x === "redacted").length).toBe(1);
        expect(fulfilled.filter((x) => x === "already").length).toBe(CONCURRENCY - 1);
      });

      test(`${CONCURRENCY} concurrent inserts on one ticket: all listed, in order, counted`, async () => {
        const rows = Array.from({ length: CONCURRENCY }, (_, i) => row(a, ticket, { created_at: T0 + (i % 4) }));
        const { rejected } = await settle(
          rows.map((r, i) => (i % 2 ? () => store.insert(r, []) : () => w.store.writer.write((tx) => tx.comments.insert(r, [])))),
        );
        expect(rejected).toEqual([]);
        expect(await store.total(a.orgId, ticket, {})).toBe(CONCURRENCY);
        expect(ids(await store.page(a.orgId, ticket, {}, 100, 0))).toEqual(ids([...rows].sort(oldestFirst)));
      });
    });
  });
}
