// Contacts (requesters) domain: list, read, create, update, delete (erase); the requester a ticket names by email; every change with its outbox event in one unit of the writer.
import type { Writer } from "../db/writer";
import { errors } from "../errors";
import type { Outbox } from "../events/outbox";
import type { Actor } from "../keys/principal";
import type { Clock } from "../lib/clock";
import { newId } from "../lib/ids";
import { DEFAULT_PER_PAGE, keysetPage, nextPageNumber, offsetPage, type PageQuery } from "../lib/pagination";
import { textProblem, type TextRule } from "../lib/text";
import { toIso, toIsoOrNull } from "../lib/time";
import { CONTACT_NAME_RULE, type Contact, type ContactList, type CreateContact, EMAIL_RULE, EXTERNAL_ID_RULE, PHONE_RULE, type UpdateContact } from "./model";
import { type ContactFilter, type ContactRow, type ContactStore, ContactTaken } from "./store";

/** What a contacts unit of work is given: the stores bound to its transaction. */
export interface ContactsTx {
  contacts: ContactStore;
  outbox: Outbox;
}

export interface Deps {
  /** For reads: committed rows only. */
  stores: { contacts: ContactStore };
  /** Every change goes through it: committed with the other writes of its batch, answered after the fsync. */
  writer: Writer<ContactsTx>;
  clock: Clock;
}

export function toContact(r: ContactRow): Contact {
  return {
    id: r.id,
    email: r.email,
    name: r.name,
    phone: r.phone,
    external_id: r.external_id,
    created_at: toIso(r.created_at),
    updated_at: toIso(r.updated_at),
    deleted_at: toIsoOrNull(r.deleted_at),
  };
}

const invalid = (field: string, message: string) => errors.validation([{ field, message }], `The request body is not valid: ${field} ${message}`);

/** Single-line text under `rule` (the schema applies it too; a service may be called without it), trimmed. */
function cleanLine(field: string, value: unknown, rule: TextRule): string {
  const problem = textProblem(value, rule);
  if (problem) throw invalid(field, problem);
  return (value as string).trim();
}

/** White space of any kind (Unicode White_Space) and the invisible characters text rules call blank. */
const SPACE = /[\p{White_Space}\p{Default_Ignorable_Code_Point}]/u;

/** A contact email: trimmed, 3–254 characters, one line, no spaces, exactly one `@` with text on both sides. */
export function cleanEmail(value: unknown, field = "email"): string {
  const email = cleanLine(field, value, EMAIL_RULE);
  if (SPACE.test(email)) throw invalid(field, "must not contain spaces.");
  const at = email.indexOf("@");
  if (at <= 0 || at === email.length - 1 || email.indexOf("@", at + 1) !== -1) {
    throw invalid(field, "must be an email address: one @ with text on both sides.");
  }
  return email;
}

/** An optional single-line field: undefined stays undefined (not sent), null stays null (cleared), text is checked and trimmed. */
function cleanOptional(field: string, value: unknown, rule: TextRule): string | null | undefined {
  return value === undefined || value === null ? (value as null | undefined) : cleanLine(field, value, rule);
}

/** The lookup key of an email or a name: JavaScript's lowercase, the same on both engines. */
export function keyOf(text: string): string;
export function keyOf(text: string | null): string | null;
export function keyOf(text: string | null): string | null {
  return text === null ? null : text.toLowerCase();
}

const taken = (field: "email" | "external_id") =>
  errors.conflict(field === "email" ? "Another contact already has this email." : "Another contact already has this external_id.");

/** The store's uniqueness refusal as the 409 naming the field; any other error as it is. */
function asConflict(err: unknown): never {
  throw err instanceof ContactTaken ? taken(err.field) : err;
}

/** The list's filters from its query: `q` (prefix of email or name) and `email` (exact), both case-insensitive. */
function filterOf(q: { q?: string; email?: string; include_deleted?: boolean }): ContactFilter {
  if (q.email !== undefined) return { emailKey: q.email.trim().toLowerCase() };
  if (q.q !== undefined) {
    const problem = textProblem(q.q, { kind: "line", maxLength: EMAIL_RULE.maxLength });
    if (problem) throw errors.invalidQuery("q", problem);
    const prefix = q.q.trim().toLowerCase();
    if (prefix !== "") return { prefix };
  }
  return { includeDeleted: q.include_deleted === true };
}

