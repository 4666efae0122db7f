// Routes of /v1/tickets: bind HTTP to the tickets service, nothing more.
import { Elysia } from "elysia";
import type { Writer } from "../db/writer";
import type { AnsweringTx, ApiGuard } from "../idempotency/plugin";
import { errorResponses, NoContent } from "../http/openapi";
import type { Config } from "../config";
import { CreateTicket, ListTicketsQuery, Ticket, TicketIdParams, TicketList, UpdateTicket } from "./model";
import {
  createTicket,
  deleteTicket,
  getTicket,
  listTicketsPage,
  updateTicket,
  type Deps as TicketsDeps,
  type TicketsTx,
  type ListQuery,
  type NextPage,
} from "./service";

/** What the tickets routes need: the service's deps, and the public URL for Location and Link headers. */
export interface TicketRoutesDeps extends TicketsDeps {
  config: Pick<Config, "publicUrl">;
  /** The service's writer, whose units can also store an idempotent answer. */
  writer: Writer<TicketsTx & AnsweringTx>;
}

/** The absolute URL of the next page: the same filters and page size, in the mode the client used. */
function nextPageUrl(publicUrl: string, q: ListQuery, next: NextPage): string {
  let url = `${publicUrl}/v1/tickets?`;
  if (q.status) url += `status=${q.status}&`;
  if (q.priority) url += `priority=${q.priority}&`;
  url += `per_page=${q.per_page ?? 25}&`;
  return "page" in next ? `${url}page=${next.page}` : `${url}starting_after=${encodeURIComponent(next.starting_after)}`;
}

export function ticketRoutes(deps: TicketRoutesDeps, auth: ApiGuard) {
  return new Elysia({ name: "tickets", prefix: "/v1/tickets" })
    .use(auth)
    .model({ Ticket, TicketList, CreateTicket, UpdateTicket })
    .get(
      "",
      async ({ principal, query, set }) => {
        const { list, next } = await listTicketsPage(deps, principal.orgId, query);
        if (next) set.headers.link = `<${nextPageUrl(deps.config.publicUrl, query, next)}>; rel="next"`;
        return list;
      },
      {
        query: ListTicketsQuery,
        response: { 200: "TicketList", ...errorResponses(400, 401, 403) },
        detail: {
          summary: "List tickets",
          description:
            'A page of the organization\'s tickets, newest first (ties by id). Page with `page` (offset) or `starting_after` (keyset: flat latency at any depth). When another page follows, the `Link` header holds its absolute URL with `rel="next"`, in the same mode. Unknown query parameters are ignored.',
          tags: ["Tickets"],
          operationId: "listTickets",
        },
      },
    )
    .post(
      "",
      ({ principal, body, idempotent }) =>
        // With an Idempotency-Key, the ticket and its stored answer commit together (crash-safe retries).
        idempotent.commit({ status: 201, location: (ticket: Ticket) => `${deps.config.publicUrl}/v1/tickets/${ticket.id}` }, deps.writer, (writer) =>
          createTicket({ ...deps, writer }, principal, body),
        ),
      {
        body: "CreateTicket",
        response: { 201: "Ticket", ...errorResponses(400, 401, 403, 413, 415) },
        detail: { summary: "Create a ticket", tags: ["Tickets"], operationId: "createTicket" },
      },
    )
    .get("/:id", ({ principal, params }) => getTicket(deps, principal.orgId, params.id), {
      params: TicketIdParams,
      response: { 200: "Ticket", ...errorResponses(401, 403, 404) },
      detail: { summary: "Get a ticket", tags: ["Tickets"], operationId: "getTicket" },
    })
    .patch("/:id", async ({ principal, params, body }) => updateTicket(deps, principal, params.id, body), {
      params: TicketIdParams,
      body: "UpdateTicket",
      response: { 200: "Ticket", ...errorResponses(400, 401, 403, 404, 413, 415) },
      detail: {
        summary: "Update a ticket",
        description: "Changes any non-empty subset of subject, description, status and priority.",
        tags: ["Tickets"],
        operationId: "updateTicket",
      },
    })
    .delete(
      "/:id",
      async ({ principal, params, set }) => {
        await deleteTicket(deps, principal, params.id);
        set.status = 204;
      },
      {
        params: TicketIdParams,
        response: { 204: NoContent, ...errorResponses(401, 403, 404) },
        detail: {
          summary: "Delete a ticket",
          description: "Deletes the ticket. Files attached to it are kept; their ticket_id is cleared.",
          tags: ["Tickets"],
          operationId: "deleteTicket",
        },
      },
    );
}
