// Bulk changes: one change (status, priority, assignee, tags) made to up to 100 tickets in one unit of the writer, all or nothing, with one ticket.updated per ticket it changed.
import { errors } from "../errors";
import type { Actor } from "../keys/principal";
import type { BulkResult, BulkUpdateTickets } from "./model";
import { assigneeInvalid, changedFields, type Deps, isAssignable, toTicket } from "./service";
import type { TicketRow } from "./store";
import { applyTagChange, checkTagCount, parseTags, tagChange } from "./tags";

/** The most tickets one bulk change may name. */
export const BULK_MAX_IDS = 100;

function invalid(field: string, message: string) {
  return errors.validation([{ field, message }], `The request body is not valid: ${field} ${message}`);
}

/**
 * Makes `input.set` to every ticket of `input.ids` in one unit: an unknown or foreign id is a 404 naming it, a
 * change that would break a rule (an assignee who is not a user of the organization, more than 20 tags) a 400, and
 * then nothing is changed. A ticket the change leaves as it was is not written and gets no event. Answers the tickets
 * after the change, in the order of `ids`.
 */
export function bulkUpdateTickets(deps: Deps, actor: Actor, input: BulkUpdateTickets): Promise<BulkResult> {
  const { orgId } = actor;
  const { ids, set } = input;
  if (ids.length === 0 || ids.length > BULK_MAX_IDS) throw invalid("ids", `must hold 1 to ${BULK_MAX_IDS} ticket ids.`);
  const first = new Map<string, number>();
  ids.forEach((id, i) => {
    const seen = first.get(id);
    if (seen !== undefined) throw invalid(`ids.${i}`, `repeats ids.${seen}: each ticket may be named once.`);
    first.set(id, i);
  });
  const tags = tagChange(set, "set.");
  return deps.writer.write(async (tx) => {
    // Locked in id order (PostgreSQL), whatever the request's order: two bulk changes over the same tickets cannot deadlock.
    const [rows, assignable] = await Promise.all([
      tx.tickets.getMany([...ids].sort(), orgId),
      set.assignee_id != null ? isAssignable(tx, orgId, set.assignee_id) : true,
    ]);
    const byId = new Map(rows.map((r) => [r.id, r]));
    const missing = ids.find((id) => !byId.has(id));
    if (missing !== undefined) throw errors.notFound(`Ticket ${missing}`);
    if (!assignable) throw assigneeInvalid("set.assignee_id");
    const now = deps.clock.now();
    // Every ticket's change decided first (a 400 here leaves nothing sent), then written.
    const plans = ids.map((id) => {
      const before = byId.get(id)!;
      const next: Partial<TicketRow> = {};
      if (set.status !== undefined) next.status = set.status;
      if (set.priority !== undefined) next.priority = set.priority;
      if (set.assignee_id !== undefined) next.assignee_id = set.assignee_id;
      if (tags) {
        const tagSet = applyTagChange(parseTags(before.tags), tags);
        checkTagCount("set.add_tags", tagSet, id);
        next.tags = tagSet.length ? JSON.stringify(tagSet) : "[]";
      }
      const after: TicketRow = { ...before, ...next, updated_at: Math.max(now, before.updated_at) };
      return { before, after, changed: changedFields(before, after) };
    });
    const writes: Promise<unknown>[] = [];
    const out = plans.map(({ before, after, changed }) => {
      if (changed.length === 0) return toTicket(before);
      const ticket = toTicket(after);
      // Sent without waiting (pipelined on PostgreSQL's connection, in this order): the events keep the order of ids.
      writes.push(tx.tickets.update(before, after), tx.outbox.record({ type: "ticket.updated", orgId, data: ticket, changedFields: changed }, now));
      return ticket;
    });
    await Promise.all(writes);
    return { data: out };
  });
}