export interface ListQuery extends PageQuery {
  q?: string;
  email?: string;
  include_deleted?: boolean;
  starting_after?: string;
}

/** Where the next page starts, when there is one: a page number (offset mode) or a contact id (keyset mode). */
export type NextPage = { page: number } | { starting_after: string };

function badCursor(message: string) {
  return errors.invalidQuery("starting_after", message);
}

/**
 * A page of the organization's contacts, newest first (ties by id), and where the next one starts. Deleted contacts
 * are left out unless `include_deleted`; `q` and `email` only ever match contacts that are not deleted. With
 * `starting_after` (keyset mode) the page holds the contacts after that one (a contact of this organization, deleted
 * or not: 400 otherwise); `page` other than 1 cannot go with it.
 */
export async function listContactsPage(deps: Pick<Deps, "stores">, orgId: string, q: ListQuery): Promise<{ list: ContactList; next: NextPage | null }> {
  const store = deps.stores.contacts;
  const filter = filterOf(q);
  if (q.starting_after !== undefined) {
    if ((q.page ?? 1) !== 1) throw badCursor("cannot be combined with page; follow the Link header or send one of them.");
    const cursor = await store.get(q.starting_after, orgId);
    if (!cursor) throw badCursor("must be the id of a contact of your organization.");
    const [total, rows] = await Promise.all([store.total(orgId, filter), store.pageAfter(orgId, filter, cursor, (q.per_page ?? DEFAULT_PER_PAGE) + 1)]);
    const { page, last } = await keysetPage(q, total, async () => rows, toContact);
    return { list: page, next: last ? { starting_after: last.id } : null };
  }
  const list = await offsetPage(q, await store.total(orgId, filter), (limit, offset) => store.page(orgId, filter, limit, offset), toContact);
  const next = nextPageNumber(list.meta);
  return { list, next: next === null ? null : { page: next } };
}

export async function getContact(deps: Pick<Deps, "stores">, orgId: string, id: string): Promise<Contact> {
  const row = await deps.stores.contacts.get(id, orgId);
  if (!row) throw errors.notFound("Contact");
  return toContact(row);
}

/** A new contact's row from checked fields. */
function newContactRow(orgId: string, fields: { email: string; name: string | null; phone: string | null; external_id: string | null }, now: number) {
  const row: ContactRow = {
    id: newId("con"),
    org_id: orgId,
    email: fields.email,
    email_key: keyOf(fields.email),
    name: fields.name,
    name_key: keyOf(fields.name),
    phone: fields.phone,
    external_id: fields.external_id,
    created_at: now,
    updated_at: now,
    deleted_at: null,
  };
  return row;
}

export function createContact(deps: Pick<Deps, "writer" | "clock">, actor: Actor, input: CreateContact): Promise<Contact> {
  const fields = {
    email: cleanEmail(input.email),
    name: cleanOptional("name", input.name, CONTACT_NAME_RULE) ?? null,
    phone: cleanOptional("phone", input.phone, PHONE_RULE) ?? null,
    external_id: cleanOptional("external_id", input.external_id, EXTERNAL_ID_RULE) ?? null,
  };
  const now = deps.clock.now();
  const row = newContactRow(actor.orgId, fields, now);
  const contact = toContact(row);
  // A duplicate email or external_id is the unique indexes' refusal (on PostgreSQL it waits for a concurrent unit
  // with the same email, then fails): one 201 and one 409, never two rows.
  return deps.writer.write(async (tx) => {
    await tx.contacts.insert(row).catch(asConflict);
    await tx.outbox.record({ type: "contact.created", orgId: actor.orgId, data: contact }, now);
    return contact;
  });
}

const EDITABLE = ["email", "name", "phone", "external_id"] as const;

