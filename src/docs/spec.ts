// Builds the OpenAPI document from the routes' TypeBox schemas (via @elysiajs/openapi) and tidies what it gets wrong.
import { toOpenAPISchema } from "@elysiajs/openapi";
import type { AnyElysia } from "elysia";

type Json = Record<string, any>;

const JSON_ONLY_TRIPLE = ["application/json", "application/x-www-form-urlencoded", "multipart/form-data"];
const ERROR_REF = { $ref: "#/components/schemas/Error" };

function bodySchemaOf(body: unknown): Json | undefined {
  if (typeof body === "string") return { $ref: `#/components/schemas/${body}` };
  if (body && typeof body === "object") return body as Json;
  return undefined;
}

/**
 * The generator leaves JSON request bodies empty when a parse hook exists, offers form encodings we do not
 * accept, inlines the error schema everywhere and emits `t.Void` as content. This fixes each of those:
 * - a route's own `detail.requestBody` (e.g. multipart uploads) wins; otherwise the body is application/json only;
 * - error responses reference components/schemas/Error;
 * - 204 and other void responses have no content.
 */
export function buildSpec(app: AnyElysia, documentation: Json, exclude: string[]): Json {
  const generated = toOpenAPISchema(app, { paths: exclude }, undefined, undefined, "3.1.0") as { paths: Json; components: { schemas: Json } };
  const routes = new Map<string, { body?: unknown; requestBody?: Json }>();
  for (const r of app.routes as { method: string; path: string; hooks?: Json }[]) {
    const key = `${r.method.toLowerCase()} ${r.path.replace(/:([^/]+)/g, "{$1}")}`;
    routes.set(key, { body: r.hooks?.body, requestBody: r.hooks?.detail?.requestBody });
  }
  for (const [path, ops] of Object.entries(generated.paths)) {
    for (const [method, op] of Object.entries(ops as Json)) {
      const route = routes.get(`${method} ${path}`);
      if (op.requestBody) {
        if (route?.requestBody) op.requestBody = route.requestBody;
        else {
          const content = op.requestBody.content ?? {};
          const keys = Object.keys(content);
          const schema = content["application/json"]?.schema ?? bodySchemaOf(route?.body);
          if ((keys.length === 0 || JSON_ONLY_TRIPLE.every((k) => keys.includes(k))) && schema) {
            op.requestBody = { required: true, content: { "application/json": { schema } } };
          }
        }
      }
      for (const response of Object.values((op.responses ?? {}) as Json)) {
        const content = response.content as Json | undefined;
        if (!content) continue;
        if (content.type === "void") {
          delete response.content;
          continue;
        }
        for (const media of Object.values(content) as Json[]) {
          if (media?.schema?.title === "Error") media.schema = ERROR_REF;
        }
      }
    }
  }
  return {
    ...documentation,
    paths: generated.paths,
    components: { ...documentation.components, schemas: { ...generated.components.schemas, ...documentation.components?.schemas } },
  };
}
