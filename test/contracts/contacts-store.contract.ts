// The contacts store contract (rows, per-organization uniqueness of email and external_id, erasure, prefix search, pages) and resolveRequester under concurrency, written against the interface so every engine runs it unchanged.
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { resolveRequester } from "../../src/contacts/service";
import { type ContactFilter, type ContactRow, type ContactStore, ContactTaken, prefixUpperBound } from "../../src/contacts/store";
import type { Writer } from "../../src/db/writer";
import type { Outbox } from "../../src/events/outbox";
import { newId } from "../../src/lib/ids";
import { CONCURRENCY, settle, warmUp } from "./concurrent";
import { expectSameRow, failure, newestFirst, type Open, type Opened, type SeededOrg, T0, TEXTS } from "./fixtures";

const order = newestFirst<ContactRow>((r) => r.created_at);

/** What a unit of the suite's writer is given: the contacts store and the outbox, bound to its transaction. */
export type ContactsTxUnderTest = { contacts: ContactStore; outbox: Outbox };

/** What the suite runs against: the store outside a unit (committed rows), and the engine's writer whose units get it bound to their transaction. */
export interface ContactsUnderTest {
  contacts: ContactStore;
  /** The outbox outside a unit: to count the events resolveRequester recorded. */
  outbox: Outbox;
  writer: Writer<ContactsTxUnderTest>;
}

