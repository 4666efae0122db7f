// The route GET /v1/tickets: filters, search, sort and pages, with the next page's URL in the Link header.
import { Elysia } from "elysia";
import type { ApiGuard } from "../idempotency/plugin";
import { errorResponses } from "../http/openapi";
import type { Config } from "../config";
import { type ListDeps, type ListQuery, listTicketsPage, nextPageQuery } from "./list";
import { ListTicketsQuery } from "./list-model";
import { TicketList } from "./model";

/** What the list route needs: the list's stores, and the public URL for the Link header. */
export interface TicketListRouteDeps extends ListDeps {
  config: Pick<Config, "publicUrl">;
}

/** GET /v1/tickets: mounted by ticketRoutes (its prefix and guard). */
export function ticketListRoute(deps: TicketListRouteDeps, auth: ApiGuard) {
  // Mounted inside ticketRoutes, whose prefix (/v1/tickets) it takes.
  return new Elysia({ name: "ticket-list" })
    .use(auth)
    .model({ TicketList })
    .get(
      "",
      async ({ principal, query, set }) => {
        const q = query as ListQuery;
        const { list, next, parsed } = await listTicketsPage(deps, principal.orgId, q);
        if (next) set.headers.link = `<${deps.config.publicUrl}/v1/tickets?${nextPageQuery(parsed, list.meta.per_page, next)}>; rel="next"`;
        return list;
      },
      {
        query: ListTicketsQuery,
        response: { 200: "TicketList", ...errorResponses(400, 401, 403) },
        detail: {
          summary: "List and search tickets",
          description:
            "A page of the organization's tickets, newest first unless `sort` says otherwise (ties by id). Filters combine (all must hold): `status`, `priority`, `assignee_id`, `requester_id`, `tag`, `custom_fields[key]=value` (one parameter per custom field key, e.g. `custom_fields[order_id]=A-1001`; the value is read by the field's type: a number, `YYYY-MM-DD`, `true`/`false`, or the text; an unknown key is a 400), `created_after`/`created_before`/`updated_after`/`updated_before`, and `q` (full-text search). `meta.total` is exact for every combination. Page with `page` (offset), `cursor` (keyset, from the Link header: flat latency at any depth, survives deletions) or `starting_after` (keyset from a ticket id). When another page follows, the `Link` header holds its absolute URL with `rel=\"next\"`: the same filters and sort, with `page` in offset mode and `cursor` in keyset mode. Unknown query parameters are ignored.",
          tags: ["Tickets"],
          operationId: "listTickets",
        },
      },
    );
}
