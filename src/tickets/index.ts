// Routes of /v1/tickets: bind HTTP to the tickets service, nothing more.
import { Elysia } from "elysia";
import type { Writer } from "../db/writer";
import type { AnsweringTx, ApiGuard } from "../idempotency/plugin";
import { errorResponses, NoContent } from "../http/openapi";
import type { Config } from "../config";
import { ticketListRoute } from "./list-route";
import { CreateTicket, Ticket, TicketIdParams, TicketList, UpdateTicket } from "./model";
import { createTicket, deleteTicket, getTicket, updateTicket, type Deps as TicketsDeps, type TicketsTx } from "./service";

/** What the tickets routes need: the service's deps, and the public URL for Location and Link headers. */
export interface TicketRoutesDeps extends TicketsDeps {
  config: Pick<Config, "publicUrl">;
  /** The service's writer, whose units can also store an idempotent answer. */
  writer: Writer<TicketsTx & AnsweringTx>;
}

export function ticketRoutes(deps: TicketRoutesDeps, auth: ApiGuard) {
  return new Elysia({ name: "tickets", prefix: "/v1/tickets" })
    .use(auth)
    .use(ticketListRoute(deps, auth))
    .model({ Ticket, TicketList, CreateTicket, UpdateTicket })
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
