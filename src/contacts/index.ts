// Routes of /v1/contacts: bind HTTP to the contacts service. Skeleton: filled in by the contacts work.
import { Elysia } from "elysia";
import type { ApiGuard } from "../idempotency/plugin";

export function contactRoutes(_deps: object, auth: ApiGuard) {
  return new Elysia({ name: "contacts", prefix: "/v1/contacts" }).use(auth);
}
