// formatBytes: the one way byte counts are written, exactly for limits and rounded for measured sizes.
import { describe, expect, test } from "bun:test";
import { formatBytes } from "../src/lib/format-bytes";

describe("formatBytes", () => {
  test.each([
    [0, "0 bytes", "0 bytes"],
    [1023, "1023 bytes", "1023 bytes"],
    [1024, "1 KiB", "1 KiB"],
    [1500, "1.46 KiB", "1500 bytes"],
    [64 * 1024, "64 KiB", "64 KiB"],
    [1.5 * 1024 * 1024, "1.50 MiB", "1536 KiB"],
    [100 * 1024 * 1024, "100 MiB", "100 MiB"],
    [Math.round(12.3 * 1024 * 1024), "12.3 MiB", `${Math.round(12.3 * 1024 * 1024)} bytes`],
    [1024 ** 3, "1 GiB", "1 GiB"],
  ])("%d bytes: %s rounded, %s exact", (n, rounded, exact) => {
    expect(formatBytes(n)).toBe(rounded);
    expect(formatBytes(n, "rounded")).toBe(rounded);
    expect(formatBytes(n, "exact")).toBe(exact);
  });
});
