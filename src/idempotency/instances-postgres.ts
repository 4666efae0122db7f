// Instances on one PostgreSQL database: each one's heartbeat row (`instances`), and which instance the idempotency claims made on a pool belong to.
import type { Sql } from "postgres";
import type { Queryable } from "../db/postgres/writer";
import type { Clock, Timer } from "../lib/clock";
import type { Logger } from "../lib/log";

/** How often a running instance refreshes its heartbeat. */
export const HEARTBEAT_INTERVAL_MS = 5_000;
/**
 * An instance whose heartbeat is older than this is taken for dead: three beats missed. Its unanswered idempotency
 * claims are then released (a retry of the request runs instead of getting 409). Heartbeats and the check use the
 * instances' clocks: they must agree to well within this (NTP).
 */
export const INSTANCE_DEAD_AFTER_MS = 3 * HEARTBEAT_INTERVAL_MS;

/** The instance whose heartbeat runs over each pool: claims made on that pool are that instance's. */
const owners = new WeakMap<Queryable, string>();

/** The instance that owns the claims made on `q` (a pool with a heartbeat), or null (an app without one: tests, tools). */
export function claimOwner(q: Queryable): string | null {
  return owners.get(q) ?? null;
}

export interface InstanceHeartbeat {
  readonly id: string;
  /** Writes a heartbeat now (the timer does it every interval). */
  beat(): Promise<void>;
  /** Settles once the heartbeat being written, if any, is written (for tests on a manual clock). */
  idle(): Promise<void>;
  /** Stops beating and removes the instance's row: its claims left open, if any, are released at once. */
  stop(): Promise<void>;
}

/**
 * Registers an instance on the database behind `sql` and keeps its heartbeat fresh, on the clock's timer. From the
 * first beat (awaited here) on, the claims made on `sql` record `id` as their owner. Rows of instances dead for
 * longer than the bound are removed at start (a missing row counts as dead, so this changes no decision).
 */
export async function startInstanceHeartbeat(opts: { sql: Sql; clock: Clock; id: string; log?: Logger; intervalMs?: number }): Promise<InstanceHeartbeat> {
  const { sql, clock, id } = opts;
  const intervalMs = opts.intervalMs ?? HEARTBEAT_INTERVAL_MS;
  let timer: Timer | undefined;
  let inFlight: Promise<void> = Promise.resolve();
  let stopped = false;

  const write = async () => {
    const now = clock.now();
    await sql`INSERT INTO instances (id, started_at, heartbeat_at) VALUES (${id}, ${now}, ${now})
      ON CONFLICT (id) DO UPDATE SET heartbeat_at = greatest(instances.heartbeat_at, excluded.heartbeat_at)`;
  };
  /** The beat queued behind the one being written, if any: later beats join it (a stalled write never piles them up). */
  let queued: Promise<void> | null = null;
  const beat = (): Promise<void> => {
    if (queued) return queued;
    const next = inFlight
      .catch(() => {})
      .then(() => {
        queued = null;
        return write();
      });
    queued = next;
    inFlight = next;
    return next;
  };
  // The next beat is armed before this one is written (beats queue on `inFlight`, never overlap): a slow write
  // delays no later beat.
  const arm = () => {
    timer = clock.setTimer(() => {
      if (stopped) return;
      arm();
      beat().catch((err) => opts.log?.warn("could not write the instance heartbeat", { instance: id, error: String(err) }));
    }, intervalMs);
  };

  const now = clock.now();
  await sql`DELETE FROM instances WHERE heartbeat_at < ${now - INSTANCE_DEAD_AFTER_MS}`;
  await beat();
  owners.set(sql, id);
  arm();
  return {
    id,
    beat,
    idle: () => inFlight.catch(() => {}),
    async stop() {
      stopped = true;
      timer?.cancel();
      owners.delete(sql);
      await inFlight.catch(() => {});
      await sql`DELETE FROM instances WHERE id = ${id}`;
    },
  };
}
