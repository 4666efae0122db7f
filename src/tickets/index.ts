// Routes of /v1/tickets: bind HTTP to the tickets service, nothing more.
import { Elysia } from "elysia";
import type { Writer } from "../db/writer";
import type { AnsweringTx, ApiGuard } from "../idempotency/plugin";
import { errorResponses, NoContent } from "../http/openapi";
import type { Config } from "../config";
import { ticketListRoute, type TicketListRouteDeps } from "./list-route";
import { bulkUpdateTickets } from "./bulk";
import { BulkResult, BulkUpdateTickets, CreateTicket, Ticket, TicketIdParams, TicketList, UpdateTicket } from "./model";
import { createTicket, deleteTicket, getTicket, updateTicket, type Deps as TicketsDeps, type TicketsTx } from "./service";

/** What the tickets routes need: the service's deps, the list's, and the public URL for Location and Link headers. */
export interface TicketRoutesDeps extends Omit<TicketsDeps, "stores"> {
  stores: TicketsDeps["stores"] & TicketListRouteDeps["stores"];
  config: Pick<Config, "publicUrl">;
  /** The service's writer, whose units can also store an idempotent answer. */
  writer: Writer<TicketsTx & AnsweringTx>;
}

export function ticketRoutes(deps: TicketRoutesDeps, auth: ApiGuard) {
  return (
    new Elysia({ name: "tickets", prefix: "/v1/tickets" })
      .use(auth)
      .use(ticketListRoute(deps, auth))
      .model({ Ticket, TicketList, CreateTicket, UpdateTicket, BulkUpdateTickets, BulkResult })
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
          detail: {
            summary: "Create a ticket",
            description:
              "Creates an open ticket. `requester` finds the organization's contact with that email or creates it, in the same transaction (its `contact.created` event comes before `ticket.created`); `requester_id` names an existing one instead. Tags are stored lowercase, unique and sorted; custom field values are checked against the organization's ticket fields.",
            tags: ["Tickets"],
            operationId: "createTicket",
          },
        },
      )
      // A fixed path: registered beside /:id, it is never taken for a ticket id (the router prefers fixed segments).
      .post(
        "/bulk",
        ({ principal, body, idempotent }) =>
          idempotent.commit({ status: 200 }, deps.writer, (writer) => bulkUpdateTickets({ ...deps, writer }, principal, body)),
        {
          body: "BulkUpdateTickets",
          response: { 200: "BulkResult", ...errorResponses(400, 401, 403, 404, 413, 415) },
          detail: {
            summary: "Change many tickets at once",
            description:
              "Makes one change (status, priority, assignee_id, add_tags, remove_tags) to 1–100 tickets in one transaction: all or nothing. An unknown or foreign id is a 404 naming it, and nothing is changed. One `ticket.updated` event per ticket that changed; none for a ticket the change leaves as it was. Answers the tickets after the change, in the order of `ids`.",
            tags: ["Tickets"],
            operationId: "bulkUpdateTickets",
          },
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
          description:
            "Changes any non-empty subset of the fields. `tags` replaces the set; `add_tags` and `remove_tags` change it as it is when the change is made (concurrent changes all land), and cannot go with `tags`. `custom_fields` is merged into the ticket's values (null clears one). `requester_id` and `assignee_id` take null to clear them. Fields sent with their current values change nothing and send no event.",
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
      )
  );
}
