// The route GET /v1/tickets: filters, order and pages, with the next page's URL in the Link header.
import { Elysia } from "elysia";
import type { ApiGuard } from "../idempotency/plugin";
import { errorResponses } from "../http/openapi";
import type { TicketRoutesDeps } from "./index";
import { listTicketsPage, type ListQuery, type NextPage } from "./list";
import { ListTicketsQuery } from "./list-model";
import { TicketList } from "./model";

/** The absolute URL of the next page: the same filters and page size, in the mode the client used. */
function nextPageUrl(publicUrl: string, q: ListQuery, next: NextPage): string {
  let url = `${publicUrl}/v1/tickets?`;
  if (q.status) url += `status=${q.status}&`;
  if (q.priority) url += `priority=${q.priority}&`;
  url += `per_page=${q.per_page ?? 25}&`;
  return "page" in next ? `${url}page=${next.page}` : `${url}starting_after=${encodeURIComponent(next.starting_after)}`;
}

/** GET /v1/tickets: mounted by ticketRoutes (its prefix and guard). */
export function ticketListRoute(deps: TicketRoutesDeps, auth: ApiGuard) {
  // Mounted inside ticketRoutes, whose prefix (/v1/tickets) it takes.
  return new Elysia({ name: "ticket-list" })
    .use(auth)
    .model({ TicketList })
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
    );
}
