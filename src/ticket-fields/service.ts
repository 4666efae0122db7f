// Custom ticket fields domain: the values' type rules (what the tickets and search code call) and the fields' create, list, read, patch and delete.
import type { Writer } from "../db/writer";
import type { TicketFieldType } from "../db/schema/ticket-fields";
import { errors, type FieldError } from "../errors";
import type { Principal } from "../keys/principal";
import type { Clock } from "../lib/clock";
import { newId } from "../lib/ids";
import { offsetPage, type Page, type PageQuery } from "../lib/pagination";
import { textProblem } from "../lib/text";
import { toIso } from "../lib/time";
import {
  MAX_FIELDS_PER_ORG,
  MAX_OPTIONS,
  OPTION_RULE,
  TEXT_VALUE_RULE,
  TITLE_RULE,
  type CreateTicketField,
  type TicketField,
  type UpdateTicketField,
} from "./model";
import { FIELD_KEY, TicketFieldKeyTaken, type TicketFieldRow, type TicketFieldStore } from "./store";

// ---- Values: what tickets carry in custom_fields -------------------------------------------------------------

/** The options of a dropdown row (its JSON array), or null. */
export function optionsOf(def: Pick<TicketFieldRow, "options">): string[] | null {
  return def.options === null ? null : (JSON.parse(def.options) as string[]);
}

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

/** True for `"YYYY-MM-DD"` naming a day of the proleptic Gregorian calendar (so not 2026-02-30). */
export function isCalendarDate(value: string): boolean {
  const m = DATE.exec(value);
  if (!m) return false;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (mo < 1 || mo > 12 || d < 1) return false;
  const date = new Date(0);
  date.setUTCFullYear(y, mo - 1, d); // not Date.UTC: it maps years 0–99 to 1900–1999
  return date.getUTCFullYear() === y && date.getUTCMonth() === mo - 1 && date.getUTCDate() === d;
}

/** What is wrong with `value` for the field (a "must …" sentence, never echoing it), or null; `value` is not null. */
function valueProblem(def: TicketFieldRow, value: unknown): string | null {
  switch (def.type) {
    case "text":
      return typeof value === "string" ? textProblem(value, TEXT_VALUE_RULE) : "must be a string (a text field).";
    case "number":
      return typeof value === "number" && Number.isFinite(value) ? null : "must be a finite JSON number (a number field).";
    case "date":
      return typeof value === "string" && isCalendarDate(value) ? null : 'must be a date "YYYY-MM-DD" (a date field).';
    case "checkbox":
      return typeof value === "boolean" ? null : "must be true or false (a checkbox field).";
    case "dropdown":
      return typeof value === "string" && (optionsOf(def) ?? []).includes(value) ? null : "must be one of the field's options (a dropdown field).";
  }
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v);

/** The value as stored: text trimmed (single-line text is stored trimmed, as subjects are), the rest as given. */
const stored = (def: TicketFieldRow, value: unknown) => (def.type === "text" ? (value as string).trim() : value);

/** The values with their keys in byte order (the stored order: see json.ts). */
function sortedValues(values: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(values).sort()) out[k] = values[k];
  return out;
}

/**
 * A ticket's custom field values after `input` (a create's initial set, or a PATCH's changes), checked against the
 * organization's fields `defs`; returns the full new set, keys sorted, without nulls (null clears a value). On
 * "update", keys of `input` are set or cleared and the others kept; values of `current` whose field no longer exists
 * are dropped. Throws a 400 naming `custom_fields.<key>` for an unknown key, a value of the wrong type, and a required
 * field left without a value on create or cleared on update (a required field added after the ticket was made is not
 * demanded by a PATCH that does not name it). Every problem is reported, in key order.
 */
export function applyCustomFields(
  defs: TicketFieldRow[],
  current: Record<string, unknown>,
  input: Record<string, unknown> | undefined,
  mode: "create" | "update",
): Record<string, unknown> {
  const byKey = new Map(defs.map((d) => [d.key, d]));
  if (input !== undefined && !isPlainObject(input)) throw errors.validation([{ field: "custom_fields", message: "must be a JSON object." }]);
  const next: Record<string, unknown> = {};
  if (mode === "update") for (const [k, v] of Object.entries(current)) if (byKey.has(k) && v !== null && v !== undefined) next[k] = v;
  const problems = new Map<string, string>();
  for (const [key, value] of Object.entries(input ?? {})) {
    const def = byKey.get(key);
    if (!def) {
      problems.set(key, "is not a field of this organization (see /v1/ticket-fields).");
      continue;
    }
    if (value === null) {
      if (def.required && mode === "update") problems.set(key, "is required: it cannot be cleared.");
      delete next[key];
      continue;
    }
    const problem = valueProblem(def, value);
    if (problem) problems.set(key, problem);
    else next[key] = stored(def, value);
  }
  if (mode === "create") {
    for (const def of defs) if (def.required && next[def.key] === undefined && !problems.has(def.key)) problems.set(def.key, "is required.");
  }
  if (problems.size > 0) {
    const details: FieldError[] = [...problems.keys()].sort().map((key) => ({ field: `custom_fields.${key}`, message: problems.get(key)! }));
    throw errors.validation(details);
  }
  return sortedValues(next);
}

