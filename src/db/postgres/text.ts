// What PostgreSQL text cannot hold, for the stores' lookups: U+0000.

/**
 * True when a value looked up contains U+0000, which PostgreSQL text cannot hold (the server refuses the statement,
 * 22021): no row has it (SQLite stores none either; the services refuse control characters), so a store answers
 * "no match" without a statement, as SQLite does — `GET /v1/tickets/tkt_%00` or `?folder_id=%00` is a 404 or an
 * empty list on both engines, never a 500 on one.
 */
export function hasNul(...values: (string | null | undefined)[]): boolean {
  return values.some((v) => v?.includes("\0"));
}
