// Tickets domain: list, read, create, update, delete; every change with its counts and outbox event in one unit of the writer.
import type { Writer } from "../db/writer";
import { errors } from "../errors";
import type { Outbox } from "../events/outbox";
import type { Actor } from "../keys/principal";
import type { Clock } from "../lib/clock";
import { newId } from "../lib/ids";
import { textProblem, type TextRule } from "../lib/text";
import { DEFAULT_PER_PAGE, keysetPage, nextPageNumber, offsetPage, type PageQuery } from "../lib/pagination";
import { toIso } from "../lib/time";
import { DESCRIPTION_RULE, SUBJECT_RULE, type CreateTicket, type Ticket, type TicketList, type UpdateTicket } from "./model";
import type { TicketFilter, TicketRow, TicketStore } from "./store";

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
export async function listTicketsPage(deps: Deps, orgId: string, q: ListQuery): Promise<{ list: TicketList; next: NextPage | null }> {
  const store = deps.stores.tickets;
  const filter: TicketFilter = { status: q.status, priority: q.priority };
  if (q.starting_after !== undefined && (q.page ?? 1) !== 1) {
    throw badCursor("cannot be combined with page; follow the Link header or send one of them.");
  }
  // The total and the rows are independent reads of committed rows: sent together (on PostgreSQL, two pooled
  // connections at once), the list waits for one round trip instead of two (keyset: two instead of three, the
  // cursor's row then its page). The answers are those of reading them one after the other.
  if (q.starting_after !== undefined) {
    const after = q.starting_after;
    const rows = async (limit: number) => {
      const cursor = await store.get(after, orgId);
      if (!cursor) throw badCursor("must be the id of a ticket of your organization.");
      return await store.pageAfter(orgId, filter, cursor, limit);
    };
    const [total, prefetched] = await Promise.all([store.total(orgId, filter), rows((q.per_page ?? DEFAULT_PER_PAGE) + 1)]);
    const { page, last } = await keysetPage(q, total, async () => prefetched, toTicket);
    return { list: page, next: last ? { starting_after: last.id } : null };
  }
  // Speculatively, only for shallow pages: a page past the end is then read and dropped (offsetPage does not ask for
  // it), and the read costs up to its offset in rows skipped; a deep page number waits for the total as before.
  const offset = ((q.page ?? 1) - 1) * (q.per_page ?? DEFAULT_PER_PAGE);
  const counted = store.total(orgId, filter);
  const early = offset < SPECULATIVE_OFFSET ? store.page(orgId, filter, q.per_page ?? DEFAULT_PER_PAGE, offset) : null;
  const [total, prefetched] = await Promise.all([counted, early]);
  const list = await offsetPage(q, total, async (limit, at) => prefetched ?? (await store.page(orgId, filter, limit, at)), toTicket);
  const next = nextPageNumber(list.meta);
  return { list, next: next === null ? null : { page: next } };
}

/** The deepest offset whose page is read alongside the total (ten full pages): what a page past the end may waste. */
const SPECULATIVE_OFFSET = 1000;

export async function listTickets(deps: Deps, orgId: string, q: ListQuery): Promise<TicketList> {
  return (await listTicketsPage(deps, orgId, q)).list;
}

function badCursor(message: string) {
  return errors.validation([{ field: "starting_after", message }], `The query is not valid: starting_after ${message}`);
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