const NUMBER = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/;

/**
 * A `custom_fields[key]=raw` query value as the field's type holds it, to compare with stored values: text and
 * dropdown the string as sent (a dropdown may match a value whose option was removed since), number a JSON-style
 * decimal number, date a calendar `YYYY-MM-DD`, checkbox `true` or `false`. Anything else is a 400 naming
 * `custom_fields[key]`.
 */
export function fieldFilterValue(def: TicketFieldRow, raw: string): string | number | boolean {
  const bad = (message: string) => errors.validation([{ field: `custom_fields[${def.key}]`, message }]);
  switch (def.type) {
    case "text":
    case "dropdown":
      return raw;
    case "number": {
      const n = Number(raw);
      if (!NUMBER.test(raw) || !Number.isFinite(n)) throw bad("must be a number (a number field), such as 42 or -1.5.");
      return n;
    }
    case "date":
      if (!isCalendarDate(raw)) throw bad("must be a date YYYY-MM-DD (a date field).");
      return raw;
    case "checkbox":
      if (raw === "true") return true;
      if (raw === "false") return false;
      throw bad("must be true or false (a checkbox field).");
  }
}

// ---- Fields: /v1/ticket-fields --------------------------------------------------------------------------------

/** What a ticket fields unit of work is given: the store bound to its transaction. */
export interface TicketFieldsTx {
  ticketFields: TicketFieldStore;
}

export interface TicketFieldsDeps {
  /** For reads: committed rows only. */
  stores: { ticketFields: TicketFieldStore };
  /** Every change goes through it. */
  writer: Writer<TicketFieldsTx>;
  clock: Clock;
}

export function toTicketField(r: TicketFieldRow): TicketField {
  return {
    id: r.id,
    key: r.key,
    title: r.title,
    type: r.type,
    options: optionsOf(r),
    required: r.required === 1,
    created_at: toIso(r.created_at),
    updated_at: toIso(r.updated_at),
  };
}

/** Defining fields is the organization's administration: owner and admin keys only (any key may read them). */
export function requireAdmin(principal: Pick<Principal, "role">): void {
  if (principal.role !== "owner" && principal.role !== "admin") {
    throw errors.forbidden("Only owner and admin keys can create, change or delete ticket fields.");
  }
}

const invalid = (field: string, message: string) => errors.validation([{ field, message }]);

function cleanTitle(raw: string): string {
  const problem = textProblem(raw, TITLE_RULE);
  if (problem) throw invalid("title", problem);
  return raw.trim();
}

/** A dropdown's options: 1–100 distinct single-line values (trimmed), kept in the order given. */
function cleanOptions(raw: unknown): string[] {
  if (!Array.isArray(raw)) throw invalid("options", "must be an array of strings (a dropdown field).");
  if (raw.length < 1 || raw.length > MAX_OPTIONS) throw invalid("options", `must hold 1–${MAX_OPTIONS} values.`);
  const out: string[] = [];
  for (const [i, option] of raw.entries()) {
    const problem = textProblem(option, OPTION_RULE);
    if (problem) throw invalid(`options.${i}`, problem);
    const value = (option as string).trim();
    if (out.includes(value)) throw invalid(`options.${i}`, "must not repeat another option.");
    out.push(value);
  }
  return out;
}

/** The options a field of this type stores: a dropdown's (required), null for the others (which must not send any). */
function optionsFor(type: TicketFieldType, raw: unknown): string | null {
  if (type === "dropdown") {
    if (raw == null) throw invalid("options", "is required for a dropdown field.");
    return JSON.stringify(cleanOptions(raw));
  }
  if (raw != null) throw invalid("options", `must be absent or null for a ${type} field (only dropdowns have options).`);
  return null;
}

const keyTaken = (key: string) => errors.conflict(`A ticket field with the key "${key}" already exists.`);

