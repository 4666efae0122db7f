// API timestamps (ISO 8601 UTC, seconds, Z) and durations such as 30d.
import { describe, expect, test } from "bun:test";
import { parseDuration, toIso, toIsoOrNull } from "../src/lib/time";

describe("toIso", () => {
  test("the reference's format: seconds, UTC, Z", () => {
    expect(toIso(Date.UTC(2026, 1, 25, 14, 30, 0))).toBe("2026-02-25T14:30:00Z");
    expect(toIso(Date.UTC(2026, 1, 25, 14, 30, 0, 999))).toBe("2026-02-25T14:30:00Z");
    expect(toIso(0)).toBe("1970-01-01T00:00:00Z");
  });

  test("toIsoOrNull keeps null and undefined as null", () => {
    expect(toIsoOrNull(null)).toBeNull();
    expect(toIsoOrNull(undefined)).toBeNull();
    expect(toIsoOrNull(0)).toBe("1970-01-01T00:00:00Z");
  });
});

describe("parseDuration", () => {
  const cases: [string, number | null][] = [
    ["30d", 30 * 86_400_000],
    ["12h", 12 * 3_600_000],
    ["90m", 90 * 60_000],
    ["45s", 45_000],
    ["2w", 2 * 604_800_000],
    [" 30d ", 30 * 86_400_000],
    ["30 d", 30 * 86_400_000],
    ["0d", null],
    ["30", null],
    ["d", null],
    ["1.5d", null],
    ["-1d", null],
    ["30D", null],
    ["30y", null],
    ["", null],
    ["99999999999999999999d", null],
  ];
  for (const [text, ms] of cases) {
    test(JSON.stringify(text), () => expect(parseDuration(text)).toBe(ms));
  }
});
