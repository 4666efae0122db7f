// TypeBox models of tickets: the single source for validation, handler types and OpenAPI.
import { t } from "elysia";
import { enumOf, pageMeta, queryInteger, Timestamp } from "../http/schema";
import { TICKET_PRIORITIES, TICKET_STATUSES } from "../db/schema/tickets";

export const TicketStatus = enumOf(TICKET_STATUSES, { description: "Where the ticket is in its life." });
export const TicketPriority = enumOf(TICKET_PRIORITIES, { description: "How urgent the ticket is." });
export type TicketStatus = typeof TicketStatus.static;
export type TicketPriority = typeof TicketPriority.static;


export const Ticket = t.Object(
  {
    id: t.String({ examples: ["tkt_29a3b8c0d1e2f3g4"] }),
    subject: t.String({ examples: ["Login issues on mobile"] }),
    description: t.Union([t.String(), t.Null()]),
    status: TicketStatus,
    priority: TicketPriority,
    created_by: t.Union([t.String(), t.Null()], { description: "The user behind the API key that created the ticket." }),
    created_at: Timestamp,
    updated_at: Timestamp,
  },
  { additionalProperties: false },
);
export type Ticket = typeof Ticket.static;

export const PageMeta = pageMeta("Tickets matching the filters, across all pages.");

export const TicketList = t.Object({ data: t.Array(Ticket), meta: PageMeta }, { additionalProperties: false });
export type TicketList = typeof TicketList.static;

export const SUBJECT_MAX = 200;
export const DESCRIPTION_MAX_BYTES = 64 * 1024;

// No maxLength here: the limit applies after trimming (a schema would count the surrounding spaces); the service checks it.
const Subject = t.String({ minLength: 1, description: "1–200 characters after trimming." });
const Description = t.String({ maxLength: DESCRIPTION_MAX_BYTES, description: "Up to 64 KiB (UTF-8)." });

export const CreateTicket = t.Object(
  {
    subject: Subject,
    description: t.Optional(Description),
    priority: t.Optional(enumOf(TICKET_PRIORITIES, { description: "Defaults to medium." })),
  },
  { additionalProperties: false },
);
export type CreateTicket = typeof CreateTicket.static;

export const UpdateTicket = t.Object(
  {
    subject: t.Optional(Subject),
    description: t.Optional(t.Union([Description, t.Null()])),
    status: t.Optional(TicketStatus),
    priority: t.Optional(TicketPriority),
  },
  { additionalProperties: false, minProperties: 1, description: "Any non-empty subset of the fields." },
);
export type UpdateTicket = typeof UpdateTicket.static;

export const ListTicketsQuery = t.Object({
  status: t.Optional(TicketStatus),
  priority: t.Optional(TicketPriority),
  page: t.Optional(queryInteger("page", { minimum: 1, default: 1, description: "Page number, from 1." })),
  per_page: t.Optional(queryInteger("per_page", { minimum: 1, maximum: 100, default: 25, description: "Results per page, 1–100." })),
  starting_after: t.Optional(
    t.String({
      description:
        "Keyset pagination: the id of the last ticket of the previous page (`tkt_…`, one of your organization's). Returns the tickets that follow it in the list order, as fast at any depth; `meta.page` is then 1 and `page`, if sent, must be 1. Same filters and order as `page`. The `Link: <…>; rel=\"next\"` response header gives the next page's URL in either mode.",
      examples: ["tkt_29a3b8c0d1e2f3g4"],
    }),
  ),
}, { additionalProperties: true }); // unknown query parameters (cache busters, tracking) are ignored, as the route documents
export type ListTicketsQuery = typeof ListTicketsQuery.static;

export const TicketIdParams = t.Object({ id: t.String({ description: "A ticket id (`tkt_…`)." }) });
