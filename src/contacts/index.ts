// Routes of /v1/contacts: bind HTTP to the contacts service, nothing more.
import { Elysia } from "elysia";
import type { Config } from "../config";
import type { Writer } from "../db/writer";
import type { AnsweringTx, ApiGuard } from "../idempotency/plugin";
import { errorResponses, NoContent } from "../http/openapi";
import { Contact, ContactIdParams, ContactList, CreateContact, ListContactsQuery, UpdateContact } from "./model";
import {
  createContact,
  type ContactsTx,
  type Deps as ContactsDeps,
  deleteContact,
  getContact,
  type ListQuery,
  listContactsPage,
  type NextPage,
  updateContact,
} from "./service";

/** What the contacts routes need: the service's deps, and the public URL for Location and Link headers. */
export interface ContactRoutesDeps extends ContactsDeps {
  config: Pick<Config, "publicUrl">;
  /** The service's writer, whose units can also store an idempotent answer. */
  writer: Writer<ContactsTx & AnsweringTx>;
}

/** The absolute URL of the next page: the same filters and page size, in the mode the client used. */
function nextPageUrl(publicUrl: string, q: ListQuery, next: NextPage): string {
  const params = new URLSearchParams();
  if (q.q !== undefined) params.set("q", q.q);
  if (q.email !== undefined) params.set("email", q.email);
  if (q.include_deleted) params.set("include_deleted", "true");
  params.set("per_page", String(q.per_page ?? 25));
  if ("page" in next) params.set("page", String(next.page));
  else params.set("starting_after", next.starting_after);
  return `${publicUrl}/v1/contacts?${params}`;
}

export function contactRoutes(deps: ContactRoutesDeps, auth: ApiGuard) {
  return new Elysia({ name: "contacts", prefix: "/v1/contacts" })
    .use(auth)
    .model({ Contact, ContactList, CreateContact, UpdateContact })
    .get(
      "",
      async ({ principal, query, set }) => {
        const { list, next } = await listContactsPage(deps, principal.orgId, query);
        if (next) set.headers.link = `<${nextPageUrl(deps.config.publicUrl, query, next)}>; rel="next"`;
        return list;
      },
      {
        query: ListContactsQuery,
        response: { 200: "ContactList", ...errorResponses(400, 401, 403) },
        detail: {
          summary: "List contacts",
          description:
            'A page of the organization\'s contacts (requesters), newest first (ties by id). `q` matches a prefix of the email or the name, `email` one email exactly (both case-insensitive); deleted contacts are left out unless `include_deleted=true`. Page with `page` (offset) or `starting_after` (keyset). When another page follows, the `Link` header holds its absolute URL with `rel="next"`. Unknown query parameters are ignored.',
          tags: ["Contacts"],
          operationId: "listContacts",
        },
      },
    )
    .post(
      "",
      ({ principal, body, idempotent }) =>
        // With an Idempotency-Key, the contact and its stored answer commit together (crash-safe retries).
        idempotent.commit({ status: 201, location: (contact: Contact) => `${deps.config.publicUrl}/v1/contacts/${contact.id}` }, deps.writer, (writer) =>
          createContact({ ...deps, writer }, principal, body),
        ),
      {
        body: "CreateContact",
        response: { 201: "Contact", ...errorResponses(400, 401, 403, 409, 413, 415) },
        detail: {
          summary: "Create a contact",
          description: "An email (compared case-insensitively) or external_id another contact of the organization has is a `409 conflict`.",
          tags: ["Contacts"],
          operationId: "createContact",
        },
      },
    )
    .get("/:id", ({ principal, params }) => getContact(deps, principal.orgId, params.id), {
      params: ContactIdParams,
      response: { 200: "Contact", ...errorResponses(401, 403, 404) },
      detail: {
        summary: "Get a contact",
        description: "Deleted contacts too: their personal fields are null and `deleted_at` is set.",
        tags: ["Contacts"],
        operationId: "getContact",
      },
    })
    .patch("/:id", ({ principal, params, body }) => updateContact(deps, principal, params.id, body), {
      params: ContactIdParams,
      body: "UpdateContact",
      response: { 200: "Contact", ...errorResponses(400, 401, 403, 404, 409, 413, 415) },
      detail: {
        summary: "Update a contact",
        description:
          "Changes any non-empty subset of email, name, phone and external_id; null clears name, phone or external_id. A duplicate email or external_id, or a deleted contact, is a `409 conflict`.",
        tags: ["Contacts"],
        operationId: "updateContact",
      },
    })
    .delete(
      "/:id",
      async ({ principal, params, set }) => {
        await deleteContact(deps, principal, params.id);
        set.status = 204;
      },
      {
        params: ContactIdParams,
        response: { 204: NoContent, ...errorResponses(401, 403, 404) },
        detail: {
          summary: "Delete a contact",
          description:
            "Erases the contact's personal fields (email, name, phone, external_id become null; `deleted_at` is set) and keeps the contact's tickets and comments, which still point to it. A second delete is a 404.",
          tags: ["Contacts"],
          operationId: "deleteContact",
        },
      },
    );
}
