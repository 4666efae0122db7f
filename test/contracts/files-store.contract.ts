// The files store contract (file rows, their folder and ticket filters), written against the interface so every engine runs it unchanged.
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import type { Writer } from "../../src/db/writer";
import type { FileFilter, FileRow, FileStore } from "../../src/files/store";
import { newId } from "../../src/lib/ids";
import type { TicketStore } from "../../src/tickets/store";
import { CONCURRENCY, settle, warmUp } from "./concurrent";
import { expectSameRow, failure, newestFirst, type Open, type Opened, type SeededOrg, T0, TEXTS } from "./fixtures";

const order = newestFirst<FileRow>((r) => r.uploaded_at);

/**
 * What the suite runs against: the store outside a unit (committed rows), and the engine's writer whose units get it
 * bound to their transaction, with the tickets store (an upload on a ticket racing the ticket's delete).
 */
export interface FilesUnderTest {
  files: FileStore;
  writer: Writer<{ files: FileStore; tickets: TicketStore }>;
}

export function describeFilesStoreContract(engineName: string, open: Open<FilesUnderTest>) {
  describe(`files store contract (${engineName})`, () => {
    let w: Opened<FilesUnderTest>;
    let store: FileStore;
    let writer: Writer<{ files: FileStore; tickets: TicketStore }>;
    let a: SeededOrg;
    let b: SeededOrg;
    beforeEach(async () => {
      w = await open();
      store = w.store.files;
      writer = w.store.writer;
      a = await w.seed.org("A");
      b = await w.seed.org("B");
    });
    afterEach(() => w.close());

    const row = (org: SeededOrg, over: Partial<FileRow> = {}): FileRow => {
      const id = newId("file");
      return {
        id,
        org_id: org.orgId,
        folder_id: null,
        ticket_id: null,
        filename: "report.pdf",
        size_bytes: 1234,
        mime_type: "application/pdf",
        sha256: "ab".repeat(32),
        storage_key: `files/${id}`,
        uploaded_by: null,
        uploaded_at: T0,
        ...over,
      };
    };
    const put = async (r: FileRow) => {
      await store.insert(r);
      return r;
    };
    const ids = (rows: { id: string }[]) => rows.map((r) => r.id);

    test("insert then get returns every field exactly: Unicode names, sizes past 32 bits, nulls and references", async () => {
      const folder = await w.seed.folder(a.orgId, null, "Docs");
      const ticket = await w.seed.ticket(a.orgId);
      const rows = [
        ...TEXTS.map((name, i) => row(a, { filename: `${name}.txt`, uploaded_at: T0 + i, mime_type: "text/plain; charset=utf-8" })),
        row(a, { folder_id: folder, ticket_id: ticket, uploaded_by: a.userId, size_bytes: 5 * 1024 ** 3 + 7, uploaded_at: T0 + 100 }),
        row(a, { size_bytes: 0, filename: "empty", mime_type: "application/octet-stream", uploaded_at: T0 + 101 }),
        row(a, { size_bytes: Number.MAX_SAFE_INTEGER, uploaded_at: T0 + 102 }),
      ];
      for (const r of rows) await put(r);
      for (const r of rows) {
        expectSameRow(await store.get(r.id, a.orgId), r);
        expectSameRow(await store.getAnyOrg(r.id), r);
      }
      for (const r of await store.page(a.orgId, {}, 100, 0)) expectSameRow(r, rows.find((x) => x.id === r.id)!);
    });

    test("pages filter by folder (an id, null for none, absent for any) and ticket; newest first, id tie-break, offset pages, exact totals", async () => {
      const f1 = await w.seed.folder(a.orgId, null, "f1");
      const f2 = await w.seed.folder(a.orgId, null, "f2");
      const t1 = await w.seed.ticket(a.orgId);
      const rows: FileRow[] = [];
      const places = [
        { folder_id: null, ticket_id: null },
        { folder_id: f1, ticket_id: null },
        { folder_id: f1, ticket_id: t1 },
        { folder_id: null, ticket_id: t1 },
        { folder_id: f2, ticket_id: null },
      ];
      for (let i = 0; i < 20; i++) rows.push(await put(row(a, { ...places[i % places.length]!, uploaded_at: T0 + Math.floor(i / 4) })));
      const filters: FileFilter[] = [
        {},
        { folderId: null },
        { folderId: f1 },
        { folderId: f2 },
        { ticketId: t1 },
        { folderId: f1, ticketId: t1 },
        { folderId: null, ticketId: t1 },
      ];
      for (const f of filters) {
        const want = ids(
          rows.filter((r) => (f.folderId === undefined || r.folder_id === f.folderId) && (f.ticketId === undefined || r.ticket_id === f.ticketId)).sort(order),
        );
        expect({ f, total: await store.total(a.orgId, f) }).toEqual({ f, total: want.length });
        expect(ids(await store.page(a.orgId, f, 100, 0))).toEqual(want);
        const seen: string[] = [];
        for (let off = 0; off < want.length + 3; off += 3) seen.push(...ids(await store.page(a.orgId, f, 3, off)));
        expect(seen).toEqual(want);
      }
    });

    test("remove deletes once (true, then false); totals follow", async () => {
      const x = await put(row(a));
      const y = await put(row(a, { uploaded_at: T0 + 1 }));
      expect(await store.remove(x.id, a.orgId)).toBe(true);
      expect(await store.remove(x.id, a.orgId)).toBe(false);
      expect(await store.get(x.id, a.orgId)).toBeNull();
      expect(await store.getAnyOrg(x.id)).toBeNull();
      expect(ids(await store.page(a.orgId, {}, 10, 0))).toEqual([y.id]);
      expect(await store.total(a.orgId, {})).toBe(1);
    });

    test("getAnyOrg finds a file of any organization by id alone (signed links, the start-up sweep); an unknown id is null", async () => {
      const theirs = await put(row(b, { filename: "theirs.txt" }));
      expectSameRow(await store.getAnyOrg(theirs.id), theirs);
      expect(await store.getAnyOrg(newId("file"))).toBeNull();
      expect(await store.get(newId("file"), a.orgId)).toBeNull();
      expect(await store.remove(newId("file"), a.orgId)).toBe(false);
    });

    test("insert refuses a second row with the same id: the call rejects (never throws) and the first row stays", async () => {
      const first = await put(row(a));
      let pending: Promise<void> | undefined;
      const err = await failure(() => {
        pending = store.insert({ ...first, filename: "second.txt", uploaded_at: T0 + 5 });
        return pending;
      });
      expect(pending).toBeInstanceOf(Promise);
      expect(err).toBeInstanceOf(Error);
      expectSameRow(await store.get(first.id, a.orgId), first);
      expect(await store.total(a.orgId, {})).toBe(1);
    });

    test("insert refuses a folder or ticket that does not exist (the references are enforced): nothing is stored", async () => {
      const inMissingFolder = row(a, { folder_id: newId("fld") });
      const onMissingTicket = row(a, { ticket_id: newId("tkt") });
      expect(await failure(() => store.insert(inMissingFolder))).toBeInstanceOf(Error);
      expect(await failure(() => store.insert(onMissingTicket))).toBeInstanceOf(Error);
      expect(await store.get(inMissingFolder.id, a.orgId)).toBeNull();
      expect(await store.get(onMissingTicket.id, a.orgId)).toBeNull();
      expect(await store.total(a.orgId, {})).toBe(0);
    });

    test("folderExists and ticketExists answer for this organization only", async () => {
      const fa = await w.seed.folder(a.orgId, null, "mine");
      const ta = await w.seed.ticket(a.orgId);
      const fb = await w.seed.folder(b.orgId, null, "theirs");
      const tb = await w.seed.ticket(b.orgId);
      expect(await store.folderExists(fa, a.orgId)).toBe(true);
      expect(await store.ticketExists(ta, a.orgId)).toBe(true);
      expect(await store.folderExists(fb, a.orgId)).toBe(false);
      expect(await store.ticketExists(tb, a.orgId)).toBe(false);
      expect(await store.folderExists(newId("fld"), a.orgId)).toBe(false);
      expect(await store.ticketExists(newId("tkt"), a.orgId)).toBe(false);
    });

    test("organizations are isolated: another organization's files are never returned, listed, counted or deleted", async () => {
      const fb = await w.seed.folder(b.orgId, null, "theirs");
      const mine = await put(row(a));
      const theirs = await put(row(b, { folder_id: fb, uploaded_at: T0 + 1 }));
      expect(await store.get(theirs.id, a.orgId)).toBeNull();
      expect(ids(await store.page(a.orgId, {}, 10, 0))).toEqual([mine.id]);
      expect(await store.page(a.orgId, { folderId: fb }, 10, 0)).toEqual([]);
      expect(await store.total(a.orgId, {})).toBe(1);
      expect(await store.total(a.orgId, { folderId: fb })).toBe(0);
      expect(await store.remove(theirs.id, a.orgId)).toBe(false);
      expectSameRow(await store.get(theirs.id, b.orgId), theirs);
      expect(await store.total(b.orgId, {})).toBe(1);
    });

    test("a looked-up id holding U+0000 matches nothing, and is no error", async () => {
      const x = await put(row(a));
      for (const id of [`${x.id}\0`, "\0"]) {
        expect(await store.get(id, a.orgId)).toBeNull();
        expect(await store.getAnyOrg(id)).toBeNull();
        expect(await store.remove(id, a.orgId)).toBe(false);
        expect(await store.folderExists(id, a.orgId)).toBe(false);
        expect(await store.ticketExists(id, a.orgId)).toBe(false);
        expect(await store.page(a.orgId, { folderId: id }, 10, 0)).toEqual([]);
        expect(await store.total(a.orgId, { ticketId: id })).toBe(0);
      }
      expect(await store.total(a.orgId, {})).toBe(1);
    });

    describe("concurrency (units as services run them: read or check, then write, in one unit)", () => {
      beforeEach(() => warmUp(() => store.total(a.orgId, {})));

      test("concurrent inserts of one id, on the pool and in units: exactly one lands, every other rejects", async () => {
        const first = row(a);
        const { fulfilled, rejected } = await settle(
          Array.from({ length: CONCURRENCY }, (_, i) => {
            const r = { ...first, filename: `copy-${i}.pdf` };
            return i % 2 ? () => store.insert(r) : () => writer.write((tx) => tx.files.insert(r));
          }),
        );
        expect(fulfilled.length).toBe(1);
        expect(rejected.length).toBe(CONCURRENCY - 1);
        for (const err of rejected) expect(err).toBeInstanceOf(Error);
        expect(await store.total(a.orgId, {})).toBe(1);
      });

      test("concurrent deletes of one file (deleteFile's unit: read it, then delete it): exactly one finds and removes it, the others find it gone", async () => {
        const x = await put(row(a));
        const { fulfilled, rejected } = await settle(
          Array.from(
            { length: CONCURRENCY },
            () => () =>
              writer.write(async (tx) => {
                const current = await tx.files.get(x.id, a.orgId);
                if (!current) return "gone";
                // Read in this unit, so no other unit can have removed it in between.
                return (await tx.files.remove(current.id, current.org_id)) ? "removed" : "raced";
              }),
          ),
        );
        expect(rejected).toEqual([]);
        expect([...fulfilled].sort()).toEqual([...Array(CONCURRENCY - 1).fill("gone"), "removed"]);
        expect(await store.get(x.id, a.orgId)).toBeNull();
      });

      test("an upload on a ticket racing the ticket's delete: the file lands and loses the reference, or the upload finds no ticket; never a failure", async () => {
        const tickets: string[] = [];
        for (let i = 0; i < CONCURRENCY / 2; i++) tickets.push(await w.seed.ticket(a.orgId));
        const uploads = tickets.map((t) => row(a, { ticket_id: t }));
        const outcomes = await settle(
          tickets.flatMap((t, i) => [
            () =>
              writer.write(async (tx) => {
                if (!(await tx.files.ticketExists(t, a.orgId))) return "gone";
                await tx.files.insert(uploads[i]!);
                return "uploaded";
              }),
            () =>
              writer.write(async (tx) => {
                const before = await tx.tickets.get(t, a.orgId);
                return before && (await tx.tickets.remove(before)) ? "deleted" : "gone";
              }),
          ]),
        );
        expect(outcomes.rejected).toEqual([]);
        for (const [i, t] of tickets.entries()) {
          const [upload, del] = outcomes.fulfilled.slice(i * 2, i * 2 + 2);
          expect(del).toBe("deleted");
          expect(await store.ticketExists(t, a.orgId)).toBe(false);
          const stored = await store.get(uploads[i]!.id, a.orgId);
          if (upload === "uploaded") expectSameRow(stored, { ...uploads[i]!, ticket_id: null });
          else expect([upload, stored]).toEqual(["gone", null]);
        }
      });
    });
  });
}