export function describeContactsStoreContract(engineName: string, open: Open<ContactsUnderTest>) {
  describe(`contacts store contract (${engineName})`, () => {
    let w: Opened<ContactsUnderTest>;
    let store: ContactStore;
    let writer: Writer<ContactsTxUnderTest>;
    let a: SeededOrg;
    let b: SeededOrg;
    beforeEach(async () => {
      w = await open();
      store = w.store.contacts;
      writer = w.store.writer;
      a = await w.seed.org("A");
      b = await w.seed.org("B");
    });
    afterEach(() => w.close());

    let serial = 0;
    const row = (org: SeededOrg, over: Partial<ContactRow> = {}): ContactRow => {
      const n = serial++;
      const email = over.email === undefined ? `person${n}@example.test` : over.email;
      const name = over.name === undefined ? `Person ${n}` : over.name;
      return {
        id: newId("con"),
        org_id: org.orgId,
        email,
        email_key: email === null ? null : email.toLowerCase(),
        name,
        name_key: name === null ? null : name.toLowerCase(),
        phone: null,
        external_id: null,
        created_at: T0,
        updated_at: T0,
        deleted_at: null,
        ...over,
      };
    };
    const put = async (r: ContactRow) => {
      await store.insert(r);
      return r;
    };
    const ids = (rows: { id: string }[]) => rows.map((r) => r.id);
    /** Every page of the filter by offset (size 2) and by keyset (size 2), each joined: both must equal the whole list. */
    const walks = async (orgId: string, f: ContactFilter) => {
      const offset: string[] = [];
      const total = await store.total(orgId, f);
      for (let off = 0; off < total + 2; off += 2) offset.push(...ids(await store.page(orgId, f, 2, off)));
      const keyset: string[] = [];
      let page = await store.page(orgId, f, 2, 0);
      while (page.length) {
        keyset.push(...ids(page));
        page = await store.pageAfter(orgId, f, page[page.length - 1]!, 2);
      }
      return { offset, keyset, total };
    };
    const expectList = async (orgId: string, f: ContactFilter, rows: ContactRow[]) => {
      const want = ids([...rows].sort(order));
      expect(ids(await store.page(orgId, f, 100, 0))).toEqual(want);
      expect(await walks(orgId, f)).toEqual({ offset: want, keyset: want, total: want.length });
    };

    test("insert then get returns every field exactly (Unicode, nulls); another organization's id is null", async () => {
      const full = await put(
        row(a, {
          email: "Ünïcödé.Ådå+tag@Exämple.test",
          name: TEXTS[1],
          phone: "+44 20 7946 0958",
          external_id: TEXTS[0],
          created_at: T0 + 1,
          updated_at: T0 + 2,
        }),
      );
      const bare = await put(row(a, { name: null }));
      expectSameRow(await store.get(full.id, a.orgId), full);
      expectSameRow(await store.get(bare.id, a.orgId), bare);
      expect(await store.get(full.id, b.orgId)).toBeNull();
      expect(await store.get("con_0000000000000000", a.orgId)).toBeNull();
      expect(await store.get("con_\0", a.orgId)).toBeNull();
      expectSameRow(await store.byEmailKey(a.orgId, full.email_key!), full);
      expect(await store.byEmailKey(a.orgId, full.email!)).toBeNull(); // the key, not the email as sent
      expect(await store.byEmailKey(b.orgId, full.email_key!)).toBeNull();
      expect(await store.byEmailKey(a.orgId, "\0")).toBeNull();
    });

    test("email_key and external_id are unique per organization (ContactTaken naming the field); nulls and other organizations are free", async () => {
      const first = await put(row(a, { email: "Ada@Example.test", external_id: "crm-1" }));
      const sameKey = row(a, { email: "ada@EXAMPLE.test", email_key: first.email_key });
      const e1 = await failure(() => store.insert(sameKey));
      expect(e1).toBeInstanceOf(ContactTaken);
      expect((e1 as ContactTaken).field).toBe("email");
      const e2 = await failure(() => store.insert(row(a, { external_id: "crm-1" })));
      expect(e2).toBeInstanceOf(ContactTaken);
      expect((e2 as ContactTaken).field).toBe("external_id");
      // Case matters for external_id (an id of another system), and it is not trimmed or folded by the store.
      await put(row(a, { external_id: "CRM-1" }));
      // Many contacts without an external_id, and the same email and external_id in another organization.
      await put(row(a));
      await put(row(a));
      await put(row(b, { email: first.email, external_id: "crm-1" }));
      expect(await store.total(a.orgId, { includeDeleted: true })).toBe(4);
      expect(await store.total(b.orgId, { includeDeleted: true })).toBe(1);
      // A duplicate id is not a ContactTaken.
      const e3 = await failure(() => store.insert({ ...row(a), id: first.id }));
      expect(e3).not.toBeInstanceOf(ContactTaken);
    });

    test("update writes the editable fields of the organization's live contact; duplicates are ContactTaken and change nothing", async () => {
      const x = await put(row(a, { external_id: "x-1" }));
      const y = await put(row(a, { external_id: "y-1" }));
      const changed: ContactRow = {
        ...x,
        email: "New@Example.test",
        email_key: "new@example.test",
        name: TEXTS[2],
        name_key: TEXTS[2].toLowerCase(),
        phone: "123",
        external_id: null,
        updated_at: T0 + 5,
      };
      expect(await store.update(changed)).toBe(true);
      expectSameRow(await store.get(x.id, a.orgId), changed);
      const dupEmail = await failure(() => store.update({ ...y, email: "NEW@example.test", email_key: "new@example.test" }));
      expect((dupEmail as ContactTaken).field).toBe("email");
      await store.update({ ...changed, external_id: "x-2" });
      const dupExternal = await failure(() => store.update({ ...y, external_id: "x-2" }));
      expect((dupExternal as ContactTaken).field).toBe("external_id");
      expectSameRow(await store.get(y.id, a.orgId), y);
      // Another organization's id, or an unknown one: nothing written.
      expect(await store.update({ ...y, org_id: b.orgId, name: "hijack" })).toBe(false);
      expect(await store.update({ ...row(a), id: "con_0000000000000000" })).toBe(false);
      expectSameRow(await store.get(y.id, a.orgId), y);
      // created_at and deleted_at are not the update's to write.
      expect(await store.update({ ...y, created_at: T0 + 99, deleted_at: T0 + 99, updated_at: T0 + 7 })).toBe(true);
      expectSameRow(await store.get(y.id, a.orgId), { ...y, updated_at: T0 + 7 });
    });

    test("erase nulls the personal fields, sets deleted_at (updated_at never back), once; the email and external_id are free again", async () => {
      const x = await put(row(a, { email: "gone@example.test", phone: "555", external_id: "crm-9", updated_at: T0 + 10 }));
      expect(await store.erase(x.id, b.orgId, T0 + 20)).toBeNull();
      const erased = await store.erase(x.id, a.orgId, T0 + 5);
      const want: ContactRow = {
        ...x,
        email: null,
        email_key: null,
        name: null,
        name_key: null,
        phone: null,
        external_id: null,
        deleted_at: T0 + 5,
        updated_at: T0 + 10,
      };
      expectSameRow(erased, want);
      expectSameRow(await store.get(x.id, a.orgId), want);
      expect(await store.erase(x.id, a.orgId, T0 + 30)).toBeNull();
      expectSameRow(await store.get(x.id, a.orgId), want);
      // A deleted contact cannot be updated.
      expect(await store.update({ ...x, updated_at: T0 + 40 })).toBe(false);
      expectSameRow(await store.get(x.id, a.orgId), want);
      expect(await store.byEmailKey(a.orgId, "gone@example.test")).toBeNull();
      const again = await put(row(a, { email: "gone@example.test", external_id: "crm-9" }));
      expect((await store.byEmailKey(a.orgId, "gone@example.test"))?.id).toBe(again.id);
    });

    test("lists: newest first with id tie-break, offset and keyset pages agree, exact totals; deleted ones only with includeDeleted", async () => {
      const rows: ContactRow[] = [];
      for (let i = 0; i < 9; i++) rows.push(await put(row(a, { created_at: T0 + Math.floor(i / 3) })));
      const theirs = await put(row(b, { created_at: T0 + 100 }));
      await store.erase(rows[4]!.id, a.orgId, T0 + 50);
      const erased = (await store.get(rows[4]!.id, a.orgId))!;
      const live = rows.filter((r) => r.id !== erased.id);
      await expectList(a.orgId, {}, live);
      await expectList(a.orgId, { includeDeleted: true }, [...live, erased]);
      await expectList(b.orgId, {}, [theirs]);
      // A keyset walk whose cursor is the deleted contact goes on from where it stood.
      const after = await store.pageAfter(a.orgId, {}, erased, 100);
      expect(ids(after)).toEqual(ids(live.filter((r) => order(erased, r) < 0).sort(order)));
    });

    test("prefix: a case-folded prefix of email_key or name_key (each contact once), literal (no pattern characters), only live contacts, per organization", async () => {
      const ada = await put(row(a, { email: "ada@example.test", name: "Ada Lovelace" }));
      const adam = await put(row(a, { email: "adam@example.test", name: "Adam Smith", created_at: T0 + 1 }));
      const grace = await put(row(a, { email: "grace@navy.test", name: "Adalind Hopper", created_at: T0 + 2 }));
      const pct = await put(row(a, { email: "100%_off@shop.test", name: "Percent", created_at: T0 + 3 }));
      const uni = await put(row(a, { email: "zoë@example.test", name: "Ünal Émile", created_at: T0 + 4 }));
      const astral = await put(row(a, { email: "x@example.test", name: "𝔘\u{10ffff}end", created_at: T0 + 5 }));
      const nameless = await put(row(a, { email: "ad@nameless.test", name: null, created_at: T0 + 6 }));
      const gone = await put(row(a, { email: "adrian@example.test", name: "Adrian", created_at: T0 + 7 }));
      await store.erase(gone.id, a.orgId, T0 + 8);
      const theirs = await put(row(b, { email: "ada@example.test", name: "Ada B" }));
      await expectList(a.orgId, { prefix: "ad" }, [ada, adam, grace, nameless]);
      await expectList(a.orgId, { prefix: "ada" }, [ada, adam, grace]);
      await expectList(a.orgId, { prefix: "adam" }, [adam]);
      await expectList(a.orgId, { prefix: "ada@example.test" }, [ada]);
      await expectList(a.orgId, { prefix: "ada lovelace" }, [ada]);
      await expectList(a.orgId, { prefix: "adalovelace" }, []);
      await expectList(a.orgId, { prefix: "100%" }, [pct]);
      await expectList(a.orgId, { prefix: "1%" }, []);
      await expectList(a.orgId, { prefix: "100%_" }, [pct]);
      await expectList(a.orgId, { prefix: "100_" }, []);
      await expectList(a.orgId, { prefix: "zoë" }, [uni]);
      await expectList(a.orgId, { prefix: "zoe" }, []);
      await expectList(a.orgId, { prefix: "ünal é" }, [uni]);
      await expectList(a.orgId, { prefix: "𝔘" }, [astral]);
      await expectList(a.orgId, { prefix: "𝔘\u{10ffff}" }, [astral]);
      await expectList(a.orgId, { prefix: "\u{10ffff}" }, []);
      await expectList(a.orgId, { prefix: "adrian" }, []);
      await expectList(a.orgId, { prefix: "a\0" }, []);
      await expectList(b.orgId, { prefix: "ada" }, [theirs]);
      // An empty prefix is no filter.
      expect(await store.total(a.orgId, { prefix: "" })).toBe(7);
    });

    test("emailKey: exactly one live contact of the organization", async () => {
      const x = await put(row(a, { email: "Ada@Example.test" }));
      await put(row(a, { email: "ada@example.testing" }));
      await put(row(b, { email: "ada@example.test" }));
      await expectList(a.orgId, { emailKey: "ada@example.test" }, [x]);
      await expectList(a.orgId, { emailKey: "Ada@Example.test" }, []);
      await expectList(a.orgId, { emailKey: "ada@" }, []);
      await expectList(a.orgId, { emailKey: "\0" }, []);
      await store.erase(x.id, a.orgId, T0 + 1);
      await expectList(a.orgId, { emailKey: "ada@example.test" }, []);
    });

    test("prefixUpperBound: the next string in code point order, skipping surrogates and the last code point", () => {
      expect(prefixUpperBound("ab")).toBe("ac");
      expect(prefixUpperBound("a\u{10ffff}")).toBe("b");
      expect(prefixUpperBound("\u{10ffff}\u{10ffff}")).toBeNull();
      expect(prefixUpperBound("")).toBeNull();
      expect(prefixUpperBound("a\ud7ff")).toBe("a\ue000");
      expect(prefixUpperBound("a\uffff")).toBe("a\u{10000}");
    });

    test("insertIfAbsent: inserts once per email_key; a second is false and writes nothing", async () => {
      const first = row(a, { email: "once@example.test" });
      expect(await store.insertIfAbsent(first)).toBe(true);
      expect(await store.insertIfAbsent(row(a, { email: "ONCE@example.test", email_key: "once@example.test" }))).toBe(false);
      expect(await store.insertIfAbsent(row(b, { email: "once@example.test" }))).toBe(true);
      expect(await store.total(a.orgId, {})).toBe(1);
      expectSameRow(await store.byEmailKey(a.orgId, "once@example.test"), first);
    });

    describe("concurrency", () => {
      beforeEach(() => warmUp(() => store.total(a.orgId, {})));

      test("concurrent inserts of one email (pool and units): one row, the others ContactTaken", async () => {
        const rows = Array.from({ length: CONCURRENCY }, (_, i) =>
          row(a, { email: i % 2 ? "Same@Example.test" : "same@example.test", email_key: "same@example.test" }),
        );
        const { fulfilled, rejected } = await settle(rows.map((r, i) => (i % 2 ? () => store.insert(r) : () => writer.write((tx) => tx.contacts.insert(r)))));
        expect(fulfilled.length).toBe(1);
        expect(rejected.length).toBe(CONCURRENCY - 1);
        for (const err of rejected) expect((err as ContactTaken).field).toBe("email");
        expect(await store.total(a.orgId, {})).toBe(1);
      });

      test("resolveRequester: units at once with the same new email make one contact and one contact.created; every unit gets its id", async () => {
        await w.seed.event({ orgId: a.orgId, type: "ticket.created", createdAt: T0, dispatchedAt: null }); // an unrelated event before
        const { fulfilled, rejected } = await settle(
          Array.from(
            { length: CONCURRENCY },
            (_, i) => () =>
              writer.write((tx) =>
                resolveRequester(tx, a.orgId, { email: i % 2 ? "  New.Person@Example.test " : "new.person@example.test", name: `Name ${i}` }, T0 + i),
              ),
          ),
        );
        expect(rejected).toEqual([]);
        expect(new Set(fulfilled).size).toBe(1);
        const [id] = fulfilled;
        const contact = (await store.get(id!, a.orgId))!;
        expect(contact.email_key).toBe("new.person@example.test");
        expect(await store.total(a.orgId, {})).toBe(1);
        const events = (await w.store.outbox.undispatched(100)).filter((e) => e.type === "contact.created");
        expect(events.length).toBe(1);
        expect(JSON.parse(events[0]!.data)).toMatchObject({ id, email: contact.email, name: contact.name, deleted_at: null });
        // Found again afterwards (any case), no new event; another organization gets a contact of its own.
        expect(await writer.write((tx) => resolveRequester(tx, a.orgId, { email: "NEW.PERSON@example.test" }, T0 + 50))).toBe(id!);
        const other = await writer.write((tx) => resolveRequester(tx, b.orgId, { email: "new.person@example.test" }, T0 + 51));
        expect(other).not.toBe(id!);
        expect((await w.store.outbox.undispatched(100)).filter((e) => e.type === "contact.created").length).toBe(2);
      });

      test("resolveRequester next to a unit that rolls back its insert of the same email: the contact exists once, from the unit that committed", async () => {
        const { fulfilled, rejected } = await settle([
          () =>
            writer.write(async (tx) => {
              await resolveRequester(tx, a.orgId, { email: "race@example.test" }, T0);
              throw new Error("rolled back");
            }),
          () => writer.write((tx) => resolveRequester(tx, a.orgId, { email: "race@example.test" }, T0 + 1)),
        ]);
        expect(rejected.map((e) => (e as Error).message)).toEqual(["rolled back"]);
        expect(fulfilled.length).toBe(1);
        expect((await store.byEmailKey(a.orgId, "race@example.test"))?.id).toBe(fulfilled[0] as string);
        expect(await store.total(a.orgId, {})).toBe(1);
      });

      test("concurrent updates of one contact: each reads what the previous left (no lost write)", async () => {
        const x = await put(row(a, { name: "n" }));
        const { fulfilled, rejected } = await settle(
          Array.from(
            { length: CONCURRENCY },
            (_, i) => () =>
              writer.write(async (tx) => {
                const before = (await tx.contacts.get(x.id, a.orgId))!;
                const name = `${before.name}|${i}`;
                return tx.contacts.update({ ...before, name, name_key: name, updated_at: before.updated_at + 1 });
              }),
          ),
        );
        expect(rejected).toEqual([]);
        expect(fulfilled.every(Boolean)).toBe(true);
        const final = (await store.get(x.id, a.orgId))!;
        expect(
          final
            .name!.split("|")
            .slice(1)
            .map(Number)
            .sort((p, q) => p - q),
        ).toEqual(Array.from({ length: CONCURRENCY }, (_, i) => i));
        expect(final.updated_at).toBe(T0 + CONCURRENCY);
      });
    });
  });
}
