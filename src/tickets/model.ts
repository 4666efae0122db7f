// TypeBox models of tickets: the single source for validation, handler types and OpenAPI.
import { t } from "elysia";
import { enumOf, queryInteger } from "../http/schema";
import { TICKET_PRIORITIES, TICKET_STATUSES } from "../db/schema/tickets";

export const TicketStatus = enumOf(TICKET_STATUSES, { description: "Where the ticket is in its life." });
export const TicketPriority = enumOf(TICKET_PRIORITIES, { description: "How urgent the ticket is." });
export type TicketStatus = typeof TicketStatus.static;
export type TicketPriority = typeof TicketPriority.static;

const Timestamp = t.String({ format: "date-time", examples: ["2026-02-25T14:30:00Z"] });

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

export const PageMeta = t.Object(
  {
    page: t.Integer({ minimum: 1 }),
    per_page: t.Integer({ minimum: 1, maximum: 100 }),
    total: t.Integer({ minimum: 0, description: "Tickets matching the filters, across all pages." }),
  },
  { additionalProperties: false },
);

export const TicketList = t.Object({ data: t.Array(Ticket), meta: PageMeta }, { additionalProperties: false });
export type TicketList = typeof TicketList.static;

export const SUBJECT_MAX = 200;
export const DESCRIPTION_MAX_BYTES = 64 * 1024;

const Subject = t.String({ minLength: 1, maxLength: SUBJECT_MAX, description: "1–200 characters after trimming." });
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
});
export type ListTicketsQuery = typeof ListTicketsQuery.static;

export const TicketIdParams = t.Object({ id: t.String({ description: "A ticket id (`tkt_…`)." }) });
