// The one error type of the API (ApiError), its JSON shape and its log line. Framework-free: turning Elysia's and
// TypeBox's errors into ApiErrors is the HTTP layer's job (src/http/error-render.ts).
import type { Logger } from "./lib/log";

export interface FieldError {
  field: string;
  message: string;
}

/**
 * An error a client may see: HTTP status, a stable snake_case code, a sentence for a person.
 * `cause` is for the log only and never leaves the server.
 */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly errorCode: string,
    message: string,
    readonly details?: FieldError[],
    readonly headers?: Record<string, string>,
    override readonly cause?: unknown,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

export const UNAUTHORIZED_MESSAGE = "Invalid or expired API key. Generate a new key in Settings.";

export const errors = {
  unauthorized: () => new ApiError(401, "unauthorized", UNAUTHORIZED_MESSAGE, undefined, { "www-authenticate": "Bearer" }),
  planRequired: () => new ApiError(403, "plan_required", "API access is available on Pro and Enterprise plans."),
  /** The key's role may not do this (e.g. a member redacting a comment: owner or admin only). */
  forbidden: (message: string) => new ApiError(403, "forbidden", message),
  notFound: (what = "The requested resource") => new ApiError(404, "not_found", `${what} was not found.`),
  // The default message names the fields, so callers without their own wording (and the CLI, which prints only
  // the message) still say what is wrong.
  validation: (details: FieldError[], message = `The request is not valid: ${details.map((d) => `${d.field} ${d.message}`).join(" ")}`) =>
    new ApiError(400, "validation_error", message, details),
  /** A 400 for one query parameter: the message names it, as the body's details do. */
  invalidQuery: (field: string, message: string) => new ApiError(400, "validation_error", `The query is not valid: ${field} ${message}`, [{ field, message }]),
  conflict: (message: string, code = "conflict") => new ApiError(409, code, message),
  payloadTooLarge: (message: string) => new ApiError(413, "payload_too_large", message),
  unsupportedMediaType: (expected: string) => new ApiError(415, "unsupported_media_type", `This endpoint accepts ${expected} request bodies.`),
};

/** The JSON body of an error response. */
export function errorBody(err: ApiError): { error: string; message: string; details?: FieldError[] } {
  return err.details ? { error: err.errorCode, message: err.message, details: err.details } : { error: err.errorCode, message: err.message };
}

/** Renders an ApiError as a Response with the shared shape and its headers. */
export function errorResponse(err: ApiError, extraHeaders?: Record<string, string>): Response {
  return new Response(JSON.stringify(errorBody(err)), {
    status: err.status,
    headers: { "content-type": "application/json; charset=utf-8", ...err.headers, ...extraHeaders },
  });
}

/**
 * Logs what the client does not see: the cause of every 5xx, with the request id. `route` is the route pattern
 * (`/v1/files/:id`), null when no route matched; never the raw path. The access line with the same request id has the rest.
 */
export function logApiError(log: Logger, err: ApiError, requestId: string, route: string | null): void {
  if (err.status >= 500) {
    const cause = err.cause instanceof Error ? { name: err.cause.name, message: err.cause.message, stack: err.cause.stack } : String(err.cause);
    log.error("request failed", { request_id: requestId, route, error: err.errorCode, cause });
  }
}
