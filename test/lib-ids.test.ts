// Prefixed random ids: shape, alphabet, no collisions, and the cheap shape check.
import { describe, expect, test } from "bun:test";
import { isIdOf, newId, randomBase62, randomString } from "../src/lib/ids";

describe("newId", () => {
  test("every prefix gives <prefix>_ and 16 lowercase base36 characters", () => {
    for (const prefix of ["org", "user", "key", "tkt", "fld", "file", "wh", "evt", "dlv", "req"] as const) {
      expect(newId(prefix)).toMatch(new RegExp(`^${prefix}_[0-9a-z]{16}$`));
    }
  });

  test("10,000 ids never collide", () => {
    const ids = new Set(Array.from({ length: 10_000 }, () => newId("tkt")));
    expect(ids.size).toBe(10_000);
  });

  test("isIdOf checks prefix and shape", () => {
    const id = newId("tkt");
    expect(isIdOf("tkt", id)).toBe(true);
    expect(isIdOf("org", id)).toBe(false);
    for (const bad of ["tkt_", "tkt_ABC", "tkt_a b", "tkt_a/b", "xtkt_abc", `tkt_${"a".repeat(65)}`]) expect(isIdOf("tkt", bad), bad).toBe(false);
  });
});

describe("randomString", () => {
  test("has the asked length and only the alphabet's characters", () => {
    for (const n of [0, 1, 7, 64, 333]) {
      const s = randomString(n, "abc");
      expect(s.length).toBe(n);
      expect(s).toMatch(/^[abc]*$/);
    }
  });

  test("uses every character of the alphabet, roughly evenly (no modulo bias towards the start)", () => {
    const counts = new Map<string, number>();
    const s = randomBase62(62_000);
    for (const c of s) counts.set(c, (counts.get(c) ?? 0) + 1);
    expect(counts.size).toBe(62);
    // Expected 1000 each; a biased generator (bytes % 62) gives the first 8 characters ~25% more.
    const first8 = [..."01234567"].reduce((sum, c) => sum + counts.get(c)!, 0) / 8;
    const rest = [...counts].filter(([c]) => !"01234567".includes(c)).reduce((sum, [, n]) => sum + n, 0) / 54;
    expect(first8 / rest).toBeLessThan(1.12);
  });
});
