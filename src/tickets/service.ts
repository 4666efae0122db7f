// Tickets domain: read, create, update, delete (requester, assignee, tags and custom field values included); every change with its counts and outbox event in one unit of the writer.
import { resolveRequester } from "../contacts/service";
import type { ContactStore } from "../contacts/store";
import { hasNul } from "../db/postgres/text";
import type { Writer } from "../db/writer";
import { errors } from "../errors";
import type { Outbox } from "../events/outbox";
import type { Actor } from "../keys/principal";
import type { Clock } from "../lib/clock";
import { newId } from "../lib/ids";
import { textProblem, type TextRule } from "../lib/text";
import { toIso } from "../lib/time";
import type { OrgsStore } from "../orgs/store";
import { customFieldsJson, parseCustomFields } from "../ticket-fields/json";
import { applyCustomFields } from "../ticket-fields/service";
import type { TicketFieldStore } from "../ticket-fields/store";
import { DESCRIPTION_RULE, SUBJECT_RULE, type CreateTicket, type Ticket, type UpdateTicket } from "./model";
import type { TicketRow, TicketStore } from "./store";
import { applyTagChange, checkTagCount, parseTags, tagChange } from "./tags";

/** What a tickets unit of work is given: the stores bound to its transaction. */
export interface TicketsTx {
  tickets: TicketStore;
  outbox: Outbox;
  /** The requester: checked (requester_id) or found or created (requester). */
  contacts: ContactStore;
  /** The definitions custom field values are checked against. */
  ticketFields: TicketFieldStore;
  /** The assignee: a user of the organization. */
  orgs: Pick<OrgsStore, "getUserInOrg">;
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
    requester_id: r.requester_id,
    assignee_id: r.assignee_id,
    tags: parseTags(r.tags),
    custom_fields: r.custom_fields === "{}" ? {} : (JSON.parse(r.custom_fields) as Ticket["custom_fields"]),
    created_at: toIso(r.created_at),
    updated_at: toIso(r.updated_at),
  };
}

const invalid = (field: string, message: string) => errors.validation([{ field, message }], `The request body is not valid: ${field} ${message}`);

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

/** Throws the 400 naming assignee_id unless `userId` is a user of the organization. */
async function checkAssignee(tx: Pick<TicketsTx, "orgs">, orgId: string, userId: string): Promise<void> {
  if (!(await isAssignable(tx, orgId, userId))) throw assigneeInvalid("assignee_id");
}

/** True when `userId` is a user of the organization: one a ticket may be assigned to. */
export async function isAssignable(tx: Pick<TicketsTx, "orgs">, orgId: string, userId: string): Promise<boolean> {
  // No user id holds U+0000 (and PostgreSQL text cannot): no lookup for it.
  return !hasNul(userId) && (await tx.orgs.getUserInOrg(userId, orgId)) !== null;
}

export const assigneeInvalid = (field: string) => invalid(field, "must be the id of a user of your organization.");

/** Throws the 400 naming requester_id unless `contactId` is a contact of the organization that is not deleted. */
async function checkRequester(tx: Pick<TicketsTx, "contacts">, orgId: string, contactId: string): Promise<void> {
  const contact = await tx.contacts.get(contactId, orgId);
  if (!contact || contact.deleted_at !== null) throw invalid("requester_id", "must be the id of a contact of your organization (not a deleted one).");
}

/**
 * Creates a ticket. With `requester`, the contact with that email is found or created in the same unit (its
 * contact.created is recorded before ticket.created). Custom field values are checked against the organization's
 * fields (required ones must have a value).
 */
