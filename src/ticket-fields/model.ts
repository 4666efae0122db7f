// TypeBox models of custom ticket fields: the single source for validation, handler types and OpenAPI.
import { t } from "elysia";
import { TICKET_FIELD_TYPES } from "../db/schema/ticket-fields";
import { enumOf, pageMeta, pageQuery, text, Timestamp } from "../http/schema";
import type { TextRule } from "../lib/text";

/** Most fields an organization may define. */
export const MAX_FIELDS_PER_ORG = 50;
/** Most options a dropdown may offer. */
export const MAX_OPTIONS = 100;
export const KEY_PATTERN = "^[a-z0-9_]{1,64}$";

// Single-line text (src/lib/text.ts): trimmed, 1–100 characters (code points), not blank, no control characters.
export const TITLE_RULE: TextRule = { kind: "line", minLength: 1, maxLength: 100 };
export const OPTION_RULE: TextRule = { kind: "line", minLength: 1, maxLength: 100 };
/** A text field's value: one line, 1–1000 characters after trimming. */
export const TEXT_VALUE_RULE: TextRule = { kind: "line", minLength: 1, maxLength: 1000 };

export const TicketFieldType = enumOf(TICKET_FIELD_TYPES, {
  description:
    'What a ticket\'s value is: `text` a string (one line, 1–1000 characters), `number` a JSON number, `date` a `"YYYY-MM-DD"` string, `checkbox` true or false, `dropdown` one of `options`.',
});

export const TicketField = t.Object(
  {
    id: t.String({ examples: ["tfd_8x92k0a1b2c3d4e5"] }),
    key: t.String({ description: "The name of the value in a ticket's `custom_fields`; immutable.", examples: ["order_id"] }),
    title: t.String({ examples: ["Order"] }),
    type: TicketFieldType,
    options: t.Union([t.Array(t.String()), t.Null()], { description: "The allowed values of a dropdown, in order; null for the other types." }),
    required: t.Boolean({ description: "Tickets must be created with a value, and a PATCH cannot clear it." }),
    created_at: Timestamp,
    updated_at: Timestamp,
  },
  { additionalProperties: false },
);
export type TicketField = typeof TicketField.static;

export const TicketFieldList = t.Object(
  { data: t.Array(TicketField), meta: pageMeta("The organization's ticket fields, across all pages.") },
  { additionalProperties: false },
);
export type TicketFieldList = typeof TicketFieldList.static;

const Key = t.String({
  pattern: KEY_PATTERN,
  description: "1–64 characters of `a-z`, `0-9` and `_`; unique in the organization; cannot be changed later.",
  examples: ["order_id"],
});
const Title = text(TITLE_RULE, { description: "1–100 characters after trimming; one line.", examples: ["Order"] });
const Options = t.Union(
  [
    // Plain strings here: the service checks each (text rules, no repeats) and names the one at fault (`options.2`).
    t.Array(t.String(), {
      minItems: 1,
      maxItems: MAX_OPTIONS,
      description: "1–100 distinct values (each one line, 1–100 characters after trimming).",
    }),
    t.Null(),
  ],
  { description: "The allowed values: required for a dropdown, absent or null for the other types." },
);
const Required = t.Boolean({ description: "Tickets must be created with a value, and a PATCH cannot clear it. Default false." });

export const CreateTicketField = t.Object(
  { key: Key, title: Title, type: TicketFieldType, options: t.Optional(Options), required: t.Optional(Required) },
  { additionalProperties: false },
);
export type CreateTicketField = typeof CreateTicketField.static;

export const UpdateTicketField = t.Object(
  { title: t.Optional(Title), options: t.Optional(Options), required: t.Optional(Required) },
  {
    additionalProperties: false,
    minProperties: 1,
    description: "Any non-empty subset of title, options (dropdowns only) and required. `key` and `type` cannot be changed (400).",
  },
);
export type UpdateTicketField = typeof UpdateTicketField.static;

export const ListTicketFieldsQuery = t.Object({ ...pageQuery() }, { additionalProperties: true }); // unknown query parameters are ignored, as on every route
export type ListTicketFieldsQuery = typeof ListTicketFieldsQuery.static;

export const TicketFieldIdParams = t.Object({ id: t.String({ description: "A ticket field id (`tfd_…`)." }) });
