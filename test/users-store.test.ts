// The users paging of the organizations store (usersPage, usersTotal: GET /v1/users), on every engine.
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { newId } from "../src/lib/ids";
import type { OrgsStore, UserRow } from "../src/orgs/store";
import { ENGINES, opener } from "./contracts/engines";
import { expectSameRow, type Opened, type SeededOrg, T0 } from "./contracts/fixtures";

for (const engine of ENGINES) {
  describe(`orgs store: users paging (${engine.name})`, () => {
    const open = opener(engine, (w) => w.orgs);
    let w: Opened<OrgsStore>;
    let store: OrgsStore;
    let a: SeededOrg;
    let b: SeededOrg;
    beforeEach(async () => {
      w = await open();
      store = w.store;
      a = await w.seed.org("A");
      b = await w.seed.org("B");
    });
    afterEach(() => w.close());

    const user = (org: SeededOrg, at: number, over: Partial<UserRow> = {}): UserRow => {
      const id = newId("user");
      return { id, org_id: org.orgId, email: `${id}@example.test`, name: "Ünïcødé 👩🏽‍💻", role: "member", created_at: at, ...over };
    };

    test("oldest first with id tie-break, every field exactly, offset pages, exact totals, per organization", async () => {
      const owner = (await store.getUserInOrg(a.userId, a.orgId))!;
      const rows = [user(a, T0 + 5), user(a, T0 + 5, { name: null, role: "admin" }), user(a, T0 + 9), user(a, owner.created_at + 1)];
      for (const r of rows) expect(await store.insertUser(r)).toBe(true);
      await store.insertUser(user(b, T0 + 6));
      const want = [owner, ...rows].sort((x, y) => x.created_at - y.created_at || (x.id < y.id ? -1 : x.id > y.id ? 1 : 0));
      expect(await store.usersTotal(a.orgId)).toBe(5);
      expect(await store.usersTotal(b.orgId)).toBe(2);
      expect(await store.usersTotal("org_0000000000000000")).toBe(0);
      const all = await store.usersPage(a.orgId, 100, 0);
      expect(all.map((r) => r.id)).toEqual(want.map((r) => r.id));
      for (const [i, r] of all.entries()) expectSameRow(r, want[i]!);
      const walked: string[] = [];
      for (let off = 0; off < 7; off += 2) walked.push(...(await store.usersPage(a.orgId, 2, off)).map((r) => r.id));
      expect(walked).toEqual(want.map((r) => r.id));
      expect((await store.usersPage(b.orgId, 100, 0)).every((r) => r.org_id === b.orgId)).toBe(true);
    });
  });
}
