// The SQLite side of the asynchronous store interfaces: a synchronous implementation offered as promises, with an optional guard.
/** The asynchronous form of a synchronous store: every method returns a promise of what it returned. */
export type Async<T> = {
  [K in keyof T]: T[K] extends (...args: infer A) => infer R ? (...args: A) => Promise<Awaited<R>> : T[K];
};

/**
 * Called before every method of a store used outside the writer; throws when the call would see an open batch's
 * uncommitted rows (see the SQLite engine in src/stores.ts).
 */
export type Guard = () => void;

/**
 * Offers `impl`'s synchronous methods as promises. Each call does its work at once, in the caller's call stack, and
 * returns an already settled promise (a throw becomes a rejection): a writer unit awaiting it does not leave the
 * batch's microtasks. With a guard, the guard runs first on every call.
 */
export function asyncStore<T extends object>(impl: T, guard?: Guard): Async<T> {
  const out: Record<string, unknown> = {};
  for (const [name, member] of Object.entries(impl)) {
    if (typeof member !== "function") {
      out[name] = member;
      continue;
    }
    const fn = member as (...args: unknown[]) => unknown;
    out[name] = guard
      ? (...args: unknown[]) => {
          try {
            guard();
            return Promise.resolve(fn.apply(impl, args));
          } catch (err) {
            return Promise.reject(err);
          }
        }
      : (...args: unknown[]) => {
          try {
            return Promise.resolve(fn.apply(impl, args));
          } catch (err) {
            return Promise.reject(err);
          }
        };
  }
  return out as Async<T>;
}
