// How the dispatcher commits its own bookkeeping (fan-out, attempt outcomes): one IMMEDIATE transaction without an fsync of its own.
import type { Database } from "bun:sqlite";

/** Runs `fn` in one transaction and returns its value. */
export type Commit = <T>(fn: () => T) => T;

/**
 * Commits with WAL and synchronous=NORMAL, restoring the connection's configured durability (FULL) after.
 * The events themselves were committed with FULL by the API. A power cut can lose only the last few such
 * commits (the next FULL commit by anyone makes them durable too), and losing one only means work is done
 * again: events are fanned out again into the same delivery ids (deliveryIdFor), and deliveries whose
 * outcome was lost are sent again with the same webhook-id, which at-least-once delivery allows and
 * receivers de-duplicate. The fsyncs were the largest cost of delivering.
 */
export function relaxedCommit(sqlite: Database): Commit {
  const synchronous = Number((sqlite.query("PRAGMA synchronous").get() as { synchronous: number }).synchronous);
  return (fn) => {
    sqlite.exec("PRAGMA synchronous = NORMAL");
    try {
      return sqlite.transaction(fn).immediate();
    } finally {
      sqlite.exec(`PRAGMA synchronous = ${synchronous}`);
    }
  };
}
