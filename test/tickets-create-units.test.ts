// createTicket's unit on every engine: the ticket and its event are sent together; a ticket that cannot be inserted leaves no event.
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { createTicket } from "../src/tickets/service";
import { ENGINES, type EngineWorld } from "./contracts/engines";

for (const engine of ENGINES) {
  describe(`createTicket's unit (${engine.name})`, () => {
    let w: EngineWorld;
    let org: { orgId: string; userId: string };
    beforeEach(async () => {
      w = await engine.open();
      org = await w.seed.org("A");
    });
    afterEach(() => w.close());
    const deps = () => ({ stores: { tickets: w.tickets }, writer: w.writer, clock: w.clock });

    test("a created ticket has its one ticket.created event, with the ticket as the API returns it", async () => {
      const ticket = await createTicket(deps(), { orgId: org.orgId, userId: org.userId }, { subject: "Printer on fire" });
      expect(await w.tickets.get(ticket.id, org.orgId)).not.toBeNull();
      const events = await w.outbox.undispatched(10);
      expect(events.map((e) => [e.type, e.org_id, JSON.parse(e.data)])).toEqual([["ticket.created", org.orgId, ticket]]);
    });

    test("when the ticket's insert fails (its creator does not exist), the unit rejects and leaves neither the ticket nor its event", async () => {
      const failed = await createTicket(deps(), { orgId: org.orgId, userId: "user_doesnotexist00" }, { subject: "Orphan" }).then(
        () => null,
        (err: unknown) => err,
      );
      expect(failed).toBeInstanceOf(Error);
      // The insert's own error, not the aborted transaction's that the event's statement got after it.
      expect(String((failed as Error).message)).not.toContain("current transaction is aborted");
      expect(await w.tickets.total(org.orgId, {})).toBe(0);
      expect(await w.outbox.undispatched(10)).toEqual([]);
    });
  });
}
