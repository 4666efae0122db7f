// Routes of /v1/ticket-fields: bind HTTP to the ticket fields service, nothing more.
import { Elysia } from "elysia";
import type { Config } from "../config";
import type { Writer } from "../db/writer";
import type { AnsweringTx, ApiGuard } from "../idempotency/plugin";
import { errorResponses, NoContent } from "../http/openapi";
import { nextPageNumber } from "../lib/pagination";
import { CreateTicketField, ListTicketFieldsQuery, TicketField, TicketFieldIdParams, TicketFieldList, UpdateTicketField } from "./model";
import {
  createTicketField,
  deleteTicketField,
  getTicketField,
  immutable,
  listTicketFields,
  requireAdmin,
  type TicketFieldsDeps,
  type TicketFieldsTx,
  updateTicketField,
} from "./service";

/** What the ticket fields routes need: the service's deps, and the public URL for Location and Link headers. */
export interface TicketFieldRoutesDeps extends TicketFieldsDeps {
  config: Pick<Config, "publicUrl">;
  /** The service's writer, whose units can also store an idempotent answer. */
  writer: Writer<TicketFieldsTx & AnsweringTx>;
}

const ADMIN_ONLY = "Owner and admin keys only (a member key gets 403 `forbidden`).";

export function ticketFieldRoutes(deps: TicketFieldRoutesDeps, auth: ApiGuard) {
  const fields: TicketFieldsDeps = deps;
  return new Elysia({ name: "ticket-fields", prefix: "/v1/ticket-fields" })
    .use(auth)
    .model({ TicketField, TicketFieldList, CreateTicketField, UpdateTicketField })
    .get(
      "",
      async ({ principal, query, set }) => {
        const list = await listTicketFields(fields, principal.orgId, query);
        const next = nextPageNumber(list.meta);
        if (next) set.headers.link = `<${deps.config.publicUrl}/v1/ticket-fields?per_page=${list.meta.per_page}&page=${next}>; rel="next"`;
        return list;
      },
      {
        query: ListTicketFieldsQuery,
        response: { 200: "TicketFieldList", ...errorResponses(400, 401, 403) },
        detail: {
          summary: "List ticket fields",
          description:
            'The organization\'s custom ticket fields, oldest first (the order a form shows them). When another page follows, the `Link` header holds its absolute URL with `rel="next"`.',
          tags: ["Ticket fields"],
          operationId: "listTicketFields",
        },
      },
    )
    .post(
      "",
      ({ principal, body, idempotent }) =>
        // With an Idempotency-Key, the field and its stored answer commit together (crash-safe retries).
        idempotent.commit({ status: 201, location: (field: TicketField) => `${deps.config.publicUrl}/v1/ticket-fields/${field.id}` }, deps.writer, (writer) =>
          createTicketField({ ...fields, writer }, principal, body),
        ),
      {
        // Before the body's schema: a member key is refused whatever it sends.
        transform: ({ principal }) => requireAdmin(principal),
        body: "CreateTicketField",
        response: { 201: "TicketField", ...errorResponses(400, 401, 403, 409, 413, 415) },
        detail: {
          summary: "Create a ticket field",
          description: `A key already used in the organization is a 409 \`conflict\`; an organization has at most 50 fields (the 51st is a 400). ${ADMIN_ONLY}`,
          tags: ["Ticket fields"],
          operationId: "createTicketField",
        },
      },
    )
    .get("/:id", ({ principal, params }) => getTicketField(fields, principal.orgId, params.id), {
      params: TicketFieldIdParams,
      response: { 200: "TicketField", ...errorResponses(401, 403, 404) },
      detail: { summary: "Get a ticket field", tags: ["Ticket fields"], operationId: "getTicketField" },
    })
    .patch("/:id", ({ principal, params, body }) => updateTicketField(fields, principal, params.id, body), {
      params: TicketFieldIdParams,
      // Before the body's schema: a member key is refused whatever it sends, and `key` or `type` (which the schema
      // would call unknown fields) are named as what they are.
      transform({ principal, body }) {
        requireAdmin(principal);
        if (body && typeof body === "object" && !Array.isArray(body)) for (const fixed of ["key", "type"] as const) if (fixed in body) throw immutable(fixed);
      },
      body: "UpdateTicketField",
      response: { 200: "TicketField", ...errorResponses(400, 401, 403, 404, 413, 415) },
      detail: {
        summary: "Update a ticket field",
        description: `Changes any non-empty subset of title, options (dropdowns only) and required; \`key\` or \`type\` in the body is a 400. Removing an option leaves the tickets that hold it as they are. ${ADMIN_ONLY}`,
        tags: ["Ticket fields"],
        operationId: "updateTicketField",
      },
    })
    .delete(
      "/:id",
      async ({ principal, params, set }) => {
        await deleteTicketField(fields, principal, params.id);
        set.status = 204;
      },
      {
        params: TicketFieldIdParams,
        transform: ({ principal }) => requireAdmin(principal),
        response: { 204: NoContent, ...errorResponses(401, 403, 404) },
        detail: {
          summary: "Delete a ticket field",
          description: `Deletes the field and its values: the key leaves every ticket's \`custom_fields\` (their \`updated_at\` stays; no ticket event). ${ADMIN_ONLY}`,
          tags: ["Ticket fields"],
          operationId: "deleteTicketField",
        },
      },
    );
}
