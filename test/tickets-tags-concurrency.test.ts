// Tag changes at once on every engine: units adding different tags to one ticket all land (no read-modify-write race), and bulk changes over the same tickets in opposite orders neither deadlock nor lose a tag.
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { bulkUpdateTickets } from "../src/tickets/bulk";
import { createTicket, updateTicket } from "../src/tickets/service";
import { ENGINES, type EngineWorld } from "./contracts/engines";
import { CONCURRENCY, settle, warmUp } from "./contracts/concurrent";

for (const engine of ENGINES) {
  describe(`tag changes at once (${engine.name})`, () => {
    let w: EngineWorld;
    let org: { orgId: string; userId: string };
    beforeEach(async () => {
      w = await engine.open();
      org = await w.seed.org("A");
      await warmUp(() => w.tickets.total(org.orgId, {}));
    });
    afterEach(() => w.close());
    const deps = () => ({ stores: { tickets: w.tickets }, writer: w.writer, clock: w.clock });
    const tag = (i: number) => `t${String(i).padStart(2, "0")}`;

    /** The ticket's ticket_tags rows are its tags with its status and times. */
    const expectTagsInStep = async (id: string) => {
      const row = (await w.tickets.get(id, org.orgId))!;
      const rows = await w.tickets.tagRows(id, org.orgId);
      expect(rows.map((r) => ({ ...r }))).toEqual(
        (JSON.parse(row.tags) as string[]).map((t) => ({
          org_id: org.orgId,
          tag: t,
          ticket_id: id,
          status: row.status,
          created_at: row.created_at,
          updated_at: row.updated_at,
        })),
      );
    };

    test("two units adding different tags to one ticket at once: both tags are kept", async () => {
      const t = await createTicket(deps(), org, { subject: "Race", tags: ["start"] });
      const { rejected } = await settle([
        () => updateTicket(deps(), org, t.id, { add_tags: ["left"] }),
        () => updateTicket(deps(), org, t.id, { add_tags: ["right"] }),
      ]);
      expect(rejected).toEqual([]);
      expect((await w.tickets.get(t.id, org.orgId))!.tags).toBe('["left","right","start"]');
      await expectTagsInStep(t.id);
    });

    test(`${CONCURRENCY} units adding and removing tags on one ticket at once: every change lands, with one event each`, async () => {
      const t = await createTicket(deps(), org, { subject: "Race", tags: ["drop-0", "drop-1", "drop-2"] });
      const { rejected } = await settle(
        Array.from({ length: CONCURRENCY }, (_, i) => () => updateTicket(deps(), org, t.id, { add_tags: [tag(i)], remove_tags: i < 3 ? [`drop-${i}`] : [] })),
      );
      expect(rejected).toEqual([]);
      expect(JSON.parse((await w.tickets.get(t.id, org.orgId))!.tags)).toEqual(Array.from({ length: CONCURRENCY }, (_, i) => tag(i)));
      await expectTagsInStep(t.id);
      const events = (await w.outbox.undispatched(100)).filter((e) => e.type === "ticket.updated");
      expect(events.length).toBe(CONCURRENCY);
    });

    test("bulk changes over the same tickets in opposite orders, with single PATCHes among them: no deadlock, no tag lost", async () => {
      const ids: string[] = [];
      for (let i = 0; i < 6; i++) ids.push((await createTicket(deps(), org, { subject: `T${i}` })).id);
      const reversed = [...ids].reverse();
      const { rejected } = await settle<unknown>(
        Array.from({ length: CONCURRENCY }, (_, i) =>
          i % 3 === 2
            ? () => updateTicket(deps(), org, ids[i % ids.length]!, { add_tags: [tag(i)] })
            : () => bulkUpdateTickets(deps(), org, { ids: i % 2 ? ids : reversed, set: { add_tags: [tag(i)] } }),
        ),
      );
      expect(rejected).toEqual([]);
      for (const [n, id] of ids.entries()) {
        const want = Array.from({ length: CONCURRENCY }, (_, i) => i)
          .filter((i) => i % 3 !== 2 || i % ids.length === n)
          .map(tag);
        expect(JSON.parse((await w.tickets.get(id, org.orgId))!.tags)).toEqual(want);
        await expectTagsInStep(id);
      }
    });
  });
}
