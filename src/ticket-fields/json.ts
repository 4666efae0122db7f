// The stored text of a ticket's custom field values (tickets.custom_fields): one JSON form, written the same by both engines.

/**
 * The values as tickets.custom_fields stores them: a minified JSON object with its keys in byte order (a JavaScript
 * object would put integer-like keys such as "10" first, whatever the order they were added in), each value as
 * JSON.stringify writes it. Every writer of the column uses this, so the text is the same on every engine.
 */
export function customFieldsJson(values: Readonly<Record<string, unknown>>): string {
  const keys = Object.keys(values)
    .filter((k) => values[k] !== undefined)
    .sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${JSON.stringify(values[k])}`).join(",")}}`;
}

/** The stored text parsed back into values (an object; anything else, which no writer stores, reads as no values). */
export function parseCustomFields(text: string): Record<string, unknown> {
  const value: unknown = JSON.parse(text);
  return value !== null && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

/** The stored text without `key`'s value, in the same form. */
export function withoutValue(text: string, key: string): string {
  const values = parseCustomFields(text);
  delete values[key];
  return customFieldsJson(values);
}