/** Applies a partial update. Fields sent with their current value do not count as changed; no change, no event. */
export function updateContact(deps: Pick<Deps, "writer" | "clock">, actor: Actor, id: string, input: UpdateContact): Promise<Contact> {
  const next: Partial<Pick<ContactRow, (typeof EDITABLE)[number]>> = {};
  if (input.email !== undefined) {
    if ((input.email as unknown) === null) throw invalid("email", "cannot be null: a contact always has an email.");
    next.email = cleanEmail(input.email);
  }
  if (input.name !== undefined) next.name = cleanOptional("name", input.name, CONTACT_NAME_RULE) ?? null;
  if (input.phone !== undefined) next.phone = cleanOptional("phone", input.phone, PHONE_RULE) ?? null;
  if (input.external_id !== undefined) next.external_id = cleanOptional("external_id", input.external_id, EXTERNAL_ID_RULE) ?? null;
  // Read and written in one unit of the writer: no other write can come between (PostgreSQL: `get` locks the row).
  return deps.writer.write(async (tx) => {
    const before = await tx.contacts.get(id, actor.orgId);
    if (!before) throw errors.notFound("Contact");
    if (before.deleted_at !== null) throw errors.conflict("The contact was deleted: its personal fields are erased and cannot be changed.");
    const changed = EDITABLE.filter((f) => f in next && next[f] !== before[f]);
    if (changed.length === 0) return toContact(before);
    const merged = { ...before, ...next };
    const after: ContactRow = {
      ...merged,
      email_key: keyOf(merged.email),
      name_key: keyOf(merged.name),
      updated_at: Math.max(deps.clock.now(), before.updated_at),
    };
    await tx.contacts.update(after).catch(asConflict);
    const contact = toContact(after);
    await tx.outbox.record({ type: "contact.updated", orgId: actor.orgId, data: contact, changedFields: changed }, after.updated_at);
    return contact;
  });
}

/**
 * Deletes a contact the way privacy law asks: its personal fields (email, name, phone, external_id) are erased and
 * deleted_at set; the row stays, so its tickets and comments keep their requester and author. A second delete is a 404.
 */
export function deleteContact(deps: Pick<Deps, "writer" | "clock">, actor: Actor, id: string): Promise<void> {
  return deps.writer.write(async (tx) => {
    const before = await tx.contacts.get(id, actor.orgId);
    if (!before || before.deleted_at !== null) throw errors.notFound("Contact");
    const now = Math.max(deps.clock.now(), before.updated_at);
    const erased = await tx.contacts.erase(id, actor.orgId, now);
    if (!erased) throw errors.notFound("Contact");
    await tx.outbox.record({ type: "contact.deleted", orgId: actor.orgId, data: toContact(erased) }, now);
  });
}

/**
 * The requester a ticket names by email, inside the ticket's unit: the organization's non-deleted contact with that
 * email (compared case-insensitively), or a new one, created with `name` and its `contact.created` event in the same
 * unit. Returns the contact's id. Validation errors name `requester.email` and `requester.name`. Safe under
 * concurrency: two units creating the same new email at once make one contact (the second waits for the first's
 * insert, writes nothing, and then finds it).
 */
export async function resolveRequester(
  tx: { contacts: ContactStore; outbox: Outbox },
  orgId: string,
  input: { email: string; name?: string | null },
  now: number,
): Promise<string> {
  const email = cleanEmail(input.email, "requester.email");
  const name = cleanOptional("requester.name", input.name, CONTACT_NAME_RULE) ?? null;
  const emailKey = keyOf(email);
  const existing = await tx.contacts.byEmailKey(orgId, emailKey);
  if (existing) return existing.id;
  const row = newContactRow(orgId, { email, name, phone: null, external_id: null }, now);
  if (await tx.contacts.insertIfAbsent(row)) {
    await tx.outbox.record({ type: "contact.created", orgId, data: toContact(row) }, now);
    return row.id;
  }
  const found = await tx.contacts.byEmailKey(orgId, emailKey);
  // Not reachable: the row that blocked the insert has this email_key and is committed (or this unit's own).
  if (!found) throw new Error("a contact blocked the requester's insert but cannot be found");
  return found.id;
}