export function createTicket(deps: Deps, actor: Actor, input: CreateTicket): Promise<Ticket> {
  const now = deps.clock.now();
  const { orgId } = actor;
  if (input.requester !== undefined && input.requester_id != null) {
    throw invalid("requester", "cannot be combined with requester_id: name the contact by id, or by email in requester.");
  }
  const subject = cleanSubject(input.subject);
  const description = checkDescription(input.description);
  const tags = input.tags === undefined ? null : tagChange({ tags: input.tags })!.tags!;
  const row = (requesterId: string | null, customFields: string): TicketRow => ({
    id: newId("tkt"),
    org_id: orgId,
    subject,
    description,
    status: "open",
    priority: input.priority ?? "medium",
    created_by: actor.userId,
    created_at: now,
    updated_at: now,
    requester_id: requesterId,
    assignee_id: input.assignee_id ?? null,
    tags: tags?.length ? JSON.stringify(tags) : "[]",
    custom_fields: customFields,
  });
  // The insert and its event are independent statements: sent together, PostgreSQL gets both in one round trip of the
  // unit's connection (postgres.js pipelines them, in this order). Should the insert fail, the event fails after it
  // (the transaction is aborted) and the unit rolls back with the insert's error.
  const insert = (tx: TicketsTx, r: TicketRow, ticket: Ticket) =>
    Promise.all([tx.tickets.insert(r), tx.outbox.record({ type: "ticket.created", orgId, data: ticket }, now)]);
  return deps.writer.write(async (tx) => {
    if (input.requester === undefined && isEmpty(input.custom_fields)) {
      // Nothing the row depends on is to be looked up (the usual create): the checks (fields, for required ones;
      // assignee; requester), the insert and its event all go in one round trip, the checks first. A failed check
      // throws once all are answered, and the unit rolls the insert back.
      const r = row(input.requester_id ?? null, "{}");
      const ticket = toTicket(r);
      const [defs, assignee, requester, written] = await Promise.allSettled([
        tx.ticketFields.list(orgId),
        input.assignee_id != null ? checkAssignee(tx, orgId, input.assignee_id) : null,
        input.requester_id != null ? checkRequester(tx, orgId, input.requester_id) : null,
        insert(tx, r, ticket),
      ]);
      if (defs.status === "rejected") throw defs.reason;
      if (assignee.status === "rejected") throw assignee.reason;
      if (requester.status === "rejected") throw requester.reason;
      applyCustomFields(defs.value, {}, input.custom_fields, "create"); // a required field without a value: the 400
      if (written.status === "rejected") throw written.reason;
      return ticket;
    }
    // Independent reads, sent together (one round trip on PostgreSQL); the field list (its shared field lock) first.
    const [defs] = await Promise.all([
      tx.ticketFields.list(orgId),
      input.assignee_id != null ? checkAssignee(tx, orgId, input.assignee_id) : null,
      input.requester_id != null ? checkRequester(tx, orgId, input.requester_id) : null,
    ]);
    const customFields = customFieldsJson(applyCustomFields(defs, {}, input.custom_fields, "create"));
    const requesterId = input.requester !== undefined ? await resolveRequester(tx, orgId, input.requester, now) : (input.requester_id ?? null);
    const r = row(requesterId, customFields);
    const ticket = toTicket(r);
    await insert(tx, r, ticket);
    return ticket;
  });
}

/** True for absent values or an empty object. */
function isEmpty(values: Record<string, unknown> | undefined): boolean {
  if (values === undefined) return true;
  for (const _ in values) return false;
  return true;
}

/** The fields a change can touch, in the order changed_fields names them. */
export const EDITABLE = ["subject", "description", "status", "priority", "requester_id", "assignee_id", "tags", "custom_fields"] as const;

/** The names of the fields whose value differs between the two rows (tags and custom_fields compare as stored text). */
export function changedFields(before: TicketRow, after: TicketRow): string[] {
  return EDITABLE.filter((f) => after[f] !== before[f]);
}

/**
 * Applies a partial update. Fields sent with their current value do not count as changed; no change, no event.
 * `tags` replaces the set; `add_tags`/`remove_tags` change the set as the unit reads it (the row is locked on
 * PostgreSQL, the writer is serial on SQLite), so concurrent changes to one ticket's tags all land. `custom_fields`
 * merges into the current values.
 */
export function updateTicket(deps: Deps, actor: Actor, id: string, input: UpdateTicket): Promise<Ticket> {
  const { orgId } = actor;
  const next: Partial<TicketRow> = {};
  if (input.subject !== undefined) next.subject = cleanSubject(input.subject);
  if (input.description !== undefined) next.description = checkDescription(input.description);
  if (input.status !== undefined) next.status = input.status;
  if (input.priority !== undefined) next.priority = input.priority;
  const tags = tagChange(input);
  // Read and written in one unit of the writer: no other write can come between.
  return deps.writer.write(async (tx) => {
    // The field list first when values change: its shared field lock comes before the ticket's row lock (see TicketFieldStore).
    const defs = input.custom_fields !== undefined ? await tx.ticketFields.list(orgId) : null;
    const before = await tx.tickets.get(id, orgId);
    if (!before) throw errors.notFound("Ticket");
    if (defs) next.custom_fields = customFieldsJson(applyCustomFields(defs, parseCustomFields(before.custom_fields), input.custom_fields, "update"));
    if (tags) {
      const set = applyTagChange(parseTags(before.tags), tags);
      checkTagCount(tags.tags ? "tags" : "add_tags", set);
      next.tags = set.length ? JSON.stringify(set) : "[]";
    }
    // A reference is checked only when it changes: a PATCH that sends the ticket back as it is stays a no-op.
    const checks: Promise<void>[] = [];
    if (input.requester_id !== undefined && input.requester_id !== before.requester_id) {
      next.requester_id = input.requester_id;
      if (input.requester_id !== null) checks.push(checkRequester(tx, orgId, input.requester_id));
    }
    if (input.assignee_id !== undefined && input.assignee_id !== before.assignee_id) {
      next.assignee_id = input.assignee_id;
      if (input.assignee_id !== null) checks.push(checkAssignee(tx, orgId, input.assignee_id));
    }
    await Promise.all(checks);
    const now = Math.max(deps.clock.now(), before.updated_at);
    const after: TicketRow = { ...before, ...next, updated_at: now };
    const changed = changedFields(before, after);
    if (changed.length === 0) return toTicket(before);
    await tx.tickets.update(before, after);
    const ticket = toTicket(after);
    await tx.outbox.record({ type: "ticket.updated", orgId, data: ticket, changedFields: changed }, now);
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
