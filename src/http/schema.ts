// Small TypeBox helpers used by every feature's models.
import { t, ValidationError } from "elysia";
import { TypeCompiler } from "@sinclair/typebox/compiler";
import { FormatRegistry, Kind, Type, TypeRegistry, type TUnsafe } from "@sinclair/typebox"; // Elysia's own TypeBox (its peer dependency)
import { DEFAULT_PER_PAGE, MAX_PER_PAGE } from "../lib/pagination";
import { textProblem, type TextKind, type TextRule } from "../lib/text";

/**
 * A string enum. Elysia's t.UnionEnum silently gives the schema a default (its first value), which
 * would fill omitted optional fields; this one has no default unless asked.
 */
export function enumOf<const V extends readonly [string, ...string[]]>(values: V, opts: { description?: string; default?: V[number] } = {}) {
  const schema = t.UnionEnum(values, opts);
  if (opts.default === undefined) delete (schema as { default?: unknown }).default;
  return schema;
}

/** Plain decimal digits, nothing else: no sign, spaces, exponent, hex or fraction (`+5`, ` 5`, `1e2`, `0x10`). */
export const DECIMAL_DIGITS = "^[0-9]+$";

/**
 * An integer query parameter: plain decimal digits only, and at most Number.MAX_SAFE_INTEGER unless `maximum` says
 * less, so what is echoed (`meta.page`) is exactly what was sent. Elysia's t.Integer takes whatever `+value` accepts
 * (`0x10`, `1e2`, ` 5`) and rounds past 2^53; this is the same string-or-integer Transform with a strict string side.
 * The `x-field` annotation lets error rendering name the field even when the failure is reported without a path.
 */
export function queryInteger(field: string, opts: { minimum: number; maximum?: number; default?: number; description?: string }) {
  const bounds = { ...opts, maximum: opts.maximum ?? Number.MAX_SAFE_INTEGER, "x-field": field };
  const integer = Type.Integer(bounds);
  const check = TypeCompiler.Compile(integer);
  return t
    .Transform(t.Union([t.String({ pattern: DECIMAL_DIGITS, "x-field": field } as object), integer], bounds))
    .Decode((value) => {
      const n = typeof value === "number" ? value : Number(value);
      // The range is checked here, as Elysia's own t.Integer does: the string member ("0") knows no minimum. Digits
      // past 2^53 round to a number above the safe maximum, so they fail here too instead of being echoed rounded.
      if (!check.Check(n)) throw new ValidationError("property", check, n);
      return n;
    })
    .Encode((value) => value);
}

const TEXT_KIND = "Text";

/** Client text: a string that passes the shared text rules (src/lib/text.ts). Registered on first use, before any schema compiles. */
function registerTextKind(): void {
  if (TypeRegistry.Has(TEXT_KIND)) return;
  TypeRegistry.Set(TEXT_KIND, (schema: Record<string, any>, value) => textProblem(value, textRuleOf(schema)) === null);
}

/** The rule a text() schema carries (its documented keywords are the rule). */
export function textRuleOf(schema: Record<string, any>): TextRule {
  return { kind: schema["x-text"] as TextKind, minLength: schema.minLength, maxLength: schema.maxLength, maxBytes: schema["x-max-bytes"] };
}

/** True for a schema made by text(). */
export function isTextSchema(schema: unknown): boolean {
  return !!schema && typeof schema === "object" && (schema as Record<PropertyKey, unknown>)[Kind] === TEXT_KIND;
}

/**
 * A text field of a request (JSON body): a string checked by the shared text rules — well-formed Unicode, lengths in
 * characters (code points, as documented: TypeBox's own minLength/maxLength count UTF-16 units), no control characters,
 * single-line text trimmed and not blank. `minLength`/`maxLength` stay in the schema, so the OpenAPI document states
 * the limits; `x-text` says single-line or multi-line, `x-max-bytes` a UTF-8 size limit. Error rendering names the rule
 * that failed (errors.ts).
 */
export function text(rule: TextRule, doc: { description?: string; examples?: string[] } = {}): TUnsafe<string> {
  registerTextKind();
  const { kind, minLength, maxLength, maxBytes } = rule;
  return Type.Unsafe<string>({
    [Kind]: TEXT_KIND,
    type: "string",
    ...(minLength === undefined ? {} : { minLength }),
    ...(maxLength === undefined ? {} : { maxLength }),
    ...doc,
    "x-text": kind,
    ...(maxBytes === undefined ? {} : { "x-max-bytes": maxBytes }),
  });
}

/**
 * An integer in a response (or JSON body). Plain TypeBox, not Elysia's t.Integer: that one is a string-or-integer
 * Transform (right for query strings), and a Transform anywhere in a response schema makes Elysia Encode the whole
 * response field by field on every request (~15% of a list request's CPU, measured in bench/; see BENCHMARKS.md).
 */
export function ResponseInteger(opts: { minimum?: number; maximum?: number; description?: string; examples?: number[] } = {}) {
  return Type.Integer(opts);
}

/** The `page` and `per_page` query parameters of every list, to spread into its query schema (src/lib/pagination.ts pages by them). */
export function pageQuery() {
  return {
    page: t.Optional(queryInteger("page", { minimum: 1, default: 1, description: "Page number, from 1." })),
    per_page: t.Optional(
      queryInteger("per_page", { minimum: 1, maximum: MAX_PER_PAGE, default: DEFAULT_PER_PAGE, description: `Results per page, 1–${MAX_PER_PAGE}.` }),
    ),
  };
}

/** The `meta` of every paginated list: exactly the reference's {page, per_page, total}. */
export function pageMeta(totalDescription: string) {
  return t.Object(
    {
      page: ResponseInteger({ minimum: 1 }),
      per_page: ResponseInteger({ minimum: 1, maximum: MAX_PER_PAGE }),
      total: ResponseInteger({ minimum: 0, description: totalDescription }),
    },
    { additionalProperties: false },
  );
}

/** An API timestamp: ISO 8601 UTC with `Z`, to the second, as the reference shows. */
export const Timestamp = t.String({ format: "date-time", examples: ["2026-02-25T14:30:00Z"] });

const RFC3339 = /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d+)?(Z|[+-]([01]\d|2[0-3]):[0-5]\d)$/;

/**
 * Replaces Elysia's `date-time` format check (several regexes for loose date styles plus a Date parse per value,
 * most of a list response's validation cost) with one strict RFC 3339 regex. Only our own responses carry this
 * format, and they are always RFC 3339. Call before routes are built.
 */
export function registerFormats(): void {
  FormatRegistry.Set("date-time", (value) => RFC3339.test(value));
}
