// API documentation, served offline: the OpenAPI document at /docs/json, the Scalar page at /docs, the site icon.
import { Elysia, type AnyElysia } from "elysia";
// Scalar's self-contained browser bundle, embedded in the executable (its package exports hide this path).
import scalarBundle from "../../node_modules/@scalar/api-reference/dist/browser/standalone.js" with { type: "file" };
import type { Config } from "../config";
import { ErrorBody } from "../http/openapi";
import { FAVICON_ICO, FAVICON_PATH } from "./favicon";
import { buildSpec } from "./spec";

export const SCALAR_ASSET_PATH = "/docs/assets/scalar.js";

/** Paths that are not part of the integrators' API (operations endpoints are documented in docs/operations.md). */
const NOT_IN_SPEC = ["/docs", "/docs/json", SCALAR_ASSET_PATH, FAVICON_PATH, "/healthz", "/readyz", "/metrics"];

/**
 * Scalar's configuration (option names as of @scalar/api-reference 1.76). Everything that needs scalar.com is off, as
 * an install may have no internet: the AI agent ("Ask AI"), the MCP/SDK generator ("Generate SDKs & MCP"), the
 * developer toolbar (Configure, Share, Deploy; Scalar shows it whenever the page is on localhost). No `proxyUrl`:
 * without one, "Test Request" calls the server directly (test/docs-browser.test.ts checks), so no API key goes
 * through proxy.scalar.com.
 */
export const SCALAR_CONFIG = {
  url: "/docs/json",
  withDefaultFonts: false,
  telemetry: false,
  hideClientButton: true,
  showDeveloperTools: "never",
  agent: { disabled: true },
  mcp: { disabled: true },
} as const;

const TAGS = [
  { name: "Tickets", description: "Support tickets of your organization." },
  { name: "Comments", description: "A ticket's conversation: public replies and internal notes, append-only, with attachments and redaction." },
  { name: "Tags", description: "The tags on your organization's tickets, with how many tickets carry each." },
  { name: "Ticket fields", description: "Custom fields your organization defines for its tickets." },
  { name: "Contacts", description: "Requesters: the people who write in. Deleting one erases its personal data and keeps its history." },
  { name: "Users", description: "The users of your organization, and the one behind your key." },
  { name: "Files", description: "Uploaded files: streamed uploads, signed download links, attachments to tickets and folders." },
  { name: "Folders", description: "Shared folders that hold files." },
  { name: "Webhooks", description: "Endpoints that receive signed event notifications, and their delivery log." },
];

function documentation(opts: { version: string; publicUrl: string }) {
  return {
    openapi: "3.1.0",
    info: {
      title: "Client Cove API",
      version: opts.version,
      description:
        'Support tickets, shared files and webhooks. Every `/v1` endpoint takes `Authorization: Bearer <API key>`. Errors share one shape: `{"error": "<code>", "message": "..."}`, plus `details` for validation errors.',
      license: { name: "Proprietary", identifier: "LicenseRef-Proprietary" },
    },
    servers: [{ url: opts.publicUrl, description: "This server" }],
    tags: TAGS,
    security: [{ bearerAuth: [] }],
    components: {
      securitySchemes: { bearerAuth: { type: "http", scheme: "bearer", description: "An API key (`cc_…`), created with `clientcove keys create`." } },
      schemas: { Error: ErrorBody },
    },
  };
}

function page(title: string): string {
  const config = JSON.stringify(SCALAR_CONFIG);
  return `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <title>${title}</title>
    <link rel="icon" href="${FAVICON_PATH}" sizes="32x32" />
  </head>
  <body>
    <script id="api-reference" data-configuration='${config}'></script>
    <script src="${SCALAR_ASSET_PATH}"></script>
  </body>
</html>`;
}

/** What the docs need: the final public URL (the document's server), the product version, and the finished app. */
export interface DocsRoutesDeps {
  config: Pick<Config, "publicUrl">;
  version: string;
  /** The root app, whose routes the document describes: read once, on the first request, after buildApp returned. */
  getApp: () => AnyElysia;
}

export function docsRoutes(deps: DocsRoutesDeps) {
  const opts = { version: deps.version, publicUrl: deps.config.publicUrl, getApp: deps.getApp };
  let spec: string | undefined;
  const html = page("Client Cove API");
  return new Elysia({ name: "docs" })
    .get("/docs", () => new Response(html, { headers: { "content-type": "text/html; charset=utf-8" } }), { detail: { hide: true } })
    .get(
      "/docs/json",
      () => {
        spec ??= JSON.stringify(buildSpec(opts.getApp(), documentation(opts), NOT_IN_SPEC));
        return new Response(spec, { headers: { "content-type": "application/json; charset=utf-8" } });
      },
      { detail: { hide: true } },
    )
    .get(
      SCALAR_ASSET_PATH,
      () => new Response(Bun.file(scalarBundle), { headers: { "content-type": "text/javascript; charset=utf-8", "cache-control": "public, max-age=86400" } }),
      { detail: { hide: true } },
    )
    .get(FAVICON_PATH, () => new Response(FAVICON_ICO, { headers: { "content-type": "image/x-icon", "cache-control": "public, max-age=86400" } }), {
      detail: { hide: true },
    });
}
