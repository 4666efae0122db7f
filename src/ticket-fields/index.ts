// Routes of /v1/ticket-fields: bind HTTP to the ticket fields service. Skeleton: filled in by the ticket fields work.
import { Elysia } from "elysia";
import type { ApiGuard } from "../idempotency/plugin";

export function ticketFieldRoutes(_deps: object, auth: ApiGuard) {
  return new Elysia({ name: "ticket-fields", prefix: "/v1/ticket-fields" }).use(auth);
}
