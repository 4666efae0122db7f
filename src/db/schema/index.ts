// The whole database schema, one file per aggregate; drizzle-kit generates migrations from this.
export * from "./orgs";
export * from "./tickets";
export * from "./contacts";
export * from "./ticket-fields";
export * from "./comments";
export * from "./events";
export * from "./files";
export * from "./webhooks";
export * from "./idempotency";
