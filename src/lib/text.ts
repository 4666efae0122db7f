// The rules every piece of client text obeys (JSON fields, query parameters, form fields): well-formed Unicode,
// lengths counted in characters (code points), no control characters, single-line text not blank.
import { formatBytes } from "./format-bytes";

/**
 * Single-line text (a ticket subject, a folder name) is trimmed and then must not be blank and must not contain
 * any control character. Multi-line text (a description) is stored as sent and may contain tabs and line breaks
 * (`\t`, `\n`, `\r`), but no other control character.
 */
export type TextKind = "line" | "multiline";

export interface TextRule {
  kind: TextKind;
  /** In characters (code points), of the trimmed text for single-line text. */
  minLength?: number;
  maxLength?: number;
  /** In bytes of UTF-8. */
  maxBytes?: number;
}

/** C0 controls, DEL and C1 controls (Unicode general category Cc). */
const CONTROL = /\p{Cc}/u;
/** The same, minus tab, line feed and carriage return. */
const CONTROL_EXCEPT_LINE_BREAKS = /[\0-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]/;
/**
 * Blank: nothing but white space and characters that render as nothing (zero-width space, word joiner, BOM, joiners,
 * bidi marks, variation selectors: Unicode's Default_Ignorable_Code_Point), so "\u200B" cannot pass for a subject.
 */
const BLANK = /^[\p{White_Space}\p{Default_Ignorable_Code_Point}]*$/u;

/** Characters as the documentation counts them: code points, so an emoji is one, not two UTF-16 units. */
export function codePointLength(s: string): number {
  // Fast path: without surrogates, UTF-16 units and code points are the same count.
  if (!/[\uD800-\uDFFF]/.test(s)) return s.length;
  let n = 0;
  for (const _ of s) n++;
  return n;
}

/** False for a string with a lone surrogate: it cannot be stored or sent as UTF-8 without being altered. */
export function isWellFormedText(s: string): boolean {
  return s.isWellFormed();
}

export function isBlank(s: string): boolean {
  return BLANK.test(s);
}

/**
 * What is wrong with `value` under `rule`, as the message of a validation detail ("must …."), or null when it is
 * acceptable. Never echoes the value. For single-line text the checks apply to the trimmed value (what is stored).
 */
export function textProblem(value: unknown, rule: TextRule): string | null {
  if (typeof value !== "string") return "must be a string.";
  if (!value.isWellFormed()) return "must be valid Unicode (it contains a lone surrogate).";
  const s = rule.kind === "line" ? value.trim() : value;
  const min = rule.minLength ?? 0;
  if (min > 0 && s.length === 0) return "must not be empty.";
  if (rule.kind === "line" && min > 0 && isBlank(s)) return "must not be blank (only spaces or invisible characters).";
  // A byte limit first: where both apply (a description: 64 KiB is at most 65536 characters), it is the documented one.
  if (rule.maxBytes !== undefined && Buffer.byteLength(s, "utf8") > rule.maxBytes) return `must be at most ${formatBytes(rule.maxBytes, "exact")} (UTF-8).`;
  const length = codePointLength(s);
  if (rule.maxLength !== undefined && length > rule.maxLength) return `must be at most ${rule.maxLength} characters.`;
  if (length < min) return `must be at least ${min} characters.`;
  if (rule.kind === "line" ? CONTROL.test(s) : CONTROL_EXCEPT_LINE_BREAKS.test(s)) {
    return rule.kind === "line"
      ? "must not contain control characters (it is a single line)."
      : "must not contain control characters other than tabs and line breaks.";
  }
  return null;
}
