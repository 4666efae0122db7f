// Routes of /v1/tickets: bind HTTP to the comments service. Skeleton: filled in by the comments work.
import { Elysia } from "elysia";
import type { ApiGuard } from "../idempotency/plugin";

export function commentRoutes(_deps: object, auth: ApiGuard) {
  return new Elysia({ name: "comments", prefix: "/v1/tickets" }).use(auth);
}
