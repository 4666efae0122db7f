// TypeBox models of tickets: the single source for validation, handler types and OpenAPI.
import { t } from "elysia";
import { enumOf, pageMeta, text, Timestamp } from "../http/schema";
import { TICKET_PRIORITIES, TICKET_STATUSES } from "../db/schema/tickets";
import type { TextRule } from "../lib/text";

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

// Single-line: trimmed, then 1–200 characters (code points), not blank, no control characters (src/lib/text.ts).
export const SUBJECT_RULE: TextRule = { kind: "line", minLength: 1, maxLength: SUBJECT_MAX };
const Subject = text(SUBJECT_RULE, { description: "1–200 characters after trimming; one line: no control characters, not blank." });
// Multi-line: tabs and line breaks allowed, no other control characters. 64 KiB of UTF-8 is at most 65536 characters.
export const DESCRIPTION_RULE: TextRule = { kind: "multiline", maxLength: DESCRIPTION_MAX_BYTES, maxBytes: DESCRIPTION_MAX_BYTES };
const Description = text(DESCRIPTION_RULE, { description: "Up to 64 KiB (UTF-8); tabs and line breaks allowed, no other control characters." });
const NullableDescription = t.Union([Description, t.Null()], { description: "Up to 64 KiB (UTF-8); null means no description." });

export const CreateTicket = t.Object(
  {
    subject: Subject,
    description: t.Optional(NullableDescription),
    priority: t.Optional(enumOf(TICKET_PRIORITIES, { description: "Defaults to medium." })),
  },
  { additionalProperties: false },
);
export type CreateTicket = typeof CreateTicket.static;

export const UpdateTicket = t.Object(
  {
    subject: t.Optional(Subject),
    description: t.Optional(NullableDescription),
    status: t.Optional(TicketStatus),
    priority: t.Optional(TicketPriority),
  },
  { additionalProperties: false, minProperties: 1, description: "Any non-empty subset of the fields." },
);
export type UpdateTicket = typeof UpdateTicket.static;

export const TicketIdParams = t.Object({ id: t.String({ description: "A ticket id (`tkt_…`)." }) });
