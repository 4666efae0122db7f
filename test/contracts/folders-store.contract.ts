// The folders store contract (folders, sibling-name uniqueness, subtrees), written against the interface so every engine runs it unchanged.
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import type { Writer } from "../../src/db/writer";
import type { FileRow, FileStore } from "../../src/files/store";
import { FolderNameTaken, type FolderRow, type FolderStore } from "../../src/folders/store";
import { newId } from "../../src/lib/ids";
import { CONCURRENCY, settle, warmUp } from "./concurrent";
import { expectSameRow, failure, newestFirst, type Open, type Opened, type SeededOrg, T0, TEXTS } from "./fixtures";

const order = newestFirst<FolderRow>((r) => r.created_at);

/**
 * What the suite runs against: the store outside a unit (committed rows), and the engine's writer whose units get it
 * bound to their transaction, with the files store (a recursive delete removes file rows; an upload checks its folder).
 */
export interface FoldersUnderTest {
  folders: FolderStore;
  writer: Writer<{ folders: FolderStore; files: FileStore }>;
}

export function describeFoldersStoreContract(engineName: string, open: Open<FoldersUnderTest>) {
  describe(`folders store contract (${engineName})`, () => {
    let w: Opened<FoldersUnderTest>;
    let store: FolderStore;
    let writer: Writer<{ folders: FolderStore; files: FileStore }>;
    let a: SeededOrg;
    let b: SeededOrg;
    beforeEach(async () => {
      w = await open();
      store = w.store.folders;
      writer = w.store.writer;
      a = await w.seed.org("A");
      b = await w.seed.org("B");
    });
    afterEach(() => w.close());

    const row = (org: SeededOrg, parentId: string | null, name: string, over: Partial<FolderRow> = {}): FolderRow => ({
      id: newId("fld"),
      org_id: org.orgId,
      parent_id: parentId,
      parent_key: parentId ?? "",
      name,
      created_at: T0,
      updated_at: T0,
      ...over,
    });
    const put = async (r: FolderRow) => {
      await store.insert(r);
      return r;
    };
    const ids = (rows: { id: string }[]) => rows.map((r) => r.id);

    test("insert then get returns every field exactly, at the top level and nested, with Unicode names", async () => {
      const top = await put(row(a, null, TEXTS[0], { created_at: T0 + 1, updated_at: T0 + 2 }));
      const kids: FolderRow[] = [];
      for (const [i, name] of TEXTS.slice(1).entries()) kids.push(await put(row(a, top.id, name, { created_at: T0 + 10 + i, updated_at: T0 + 20 + i })));
      expectSameRow(await store.get(top.id, a.orgId), top);
      for (const k of kids) expectSameRow(await store.get(k.id, a.orgId), k);
      for (const r of await store.page(a.orgId, undefined, 100, 0)) expectSameRow(r, [top, ...kids].find((x) => x.id === r.id)!);
    });

    test("pages list all folders, the top level (null) or one parent's children: newest first, id tie-break, offset pages, exact totals", async () => {
      const top1 = await put(row(a, null, "one", { created_at: T0 }));
      const top2 = await put(row(a, null, "two", { created_at: T0 }));
      const kids: FolderRow[] = [];
      for (let i = 0; i < 9; i++) kids.push(await put(row(a, top1.id, `k${i}`, { created_at: T0 + Math.floor(i / 3) })));
      const every = [top1, top2, ...kids];
      const cases: [string | null | undefined, FolderRow[]][] = [
        [undefined, every],
        [null, [top1, top2]],
        [top1.id, kids],
        [top2.id, []],
      ];
      for (const [parent, rows] of cases) {
        const want = ids([...rows].sort(order));
        expect(await store.total(a.orgId, parent)).toBe(want.length);
        expect(ids(await store.page(a.orgId, parent, 100, 0))).toEqual(want);
        const seen: string[] = [];
        for (let off = 0; off < want.length + 2; off += 2) seen.push(...ids(await store.page(a.orgId, parent, 2, off)));
        expect(seen).toEqual(want);
      }
    });

    /** The store's own conflict error, naming the organization, the parent and the name (never an engine's error code). */
    const expectNameTaken = (err: unknown, org: SeededOrg, parentId: string | null, name: string) => {
      expect(err).toBeInstanceOf(FolderNameTaken);
      const taken = err as FolderNameTaken;
      expect([taken.orgId, taken.parentId, taken.folderName]).toEqual([org.orgId, parentId, name]);
    };

    test("a folder name is unique among its siblings: a second insert is FolderNameTaken and changes nothing; elsewhere the name is free", async () => {
      const top = await put(row(a, null, "Reports"));
      expectNameTaken(await failure(() => store.insert(row(a, null, "Reports", { created_at: T0 + 1 }))), a, null, "Reports");
      expect(await store.total(a.orgId, undefined)).toBe(1);
      expectSameRow((await store.page(a.orgId, null, 10, 0))[0], top);
      expect(await store.siblingNamed(a.orgId, null, "Reports")).toBe(top.id);
      expect(await store.siblingNamed(a.orgId, null, "reports")).toBeNull();
      expect(await store.siblingNamed(b.orgId, null, "Reports")).toBeNull();
      // The same name under another parent, in another organization, or differing in case or normalization: no conflict.
      const child = await put(row(a, top.id, "Reports"));
      await put(row(b, null, "Reports"));
      await put(row(a, null, "reports"));
      await put(row(a, null, "Caf\u00e9"));
      await put(row(a, null, "Cafe\u0301"));
      expect(await store.siblingNamed(a.orgId, top.id, "Reports")).toBe(child.id);
      expectNameTaken(await failure(() => store.insert(row(a, top.id, "Reports"))), a, top.id, "Reports");
      expect(await store.total(a.orgId, undefined)).toBe(5);
    });

    test("a duplicate id is refused, and it is not a name conflict", async () => {
      const x = await put(row(a, null, "x"));
      const err = await failure(() => store.insert({ ...x, name: "another name" }));
      expect(err).toBeInstanceOf(Error);
      expect(err).not.toBeInstanceOf(FolderNameTaken);
      expectSameRow(await store.get(x.id, a.orgId), x);
      expect(await store.total(a.orgId, undefined)).toBe(1);
    });

    test("update renames and moves (parent_id and parent_key together); renaming or moving onto a sibling's name is FolderNameTaken", async () => {
      const x = await put(row(a, null, "x"));
      const y = await put(row(a, null, "y"));
      const moved: FolderRow = { ...y, parent_id: x.id, parent_key: x.id, name: TEXTS[1], updated_at: T0 + 5 };
      expect(await store.update(moved)).toBe(true);
      expectSameRow(await store.get(y.id, a.orgId), moved);
      expect(ids(await store.page(a.orgId, x.id, 10, 0))).toEqual([y.id]);
      expect(await store.total(a.orgId, null)).toBe(1);
      const back: FolderRow = { ...moved, parent_id: null, parent_key: "", name: "y2", updated_at: T0 + 6 };
      expect(await store.update(back)).toBe(true);
      expectSameRow(await store.get(y.id, a.orgId), back);
      expectNameTaken(await failure(() => store.update({ ...back, name: "x", updated_at: T0 + 7 })), a, null, "x");
      expectSameRow(await store.get(y.id, a.orgId), back);
      // A move under a parent that already holds the name.
      const inX = await put(row(a, x.id, "y2"));
      expectNameTaken(await failure(() => store.update({ ...back, parent_id: x.id, parent_key: x.id, updated_at: T0 + 8 })), a, x.id, "y2");
      expectSameRow(await store.get(y.id, a.orgId), back);
      expectSameRow(await store.get(inX.id, a.orgId), inX);
      // A folder that is not there: nothing updated, nothing created.
      expect(await store.update(row(a, null, "ghost"))).toBe(false);
      expect(await store.total(a.orgId, undefined)).toBe(3);
    });

    test("subtree lists the folder and everything below it, deepest first, with depths; subtreeFiles the files in it", async () => {
      const root = await put(row(a, null, "root"));
      const a1 = await put(row(a, root.id, "a1"));
      const a2 = await put(row(a, root.id, "a2"));
      const b1 = await put(row(a, a1.id, "b1"));
      const c1 = await put(row(a, b1.id, "c1"));
      const other = await put(row(a, null, "other"));
      const sub = await store.subtree(root.id, a.orgId);
      expect([...sub].sort((p, q) => p.id.localeCompare(q.id))).toEqual(
        [
          { id: root.id, depth: 0 },
          { id: a1.id, depth: 1 },
          { id: a2.id, depth: 1 },
          { id: b1.id, depth: 2 },
          { id: c1.id, depth: 3 },
        ].sort((p, q) => p.id.localeCompare(q.id)),
      );
      const depths = sub.map((s) => s.depth);
      expect(depths).toEqual([...depths].sort((p, q) => q - p));
      expect(await store.subtree(c1.id, a.orgId)).toEqual([{ id: c1.id, depth: 0 }]);
      const inside = [await w.seed.file(a.orgId, root.id, T0), await w.seed.file(a.orgId, c1.id, T0 + 1), await w.seed.file(a.orgId, a2.id, T0 + 2)];
      await w.seed.file(a.orgId, other.id, T0);
      await w.seed.file(a.orgId, null, T0);
      const files = await store.subtreeFiles(root.id, a.orgId);
      expect(files.map((f) => f.id).sort()).toEqual(inside.map((f) => f.id).sort());
      for (const f of files) expectSameRow(f, inside.find((x) => x.id === f.id)!);
      expect(ids(await store.subtreeFiles(b1.id, a.orgId))).toEqual([inside[1]!.id]);
      // Deepest first is an order the subtree can be deleted in (a parent never goes before its children).
      const z = await put(row(a, null, "z"));
      const z1 = await put(row(a, z.id, "z1"));
      await put(row(a, z1.id, "z2"));
      await put(row(a, z.id, "z3"));
      for (const s of await store.subtree(z.id, a.orgId)) expect(await store.remove(s.id, a.orgId)).toBe(true);
      expect(await store.get(z.id, a.orgId)).toBeNull();
      expect(await store.total(a.orgId, undefined)).toBe(6);
    });

    test("isEmpty: false with a child folder or a file, true otherwise; a folder with a child or a file cannot be removed; remove says whether it did", async () => {
      const p = await put(row(a, null, "p"));
      const c = await put(row(a, p.id, "c"));
      const f = await put(row(a, null, "f"));
      expect(await store.isEmpty(p.id, a.orgId)).toBe(false);
      expect(await store.isEmpty(c.id, a.orgId)).toBe(true);
      const file = await w.seed.file(a.orgId, f.id, T0);
      expect(await store.isEmpty(f.id, a.orgId)).toBe(false);
      expect(await failure(() => store.remove(p.id, a.orgId))).toBeInstanceOf(Error);
      expectSameRow(await store.get(p.id, a.orgId), p);
      expect(await failure(() => store.remove(f.id, a.orgId))).toBeInstanceOf(Error);
      expectSameRow(await store.get(f.id, a.orgId), f);
      expect(await store.subtreeFiles(f.id, a.orgId)).toHaveLength(1);
      expect((await store.subtreeFiles(f.id, a.orgId))[0]!.id).toBe(file.id);
      expect(await store.remove(c.id, a.orgId)).toBe(true);
      expect(await store.remove(c.id, a.orgId)).toBe(false);
      expect(await store.isEmpty(p.id, a.orgId)).toBe(true);
      expect(await store.remove(p.id, a.orgId)).toBe(true);
      expect(await store.get(p.id, a.orgId)).toBeNull();
      expect(await store.total(a.orgId, undefined)).toBe(1);
    });

    test("isInSubtreeOf: true for the folder itself and anything below it, false above or beside it", async () => {
      const r = await put(row(a, null, "r"));
      const m = await put(row(a, r.id, "m"));
      const d = await put(row(a, m.id, "d"));
      const s = await put(row(a, r.id, "s"));
      expect(await store.isInSubtreeOf(d.id, r.id, a.orgId)).toBe(true);
      expect(await store.isInSubtreeOf(d.id, m.id, a.orgId)).toBe(true);
      expect(await store.isInSubtreeOf(m.id, m.id, a.orgId)).toBe(true);
      expect(await store.isInSubtreeOf(r.id, d.id, a.orgId)).toBe(false);
      expect(await store.isInSubtreeOf(s.id, m.id, a.orgId)).toBe(false);
      expect(await store.isInSubtreeOf(d.id, s.id, a.orgId)).toBe(false);
      // A start that is no folder at all is inside nothing, not even "itself".
      const unknown = newId("fld");
      expect(await store.isInSubtreeOf(unknown, unknown, a.orgId)).toBe(false);
      expect(await store.isInSubtreeOf(unknown, r.id, a.orgId)).toBe(false);
    });

    test("organizations are isolated: another organization's folders are never returned, listed, counted, walked, updated or deleted", async () => {
      const mine = await put(row(a, null, "mine"));
      const theirs = await put(row(b, null, "theirs"));
      const theirChild = await put(row(b, theirs.id, "child"));
      expect(await store.get(theirs.id, a.orgId)).toBeNull();
      expect(ids(await store.page(a.orgId, undefined, 10, 0))).toEqual([mine.id]);
      expect(await store.total(a.orgId, undefined)).toBe(1);
      expect(await store.page(a.orgId, theirs.id, 10, 0)).toEqual([]);
      expect(await store.total(a.orgId, theirs.id)).toBe(0);
      expect(await store.subtree(theirs.id, a.orgId)).toEqual([]);
      expect(await store.subtreeFiles(theirs.id, a.orgId)).toEqual([]);
      expect(await store.siblingNamed(a.orgId, theirs.id, "child")).toBeNull();
      // Their non-empty folder holds nothing of A's, and walking up their tree as A finds nothing.
      await w.seed.file(b.orgId, theirChild.id, T0);
      expect(await store.isEmpty(theirs.id, b.orgId)).toBe(false);
      expect(await store.isEmpty(theirChild.id, b.orgId)).toBe(false);
      expect(await store.isEmpty(theirs.id, a.orgId)).toBe(true);
      expect(await store.isEmpty(theirChild.id, a.orgId)).toBe(true);
      expect(await store.isInSubtreeOf(theirChild.id, theirs.id, b.orgId)).toBe(true);
      expect(await store.isInSubtreeOf(theirChild.id, theirs.id, a.orgId)).toBe(false);
      expect(await store.isInSubtreeOf(theirChild.id, theirChild.id, a.orgId)).toBe(false);
      expect(await store.update({ ...theirs, org_id: a.orgId, name: "hijacked", updated_at: T0 + 9 })).toBe(false);
      expect(await store.remove(theirChild.id, a.orgId)).toBe(false);
      expectSameRow(await store.get(theirs.id, b.orgId), theirs);
      expectSameRow(await store.get(theirChild.id, b.orgId), theirChild);
      expect(await store.total(b.orgId, undefined)).toBe(2);
      expectSameRow(await store.get(mine.id, a.orgId), mine);
    });

    test("a looked-up id or name holding U+0000 matches nothing, and is no error", async () => {
      const top = await put(row(a, null, "top"));
      await put(row(a, top.id, "kid"));
      for (const id of [`${top.id}\0`, "\0"]) {
        expect(await store.get(id, a.orgId)).toBeNull();
        expect(await store.page(a.orgId, id, 10, 0)).toEqual([]);
        expect(await store.total(a.orgId, id)).toBe(0);
        expect(await store.siblingNamed(a.orgId, id, "kid")).toBeNull();
        expect(await store.isEmpty(id, a.orgId)).toBe(true);
        expect(await store.subtree(id, a.orgId)).toEqual([]);
        expect(await store.subtreeFiles(id, a.orgId)).toEqual([]);
        expect(await store.isInSubtreeOf(id, top.id, a.orgId)).toBe(false);
        expect(await store.isInSubtreeOf(top.id, id, a.orgId)).toBe(false);
        expect(await store.remove(id, a.orgId)).toBe(false);
      }
      expect(await store.siblingNamed(a.orgId, top.id, "kid\0")).toBeNull();
      expect(await store.total(a.orgId, undefined)).toBe(2);
    });

    describe("concurrency (units as services run them: read, check, then write, in one unit)", () => {
      beforeEach(() => warmUp(() => store.total(a.orgId, undefined)));

      /** Walks up from every folder of the organization: each reaches the top level within as many steps as there are folders. */
      const expectNoCycle = async (orgId: string) => {
        const rows = await store.page(orgId, undefined, 10_000, 0);
        const parent = new Map(rows.map((r) => [r.id, r.parent_id]));
        for (const r of rows) {
          let at: string | null = r.id;
          for (let steps = 0; at !== null; steps++) {
            expect(steps).toBeLessThanOrEqual(rows.length);
            at = parent.get(at) ?? null;
          }
        }
      };

      /** updateFolder's unit for a move: read the folder, refuse a move under itself or below it, write. */
      const move = (id: string, parentId: string) =>
        writer.write(async (tx) => {
          const before = await tx.folders.get(id, a.orgId);
          if (!before || !(await tx.folders.get(parentId, a.orgId))) return "gone";
          if (await tx.folders.isInSubtreeOf(parentId, id, a.orgId)) return "cycle";
          expect(await tx.folders.update({ ...before, parent_id: parentId, parent_key: parentId, updated_at: before.updated_at + 1 })).toBe(true);
          return "moved";
        });

      /** deleteFolder's unit with recursive=true: the subtree's file rows, then its folders deepest first. */
      const deleteTree = (id: string) =>
        writer.write(async (tx) => {
          if (!(await tx.folders.get(id, a.orgId))) return "gone";
          const subtree = await tx.folders.subtree(id, a.orgId);
          for (const f of await tx.folders.subtreeFiles(id, a.orgId)) await tx.files.remove(f.id, f.org_id);
          for (const f of subtree) expect(await tx.folders.remove(f.id, a.orgId)).toBe(true);
          return "deleted";
        });

      const fileIn = (folderId: string): FileRow => {
        const id = newId("file");
        return {
          id,
          org_id: a.orgId,
          folder_id: folderId,
          ticket_id: null,
          filename: "f.txt",
          size_bytes: 1,
          mime_type: "text/plain",
          sha256: "0".repeat(64),
          storage_key: `files/${id}`,
          uploaded_by: null,
          uploaded_at: T0,
        };
      };

      test("concurrent inserts of one name under one parent, on the pool and in units: exactly one lands, every other is FolderNameTaken", async () => {
        const top = await put(row(a, null, "top"));
        for (const parentId of [null, top.id]) {
          const rows = Array.from({ length: CONCURRENCY }, (_, i) => row(a, parentId, "Same", { created_at: T0 + i }));
          const { fulfilled, rejected } = await settle(rows.map((r, i) => (i % 2 ? () => store.insert(r) : () => writer.write((tx) => tx.folders.insert(r)))));
          expect(fulfilled.length).toBe(1);
          expect(rejected.length).toBe(CONCURRENCY - 1);
          for (const err of rejected) expectNameTaken(err, a, parentId, "Same");
          const winner = await store.siblingNamed(a.orgId, parentId, "Same");
          expect(rows.filter((r) => r.id === winner).length).toBe(1);
        }
        expect(await store.total(a.orgId, undefined)).toBe(3);
      });

      test("concurrent renames onto one name among siblings: exactly one is renamed, the others are FolderNameTaken and keep their name", async () => {
        const rows: FolderRow[] = [];
        for (let i = 0; i < CONCURRENCY; i++) rows.push(await put(row(a, null, `n${i}`, { created_at: T0 + i })));
        const { fulfilled, rejected } = await settle(
          rows.map(
            (r) => () =>
              writer.write(async (tx) => {
                const before = (await tx.folders.get(r.id, a.orgId))!;
                if (await tx.folders.siblingNamed(a.orgId, null, "Target")) return false;
                return await tx.folders.update({ ...before, name: "Target", updated_at: before.updated_at + 1 });
              }),
          ),
        );
        expect(fulfilled.filter(Boolean).length).toBe(1);
        // A unit that saw the name free may still lose to one that took it first: the index refuses it.
        for (const err of rejected) expectNameTaken(err, a, null, "Target");
        const names = (await store.page(a.orgId, null, 100, 0)).map((r) => r.name).sort();
        expect(names.filter((n) => n === "Target").length).toBe(1);
        expect(names.length).toBe(CONCURRENCY);
      });

      test("two concurrent moves that would together make a cycle: one moves, the other is refused; never a cycle, never a deadlock", async () => {
        for (let round = 0; round < 4; round++) {
          // x/x1/x2 and y/y1/y2: x under y2 and y under x2 are each fine alone, and a cycle together.
          const x = await put(row(a, null, `x${round}`));
          const x2 = await put(row(a, (await put(row(a, x.id, "x1"))).id, "x2"));
          const y = await put(row(a, null, `y${round}`));
          const y2 = await put(row(a, (await put(row(a, y.id, "y1"))).id, "y2"));
          // And the direct case: p under q and q under p.
          const p = await put(row(a, null, `p${round}`));
          const q = await put(row(a, null, `q${round}`));
          const { fulfilled, rejected } = await settle([() => move(x.id, y2.id), () => move(y.id, x2.id), () => move(p.id, q.id), () => move(q.id, p.id)]);
          expect(rejected).toEqual([]);
          expect([...fulfilled.slice(0, 2)].sort()).toEqual(["cycle", "moved"]);
          expect([...fulfilled.slice(2)].sort()).toEqual(["cycle", "moved"]);
          await expectNoCycle(a.orgId);
        }
      });

      test("a recursive delete racing a create inside the subtree and an upload into it: each runs wholly before or after it, nothing is left behind", async () => {
        for (let round = 0; round < 4; round++) {
          const root = await put(row(a, null, `root${round}`));
          const mid = await put(row(a, root.id, "mid"));
          const leaf = await put(row(a, mid.id, "leaf"));
          const create = () =>
            writer.write(async (tx) => {
              if (!(await tx.folders.get(leaf.id, a.orgId))) return "gone";
              if (await tx.folders.siblingNamed(a.orgId, leaf.id, "new")) return "taken";
              await tx.folders.insert(row(a, leaf.id, "new"));
              return "created";
            });
          const upload = () =>
            writer.write(async (tx) => {
              if (!(await tx.files.folderExists(mid.id, a.orgId))) return "gone";
              await tx.files.insert(fileIn(mid.id));
              return "uploaded";
            });
          const { fulfilled, rejected } = await settle([create, upload, () => deleteTree(root.id), create, upload]);
          expect(rejected).toEqual([]);
          expect(fulfilled[2]).toBe("deleted");
          expect(await store.get(root.id, a.orgId)).toBeNull();
          expect(await store.total(a.orgId, undefined)).toBe(0);
        }
      });

      test("an upload into a folder racing the folder's delete when empty: the file lands and the folder stays, or the folder goes and the upload finds none", async () => {
        const targets: FolderRow[] = [];
        for (let i = 0; i < CONCURRENCY / 2; i++) targets.push(await put(row(a, null, `t${i}`, { created_at: T0 + i })));
        const outcomes = await settle(
          targets.flatMap((f) => [
            () =>
              writer.write(async (tx) => {
                if (!(await tx.files.folderExists(f.id, a.orgId))) return "gone";
                await tx.files.insert(fileIn(f.id));
                return "uploaded";
              }),
            () =>
              writer.write(async (tx) => {
                if (!(await tx.folders.get(f.id, a.orgId))) return "gone";
                if (!(await tx.folders.isEmpty(f.id, a.orgId))) return "not empty";
                expect(await tx.folders.remove(f.id, a.orgId)).toBe(true);
                return "deleted";
              }),
          ]),
        );
        expect(outcomes.rejected).toEqual([]);
        for (const [i, f] of targets.entries()) {
          const pair = outcomes.fulfilled.slice(i * 2, i * 2 + 2);
          const still = await store.get(f.id, a.orgId);
          if (pair[0] === "uploaded") {
            expect(pair[1]).toBe("not empty");
            expect(still).not.toBeNull();
            expect(await store.subtreeFiles(f.id, a.orgId)).toHaveLength(1);
          } else {
            expect(pair).toEqual(["gone", "deleted"]);
            expect(still).toBeNull();
          }
        }
      });
    });
  });
}
