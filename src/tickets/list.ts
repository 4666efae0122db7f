// Listing tickets: filters, full-text search, sorts and pages (offset, cursor or starting_after) over the organization's tickets, with exact totals.
import { TICKET_PRIORITIES, TICKET_STATUSES, type TicketPriority, type TicketStatus } from "../db/schema/tickets";
import { ApiError, errors, type FieldError } from "../errors";
import { DEFAULT_PER_PAGE, keysetPage, nextPageNumber, offsetPage, type PageQuery } from "../lib/pagination";
import { fieldFilterValue } from "../ticket-fields/service";
import type { TicketFieldStore } from "../ticket-fields/store";
import type { SortParam } from "./list-model";
import type { TicketList } from "./model";
import { decodeCursor, encodeCursor } from "./search-cursor";
import { parseSearchQuery } from "./search-query";
import { type CustomFieldFilter, PRIORITY_RANK, type SortKey, type TicketQuery, type TicketSort } from "./search-sql";
import type { ListedRow, TicketSearchStore } from "./search-store";
import { toTicket } from "./service";
import type { TicketStore } from "./store";

/** What the list reads: the search store, a ticket by id (starting_after), the organization's custom fields. */
export interface ListDeps {
  stores: {
    tickets: Pick<TicketStore, "get">;
    ticketSearch: TicketSearchStore;
    ticketFields: Pick<TicketFieldStore, "byKey">;
  };
}

/** The query as the route validated it: the declared parameters, and any others (`custom_fields[key]`, ignored ones). */
export interface ListQuery extends PageQuery {
  status?: string;
  priority?: string;
  assignee_id?: string;
  requester_id?: string;
  tag?: string[];
  created_after?: string;
  created_before?: string;
  updated_after?: string;
  updated_before?: string;
  q?: string;
  sort?: SortParam;
  cursor?: string;
  starting_after?: string;
  [other: string]: unknown;
}

/** Where the next page starts, when there is one: a page number (offset mode) or a cursor (keyset mode). */
export type NextPage = { page: number } | { cursor: string };

/** A list request made sense of: the filters for the store, the sort, and the parameters a next page repeats. */
export interface ParsedList {
  filter: TicketQuery;
  sort: TicketSort;
  /** The filter and sort parameters, in Link order, as the next page's URL carries them (encoded). */
  carried: string[];
}

const TAG = /^[a-z0-9_\-:]{1,50}$/;
const MAX_TAG_FILTERS = 20;
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:\d{2})$/;

/**
 * An RFC 3339 instant in milliseconds, as the bound of an exclusive range over integer ms: `after` rounds down and
 * `before` up, so a fraction finer than a millisecond keeps "strictly after/before" exact. Null when not valid.
 */
export function parseInstant(raw: string, bound: "after" | "before"): number | null {
  // A `+` sent unencoded arrives as a space: read it back as the offset's sign.
  const m = RFC3339.exec(raw.replace(/ (\d{2}:\d{2})$/, "+$1"));
  if (!m) return null;
  const [, y, mo, d, h, mi, s, frac = "", zone] = m;
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  if (month < 1 || month > 12 || day < 1 || day > new Date(Date.UTC(year, month, 0)).getUTCDate()) return null;
  if (Number(h) > 23 || Number(mi) > 59 || Number(s) > 59) return null;
  let ms = Date.UTC(year, month - 1, day, Number(h), Number(mi), Number(s));
  if (year < 100) ms = new Date(ms).setUTCFullYear(year);
  if (zone !== "Z" && zone !== "z") {
    const [oh, om] = zone!.slice(1).split(":").map(Number) as [number, number];
    if (oh > 23 || om > 59) return null;
    ms -= (zone![0] === "+" ? 1 : -1) * (oh * 60 + om) * 60_000;
  }
  const whole = Number(frac.slice(0, 3).padEnd(3, "0"));
  const finer = /[1-9]/.test(frac.slice(3));
  return ms + whole + (finer && bound === "before" ? 1 : 0);
}

const enc = encodeURIComponent;

