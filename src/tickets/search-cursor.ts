// The list's opaque `cursor`: the sort it belongs to, the last ticket's sort value and id, base64url with a checksum; read back without a row lookup.
import { createHash } from "node:crypto";
import { errors } from "../errors";
import type { SortKey, TicketSort } from "./search-sql";

/** The sort as the query names it (`-created_at`, `relevance`): what a cursor is bound to. */
export function sortName(sort: TicketSort): string {
  return sort.field === "relevance" ? "relevance" : `${sort.desc ? "-" : ""}${sort.field}`;
}

const checksum = (payload: string) => createHash("sha256").update(`clientcove ticket cursor\n${payload}`).digest("base64url").slice(0, 12);

/** The cursor that continues after `key` in `sort`. */
export function encodeCursor(sort: TicketSort, key: SortKey): string {
  const payload = JSON.stringify([sortName(sort), key.value, key.id]);
  return `${Buffer.from(payload).toString("base64url")}.${checksum(payload)}`;
}

function badCursor(message: string) {
  return errors.invalidQuery("cursor", message);
}

/**
 * The position a cursor holds, for this sort. 400 naming cursor when it is not one this API made (altered, cut,
 * invented) or when it was made for another sort.
 */
export function decodeCursor(cursor: string, sort: TicketSort): SortKey {
  const dot = cursor.indexOf(".");
  const body = dot === -1 ? "" : cursor.slice(0, dot);
  if (!/^[A-Za-z0-9_-]+$/.test(body)) throw badCursor("is not a cursor from a Link header or a previous page.");
  const payload = Buffer.from(body, "base64url").toString("utf8");
  if (cursor.slice(dot + 1) !== checksum(payload)) throw badCursor("is not a cursor from a Link header or a previous page.");
  let parsed: unknown;
  try {
    parsed = JSON.parse(payload);
  } catch {
    throw badCursor("is not a cursor from a Link header or a previous page.");
  }
  if (!Array.isArray(parsed) || parsed.length !== 3) throw badCursor("is not a cursor from a Link header or a previous page.");
  const [name, value, id] = parsed as unknown[];
  if (typeof name !== "string" || !Number.isSafeInteger(value) || typeof id !== "string") {
    throw badCursor("is not a cursor from a Link header or a previous page.");
  }
  if (name !== sortName(sort)) throw badCursor(`belongs to sort=${name}; send it with that sort, or start again without a cursor.`);
  return { value: value as number, id };
}
