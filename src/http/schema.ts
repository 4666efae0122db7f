// Small TypeBox helpers used by every feature's models.
import { t } from "elysia";

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

