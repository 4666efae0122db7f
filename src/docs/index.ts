// API documentation: the OpenAPI document at /docs/json and the Scalar page at /docs, all served offline.
import { Elysia } from "elysia";
import { openapi } from "@elysiajs/openapi";
// Scalar's self-contained browser bundle, embedded in the executable (its package exports hide this path).
import scalarBundle from "../../node_modules/@scalar/api-reference/dist/browser/standalone.js" with { type: "file" };
import { ErrorBody } from "../http/openapi";

export const SCALAR_ASSET_PATH = "/docs/assets/scalar.js";

export function docsRoutes(opts: { version: string; publicUrl: string }) {
  return new Elysia({ name: "docs" })
    .model({ Error: ErrorBody })
    .get(SCALAR_ASSET_PATH, () => new Response(Bun.file(scalarBundle), { headers: { "content-type": "text/javascript; charset=utf-8", "cache-control": "public, max-age=86400" } }), {
      detail: { hide: true },
    })
    .use(
      openapi({
        path: "/docs",
        specPath: "/docs/json",
        provider: "scalar",
        scalar: { cdn: SCALAR_ASSET_PATH, withDefaultFonts: false, hideClientButton: true, telemetry: false } as never,
        exclude: { paths: ["/docs", "/docs/json", SCALAR_ASSET_PATH] },
        documentation: {
          openapi: "3.1.0",
          info: {
            title: "Client Cove API",
            version: opts.version,
            description:
              "Support tickets, shared files and webhooks. Every `/v1` endpoint takes `Authorization: Bearer <API key>`; errors share one shape: `{\"error\": \"<code>\", \"message\": \"...\"}`.",
            license: { name: "Proprietary", identifier: "LicenseRef-Proprietary" },
          },
          servers: [{ url: opts.publicUrl, description: "This server" }],
          tags: [
            { name: "Tickets", description: "Support tickets of your organization." },
            { name: "Health", description: "Probes for load balancers and orchestrators." },
          ],
          components: {
            securitySchemes: { bearerAuth: { type: "http", scheme: "bearer", description: "An API key such as `cc_…`, created with `clientcove keys create`." } },
          },
          security: [{ bearerAuth: [] }],
        },
      }),
    );
}
