// Tickets domain: list, read, create, update, delete; every change with its counts and outbox event in one unit of the writer.
import type { Db } from "../db/client";
import type { Writer } from "../db/writer";
import { errors } from "../errors";
import { record } from "../events/outbox";
import type { Actor } from "../keys/principal";
import type { Clock } from "../lib/clock";
import { newId } from "../lib/ids";
import { textProblem, type TextRule } from "../lib/text";
import { keysetPage, nextPageNumber, offsetPage, type PageQuery } from "../lib/pagination";
import { toIso } from "../lib/time";
import { DESCRIPTION_RULE, SUBJECT_RULE, type CreateTicket, type Ticket, type TicketList, type UpdateTicket } from "./model";
import { type TicketFilter, type TicketRow, ticketStore } from "./store";

export interface Deps {
  db: Db;
  /** Every change goes through it: committed with the other writes of its batch, answered after the fsync. */
  writer: Writer;
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

export interface ListQuery extends TicketFilter, PageQuery {
  starting_after?: string;
}

/** Where the next page starts, when there is one: a page number (offset mode) or a ticket id (keyset mode). */
export type NextPage = { page: number } | { starting_after: string };

/**
 * A page of the organization's tickets, newest first (ties by id), and where the next one starts.
 * With `starting_after` (keyset mode) the page holds the tickets after that one, found by one index seek at any
 * depth; it must be a ticket of this organization (400 otherwise), and `page` other than 1 cannot go with it.
 */
export function listTicketsPage(deps: Deps, orgId: string, q: ListQuery): { list: TicketList; next: NextPage | null } {
  const store = ticketStore(deps.db.$client);
  const filter: TicketFilter = { status: q.status, priority: q.priority };
  const total = store.total(orgId, filter);
  if (q.starting_after !== undefined) {
    if ((q.page ?? 1) !== 1) throw badCursor("cannot be combined with page; follow the Link header or send one of them.");
    const cursor = store.get(q.starting_after, orgId);
    if (!cursor) throw badCursor("must be the id of a ticket of your organization.");
    const { page, last } = keysetPage(q, total, (limit) => store.pageAfter(orgId, filter, cursor, limit), toTicket);
    return { list: page, next: last ? { starting_after: last.id } : null };
  }
  const list = offsetPage(q, total, (limit, offset) => store.page(orgId, filter, limit, offset), toTicket);
  const next = nextPageNumber(list.meta);
  return { list, next: next === null ? null : { page: next } };
}

export function listTickets(deps: Deps, orgId: string, q: ListQuery): TicketList {
  return listTicketsPage(deps, orgId, q).list;
}

function badCursor(message: string) {
  return errors.validation([{ field: "starting_after", message }], `The query is not valid: starting_after ${message}`);
}

export function getTicket(deps: Deps, orgId: string, id: string): Ticket {
  const row = ticketStore(deps.db.$client).get(id, orgId);
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
  };
  const ticket = toTicket(row);
  const sqlite = deps.db.$client;
  const store = ticketStore(sqlite);
  return deps.writer.write(() => {
    store.insert(row);
    record(sqlite, { type: "ticket.created", orgId: actor.orgId, data: ticket }, now);
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
  const sqlite = deps.db.$client;
  const store = ticketStore(sqlite);
  // Read and written in one unit of the writer: no other write can come between.
  return deps.writer.write(() => {
    const before = store.get(id, actor.orgId);
    if (!before) throw errors.notFound("Ticket");
    const changed = EDITABLE.filter((f) => f in next && next[f] !== before[f]);
    if (changed.length === 0) return toTicket(before);
    const now = Math.max(deps.clock.now(), before.updated_at);
    const after: TicketRow = { ...before, ...next, updated_at: now };
    store.update(before, after);
    const ticket = toTicket(after);
    record(sqlite, { type: "ticket.updated", orgId: actor.orgId, data: ticket, changedFields: changed }, now);
    return ticket;
  });
}

export function deleteTicket(deps: Deps, actor: Actor, id: string): Promise<void> {
  const sqlite = deps.db.$client;
  const store = ticketStore(sqlite);
  return deps.writer.write(() => {
    const before = store.get(id, actor.orgId);
    if (!before) throw errors.notFound("Ticket");
    store.remove(before);
    const now = deps.clock.now();
    record(sqlite, { type: "ticket.deleted", orgId: actor.orgId, data: toTicket(before) }, now);
  });
}
