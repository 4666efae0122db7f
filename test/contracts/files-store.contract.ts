// The files store contract (file rows, their folder and ticket filters), written against the interface so every engine runs it unchanged.
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import type { FileFilter, FileRow, FileStore } from "../../src/files/store";
import { newId } from "../../src/lib/ids";
import { expectSameRow, failure, newestFirst, type Open, type Opened, type SeededOrg, T0, TEXTS } from "./fixtures";

const order = newestFirst<FileRow>((r) => r.uploaded_at);

export function describeFilesStoreContract(engineName: string, open: Open<FileStore>) {
  describe(`files store contract (${engineName})`, () => {
    let w: Opened<FileStore>;
    let store: FileStore;
    let a: SeededOrg;
    let b: SeededOrg;
    beforeEach(async () => {
      w = await open();
      store = w.store;
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
  });
}
