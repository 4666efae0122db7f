// Routes of /v1/users: bind HTTP to the users service, nothing more.
import { Elysia } from "elysia";
import type { Config } from "../config";
import type { ApiGuard } from "../idempotency/plugin";
import { errorResponses } from "../http/openapi";
import { ListUsersQuery, User, UserIdParams, UserList } from "./model";
import { getUser, listUsersPage, type Deps as UsersDeps } from "./service";

/** What the users routes need: the service's deps, and the public URL for Link headers. */
export interface UserRoutesDeps extends UsersDeps {
  config: Pick<Config, "publicUrl">;
}

export function userRoutes(deps: UserRoutesDeps, auth: ApiGuard) {
  return (
    new Elysia({ name: "users", prefix: "/v1/users" })
      .use(auth)
      .model({ User, UserList })
      .get(
        "",
        async ({ principal, query, set }) => {
          const { list, next } = await listUsersPage(deps, principal.orgId, query);
          if (next !== null) set.headers.link = `<${deps.config.publicUrl}/v1/users?per_page=${list.meta.per_page}&page=${next}>; rel="next"`;
          return list;
        },
        {
          query: ListUsersQuery,
          response: { 200: "UserList", ...errorResponses(400, 401, 403) },
          detail: {
            summary: "List users",
            description:
              'A page of the organization\'s users (the people API keys act for and tickets are assigned to), oldest first (ties by id). When another page follows, the `Link` header holds its absolute URL with `rel="next"`.',
            tags: ["Users"],
            operationId: "listUsers",
          },
        },
      )
      // A static segment: matched before `/:id` whatever the order, so no user id can shadow it.
      .get("/me", ({ principal }) => getUser(deps, principal.orgId, principal.userId), {
        response: { 200: "User", ...errorResponses(401, 403) },
        detail: { summary: "Get the current user", description: "The user behind the request's API key.", tags: ["Users"], operationId: "getCurrentUser" },
      })
      .get("/:id", ({ principal, params }) => getUser(deps, principal.orgId, params.id), {
        params: UserIdParams,
        response: { 200: "User", ...errorResponses(401, 403, 404) },
        detail: { summary: "Get a user", tags: ["Users"], operationId: "getUser" },
      })
  );
}
