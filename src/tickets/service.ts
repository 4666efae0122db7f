// Tickets domain: list, read, create, update, delete; every change with its counts and outbox event in one unit of the writer.
import type { Writer } from "../db/writer";
import { errors } from "../errors";
import type { Outbox } from "../events/outbox";
import type { Actor } from "../keys/principal";
import type { Clock } from "../lib/clock";
import { newId } from "../lib/ids";
import { textProblem, type TextRule } from "../lib/text";
import { toIso } from "../lib/time";
import { DESCRIPTION_RULE, SUBJECT_RULE, type CreateTicket, type Ticket, type UpdateTicket } from "./model";
import type { TicketRow, TicketStore } from "./store";

/** What a tickets unit of work is given: the stores bound to its transaction. */
export interface TicketsTx {
  tickets: TicketStore;
  outbox: Outbox;
}

export interface Deps {
  /** For reads: committed rows only. */
  stores: { tickets: TicketStore };
  /** Every change goes through it: committed with the other writes of its batch, answered after the fsync. */
  writer: Writer<TicketsTx>;
  clock: Clock;
}

export function toTicket(r: TicketRow): Ticket {
  return {
    id: r.id,
    subject: r.subject,
    description: r.description,
    status: r.status,
    priority: r.priority,
    created_by: r.created_by,
    created_at: toIso(r.created_at),
    updated_at: toIso(r.updated_at),
  };
}

/** The shared text rules (the schema applies them too; a service may be called without it). */
function checkText(field: string, value: string, rule: TextRule): void {
  const problem = textProblem(value, rule);
  if (problem) throw errors.validation([{ field, message: problem }], `The request body is not valid: ${field} ${problem}`);
}

/** Single-line: trimmed, then 1–200 characters (code points), not blank, no control characters. */
function cleanSubject(subject: string): string {
  checkText("subject", subject, SUBJECT_RULE);
  return subject.trim();
}

/** null (or absent) is no description; otherwise multi-line text of at most 64 KiB of UTF-8. */
function checkDescription(description: string | null | undefined): string | null {
  if (description == null) return null;
  checkText("description", description, DESCRIPTION_RULE);
  return description;
}

export async function getTicket(deps: Deps, orgId: string, id: string): Promise<Ticket> {
  const row = await deps.stores.tickets.get(id, orgId);
  if (!row) throw errors.notFound("Ticket");
  return toTicket(row);
}

export function createTicket(deps: Deps, actor: Actor, input: CreateTicket): Promise<Ticket> {
  const now = deps.clock.now();
  const row: TicketRow = {
    id: newId("tkt"),
    org_id: actor.orgId,
    subject: cleanSubject(input.subject),
    description: checkDescription(input.description),
    status: "open",
    priority: input.priority ?? "medium",
    created_by: actor.userId,
    created_at: now,
    updated_at: now,
    requester_id: null,
    assignee_id: null,
    tags: "[]",
    custom_fields: "{}",
  };
  const ticket = toTicket(row);
  // The two statements are independent: sent together, PostgreSQL gets both in one round trip of the unit's
  // connection (postgres.js pipelines them, in this order). Should the insert fail, the event fails after it (the
  // transaction is aborted) and the unit rolls back with the insert's error, as if they had run one after the other.
  return deps.writer.write(async (tx) => {
    await Promise.all([tx.tickets.insert(row), tx.outbox.record({ type: "ticket.created", orgId: actor.orgId, data: ticket }, now)]);
    return ticket;
  });
}

const EDITABLE = ["subject", "description", "status", "priority"] as const;

/** Applies a partial update. Fields sent with their current value do not count as changed; no change, no event. */
export function updateTicket(deps: Deps, actor: Actor, id: string, input: UpdateTicket): Promise<Ticket> {
  const next: Partial<TicketRow> = {};
  if (input.subject !== undefined) next.subject = cleanSubject(input.subject);
  if (input.description !== undefined) next.description = checkDescription(input.description);
  if (input.status !== undefined) next.status = input.status;
  if (input.priority !== undefined) next.priority = input.priority;
  // Read and written in one unit of the writer: no other write can come between.
  return deps.writer.write(async (tx) => {
    const before = await tx.tickets.get(id, actor.orgId);
    if (!before) throw errors.notFound("Ticket");
    const changed = EDITABLE.filter((f) => f in next && next[f] !== before[f]);
    if (changed.length === 0) return toTicket(before);
    const now = Math.max(deps.clock.now(), before.updated_at);
    const after: TicketRow = { ...before, ...next, updated_at: now };
    await tx.tickets.update(before, after);
    const ticket = toTicket(after);
    await tx.outbox.record({ type: "ticket.updated", orgId: actor.orgId, data: ticket, changedFields: changed }, now);
    return ticket;
  });
}

export function deleteTicket(deps: Deps, actor: Actor, id: string): Promise<void> {
  return deps.writer.write(async (tx) => {
    const before = await tx.tickets.get(id, actor.orgId);
    if (!before) throw errors.notFound("Ticket");
    await tx.tickets.remove(before);
    const now = deps.clock.now();
    await tx.outbox.record({ type: "ticket.deleted", orgId: actor.orgId, data: toTicket(before) }, now);
  });
}
