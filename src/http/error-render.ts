// Renders what the framework throws (Elysia's ValidationError/ParseError/NotFoundError, TypeBox's value errors) and
// anything unexpected as the ApiError the client sees: the HTTP layer's half of the one error shape (src/errors.ts).
import { NotFoundError, ParseError, ValidationError } from "elysia";
// Elysia's own TypeBox (its peer dependency); the enum keeps the wording keyed on names, not on numbers that may move.
import { ValueErrorType } from "@sinclair/typebox/value";
import { ApiError, errors, type FieldError } from "../errors";
import { textProblem } from "../lib/text";
import { isTextSchema, textRuleOf } from "./schema";

/** What we read of a TypeBox ValueError (Elysia types `all` loosely). */
interface LooseValueError {
  type: ValueErrorType;
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
    if (str.minLength !== undefined && length < str.minLength)
      return str.minLength === 1 ? "must not be empty." : `must be at least ${str.minLength} characters.`;
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
    case ValueErrorType.ObjectRequiredProperty:
      return "is required.";
    case ValueErrorType.ObjectAdditionalProperties:
      return "is not a known field.";
    case ValueErrorType.ObjectMinProperties:
      return "must contain at least one field.";
    case ValueErrorType.StringMinLength:
      return s.minLength === 1 ? "must not be empty." : `must be at least ${s.minLength} characters.`;
    case ValueErrorType.StringMaxLength:
      return `must be at most ${s.maxLength} characters.`;
    case ValueErrorType.StringPattern:
    case ValueErrorType.StringFormat:
      return "has an invalid format.";
    case ValueErrorType.String:
      return "must be a string.";
    case ValueErrorType.Integer:
      return "must be an integer.";
    case ValueErrorType.Number:
      return "must be a number.";
    case ValueErrorType.IntegerMinimum:
    case ValueErrorType.NumberMinimum:
      return `must be at least ${s.minimum}.`;
    case ValueErrorType.IntegerMaximum:
    case ValueErrorType.NumberMaximum:
      return `must be at most ${s.maximum}.`;
    case ValueErrorType.Boolean:
      return "must be true or false.";
    case ValueErrorType.Array:
      return "must be an array.";
    case ValueErrorType.ArrayMinItems:
      return `must contain at least ${s.minItems} item${s.minItems === 1 ? "" : "s"}.`;
    case ValueErrorType.ArrayMaxItems:
      return `must contain at most ${s.maxItems} items.`;
    case ValueErrorType.ArrayUniqueItems:
      return "must not contain duplicates.";
    case ValueErrorType.Object:
      return "must be a JSON object.";
    case ValueErrorType.Union:
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
  return new ApiError(
    500,
    "internal_error",
    "Something went wrong on our side. The request id in X-Request-Id helps us find out what.",
    undefined,
    undefined,
    error,
  );
}
