// The whole database schema, one file per aggregate; drizzle-kit generates migrations from this.
export * from "./orgs";
export * from "./tickets";
export * from "./events";
export * from "./files";
export * from "./webhooks";
export * from "./idempotency";
