// Routes of /v1/tickets/{id}/comments: bind HTTP to the comments service, nothing more. Comments are append-only: no PATCH or DELETE.
import { Elysia } from "elysia";
import type { Config } from "../config";
import type { Writer } from "../db/writer";
import type { AnsweringTx, ApiGuard } from "../idempotency/plugin";
import { errorResponses } from "../http/openapi";
import { Comment, CommentList, CommentParams, CreateComment, ListCommentsQuery, RedactComment, TicketCommentsParams } from "./model";
import { type CommentsDeps, type CommentsTx, createComment, getComment, type ListQuery, listCommentsPage, type NextPage, redactComment } from "./service";

/** What the comments routes need: the service's deps, and the public URL for Location and Link headers. */
export interface CommentRoutesDeps extends CommentsDeps {
  config: CommentsDeps["config"] & Pick<Config, "publicUrl">;
  /** The service's writer, whose units can also store an idempotent answer. */
  writer: Writer<CommentsTx & AnsweringTx>;
}

/** The API URL of one comment (the Location of a 201). */
export function commentLocation(publicUrl: string, ticketId: string, commentId: string): string {
  return `${publicUrl}/v1/tickets/${encodeURIComponent(ticketId)}/comments/${commentId}`;
}

/** The absolute URL of the next page: the same filter and page size, in the mode the client used. */
function nextPageUrl(publicUrl: string, ticketId: string, q: ListQuery, next: NextPage): string {
  let url = `${publicUrl}/v1/tickets/${encodeURIComponent(ticketId)}/comments?`;
  if (q.public !== undefined) url += `public=${q.public}&`;
  url += `per_page=${q.per_page ?? 25}&`;
  return "page" in next ? `${url}page=${next.page}` : `${url}starting_after=${encodeURIComponent(next.starting_after)}`;
}

const tags = ["Comments"];

export function commentRoutes(deps: CommentRoutesDeps, auth: ApiGuard) {
  const comments: CommentsDeps = deps;
  return new Elysia({ name: "comments", prefix: "/v1/tickets" })
    .use(auth)
    .model({ Comment, CommentList, CreateComment })
    .get(
      "/:id/comments",
      async ({ principal, params, query, set }) => {
        const { list, next } = await listCommentsPage(comments, principal.orgId, params.id, query);
        if (next) set.headers.link = `<${nextPageUrl(deps.config.publicUrl, params.id, query, next)}>; rel="next"`;
        return list;
      },
      {
        params: TicketCommentsParams,
        query: ListCommentsQuery,
        response: { 200: "CommentList", ...errorResponses(400, 401, 403, 404) },
        detail: {
          summary: "List a ticket's comments",
          description:
            'The conversation, oldest first (ties by id): public replies and internal notes, or one kind with `public`. Page with `page` (offset) or `starting_after` (keyset). When another page follows, the `Link` header holds its absolute URL with `rel="next"`, in the same mode.',
          tags,
          operationId: "listComments",
        },
      },
    )
    .post(
      "/:id/comments",
      ({ principal, params, body, idempotent }) =>
        // With an Idempotency-Key, the comment and its stored answer commit together (crash-safe retries).
        idempotent.commit({ status: 201, location: (c: Comment) => commentLocation(deps.config.publicUrl, c.ticket_id, c.id) }, deps.writer, (writer) =>
          createComment({ ...comments, writer }, principal, params.id, body),
        ),
      {
        params: TicketCommentsParams,
        body: "CreateComment",
        response: { 201: "Comment", ...errorResponses(400, 401, 403, 404, 413, 415) },
        detail: {
          summary: "Add a comment",
          description:
            "A public reply (default) or an internal note (`public: false`), by the key's user unless `author_id` names another user or a contact of the organization. Attaching files sets their `ticket_id`; an unknown or foreign file is a 404 and nothing is created. Moves the ticket's `updated_at`.",
          tags,
          operationId: "createComment",
        },
      },
    )
    .get("/:id/comments/:comment_id", ({ principal, params }) => getComment(comments, principal.orgId, params.id, params.comment_id), {
      params: CommentParams,
      response: { 200: "Comment", ...errorResponses(401, 403, 404) },
      detail: { summary: "Get a comment", tags, operationId: "getComment" },
    })
    .post(
      "/:id/comments/:comment_id/redact",
      ({ principal, params, idempotent }) =>
        idempotent.commit({ status: 200 }, deps.writer, (writer) => redactComment({ ...comments, writer }, principal, params.id, params.comment_id)),
      {
        params: CommentParams,
        body: RedactComment,
        response: { 200: "Comment", ...errorResponses(400, 401, 403, 404, 413, 415) },
        detail: {
          summary: "Redact a comment",
          description:
            "Owner or admin keys only (`403 forbidden` otherwise). Comments are append-only; this is the one change: the body becomes `[redacted]`, `redacted_at` and `redacted_by` are set, and the attached files are deleted (rows and bytes, one `file.deleted` event each). Redacting again answers the comment unchanged.",
          tags,
          operationId: "redactComment",
        },
      },
    );
}
