// TypeBox models of the ticket list's query: filters, order and paging.
import { t } from "elysia";
import { pageQuery } from "../http/schema";
import { TicketPriority, TicketStatus } from "./model";

export const ListTicketsQuery = t.Object(
  {
    status: t.Optional(TicketStatus),
    priority: t.Optional(TicketPriority),
    ...pageQuery(),
    starting_after: t.Optional(
      t.String({
        description:
          "Keyset pagination: the id of the last ticket of the previous page (`tkt_…`, one of your organization's). Returns the tickets that follow it in the list order, as fast at any depth; `meta.page` is then 1 and `page`, if sent, must be 1. Same filters and order as `page`. The `Link: <…>; rel=\"next\"` response header gives the next page's URL in either mode.",
        examples: ["tkt_29a3b8c0d1e2f3g4"],
      }),
    ),
  },
  { additionalProperties: true },
); // unknown query parameters (cache busters, tracking) are ignored, as the route documents
export type ListTicketsQuery = typeof ListTicketsQuery.static;
