// The writer on PostgreSQL: each unit of work is a transaction of its own on a pooled connection (PostgreSQL groups the commits itself).
import type { Sql, TransactionSql } from "postgres";
import type { BatchStats, Writer } from "../writer";

/** What a PostgreSQL store runs its statements on: the pool (reads outside a unit) or a unit's transaction. */
export type Queryable = Sql | TransactionSql;

/**
 * How a store was bound: `read` for the pool (committed rows), `tx` inside a unit. In `tx` mode a store's reads that
 * decide a write (`get` before an update or delete) lock their rows (`FOR UPDATE`): PostgreSQL runs READ COMMITTED
 * with many writers, where SQLite had one writer and so needed no lock.
 */
export type StoreMode = "read" | "tx";

/** What a unit's stores may ask of its transaction beyond SQL (given to `bind` with the transaction). */
export interface UnitHooks {
  /**
   * Calls `fn` once the unit has committed, before `write` resolves; never if it rolls back. The same function given
   * several times in one unit runs once. For wake-ups that must not be sent inside the transaction (a NOTIFY in it
   * serialises every notifying commit on the server's notification queue lock).
   */
  afterCommit(fn: () => void): void;
}

/** Runs an after-commit call; one that throws does not turn a committed unit into a rejection (it surfaces as uncaught). */
function afterCommitted(fn: () => void): void {
  try {
    fn();
  } catch (err) {
    queueMicrotask(() => {
      throw err;
    });
  }
}

/**
 * `write(work)` runs `work` in `BEGIN … COMMIT` on one pooled connection, with the stores `bind` makes for that
 * transaction, and resolves after the COMMIT (the server's `synchronous_commit`, on by default, makes it durable
 * first) and the unit's after-commit calls. A unit that throws is rolled back and rejects with its error; other units
 * are not affected. Units may await their stores freely (no batch shares their transaction). Counted as one batch of
 * one write each.
 */
export function createPostgresWriter<Tx>(sql: Sql, bind: (tx: TransactionSql, unit: UnitHooks) => Tx): Writer<Tx> {
  const stats: BatchStats = { batches: 0, writes: 0, largest: 0 };
  const inflight = new Set<Promise<unknown>>();
  return {
    write<T>(work: (tx: Tx) => T | Promise<T>): Promise<T> {
      let after: Set<() => void> | undefined;
      const unit: UnitHooks = { afterCommit: (fn) => (after ??= new Set()).add(fn) };
      const done = sql
        .begin((tx) => work(bind(tx, unit)))
        .then((value) => {
          stats.batches++;
          stats.writes++;
          stats.largest = 1;
          if (after) for (const fn of after) afterCommitted(fn);
          return value as T;
        });
      inflight.add(done);
      const forget = () => inflight.delete(done);
      done.then(forget, forget);
      return done;
    },
    async flush(): Promise<void> {
      while (inflight.size) await Promise.allSettled([...inflight]);
    },
    inBatch: () => false,
    stats: () => ({ ...stats }),
  };
}
