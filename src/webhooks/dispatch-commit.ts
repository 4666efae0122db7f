// How the dispatcher commits its own bookkeeping (fan-out, attempt outcomes, retention): as writes of the connection's group-commit writer, synchronous=FULL like every write (no NORMAL toggle any more).
import type { Writer } from "../db/writer";

/**
 * Runs `fn` (synchronous) in a savepoint of the writer's next batch and resolves with its value once that batch
 * has committed; rejects with fn's error (only its savepoint is undone) or with the batch's failed COMMIT.
 */
export type Commit = <T>(fn: () => T) => Promise<T>;

/**
 * The dispatcher's writes share the batches of the API's writes. They used to commit in transactions of their own
 * with `PRAGMA synchronous = NORMAL` toggled around them, to skip an fsync per commit; a pragma cannot apply to one
 * write inside a shared batch (the batch carries acknowledged API writes, which must be FULL), and it is no longer
 * needed: the outcomes and fan-outs that finish together, and whatever the API writes in the same turn, share the
 * batch's one fsync. So a committed outcome or fan-out now survives a power cut too.
 */
export function writerCommit(writer: Pick<Writer, "write">): Commit {
  return (fn) => writer.write(fn);
}
