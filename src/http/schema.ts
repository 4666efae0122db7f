// Small TypeBox helpers used by every feature's models.
import { t } from "elysia";
import { FormatRegistry, Type } from "@sinclair/typebox"; // Elysia's own TypeBox (its peer dependency)

/**
 * A string enum. Elysia's t.UnionEnum silently gives the schema a default (its first value), which
 * would fill omitted optional fields; this one has no default unless asked.
 */
export function enumOf<const V extends readonly [string, ...string[]]>(values: V, opts: { description?: string; default?: V[number] } = {}) {
  const schema = t.UnionEnum(values, opts);
  if (opts.default === undefined) delete (schema as { default?: unknown }).default;
  return schema;
}

/**
 * An integer query parameter. The `x-field` annotation lets error rendering name the field even when
 * Elysia's query coercion reports the failure without a path.
 */
export function queryInteger(field: string, opts: { minimum: number; maximum?: number; default?: number; description?: string }) {
  return t.Integer({ ...opts, "x-field": field } as { minimum: number });
}


/**
 * An integer in a response (or JSON body). Plain TypeBox, not Elysia's t.Integer: that one is a string-or-integer
 * Transform (right for query strings), and a Transform anywhere in a response schema makes Elysia Encode the whole
 * response field by field on every request (~15% of a list request's CPU, measured in bench/; see BENCHMARKS.md).
 */
export function ResponseInteger(opts: { minimum?: number; maximum?: number; description?: string; examples?: number[] } = {}) {
  return Type.Integer(opts);
}

/** The `meta` of every paginated list: exactly the reference's {page, per_page, total}. */
export function pageMeta(totalDescription: string) {
  return t.Object(
    {
      page: ResponseInteger({ minimum: 1 }),
      per_page: ResponseInteger({ minimum: 1, maximum: 100 }),
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
