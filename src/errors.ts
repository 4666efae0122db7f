// The one error type of the API and the one place that renders every error (ours and the framework's).
import { ValidationError, ParseError, NotFoundError } from "elysia";
import type { Logger } from "./lib/log";
import { textProblem } from "./lib/text";
import { isTextSchema, textRuleOf } from "./http/schema";

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
  notFound: (what = "The requested resource") => new ApiError(404, "not_found", `${what} was not found.`),
  // The default message names the fields, so callers without their own wording (and the CLI, which prints only
  // the message) still say what is wrong.
  validation: (details: FieldError[], message = `The request is not valid: ${details.map((d) => `${d.field} ${d.message}`).join(" ")}`) =>
    new ApiError(400, "validation_error", message, details),
  conflict: (message: string, code = "conflict") => new ApiError(409, code, message),
  payloadTooLarge: (message: string) => new ApiError(413, "payload_too_large", message),
  unsupportedMediaType: (expected: string) =>
    new ApiError(415, "unsupported_media_type", `This endpoint accepts ${expected} request bodies.`),
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

// TypeBox ValueErrorType numbers we give our own wording to (stable across TypeBox 0.34).
const T = {
  ArrayMaxItems: 2,
  ArrayMinItems: 4,
  ArrayUniqueItems: 5,
  Array: 6,
  Boolean: 14,
  IntegerMaximum: 24,
  IntegerMinimum: 25,
  Integer: 27,
  Literal: 32,
  NumberMaximum: 38,
  NumberMinimum: 39,
  Number: 41,
  ObjectAdditionalProperties: 42,
  ObjectMinProperties: 44,
  ObjectRequiredProperty: 45,
  Object: 46,
  StringFormat: 50,
  StringMaxLength: 51,
  StringMinLength: 52,
  StringPattern: 53,
  String: 54,
  Union: 62,
} as const;

interface LooseValueError {
  type: number;
  path: string;
  message: string;
  schema: Record<string, any>;
  value?: unknown;
}

function allowedValues(schema: Record<string, any>): string[] | null {
  if (Array.isArray(schema.enum)) return schema.enum.map(String);
  if (Array.isArray(schema.anyOf) && schema.anyOf.every((s: any) => "const" in s)) return schema.anyOf.map((s: any) => String(s.const));
  if ("const" in schema) return [String(schema.const)];
  return null;
}

function integerRule(s: Record<string, any>): string {
  if (s.minimum !== undefined && s.maximum !== undefined) return `must be a whole number from ${s.minimum} to ${s.maximum}.`;
  if (s.minimum !== undefined) return `must be a whole number of at least ${s.minimum}.`;
  return "must be a whole number.";
}

/** A nullable field (`string | null`, `integer | null`): say what was wrong with the value against the member of its type. */
function describeUnion(s: Record<string, any>, value: unknown): string {
  const members: Record<string, any>[] = Array.isArray(s.anyOf) ? s.anyOf : [];
  const text = members.find((m) => isTextSchema(m));
  if (typeof value === "string" && text) return textProblem(value, textRuleOf(text)) ?? "is not valid.";
  const str = members.find((m) => m.type === "string");
  if (typeof value === "string" && str) {
    const length = [...value].length;
    if (str.maxLength !== undefined && length > str.maxLength) return `must be at most ${str.maxLength} characters.`;
    if (str.minLength !== undefined && length < str.minLength) return str.minLength === 1 ? "must not be empty." : `must be at least ${str.minLength} characters.`;
    if (str.format || str.pattern) return "has an invalid format.";
  }
  const types = [...new Set(members.map((m) => m.type).filter((t): t is string => typeof t === "string"))];
  return types.length ? `must be ${types.map((t) => (t === "null" ? "null" : `a${/^[aeiou]/.test(t) ? "n" : ""} ${t}`)).join(" or ")}.` : "is not valid.";
}