/** Reads and checks every filter and the sort; every problem is one entry of a 400 naming its parameter. */
export async function parseListQuery(deps: ListDeps, orgId: string, q: ListQuery): Promise<ParsedList> {
  const problems: FieldError[] = [];
  const filter: TicketQuery = {};
  const carried: string[] = [];
  const list = <V extends string>(name: "status" | "priority", allowed: readonly V[]): V[] | undefined => {
    const raw = q[name];
    if (raw === undefined) return undefined;
    const values = raw.split(",");
    if (values.some((v) => !(allowed as readonly string[]).includes(v))) {
      problems.push({ field: name, message: `must be one or more of: ${allowed.join(", ")} (comma-separated).` });
      return undefined;
    }
    const unique = [...new Set(values)] as V[];
    carried.push(`${name}=${unique.map(enc).join(",")}`);
    return unique;
  };
  filter.status = list<TicketStatus>("status", TICKET_STATUSES);
  filter.priority = list<TicketPriority>("priority", TICKET_PRIORITIES);
  if (q.assignee_id !== undefined) {
    filter.assignee = q.assignee_id === "none" ? null : q.assignee_id;
    carried.push(`assignee_id=${enc(q.assignee_id)}`);
  }
  if (q.requester_id !== undefined) {
    filter.requester = q.requester_id;
    carried.push(`requester_id=${enc(q.requester_id)}`);
  }
  if (q.tag !== undefined) {
    const tags = [...new Set(q.tag.map((tag) => tag.toLowerCase()))];
    if (tags.some((tag) => !TAG.test(tag))) problems.push({ field: "tag", message: "must be 1–50 characters of a-z, 0-9, _, - and : each." });
    else if (tags.length > MAX_TAG_FILTERS) problems.push({ field: "tag", message: `may name at most ${MAX_TAG_FILTERS} tags.` });
    else {
      filter.tags = tags;
      for (const tag of tags) carried.push(`tag=${enc(tag)}`);
    }
  }
  const custom: CustomFieldFilter[] = [];
  for (const [name, raw] of Object.entries(q)) {
    const m = /^custom_fields\[(.*)\]$/s.exec(name);
    if (!m) continue;
    const key = m[1]!;
    const def = /^[a-z0-9_]{1,64}$/.test(key) ? await deps.stores.ticketFields.byKey(orgId, key) : null;
    if (!def) {
      problems.push({ field: name, message: "is not a custom field of your organization (see GET /v1/ticket-fields)." });
      continue;
    }
    try {
      custom.push({ key, value: fieldFilterValue(def, String(raw)) });
      carried.push(`${enc(name)}=${enc(String(raw))}`);
    } catch (err) {
      if (!(err instanceof ApiError) || !err.details) throw err;
      problems.push(...err.details);
    }
  }
  if (custom.length) filter.custom = custom.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const times = [
    ["created_after", "createdAfter", "after"],
    ["created_before", "createdBefore", "before"],
    ["updated_after", "updatedAfter", "after"],
    ["updated_before", "updatedBefore", "before"],
  ] as const;
  for (const [name, key, bound] of times) {
    const raw = q[name];
    if (raw === undefined) continue;
    const ms = parseInstant(raw, bound);
    if (ms === null) problems.push({ field: name, message: "must be an RFC 3339 time such as 2026-02-25T14:30:00Z." });
    else {
      filter[key] = ms;
      carried.push(`${name}=${enc(raw.replace(/ (\d{2}:\d{2})$/, "+$1"))}`);
    }
  }
  if (q.q !== undefined) {
    try {
      filter.text = parseSearchQuery(q.q);
      carried.push(`q=${enc(q.q)}`);
    } catch (err) {
      if (!(err instanceof ApiError) || !err.details) throw err;
      problems.push(...err.details);
    }
  }
  const sortParam = q.sort ?? "-created_at";
  if (sortParam === "relevance" && q.q === undefined) problems.push({ field: "sort", message: "relevance needs a search (q)." });
  const sort: TicketSort =
    sortParam === "relevance"
      ? { field: "relevance", desc: true }
      : { field: sortParam.replace(/^-/, "") as TicketSort["field"], desc: sortParam.startsWith("-") };
  if (q.sort !== undefined) carried.push(`sort=${sortParam}`);
  if (problems.length) throw errors.validation(problems, `The query is not valid: ${problems.map((d) => `${d.field} ${d.message}`).join(" ")}`);
  return { filter, sort, carried };
}

