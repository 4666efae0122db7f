// The route GET /v1/tags: the organization's tags with how many tickets carry each, in name order, with the next page's URL in the Link header.
import { Elysia } from "elysia";
import type { Config } from "../config";
import { errorResponses } from "../http/openapi";
import type { ApiGuard } from "../idempotency/plugin";
import { ListTagsQuery, TagList } from "./model";
import { listTags, type TagQuery, type TagsDeps } from "./tags";

/** What the tags route needs: the tickets store (ticket_tags) and the public URL for Link headers. */
export interface TagRoutesDeps extends TagsDeps {
  config: Pick<Config, "publicUrl">;
}

function nextPageUrl(publicUrl: string, q: TagQuery, page: number): string {
  const prefix = q.q ? `q=${encodeURIComponent(q.q.toLowerCase())}&` : "";
  return `${publicUrl}/v1/tags?${prefix}per_page=${q.per_page ?? 25}&page=${page}`;
}

export function tagRoutes(deps: TagRoutesDeps, auth: ApiGuard) {
  return new Elysia({ name: "tags", prefix: "/v1/tags" })
    .use(auth)
    .model({ TagList })
    .get(
      "",
      async ({ principal, query, set }) => {
        const { list, next } = await listTags(deps, principal.orgId, query);
        if (next !== null) set.headers.link = `<${nextPageUrl(deps.config.publicUrl, query, next)}>; rel="next"`;
        return list;
      },
      {
        query: ListTagsQuery,
        response: { 200: "TagList", ...errorResponses(400, 401, 403) },
        detail: {
          summary: "List tags",
          description:
            'The tags on the organization\'s tickets, in name order, each with how many tickets carry it. `q` keeps the tags that start with it. Page with `page` and `per_page`; `meta.total` is the number of distinct tags. When another page follows, the `Link` header holds its absolute URL with `rel="next"`. Unknown query parameters are ignored.',
          tags: ["Tags"],
          operationId: "listTags",
        },
      },
    );
}
