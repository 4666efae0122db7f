// What every store contract suite is given (the store under test, seeds for the rows it points at) and the samples they share.
import type { EventType } from "../../src/db/schema/events";
import type { FileRow } from "../../src/files/store";
import type { ManualClock } from "../../src/lib/clock";

/** An organization with its owner and one API key, as the rows of other aggregates point at them. */
export interface SeededOrg {
  orgId: string;
  userId: string;
  keyId: string;
}

/**
 * Rows of other aggregates that a store's rows reference (foreign keys), created by each engine its own way, so a
 * suite never depends on another store's contract to set up its world.
 */
export interface Seed {
  org(name?: string): Promise<SeededOrg>;
  /** A ticket of the organization; returns its id. */
  ticket(orgId: string): Promise<string>;
  /** A folder (null parent: top level); returns its id. */
  folder(orgId: string, parentId: string | null, name: string): Promise<string>;
  /** A file row in a folder (or none); returns the row as stored. */
  file(orgId: string, folderId: string | null, uploadedAt: number): Promise<FileRow>;
  /** An outbox event as if recorded (and, with `dispatchedAt`, already fanned out). */
  event(e: { orgId: string; type: EventType; createdAt: number; dispatchedAt: number | null }): Promise<{ id: string; seq: number }>;
}

/** What a suite's `open` yields: a fresh, empty, migrated database behind the store, its seeds and its clock. */
export interface Opened<S> {
  store: S;
  seed: Seed;
  /** The clock the store was built with (stores that read time themselves: idempotency). */
  clock: ManualClock;
  close(): Promise<void> | void;
}

export type Open<S> = () => Promise<Opened<S>>;

/** A fixed instant with milliseconds, so an engine that truncates to seconds (or shifts time zones) fails. */
export const T0 = Date.UTC(2026, 4, 17, 9, 30, 15, 123);

/** Text that must come back byte for byte: emoji (astral, ZWJ sequences, flags), other scripts, combining marks, quotes. */
export const TEXTS = [
  "Printer on fire 🔥",
  "👩🏽‍💻 ZWJ + skin tone, 🇫🇷 flag, 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 (astral plane), 𠜎 (CJK ext B)",
  "Ünïcödé: e\u0301 (NFD) vs \u00e9 (NFC), Ελληνικά, Русский, 日本語, עברית, العربية",
  `quotes ' " \` backslash \\ percent % underscore _ semicolon ; -- not a comment`,
  "  leading and trailing spaces, tab\tand newline\nkept  ",
  "x".repeat(2000),
] as const;

/** Resolves with what `fn` threw or rejected with; fails the test if it succeeded. */
export async function failure(fn: () => unknown): Promise<unknown> {
  try {
    await fn();
  } catch (err) {
    return err;
  }
  throw new Error("expected the call to fail, it succeeded");
}

/** Byte order of ids (what `ORDER BY id` means in SQLite's BINARY collation; PostgreSQL needs COLLATE "C" to agree). */
export function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The list order every page uses: newest first, then id descending among equal times. */
export function newestFirst<R extends { id: string }>(time: (r: R) => number): (a: R, b: R) => number {
  return (a, b) => time(b) - time(a) || compareIds(b.id, a.id);
}

/** The row exactly: same keys, same values, same types (a number that comes back as a string or a Date fails). */
export function expectSameRow(actual: unknown, expected: Record<string, unknown>): void {
  if (actual === null || typeof actual !== "object") throw new Error(`expected a row, got ${String(actual)}`);
  const row = { ...(actual as Record<string, unknown>) };
  const keys = (o: object) => Object.keys(o).sort();
  if (keys(row).join() !== keys(expected).join()) throw new Error(`columns differ: got ${keys(row).join()}, expected ${keys(expected).join()}`);
  for (const k of keys(expected)) {
    if (!Object.is(row[k], expected[k])) {
      throw new Error(`column ${k}: got ${JSON.stringify(row[k])} (${typeof row[k]}), expected ${JSON.stringify(expected[k])} (${typeof expected[k]})`);
    }
  }
}