function describe(e: LooseValueError): string {
  if (typeof e.schema?.error === "string") return e.schema.error;
  const values = allowedValues(e.schema ?? {});
  if (values) return `must be one of: ${values.join(", ")}.`;
  const s = e.schema ?? {};
  // Text fields (src/http/schema.ts text()): the shared text rules name what failed, lengths in characters.
  if (isTextSchema(s)) return textProblem(e.value, textRuleOf(s)) ?? "is not valid.";
  // Query integers (coerced from strings): one wording for every way they can fail.
  if (s["x-field"] && (s.type === "integer" || Array.isArray(s.anyOf))) return integerRule(s);
  switch (e.type) {
    case T.ObjectRequiredProperty:
      return "is required.";
    case T.ObjectAdditionalProperties:
      return "is not a known field.";
    case T.ObjectMinProperties:
      return "must contain at least one field.";
    case T.StringMinLength:
      return s.minLength === 1 ? "must not be empty." : `must be at least ${s.minLength} characters.`;
    case T.StringMaxLength:
      return `must be at most ${s.maxLength} characters.`;
    case T.StringPattern:
    case T.StringFormat:
      return "has an invalid format.";
    case T.String:
      return "must be a string.";
    case T.Integer:
      return "must be an integer.";
    case T.Number:
      return "must be a number.";
    case T.IntegerMinimum:
    case T.NumberMinimum:
      return `must be at least ${s.minimum}.`;
    case T.IntegerMaximum:
    case T.NumberMaximum:
      return `must be at most ${s.maximum}.`;
    case T.Boolean:
      return "must be true or false.";
    case T.Array:
      return "must be an array.";
    case T.ArrayMinItems:
      return `must contain at least ${s.minItems} item${s.minItems === 1 ? "" : "s"}.`;
    case T.ArrayMaxItems:
      return `must contain at most ${s.maxItems} items.`;
    case T.ArrayUniqueItems:
      return "must not contain duplicates.";
    case T.Object:
      return "must be a JSON object.";
    case T.Union:
      return describeUnion(s, e.value);
    default:
      return "is not valid.";
  }
}

function fieldName(path: string, source: string): string {
  const name = path.replace(/^\//, "").replace(/\//g, ".").replace(/~1/g, "/").replace(/~0/g, "~");
  return name || source;
}

/** Turns an Elysia/TypeBox validation failure into our details list: one entry per field, no values echoed. */
export function validationDetails(err: ValidationError): FieldError[] {
  const source = err.type === "query" || err.type === "property" ? "query" : err.type === "params" ? "path" : err.type === "headers" ? "headers" : "body";
  let list: LooseValueError[] = [];
  try {
    list = err.all as unknown as LooseValueError[];
  } catch {
    list = [];
  }
  const seen = new Map<string, string>();
  for (const e of list) {
    const field = typeof e.schema?.["x-field"] === "string" ? e.schema["x-field"] : fieldName(e.path ?? "", source);
    if (!seen.has(field)) seen.set(field, describe(e));
  }
  if (seen.size === 0) seen.set(source, "is not valid.");
  return [...seen].map(([field, message]) => ({ field, message }));
}

/** Maps anything thrown while handling a request to the ApiError the client will see. */
export function toApiError(error: unknown, code: string | number): ApiError {
  if (error instanceof ApiError) return error;
  // Elysia wraps what a parse hook throws (our 413/415/400) in a ParseError.
  if (error instanceof ParseError && error.cause instanceof ApiError) return error.cause;
  if (error instanceof ValidationError) {
    const details = validationDetails(error);
    const where = error.type === "query" || error.type === "property" ? "query string" : error.type === "params" ? "path" : "request body";
    return errors.validation(details, `The ${where} is not valid: ${details.map((d) => `${d.field} ${d.message}`).join(" ")}`);
  }
  if (error instanceof ParseError || code === "PARSE") {
    return errors.validation([{ field: "body", message: "is not valid JSON." }], "The request body is not valid JSON.");
  }
  if (error instanceof NotFoundError || code === "NOT_FOUND") {
    return new ApiError(404, "not_found", "No such endpoint.");
  }
  // A full disk under any write (SQLite's SQLITE_FULL, the filesystem's ENOSPC/EDQUOT): the transaction rolled back, so
  // nothing was stored; a 507 says so and that retrying later can work, where a 500 would suggest a bug.
  const errorCode = (error as { code?: unknown } | null)?.code;
  if (errorCode === "SQLITE_FULL" || errorCode === "ENOSPC" || errorCode === "EDQUOT") {
    return new ApiError(507, "insufficient_storage", "The server has no room to store this; nothing was stored. Try again later.", undefined, undefined, error);
  }
  return new ApiError(500, "internal_error", "Something went wrong on our side. The request id in X-Request-Id helps us find out what.", undefined, undefined, error);
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
