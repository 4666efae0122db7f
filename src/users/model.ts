// TypeBox models of the organization's users (who API keys act for, who tickets are assigned to): the single source for validation, handler types and OpenAPI.
import { t } from "elysia";
import { ROLES } from "../db/schema/orgs";
import { enumOf, pageMeta, pageQuery, Timestamp } from "../http/schema";

export const UserRole = enumOf(ROLES, { description: "What the user may do in the organization: owner, admin or member." });

export const User = t.Object(
  {
    id: t.String({ examples: ["user_7q1w2e3r4t5y6u7i"] }),
    name: t.Union([t.String({ examples: ["Grace Hopper"] }), t.Null()]),
    email: t.String({ examples: ["grace@acme.example"] }),
    role: UserRole,
    created_at: Timestamp,
  },
  { additionalProperties: false },
);
export type User = typeof User.static;

export const UserPageMeta = pageMeta("Users of the organization, across all pages.");

export const UserList = t.Object({ data: t.Array(User), meta: UserPageMeta }, { additionalProperties: false });
export type UserList = typeof UserList.static;

export const ListUsersQuery = t.Object({ ...pageQuery() }, { additionalProperties: true }); // unknown query parameters are ignored, as on every route
export type ListUsersQuery = typeof ListUsersQuery.static;

export const UserIdParams = t.Object({ id: t.String({ description: "A user id (`user_…`)." }) });
