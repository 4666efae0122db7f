// Routes of /v1/users: bind HTTP to the users service. Skeleton: filled in by the users work.
import { Elysia } from "elysia";
import type { ApiGuard } from "../idempotency/plugin";

export function userRoutes(_deps: object, auth: ApiGuard) {
  return new Elysia({ name: "users", prefix: "/v1/users" }).use(auth);
}
