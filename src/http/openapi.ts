// OpenAPI building blocks shared by every feature: the error schema and the standard error responses.
import { t } from "elysia";

export const ErrorBody = t.Object(
  {
    error: t.String({ description: "Stable snake_case code for programs.", examples: ["validation_error"] }),
    message: t.String({ description: "A sentence for a person." }),
    details: t.Optional(t.Array(t.Object({ field: t.String(), message: t.String() }), { description: "Per-field problems (validation errors only)." })),
  },
  { title: "Error" },
);

const DESCRIPTIONS: Record<number, string> = {
  400: "Validation error (`validation_error`), with `details` per field.",
  401: "Missing, unknown, revoked or expired API key (`unauthorized`).",
  403: "The organization's plan has no API access (`plan_required`), the key's role may not do this (`forbidden`), or the link is invalid.",
  404: "No such resource in this organization (`not_found`).",
  409: "Conflict with the current state.",
  413: "Request body too large (`payload_too_large`).",
  415: "Unsupported request content type (`unsupported_media_type`).",
  416: "Range not satisfiable (`range_not_satisfiable`).",
  503: "Not ready.",
};

/** Response schemas for the given error statuses, each the shared error shape with its own description. */
export function errorResponses<const S extends number>(...statuses: S[]): Record<S, typeof ErrorBody> {
  const out = {} as Record<S, typeof ErrorBody>;
  for (const s of statuses) out[s] = t.Object(ErrorBody.properties, { title: "Error", description: DESCRIPTIONS[s] ?? "Error." }) as typeof ErrorBody;
  return out;
}

export const NoContent = t.Void({ description: "No content." });
