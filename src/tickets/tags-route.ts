// Routes of /v1/tags: bind HTTP to the tags service. Skeleton: filled in by the tags work.
import { Elysia } from "elysia";
import type { ApiGuard } from "../idempotency/plugin";

export function tagRoutes(_deps: object, auth: ApiGuard) {
  return new Elysia({ name: "tags", prefix: "/v1/tags" }).use(auth);
}
