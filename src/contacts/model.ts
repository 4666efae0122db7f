// TypeBox models of contacts (requesters): the single source for validation, handler types and OpenAPI.
import { t } from "elysia";
import { pageMeta, pageQuery, text, Timestamp } from "../http/schema";
import type { TextRule } from "../lib/text";

export const Contact = t.Object(
  {
    id: t.String({ examples: ["con_5m2k9x0a1b2c3d4e"] }),
    email: t.Union([t.String({ examples: ["ada@example.com"] }), t.Null()], { description: "As sent (trimmed); null once the contact is deleted." }),
    name: t.Union([t.String({ examples: ["Ada Lovelace"] }), t.Null()]),
    phone: t.Union([t.String({ examples: ["+44 20 7946 0958"] }), t.Null()]),
    external_id: t.Union([t.String({ examples: ["crm-1001"] }), t.Null()], { description: "The contact's id in another system (a CRM)." }),
    created_at: Timestamp,
    updated_at: Timestamp,
    deleted_at: t.Union([Timestamp, t.Null()], { description: "When the contact was deleted (its personal fields erased); null while it is not." }),
  },
  { additionalProperties: false },
);
export type Contact = typeof Contact.static;

export const ContactPageMeta = pageMeta("Contacts matching the filters, across all pages.");

export const ContactList = t.Object({ data: t.Array(Contact), meta: ContactPageMeta }, { additionalProperties: false });
export type ContactList = typeof ContactList.static;

export const EMAIL_MIN = 3;
export const EMAIL_MAX = 254;
export const CONTACT_NAME_MAX = 200;
export const PHONE_MAX = 50;
export const EXTERNAL_ID_MAX = 255;

// Single-line text (src/lib/text.ts): trimmed, then within the lengths (code points), not blank, no control characters.
export const EMAIL_RULE: TextRule = { kind: "line", minLength: EMAIL_MIN, maxLength: EMAIL_MAX };
export const CONTACT_NAME_RULE: TextRule = { kind: "line", minLength: 1, maxLength: CONTACT_NAME_MAX };
export const PHONE_RULE: TextRule = { kind: "line", minLength: 1, maxLength: PHONE_MAX };
export const EXTERNAL_ID_RULE: TextRule = { kind: "line", minLength: 1, maxLength: EXTERNAL_ID_MAX };

const Email = text(EMAIL_RULE, {
  description:
    "3–254 characters after trimming, one `@` with text on both sides, no spaces. Unique in the organization, compared case-insensitively (`409 conflict`).",
  examples: ["ada@example.com"],
});
const NullableName = t.Union([text(CONTACT_NAME_RULE, { description: "1–200 characters after trimming; one line." }), t.Null()], {
  description: "1–200 characters after trimming; one line. null: no name.",
});
const NullablePhone = t.Union([text(PHONE_RULE, { description: "1–50 characters after trimming; one line." }), t.Null()], {
  description: "1–50 characters after trimming; one line. null: no phone.",
});
const NullableExternalId = t.Union([text(EXTERNAL_ID_RULE, { description: "1–255 characters after trimming; one line." }), t.Null()], {
  description: "1–255 characters after trimming; one line; unique in the organization (`409 conflict`). null: none.",
});

export const CreateContact = t.Object(
  { email: Email, name: t.Optional(NullableName), phone: t.Optional(NullablePhone), external_id: t.Optional(NullableExternalId) },
  { additionalProperties: false },
);
export type CreateContact = typeof CreateContact.static;

export const UpdateContact = t.Object(
  { email: t.Optional(Email), name: t.Optional(NullableName), phone: t.Optional(NullablePhone), external_id: t.Optional(NullableExternalId) },
  {
    additionalProperties: false,
    minProperties: 1,
    description: "Any non-empty subset of the fields; null clears name, phone or external_id (email cannot be cleared).",
  },
);
export type UpdateContact = typeof UpdateContact.static;

export const ListContactsQuery = t.Object(
  {
    q: t.Optional(
      t.String({
        description: "Contacts whose email or name starts with this text, compared case-insensitively (at most 254 characters; empty: no filter).",
        examples: ["ada"],
      }),
    ),
    email: t.Optional(
      t.String({
        description: "The contact with exactly this email, compared case-insensitively. With `email`, `q` is not applied.",
        examples: ["ada@example.com"],
      }),
    ),
    include_deleted: t.Optional(t.Boolean({ description: "Also list deleted contacts (erased, `deleted_at` set). Default false." })),
    ...pageQuery(),
    starting_after: t.Optional(
      t.String({
        description:
          "Keyset pagination: the id of the last contact of the previous page (`con_…`, one of your organization's). Returns the contacts that follow it in the list order, as fast at any depth; `meta.page` is then 1 and `page`, if sent, must be 1. The `Link: <…>; rel=\"next\"` response header gives the next page's URL in either mode.",
        examples: ["con_5m2k9x0a1b2c3d4e"],
      }),
    ),
  },
  { additionalProperties: true },
); // unknown query parameters are ignored, as on every route
export type ListContactsQuery = typeof ListContactsQuery.static;

export const ContactIdParams = t.Object({ id: t.String({ description: "A contact id (`con_…`)." }) });
