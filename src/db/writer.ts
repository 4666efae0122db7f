// Group commit for SQLite: the durable writes that arrive together share one transaction and one fsync.
import type { Database } from "bun:sqlite";
import { perDatabase } from "./per-database";

/** Bounds of one batch. Both are small: a lone write is committed on the next turn of the event loop. */
export interface WriterOptions {
  /** Most writes committed in one transaction; a full queue is committed at once. */
  maxBatch?: number;
}

export const DEFAULT_MAX_BATCH = 128;

export interface BatchStats {
  batches: number;
  writes: number;
  /** The largest batch committed so far. */
  largest: number;
}

export interface Writer {
  /**
   * Runs `work` (synchronous: its statements, its nested `transaction()`s, which become savepoints) inside the next
   * batch's transaction, in a savepoint of its own, and resolves with its result only after the batch's COMMIT — with
   * `synchronous=FULL`, after the fsync. If `work` throws, its savepoint is rolled back and the promise rejects with
   * that error; the other writes of the batch commit. If the COMMIT itself fails, every write of the batch rejects.
   */
  write<T>(work: () => T): Promise<T>;
  /** Commits what is queued now (tests, shutdown). */
  flush(): void;
  stats(): BatchStats;
}

interface Job {
  work: () => unknown;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

const SAVEPOINT = "cc_write";

export function createWriter(sqlite: Database, opts: WriterOptions = {}): Writer {
  const maxBatch = Math.max(1, opts.maxBatch ?? DEFAULT_MAX_BATCH);
  let queue: Job[] = [];
  let scheduled = false;
  const stats: BatchStats = { batches: 0, writes: 0, largest: 0 };

  function commitBatch(jobs: Job[]): void {
    const results: { ok: boolean; value: unknown }[] = [];
    try {
      sqlite.exec("BEGIN IMMEDIATE");
    } catch (err) {
      for (const job of jobs) job.reject(err);
      return;
    }
    try {
      for (const job of jobs) {
        sqlite.exec(`SAVEPOINT ${SAVEPOINT}`);
        try {
          const value = job.work();
          if (value instanceof Promise) throw new Error("a write passed to the writer must be synchronous");
          sqlite.exec(`RELEASE ${SAVEPOINT}`);
          results.push({ ok: true, value });
        } catch (err) {
          // Undo this write only; the batch goes on. If even the rollback fails, the outer catch aborts the batch.
          sqlite.exec(`ROLLBACK TO ${SAVEPOINT}`);
          sqlite.exec(`RELEASE ${SAVEPOINT}`);
          results.push({ ok: false, value: err });
        }
      }
      sqlite.exec("COMMIT");
    } catch (err) {
      try {
        if (sqlite.inTransaction) sqlite.exec("ROLLBACK");
      } catch {}
      jobs.forEach((job, i) => job.reject(results[i] && !results[i]!.ok ? results[i]!.value : err));
      return;
    }
    stats.batches++;
    stats.writes += jobs.length;
    if (jobs.length > stats.largest) stats.largest = jobs.length;
    jobs.forEach((job, i) => (results[i]!.ok ? job.resolve(results[i]!.value) : job.reject(results[i]!.value)));
  }

  function flush(): void {
    scheduled = false;
    while (queue.length) {
      const jobs = queue.length > maxBatch ? queue.splice(0, maxBatch) : queue;
      if (jobs === queue) queue = [];
      commitBatch(jobs);
    }
  }

  return {
    write<T>(work: () => T): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        queue.push({ work, resolve: resolve as (v: unknown) => void, reject });
        if (queue.length >= maxBatch) flush();
        else if (!scheduled) {
          scheduled = true;
          setImmediate(flush);
        }
      });
    },
    flush,
    stats: () => ({ ...stats }),
  };
}

/**
 * The writer of a connection: one per open database, shared by everything that writes through it (the app, the
 * webhook dispatcher), so their writes share batches and never open a transaction of their own beside a batch.
 */
export const writerFor: (sqlite: Database) => Writer = perDatabase((sqlite) => createWriter(sqlite));