/** A row's position in the sort: what the next page's cursor holds. */
function keyOf(row: ListedRow, sort: TicketSort): SortKey {
  switch (sort.field) {
    case "created_at":
      return { value: row.created_at, id: row.id };
    case "updated_at":
      return { value: row.updated_at, id: row.id };
    case "priority":
      return { value: PRIORITY_RANK[row.priority], id: row.id };
    case "relevance":
      return { value: Number(row.search_score), id: row.id };
  }
}

/**
 * A page of the organization's tickets in the requested order, and where the next one starts.
 * Keyset mode: `cursor` (the position it holds, no lookup: the ticket it came from may be gone) or `starting_after`
 * (the ticket is looked up: it must be one of this organization's, 400 otherwise); one index seek at any depth;
 * `page` other than 1 cannot go with either, nor the two together.
 */
export async function listTicketsPage(deps: ListDeps, orgId: string, q: ListQuery): Promise<{ list: TicketList; next: NextPage | null; parsed: ParsedList }> {
  const parsed = await parseListQuery(deps, orgId, q);
  const { filter, sort } = parsed;
  const store = deps.stores.ticketSearch;
  const perPage = q.per_page ?? DEFAULT_PER_PAGE;
  if (q.cursor !== undefined && q.starting_after !== undefined) throw badParam("cursor", "cannot be combined with starting_after; send one of them.");
  const keyset = q.cursor !== undefined ? "cursor" : q.starting_after !== undefined ? "starting_after" : null;
  if (keyset && (q.page ?? 1) !== 1) throw badParam(keyset, "cannot be combined with page; follow the Link header or send one of them.");
  // The total and the rows are independent reads of committed rows: sent together (on PostgreSQL, two pooled
  // connections at once), the list waits for one round trip instead of two. The answers are those of reading them
  // one after the other.
  if (keyset) {
    const position = async (): Promise<SortKey> => {
      if (q.cursor !== undefined) return decodeCursor(q.cursor, sort);
      const row = await deps.stores.tickets.get(q.starting_after!, orgId);
      if (!row) throw badParam("starting_after", "must be the id of a ticket of your organization.");
      if (sort.field === "relevance") return { value: filter.text ? await store.score(orgId, filter.text, row.id) : 0, id: row.id };
      return keyOf({ ...row, search_score: 0 }, sort);
    };
    const rows = async (limit: number) => store.pageAfter(orgId, filter, sort, await position(), limit);
    const [total, prefetched] = await Promise.all([store.count(orgId, filter), rows(perPage + 1)]);
    const { page, last } = await keysetPage(q, total, async () => prefetched, toTicket);
    return { list: page, next: last ? { cursor: encodeCursor(sort, keyOf(last, sort)) } : null, parsed };
  }
  // Speculatively, only for shallow pages: a page past the end is then read and dropped (offsetPage does not ask for
  // it), and the read costs up to its offset in rows skipped; a deep page number waits for the total as before.
  const offset = ((q.page ?? 1) - 1) * perPage;
  const counted = store.count(orgId, filter);
  const early = offset < SPECULATIVE_OFFSET ? store.page(orgId, filter, sort, perPage, offset) : null;
  const [total, prefetched] = await Promise.all([counted, early]);
  const list = await offsetPage(q, total, async (limit, at) => prefetched ?? (await store.page(orgId, filter, sort, limit, at)), toTicket);
  const next = nextPageNumber(list.meta);
  return { list, next: next === null ? null : { page: next }, parsed };
}

/** The deepest offset whose page is read alongside the total (ten full pages): what a page past the end may waste. */
const SPECULATIVE_OFFSET = 1000;

export async function listTickets(deps: ListDeps, orgId: string, q: ListQuery): Promise<TicketList> {
  return (await listTicketsPage(deps, orgId, q)).list;
}

/** The next page's query string: the same filters, sort and page size, then its page number or cursor. */
export function nextPageQuery(parsed: ParsedList, perPage: number, next: NextPage): string {
  const parts = [...parsed.carried, `per_page=${perPage}`, "page" in next ? `page=${next.page}` : `cursor=${next.cursor}`];
  return parts.join("&");
}

function badParam(field: string, message: string) {
  return errors.invalidQuery(field, message);
}
