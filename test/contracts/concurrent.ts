// Helpers for the contract cases that run many calls at once (on the pool and in writer units) and check that exactly the right ones won.

/** Runs every call at once; a throw counts as a rejection. Outcomes in call order. */
export async function settle<T>(calls: (() => T | Promise<T>)[]): Promise<{ fulfilled: T[]; rejected: unknown[] }> {
  const settled = await Promise.allSettled(calls.map((c) => (async () => c())()));
  return {
    fulfilled: settled.flatMap((s) => (s.status === "fulfilled" ? [s.value] : [])),
    rejected: settled.flatMap((s) => (s.status === "rejected" ? [s.reason] : [])),
  };
}

/** How many calls a concurrency case makes at once: more than the test pool's 8 connections, so some also queue for one. */
export const CONCURRENCY = 12;

/**
 * Makes `n` reads at once, so that an engine with a pool has that many connections open before a case starts: its
 * calls then really run side by side instead of one connection being opened per call.
 */
export async function warmUp(read: () => Promise<unknown>, n = CONCURRENCY): Promise<void> {
  await Promise.all(Array.from({ length: n }, read));
}
