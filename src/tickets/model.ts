// TypeBox models of tickets: the single source for validation, handler types and OpenAPI.
import { t } from "elysia";
import { enumOf, pageMeta, pageQuery, ResponseInteger, text, Timestamp } from "../http/schema";
import { TICKET_PRIORITIES, TICKET_STATUSES } from "../db/schema/tickets";
import type { TextRule } from "../lib/text";

export const TicketStatus = enumOf(TICKET_STATUSES, { description: "Where the ticket is in its life." });
export const TicketPriority = enumOf(TICKET_PRIORITIES, { description: "How urgent the ticket is." });
export type TicketStatus = typeof TicketStatus.static;
export type TicketPriority = typeof TicketPriority.static;

/** A custom field's value by its field's type: text, date (`YYYY-MM-DD`) and dropdown are strings, number a number, checkbox a boolean. */
const CustomFieldValue = t.Union([t.String(), t.Number(), t.Boolean()]);
const CustomFieldValues = t.Record(t.String(), CustomFieldValue, {
  description: "Custom field values by field key (see /v1/ticket-fields), keys sorted; a field without a value is absent.",
  examples: [{ order_id: "A-1001" }],
});

export const Ticket = t.Object(
  {
    id: t.String({ examples: ["tkt_29a3b8c0d1e2f3g4"] }),
    subject: t.String({ examples: ["Login issues on mobile"] }),
    description: t.Union([t.String(), t.Null()]),
    status: TicketStatus,
    priority: TicketPriority,
    created_by: t.Union([t.String(), t.Null()], { description: "The user behind the API key that created the ticket." }),
    requester_id: t.Union([t.String(), t.Null()], {
      description: "Who asked: a contact of the organization (`con_…`), or null.",
      examples: ["con_8h2k4m6n8p0q2r4s"],
    }),
    assignee_id: t.Union([t.String(), t.Null()], {
      description: "Who owns it: a user of the organization (`user_…`), or null.",
      examples: ["user_3f5g7h9j1k3m5n7p"],
    }),
    tags: t.Array(t.String(), { description: "Lowercase, unique, sorted; up to 20.", examples: [["billing", "vip:gold"]] }),
    custom_fields: CustomFieldValues,
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

const NullableRequesterId = t.Union([t.String(), t.Null()], {
  description: "A contact of your organization (`con_…`, not deleted); null for none.",
  examples: ["con_8h2k4m6n8p0q2r4s"],
});
const NullableAssigneeId = t.Union([t.String(), t.Null()], {
  description: "A user of your organization (`user_…`); null for none.",
  examples: ["user_3f5g7h9j1k3m5n7p"],
});
const Requester = t.Object(
  {
    email: t.String({ description: "Compared case-insensitively: the contact with this email, or a new one.", examples: ["ana@example.com"] }),
    name: t.Optional(t.Union([t.String(), t.Null()], { description: "Used when the contact is created.", examples: ["Ana Silva"] })),
  },
  {
    additionalProperties: false,
    description: "Finds the organization's contact with this email or creates it (in the same transaction as the ticket). Cannot go with requester_id.",
  },
);
const Tags = (description: string) =>
  t.Array(t.String({ description: "1–50 characters of a-z, 0-9, _, - and : (letters are lowercased)." }), { description, examples: [["billing", "vip:gold"]] });
const TicketTagsInput = Tags("The ticket's tags: stored lowercase, without duplicates, sorted; at most 20.");
const CustomFieldInput = t.Record(t.String(), t.Union([t.String(), t.Number(), t.Boolean(), t.Null()]), {
  description: "Values by field key, each checked against its field's type and options; null clears a value.",
  examples: [{ order_id: "A-1001" }],
});

export const CreateTicket = t.Object(
  {
    subject: Subject,
    description: t.Optional(NullableDescription),
    priority: t.Optional(enumOf(TICKET_PRIORITIES, { description: "Defaults to medium." })),
    requester_id: t.Optional(NullableRequesterId),
    requester: t.Optional(Requester),
    assignee_id: t.Optional(NullableAssigneeId),
    tags: t.Optional(TicketTagsInput),
    custom_fields: t.Optional(CustomFieldInput),
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
    requester_id: t.Optional(NullableRequesterId),
    assignee_id: t.Optional(NullableAssigneeId),
    tags: t.Optional(Tags("Replaces the ticket's tags (at most 20). Cannot go with add_tags or remove_tags.")),
    add_tags: t.Optional(Tags("Tags to add to the ticket's (the result: at most 20).")),
    remove_tags: t.Optional(Tags("Tags to remove from the ticket's; none may also be in add_tags.")),
    custom_fields: t.Optional(
      t.Record(t.String(), t.Union([t.String(), t.Number(), t.Boolean(), t.Null()]), {
        description: "Merged into the ticket's values: the keys sent are set (null clears one), the others kept.",
        examples: [{ order_id: "A-1002" }],
      }),
    ),
  },
  { additionalProperties: false, minProperties: 1, description: "Any non-empty subset of the fields." },
);
export type UpdateTicket = typeof UpdateTicket.static;

export const TicketIdParams = t.Object({ id: t.String({ description: "A ticket id (`tkt_…`)." }) });

export const BulkUpdateTickets = t.Object(
  {
    ids: t.Array(t.String({ minLength: 1, maxLength: 64, description: "A ticket id (`tkt_…`)." }), {
      minItems: 1,
      maxItems: 100,
      description: "1–100 distinct ids of your organization's tickets.",
      examples: [["tkt_29a3b8c0d1e2f3g4", "tkt_5k7m9n1p3q5r7s9t"]],
    }),
    set: t.Object(
      {
        status: t.Optional(TicketStatus),
        priority: t.Optional(TicketPriority),
        assignee_id: t.Optional(NullableAssigneeId),
        add_tags: t.Optional(Tags("Tags to add to each ticket's (each result: at most 20).")),
        remove_tags: t.Optional(Tags("Tags to remove from each ticket's; none may also be in add_tags.")),
      },
      { additionalProperties: false, minProperties: 1, description: "The change made to every ticket: any non-empty subset of the fields." },
    ),
  },
  { additionalProperties: false },
);
export type BulkUpdateTickets = typeof BulkUpdateTickets.static;

export const BulkResult = t.Object(
  { data: t.Array(Ticket, { description: "The tickets after the change, in the order of ids." }) },
  { additionalProperties: false },
);
export type BulkResult = typeof BulkResult.static;

export const Tag = t.Object(
  {
    name: t.String({ examples: ["billing"] }),
    ticket_count: ResponseInteger({ minimum: 1, description: "How many of the organization's tickets carry the tag." }),
  },
  { additionalProperties: false },
);
export type Tag = typeof Tag.static;

export const TagList = t.Object({ data: t.Array(Tag), meta: pageMeta("Distinct tags matching q, across all pages.") }, { additionalProperties: false });
export type TagList = typeof TagList.static;

export const ListTagsQuery = t.Object(
  {
    q: t.Optional(t.String({ maxLength: 50, description: "Only the tags that start with this (compared lowercase).", examples: ["bill"] })),
    ...pageQuery(),
  },
  { additionalProperties: true },
); // unknown query parameters are ignored, as the tickets list does
export type ListTagsQuery = typeof ListTagsQuery.static;
