// settledValue: the value of a settled promise, synchronously; its rejection rethrown; a pending one refused.
import { describe, expect, test } from "bun:test";
import { NotSettledError, settledValue } from "../src/lib/settled";

describe("settledValue", () => {
  test("a fulfilled promise gives its value at once", () => {
    expect(settledValue(Promise.resolve(42))).toBe(42);
    expect(settledValue(Promise.resolve(null))).toBeNull();
  });

  test("a rejected promise rethrows its reason, and does not become an unhandled rejection", async () => {
    const seen: unknown[] = [];
    const onUnhandled = (reason: unknown) => seen.push(reason);
    process.on("unhandledRejection", onUnhandled);
    try {
      const err = new Error("refused");
      expect(() => settledValue(Promise.reject(err))).toThrow(err);
      await new Promise((r) => setImmediate(r));
      expect(seen).toEqual([]);
    } finally {
      process.off("unhandledRejection", onUnhandled);
    }
  });

  test("a pending promise is refused with NotSettledError", () => {
    const pending = new Promise<number>(() => {});
    expect(() => settledValue(pending)).toThrow(NotSettledError);
  });

  test("an async function that awaited nothing has settled when it returns", () => {
    const viaAsync = (async () => 1)();
    expect(settledValue(viaAsync)).toBe(1);
  });
});
