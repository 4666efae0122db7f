// Listing tickets: filters, order and pages (offset or keyset) over the organization's tickets, with exact totals.
import { errors } from "../errors";
import { DEFAULT_PER_PAGE, keysetPage, nextPageNumber, offsetPage, type PageQuery } from "../lib/pagination";
import type { TicketList } from "./model";
import { type Deps, toTicket } from "./service";
import type { TicketFilter } from "./store";

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
