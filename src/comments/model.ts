// TypeBox models of comments (a ticket's conversation): the single source for validation, handler types and OpenAPI.
import { t } from "elysia";
import { AUTHOR_TYPES } from "../db/schema/comments";
import { FileMeta } from "../files/model";
import { enumOf, pageMeta, pageQuery, text, Timestamp } from "../http/schema";
import type { TextRule } from "../lib/text";

/** The most files one comment may attach. */
export const MAX_ATTACHMENTS = 20;
export const BODY_MAX_BYTES = 64 * 1024;

// Multi-line, as a ticket's description, but required: 1 character to 64 KiB of UTF-8 (the service also refuses a
// blank body: only spaces, line breaks or invisible characters).
export const BODY_RULE: TextRule = { kind: "multiline", minLength: 1, maxLength: BODY_MAX_BYTES, maxBytes: BODY_MAX_BYTES };

export const Comment = t.Object(
  {
    id: t.String({ examples: ["cmt_5p2k9x0a1b2c3d4e"] }),
    ticket_id: t.String({ examples: ["tkt_29a3b8c0d1e2f3g4"] }),
    author_id: t.String({ description: "The user (`user_…`) or contact (`con_…`) who wrote it, as `author_type` says.", examples: ["user_k8m2x0q7m2p4d8s1"] }),
    author_type: enumOf(AUTHOR_TYPES, { description: "`user` (an agent) or `contact` (a requester's message recorded by a tool)." }),
    body: t.String({ description: "Plain text as sent; `[redacted]` once redacted." }),
    public: t.Boolean({ description: "`true`: a reply the requester may see; `false`: an internal note." }),
    attachments: t.Array(FileMeta, {
      description: "The attached files as `GET /v1/files/{id}` returns them (fresh `download_url`), in the order given; a deleted file drops out.",
    }),
    created_at: Timestamp,
    redacted_at: t.Union([Timestamp, t.Null()], { description: "When the comment was redacted; null if it was not." }),
    redacted_by: t.Union([t.String(), t.Null()], { description: "The user whose key redacted it; null if it was not redacted." }),
  },
  { additionalProperties: false },
);
export type Comment = typeof Comment.static;

export const CommentList = t.Object(
  { data: t.Array(Comment), meta: pageMeta("The ticket's comments matching the filter, across all pages.") },
  { additionalProperties: false },
);
export type CommentList = typeof CommentList.static;

export const CreateComment = t.Object(
  {
    body: text(BODY_RULE, {
      description: "1 character to 64 KiB (UTF-8), not blank; tabs and line breaks allowed, no other control characters.",
      examples: ["Thanks, we are looking into it."],
    }),
    public: t.Optional(t.Boolean({ description: "Defaults to true (a public reply); false makes it an internal note. Must be true for a contact author." })),
    attachments: t.Optional(
      t.Array(t.String({ minLength: 1, maxLength: 100 }), {
        maxItems: MAX_ATTACHMENTS,
        uniqueItems: true,
        description: `Up to ${MAX_ATTACHMENTS} distinct ids of your organization's files (\`file_…\`); attaching sets their \`ticket_id\` to this ticket. An unknown or foreign id is a 404 and nothing is created.`,
        examples: [["file_4m9xq0a1b2c3d4e5"]],
      }),
    ),
    author_id: t.Optional(
      t.String({
        minLength: 1,
        maxLength: 100,
        description:
          "A user (`user_…`) or a contact (`con_…`, not deleted) of your organization; defaults to the key's user. A contact's comment must be public.",
      }),
    ),
  },
  { additionalProperties: false },
);
export type CreateComment = typeof CreateComment.static;

/** The redaction takes no fields: an empty body or `{}`. */
export const RedactComment = t.Optional(t.Object({}, { additionalProperties: false }));

export const ListCommentsQuery = t.Object(
  {
    public: t.Optional(t.Boolean({ description: "`true`: only public replies; `false`: only internal notes. Absent: both." })),
    ...pageQuery(),
    starting_after: t.Optional(
      t.String({
        description:
          "Keyset pagination: the id of the last comment of the previous page (`cmt_…`, one of this ticket's). Returns the comments that follow it, as fast at any depth; `meta.page` is then 1 and `page`, if sent, must be 1. The `Link: <…>; rel=\"next\"` response header gives the next page's URL in either mode.",
        examples: ["cmt_5p2k9x0a1b2c3d4e"],
      }),
    ),
  },
  { additionalProperties: true },
); // unknown query parameters are ignored, as on every route
export type ListCommentsQuery = typeof ListCommentsQuery.static;

export const TicketCommentsParams = t.Object({ id: t.String({ description: "A ticket id (`tkt_…`)." }) });
export const CommentParams = t.Object({
  id: t.String({ description: "A ticket id (`tkt_…`)." }),
  comment_id: t.String({ description: "A comment id (`cmt_…`) of that ticket." }),
});
