// Timestamps as the API shows them: ISO 8601 UTC with `Z`, to the second (as in the reference).

/** `2026-02-25T14:30:00Z` for a millisecond timestamp. */
export function toIso(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19) + "Z"; // drops ".sss": always 24 characters for years 0–9999
}

/** Like toIso, but null stays null. */
export function toIsoOrNull(ms: number | null | undefined): string | null {
  return ms == null ? null : toIso(ms);
}

const DURATION = /^(\d+)\s*(s|m|h|d|w)$/;
const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;

/** Parses a duration such as `30d`, `12h`, `90m`, `45s` or `2w` into milliseconds; null if malformed or zero. */
export function parseDuration(text: string): number | null {
  const m = DURATION.exec(text.trim());
  if (!m) return null;
  const ms = Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS];
  return ms > 0 && Number.isSafeInteger(ms) ? ms : null;
}
