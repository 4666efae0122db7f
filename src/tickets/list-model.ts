// TypeBox models of the ticket list's query: filters, full-text search, sort and paging (offset, cursor, starting_after).
import { t } from "elysia";
import { enumOf, pageQuery } from "../http/schema";
import { MAX_QUERY_LENGTH } from "./search-query";

/** The sorts, as `sort=` takes them: `-` for descending; relevance (best first) only with `q`. */
export const SORTS = ["created_at", "-created_at", "updated_at", "-updated_at", "priority", "-priority", "relevance"] as const;
export type SortParam = (typeof SORTS)[number];

const time = (what: string) =>
  t.Optional(
    t.String({
      description: `RFC 3339 time (\`2026-02-25T14:30:00Z\`, \`2026-02-25T16:30:00+02:00\`; encode \`+\` as \`%2B\`, or it arrives as a space, which is read as \`+\`): only tickets ${what} (exclusive).`,
      examples: ["2026-02-25T14:30:00Z"],
    }),
  );

export const ListTicketsQuery = t.Object(
  {
    status: t.Optional(
      t.String({
        description: "One status or several, comma-separated (`open,in_progress`): tickets in any of them.",
        examples: ["open", "open,in_progress"],
      }),
    ),
    priority: t.Optional(
      t.String({ description: "One priority or several, comma-separated (`high,urgent`): tickets with any of them.", examples: ["high", "high,urgent"] }),
    ),
    assignee_id: t.Optional(
      t.String({ description: "Tickets assigned to this user (`user_…`); `none` for unassigned tickets.", examples: ["user_29a3b8c0d1e2f3g4", "none"] }),
    ),
    requester_id: t.Optional(t.String({ description: "Tickets asked by this contact (`con_…`).", examples: ["con_29a3b8c0d1e2f3g4"] })),
    tag: t.Optional(
      t.Array(t.String(), {
        description: "Tickets carrying this tag (case-insensitive). Repeat it (`tag=billing&tag=vip`) or separate with commas: tickets carrying every one.",
        examples: [["billing"], ["billing", "vip"]],
      }),
    ),
    created_after: time("created after this instant"),
    created_before: time("created before this instant"),
    updated_after: time("last updated after this instant"),
    updated_before: time("last updated before this instant"),
    q: t.Optional(
      t.String({
        description: `Full-text search over subject, description and comments (internal notes included), case-insensitive: every word must be found in one of the ticket's texts; \`"exact phrase"\`, \`-excluded\`, \`refund*\` (prefix, at least 2 characters). Up to ${MAX_QUERY_LENGTH} characters, 16 terms.`,
        examples: ['refund -duplicate "credit card"', "invoic*"],
      }),
    ),
    sort: t.Optional(
      enumOf(SORTS, {
        description:
          "Order: `created_at`, `updated_at`, `priority` (rank low < medium < high < urgent), `-` for descending; ties by id in the same direction. Default `-created_at` (newest first). `relevance` (best match first) only with `q`.",
      }),
    ),
    ...pageQuery(),
    cursor: t.Optional(
      t.String({
        description:
          'Keyset pagination: the opaque cursor of the `Link: <…>; rel="next"` header (it holds the last ticket\'s sort value and id, and the sort it belongs to). Follows in any sort, at any depth, and keeps working when that ticket is deleted or changed meanwhile; a cursor of another sort is a 400. `meta.page` is then 1.',
      }),
    ),
    starting_after: t.Optional(
      t.String({
        description:
          "Keyset pagination: the id of the last ticket of the previous page (`tkt_…`, one of your organization's). Returns the tickets that follow it in the list order (any sort), as fast at any depth; the ticket must still exist (400 otherwise: follow `cursor` links to survive deletions). `meta.page` is then 1 and `page`, if sent, must be 1. The `Link: <…>; rel=\"next\"` response header gives the next page's URL (with `cursor` in keyset mode).",
        examples: ["tkt_29a3b8c0d1e2f3g4"],
      }),
    ),
  },
  // Unknown query parameters (cache busters, tracking) are ignored, as the route documents; `custom_fields[key]`
  // parameters are read by the route (x-bracketed: one parameter per key for the query-string rules).
  { additionalProperties: true, "x-bracketed": ["custom_fields"] },
);
export type ListTicketsQuery = typeof ListTicketsQuery.static;
