// Group commit for SQLite: the durable writes that arrive together share one transaction and one fsync.
import type { Database } from "bun:sqlite";

/** Bounds of one batch. Both are small: a lone write is committed on the next turn of the event loop. */
export interface WriterOptions<Tx> {
  /** Most writes committed in one transaction; a full queue is committed at once, the rest in the next batch. */
  maxBatch?: number;
  /** What each unit is given to work with: the stores bound to the batch's transaction. */
  tx?: Tx;
}

export const DEFAULT_MAX_BATCH = 128;

export interface BatchStats {
  batches: number;
  writes: number;
  /** The largest batch committed so far. */
  largest: number;
}

/**
 * The one way to make an acknowledged write. `Tx` is what a unit of work gets: the stores bound to the transaction
 * the unit runs in (on SQLite the batch's, on PostgreSQL the request's own).
 */
export interface Writer<Tx = undefined> {
  /**
   * Runs `work` inside the next batch's transaction, in a savepoint of its own, and resolves with its result only
   * after the batch's COMMIT — with `synchronous=FULL`, after the fsync. If `work` throws (or its promise rejects),
   * its savepoint is rolled back and the promise rejects with that error; the other writes of the batch commit. If
   * the COMMIT itself fails, every write of the batch rejects.
   *
   * `work` may be asynchronous, but on SQLite it may await only the stores it is given (whose promises are already
   * settled when returned): the batch runs on microtasks alone, so no timer, I/O callback or other request runs
   * between BEGIN and COMMIT. A unit that awaits anything else (a file, the network, a timer) is rejected.
   */
  write<T>(work: (tx: Tx) => T | Promise<T>): Promise<T>;
  /** Resolves once everything queued now is committed (tests, shutdown). */
  flush(): Promise<void>;
  /** True between a batch's BEGIN and its COMMIT: reads outside the writer then would see uncommitted rows. */
  inBatch(): boolean;
  stats(): BatchStats;
}

interface Job {
  work: (tx: unknown) => unknown;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

/** A unit awaited something that let other work run inside the open transaction. */
export class EscapedUnitError extends Error {
  override name = "EscapedUnitError";
  constructor() {
    super("a write unit awaited something other than its stores (a timer, a file, the network) inside the transaction");
  }
}

const SAVEPOINT = "cc_write";

const isThenable = (v: unknown): v is PromiseLike<unknown> => typeof (v as PromiseLike<unknown> | null)?.then === "function";

export function createWriter<Tx = undefined>(sqlite: Database, opts: WriterOptions<Tx> = {}): Writer<Tx> {
  const maxBatch = Math.max(1, opts.maxBatch ?? DEFAULT_MAX_BATCH);
  const tx = opts.tx as Tx;
  let queue: Job[] = [];
  let scheduled = false;
  let running = false;
  let open = false;
  let idle: (() => void)[] = [];
  const stats: BatchStats = { batches: 0, writes: 0, largest: 0 };

  // Turns of the event loop seen while a batch is open. A batch runs on microtasks alone, so this stays 0 unless a
  // unit awaited real I/O or a timer — and then other code may have run inside the open transaction. Best effort (an
  // I/O callback can come before the check phase): the guarded read stores are what stops a read of uncommitted rows.
  let turns = 0;
  let sentinel: ReturnType<typeof setImmediate> | undefined;
  const arm = () => {
    sentinel = setImmediate(() => {
      turns++;
      if (open) arm();
    });
  };

  /** Awaits an asynchronous unit; rejects it if the event loop turned while it ran. */
  async function settle(value: PromiseLike<unknown>): Promise<unknown> {
    const before = turns;
    const result = await value;
    if (turns !== before) throw new EscapedUnitError();
    return result;
  }

  async function commitBatch(jobs: Job[]): Promise<void> {
    const results: { ok: boolean; value: unknown }[] = [];
    try {
      sqlite.exec("BEGIN IMMEDIATE");
    } catch (err) {
      for (const job of jobs) job.reject(err);
      return;
    }
    open = true;
    arm();
    try {
      for (const job of jobs) {
        sqlite.exec(`SAVEPOINT ${SAVEPOINT}`);
        try {
          // A synchronous unit is not awaited: a batch of them runs in one call stack, as one synchronous step.
          let value = job.work(tx);
          if (isThenable(value)) value = await settle(value);
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
      open = false;
      clearImmediate(sentinel);
      jobs.forEach((job, i) => job.reject(results[i] && !results[i]!.ok ? results[i]!.value : err));
      return;
    }
    open = false;
    clearImmediate(sentinel);
    stats.batches++;
    stats.writes += jobs.length;
    if (jobs.length > stats.largest) stats.largest = jobs.length;
    jobs.forEach((job, i) => (results[i]!.ok ? job.resolve(results[i]!.value) : job.reject(results[i]!.value)));
  }

  function schedule(): void {
    if (scheduled || running) return;
    scheduled = true;
    // Always from a fresh turn of the event loop: its microtask queue is empty, so while the batch awaits its units
    // no other request's continuation can run and read the open transaction.
    setImmediate(runNext);
  }

  async function runNext(): Promise<void> {
    scheduled = false;
    if (running) return;
    running = true;
    const jobs = queue.length > maxBatch ? queue.splice(0, maxBatch) : queue;
    if (jobs === queue) queue = [];
    try {
      if (jobs.length) await commitBatch(jobs);
    } finally {
      running = false;
    }
    if (queue.length) schedule();
    else {
      const waiting = idle;
      idle = [];
      for (const fn of waiting) fn();
    }
  }

  return {
    write<T>(work: (tx: Tx) => T | Promise<T>): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        queue.push({ work: work as (tx: unknown) => unknown, resolve: resolve as (v: unknown) => void, reject });
        schedule();
      });
    },
    flush(): Promise<void> {
      if (!queue.length && !running) return Promise.resolve();
      return new Promise<void>((resolve) => {
        idle.push(resolve);
        schedule();
      });
    },
    inBatch: () => open,
    stats: () => ({ ...stats }),
  };
}
