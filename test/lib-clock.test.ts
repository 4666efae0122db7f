// The clock dependency: the manual clock moves only when told and fires its timers then; the system clock is the wall clock.
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

test("manualClock timers fire only when advanced onto their due time, in due order, each seeing its own due time", () => {
  const c = manualClock(0);
  const fired: [string, number][] = [];
  c.setTimer(() => fired.push(["b", c.now()]), 200);
  c.setTimer(() => fired.push(["a", c.now()]), 100);
  c.setTimer(() => fired.push(["a2", c.now()]), 100);
  expect(c.nextTimer()).toBe(100);
  c.advance(99);
  expect(fired).toEqual([]);
  c.advance(1);
  expect(fired).toEqual([
    ["a", 100],
    ["a2", 100],
  ]);
  c.advance(500);
  expect(fired.at(-1)).toEqual(["b", 200]);
  expect(c.now()).toBe(600);
  expect(c.nextTimer()).toBeNull();
});

test("manualClock: a timer set by a timer fires in the same advance when it falls due before its end; cancel stops one; set fires what is due", () => {
  const c = manualClock(0);
  const fired: number[] = [];
  c.setTimer(() => c.setTimer(() => fired.push(c.now()), 50), 100);
  const cancelled = c.setTimer(() => fired.push(-1), 120);
  cancelled.cancel();
  cancelled.cancel();
  c.advance(1000);
  expect(fired).toEqual([150]);
  c.setTimer(() => fired.push(c.now()), 10);
  c.setTimer(() => fired.push(-2), 1000);
  c.set(5000);
  expect(fired).toEqual([150, 5000, -2]);
  // A timer due now (0 or a negative delay) waits for the next advance, as setTimeout(fn, 0) waits for the next turn.
  c.setTimer(() => fired.push(0), -5);
  expect(fired).toHaveLength(3);
  c.advance(0);
  expect(fired.at(-1)).toBe(0);
});

test("systemClock reads the wall clock", () => {
  const before = Date.now();
  const now = systemClock.now();
  expect(now).toBeGreaterThanOrEqual(before);
  expect(now).toBeLessThanOrEqual(Date.now());
});

test("systemClock timers fire and can be cancelled", async () => {
  let cancelledFired = false;
  systemClock.setTimer(() => (cancelledFired = true), 0).cancel();
  await new Promise<void>((resolve) => systemClock.setTimer(resolve, 0));
  expect(cancelledFired).toBe(false);
});
