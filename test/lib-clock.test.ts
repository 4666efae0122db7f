// The clock dependency: the manual clock moves only when told; the system clock is the wall clock.
import { expect, test } from "bun:test";
import { manualClock, systemClock } from "../src/lib/clock";

test("manualClock starts where asked and moves only by advance and set", () => {
  const c = manualClock(1000);
  expect(c.now()).toBe(1000);
  expect(c.now()).toBe(1000);
  c.advance(500);
  expect(c.now()).toBe(1500);
  c.set(42);
  expect(c.now()).toBe(42);
});

test("manualClock defaults to 2026-01-01T00:00:00Z", () => {
  expect(manualClock().now()).toBe(Date.UTC(2026, 0, 1));
});

test("systemClock reads the wall clock", () => {
  const before = Date.now();
  const now = systemClock.now();
  expect(now).toBeGreaterThanOrEqual(before);
  expect(now).toBeLessThanOrEqual(Date.now());
});
