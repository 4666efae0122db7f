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

/**
 * `write(work)` runs `work` in `BEGIN … COMMIT` on one pooled connection, with the stores `bind` makes for that
 * transaction, and resolves after the COMMIT (the server's `synchronous_commit`, on by default, makes it durable
 * first). A unit that throws is rolled back and rejects with its error; other units are not affected. Units may
 * await their stores freely (no batch shares their transaction). Counted as one batch of one write each.
 */
export function createPostgresWriter<Tx>(sql: Sql, bind: (tx: TransactionSql) => Tx): Writer<Tx> {
  const stats: BatchStats = { batches: 0, writes: 0, largest: 0 };
  const inflight = new Set<Promise<unknown>>();
  return {
    write<T>(work: (tx: Tx) => T | Promise<T>): Promise<T> {
      const done = sql
        .begin((tx) => work(bind(tx)))
        .then((value) => {
          stats.batches++;
          stats.writes++;
          stats.largest = 1;
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
