// Ticket tags: the rules a tag obeys (lowercase, a-z 0-9 _ - :, 1–50 characters, at most 20 per ticket, stored sorted), the set changes a PATCH or a bulk change makes, and the GET /v1/tags listing.
import { errors } from "../errors";
import { DEFAULT_PER_PAGE, nextPageNumber, offsetPage, type Page, type PageQuery } from "../lib/pagination";
import type { Tag } from "./model";
import type { TicketStore } from "./store";

export const TAG_MAX_LENGTH = 50;
/** The most tags one ticket may carry (after duplicates are dropped). */
export const MAX_TAGS = 20;
const TAG = /^[a-z0-9_\-:]{1,50}$/;
/** Characters a tag may hold, as error messages say them. */
const TAG_RULE = "must be 1–50 characters of a-z, 0-9, _, - and : (letters are stored lowercase).";

function invalid(field: string, message: string) {
  return errors.validation([{ field, message }], `The request body is not valid: ${field} ${message}`);
}

/**
 * The tags a client sent under `field`, lowercased, without duplicates, sorted (JavaScript's default order of
 * lowercase ASCII: byte order, as both engines' C collation sorts them). A tag that breaks the rule is a 400 naming
 * `<field>.<index>`. The count is not checked here: see `checkTagCount`.
 */
export function cleanTags(field: string, raw: readonly string[]): string[] {
  const out = new Set<string>();
  raw.forEach((value, i) => {
    const tag = typeof value === "string" ? value.toLowerCase() : "";
    if (!TAG.test(tag)) throw invalid(`${field}.${i}`, TAG_RULE);
    out.add(tag);
  });
  return [...out].sort();
}

/** Throws the 400 naming `field` when `tags` is more than a ticket may carry. */
export function checkTagCount(field: string, tags: readonly string[], ticketId?: string): void {
  if (tags.length <= MAX_TAGS) return;
  const message = ticketId
    ? `would give ticket ${ticketId} ${tags.length} tags; a ticket has at most ${MAX_TAGS}.`
    : `must hold at most ${MAX_TAGS} tags (after duplicates are dropped).`;
  throw invalid(field, message);
}

/** What a change does to a ticket's tags: a new set, or tags to add and to remove (never both kinds). */
export interface TagChange {
  /** The whole new set (cleaned). */
  tags?: string[];
  add?: string[];
  remove?: string[];
}

/**
 * Checks the tag fields of a change request: `tags` cannot go with `add_tags`/`remove_tags`, and no tag may be both
 * added and removed. `prefix` is where the fields sit in the body (`set.` for a bulk change). Null when the request
 * changes no tags.
 */
export function tagChange(input: { tags?: string[]; add_tags?: string[]; remove_tags?: string[] }, prefix = ""): TagChange | null {
  const { tags, add_tags, remove_tags } = input;
  if (tags !== undefined) {
    if (add_tags !== undefined)
      throw invalid(`${prefix}add_tags`, "cannot be combined with tags: send the whole set in tags, or the changes in add_tags and remove_tags.");
    if (remove_tags !== undefined)
      throw invalid(`${prefix}remove_tags`, "cannot be combined with tags: send the whole set in tags, or the changes in add_tags and remove_tags.");
    const set = cleanTags(`${prefix}tags`, tags);
    checkTagCount(`${prefix}tags`, set);
    return { tags: set };
  }
  if (add_tags === undefined && remove_tags === undefined) return null;
  const add = cleanTags(`${prefix}add_tags`, add_tags ?? []);
  const remove = cleanTags(`${prefix}remove_tags`, remove_tags ?? []);
  const adding = new Set(add);
  (remove_tags ?? []).forEach((value, i) => {
    const tag = value.toLowerCase();
    if (adding.has(tag)) throw invalid(`${prefix}remove_tags.${i}`, `names ${tag}, which add_tags adds: a tag cannot be both added and removed.`);
  });
  return { add, remove };
}

/** The tags stored on a ticket row (a JSON array, sorted). */
export function parseTags(json: string): string[] {
  return json === "[]" ? [] : (JSON.parse(json) as string[]);
}

/** The ticket's tag set after `change`, sorted; the count is the caller's to check (it knows which field to name). */
export function applyTagChange(current: readonly string[], change: TagChange): string[] {
  if (change.tags) return change.tags;
  const next = new Set(current);
  for (const t of change.add ?? []) next.add(t);
  for (const t of change.remove ?? []) next.delete(t);
  return [...next].sort();
}

/** What GET /v1/tags takes. */
export interface TagQuery extends PageQuery {
  q?: string;
}

export interface TagsDeps {
  stores: { tickets: TicketStore };
}

/**
 * A page of the organization's tags in name order, each with how many of its tickets carry it; `q` keeps the tags
 * that start with it (lowercased; characters no tag can hold are a 400 naming q). Also says which page follows.
 */
export async function listTags(deps: TagsDeps, orgId: string, query: TagQuery): Promise<{ list: Page<Tag>; next: number | null }> {
  const prefix = (query.q ?? "").toLowerCase();
  if (prefix !== "" && !TAG.test(prefix)) {
    const message = "must be the start of a tag: up to 50 characters of a-z, 0-9, _, - and :.";
    throw errors.validation([{ field: "q", message }], `The query string is not valid: q ${message}`);
  }
  const store = deps.stores.tickets;
  const perPage = query.per_page ?? DEFAULT_PER_PAGE;
  const offset = ((query.page ?? 1) - 1) * perPage;
  // Independent reads of committed rows, sent together (two pooled connections on PostgreSQL).
  const [total, rows] = await Promise.all([store.tagTotal(orgId, prefix), store.tagPage(orgId, prefix, perPage, offset)]);
  const list = await offsetPage(
    query,
    total,
    async () => rows,
    (r) => r,
  );
  return { list, next: nextPageNumber(list.meta) };
}
