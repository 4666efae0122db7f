// Reads a promise that is already settled, synchronously: how the HTTP hooks stay synchronous over stores whose promises settle at once (SQLite).

/** Thrown when a promise given to `settledValue` is still pending. */
export class NotSettledError extends Error {
  override name = "NotSettledError";
  constructor() {
    super("a store call did not settle at once: a synchronous hook was built for an engine whose stores are asynchronous");
  }
}

/**
 * The value of `p` if it is already fulfilled; rethrows its reason if it is already rejected; NotSettledError while
 * pending. Bun can read a promise's state in the same tick (`Bun.peek`), which saves the await — and Elysia's
 * asynchronous handler path — on every request when the stores answer synchronously underneath.
 */
export function settledValue<T>(p: Promise<T>): T {
  const status = Bun.peek.status(p);
  if (status === "fulfilled") return Bun.peek(p) as T;
  if (status === "rejected") {
    const reason = Bun.peek(p);
    p.catch(() => {}); // observed here: not an unhandled rejection
    throw reason;
  }
  throw new NotSettledError();
}