export async function listTicketFields(deps: Pick<TicketFieldsDeps, "stores">, orgId: string, q: PageQuery): Promise<Page<TicketField>> {
  const store = deps.stores.ticketFields;
  return offsetPage(q, await store.total(orgId), (limit, offset) => store.page(orgId, limit, offset), toTicketField);
}

export async function getTicketField(deps: Pick<TicketFieldsDeps, "stores">, orgId: string, id: string): Promise<TicketField> {
  const row = await deps.stores.ticketFields.get(id, orgId);
  if (!row) throw errors.notFound("Ticket field");
  return toTicketField(row);
}

export function createTicketField(deps: Pick<TicketFieldsDeps, "writer" | "clock">, principal: Principal, input: CreateTicketField): Promise<TicketField> {
  requireAdmin(principal);
  if (typeof input.key !== "string" || !FIELD_KEY.test(input.key)) throw invalid("key", "must be 1–64 characters of a-z, 0-9 and _.");
  const key = input.key;
  const title = cleanTitle(input.title);
  const options = optionsFor(input.type, input.options);
  const now = deps.clock.now();
  return deps.writer.write(async (tx) => {
    const store = tx.ticketFields;
    // total first: it takes the organization's field lock exclusively (PostgreSQL), so the count and the key check
    // below see every field committed before, and no other create can come between.
    if ((await store.total(principal.orgId)) >= MAX_FIELDS_PER_ORG) {
      throw errors.validation([{ field: "key", message: `an organization has at most ${MAX_FIELDS_PER_ORG} ticket fields` }]);
    }
    if (await store.byKey(principal.orgId, key)) throw keyTaken(key);
    const row: TicketFieldRow = {
      id: newId("tfd"),
      org_id: principal.orgId,
      key,
      title,
      type: input.type,
      options,
      required: input.required ? 1 : 0,
      created_at: now,
      updated_at: now,
    };
    await store.insert(row).catch((err) => {
      throw err instanceof TicketFieldKeyTaken ? keyTaken(err.key) : err;
    });
    return toTicketField(row);
  });
}

/**
 * Changes a field's title, options (dropdowns) and required flag; `key` and `type` are a 400. Removing an option that
 * tickets hold leaves their values as they are (they stay until a ticket's value is changed); requiring a field does
 * not touch existing tickets. Fields sent with their current value do not count as changed: no change, no new updated_at.
 */
export function updateTicketField(
  deps: Pick<TicketFieldsDeps, "writer" | "clock">,
  principal: Principal,
  id: string,
  input: UpdateTicketField,
): Promise<TicketField> {
  requireAdmin(principal);
  for (const fixed of ["key", "type"] as const) if (fixed in input) throw immutable(fixed);
  const title = input.title === undefined ? undefined : cleanTitle(input.title);
  return deps.writer.write(async (tx) => {
    const before = await tx.ticketFields.get(id, principal.orgId);
    if (!before) throw errors.notFound("Ticket field");
    const options = input.options === undefined ? before.options : optionsFor(before.type, input.options);
    const next: TicketFieldRow = {
      ...before,
      title: title ?? before.title,
      options,
      required: input.required === undefined ? before.required : input.required ? 1 : 0,
    };
    if (next.title === before.title && next.options === before.options && next.required === before.required) return toTicketField(before);
    next.updated_at = Math.max(deps.clock.now(), before.updated_at);
    await tx.ticketFields.update(next);
    return toTicketField(next);
  });
}

/** `key` or `type` in a PATCH: a field's name and kind are fixed (its values were checked against them). */
export function immutable(field: "key" | "type") {
  return errors.validation(
    [{ field, message: "cannot be changed: create a new field instead." }],
    `The request body is not valid: a ticket field's ${field} cannot be changed.`,
  );
}

/**
 * Deletes a field and, in the same unit, its values: the key leaves the custom_fields of every ticket of the
 * organization that had it. The tickets' updated_at stays and no ticket event is recorded (the values went with the
 * field's definition, not with a change to the tickets).
 */
export function deleteTicketField(deps: Pick<TicketFieldsDeps, "writer">, principal: Principal, id: string): Promise<void> {
  requireAdmin(principal);
  return deps.writer.write(async (tx) => {
    const field = await tx.ticketFields.get(id, principal.orgId);
    if (!field) throw errors.notFound("Ticket field");
    await tx.ticketFields.remove(id, principal.orgId);
    await tx.ticketFields.removeValues(principal.orgId, field.key);
  });
}
