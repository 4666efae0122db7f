// The dispatcher's wake-up signals on PostgreSQL: LISTEN/NOTIFY on a connection of their own, so every instance hears what any instance committed, with a catch-up whenever listening (re)starts and a periodic outbox check.
import postgres, { type Sql } from "postgres";
import type { OutboxSignal } from "../events/outbox";
import { type Clock, systemClock, type Timer } from "../lib/clock";
import { OUTBOX_CHANNEL, outboxWaiting } from "../events/outbox-postgres";
import type { QueuedListener, QueueSignal } from "./queue-signal";
import { postgresWebhookStore, QUEUE_CHANNEL } from "./store-postgres";

/** After a LISTEN failed (the database unreachable), the next try waits this long, doubling up to the cap. */
const RETRY_FIRST_MS = 500;
const RETRY_MAX_MS = 30_000;
/** How often, while anything listens for recorded events, the outbox is checked for events nobody was told about. */
export const OUTBOX_CHECK_MS = 5_000;

export interface PostgresSignalsOptions {
  /** The periodic outbox check's timers (default: the system clock). */
  clock?: Clock;
  /** Milliseconds between outbox checks (default OUTBOX_CHECK_MS). */
  outboxCheckMs?: number;
}

/** One channel: its listeners, what a notification on it does, and how to recover what may have been missed. */
interface Channel {
  name: string;
  size(): number;
  hear(payload: string): void;
  catchUp(): void;
}

/**
 * Keeps one connection (a pool of one, with the pool's settings) LISTENing on every channel that has listeners, and
 * on none when no channel has any (the connection is then closed). Changes are applied one at a time, in order.
 *
 * Not postgres.js's `sql.listen`: that one LISTENs again after its connection drops, but only if the first
 * reconnection succeeds; when the database is away for longer (a restart, a failover), its listeners are dropped
 * without a word and never hear anything again. Here every drop is followed by LISTEN again, retried until it works.
 *
 * NOTIFYs sent while nothing listened are lost, so each successful LISTEN — the first too, since a commit may land
 * between a subscriber's own first read and the LISTEN — is followed by the channel's catch-up.
 */
function listening(sql: Sql, channels: Channel[]) {
  let conn: Sql | null = null;
  /** The channels the server has our LISTEN for, on the current connection. */
  const listened = new Set<string>();
  let running = false;
  let again = false;
  let retry: ReturnType<typeof setTimeout> | undefined;
  let retryMs = RETRY_FIRST_MS;

  function open(): Sql {
    const c: Sql = postgres({
      ...(sql.options as object),
      max: 1,
      idle_timeout: null,
      max_lifetime: null,
      fetch_types: false,
      onnotify: (name: string, payload: string) => {
        if (conn === c && listened.has(name)) channels.find((ch) => ch.name === name)?.hear(payload);
      },
      // The server forgot our LISTENs with the connection: LISTEN again (postgres.js reconnects on the next query).
      onclose: () => {
        if (conn !== c) return;
        listened.clear();
        sync();
      },
    } as never) as unknown as Sql;
    return c;
  }

  async function step() {
    if (!channels.some((ch) => ch.size() > 0)) {
      clearTimeout(retry);
      retry = undefined;
      const c = conn;
      conn = null;
      listened.clear();
      await c?.end({ timeout: 0 }).catch(() => {});
      return;
    }
    conn ??= open();
    const c = conn;
    try {
      for (const ch of channels) {
        if (ch.size() > 0 && !listened.has(ch.name)) {
          await c.unsafe(`LISTEN ${ch.name}`);
          if (conn !== c) return;
          listened.add(ch.name);
          ch.catchUp();
        } else if (ch.size() === 0 && listened.has(ch.name)) {
          await c.unsafe(`UNLISTEN ${ch.name}`);
          listened.delete(ch.name);
        }
      }
      retryMs = RETRY_FIRST_MS;
    } catch {
      // Unreachable, or dropped meanwhile: try again later (a drop also calls onclose, which tries at once; postgres.js
      // spaces its reconnections with the pool's backoff).
      if (retry === undefined && conn === c) {
        retry = setTimeout(() => {
          retry = undefined;
          sync();
        }, retryMs);
        (retry as { unref?: () => void }).unref?.();
        retryMs = Math.min(retryMs * 2, RETRY_MAX_MS);
      }
    }
  }

  /** Brings the LISTENs in line with the listeners, now or right after the change in progress. */
  function sync() {
    if (running) {
      again = true;
      return;
    }
    running = true;
    void (async () => {
      try {
        do {
          again = false;
          await step();
        } while (again);
      } finally {
        running = false;
      }
    })();
  }

  return { sync };
}

/** Calls each listener, so that one that throws neither stops the others nor reaches postgres.js's socket handler. */
function callEach<L>(listeners: ReadonlySet<L>, call: (fn: L) => void): void {
  for (const fn of [...listeners]) {
    try {
      call(fn);
    } catch (err) {
      // Surfaces as an uncaught error, as a throwing listener does on SQLite (called from setImmediate there).
      queueMicrotask(() => {
        throw err;
      });
    }
  }
}

/**
 * Events recorded and deliveries announced due by any instance, heard after their commit (the outbox's NOTIFY is sent
 * after the recording unit commits, announceDue's is delivered on commit; neither for a unit that rolled back).
 * Listening starts on the first subscribe and stops when the last listener leaves. Whenever it (re)starts, what was
 * notified while nothing listened is recovered by the catch-up (one query each): onRecorded listeners are called if
 * any event waits in the outbox; onQueued listeners hear every active endpoint's soonest pending due time, as the
 * dispatcher reads them at start. And while onRecorded has listeners, the outbox is checked every `outboxCheckMs`
 * (one indexed EXISTS): an event whose wake-up was lost (its instance died between COMMIT and NOTIFY, or the NOTIFY
 * failed) is picked up within that time. A listener may so hear a call twice, or for nothing new: both signals are
 * hints, and their listeners read the tables.
 */
export function postgresSignals(sql: Sql, opts: PostgresSignalsOptions = {}): OutboxSignal & QueueSignal {
  const clock = opts.clock ?? systemClock;
  const checkMs = opts.outboxCheckMs ?? OUTBOX_CHECK_MS;
  const recorded = new Set<() => void>();
  const queued = new Set<QueuedListener>();
  /** Calls the onRecorded listeners if an event waits in the outbox (the catch-up and the periodic check). */
  const ifWaiting = () =>
    outboxWaiting(sql).then(
      (waiting) => {
        if (waiting) callEach(recorded, (fn) => fn());
      },
      // Unreachable: the next check, or the next LISTEN's catch-up, tries again.
      () => {},
    );
  let check: Timer | undefined;
  const outboxCheck = () => {
    check = undefined;
    if (recorded.size === 0) return;
    void ifWaiting();
    armCheck();
  };
  const armCheck = () => {
    if (recorded.size > 0) check ??= clock.setTimer(outboxCheck, checkMs);
    else {
      check?.cancel();
      check = undefined;
    }
  };
  const conn = listening(sql, [
    {
      name: OUTBOX_CHANNEL,
      size: () => recorded.size,
      hear: () => callEach(recorded, (fn) => fn()),
      catchUp: () => void ifWaiting(),
    },
    {
      name: QUEUE_CHANNEL,
      size: () => queued.size,
      hear(payload) {
        const due = parseDue(payload);
        if (due) callEach(queued, (fn) => fn(due.webhookId, due.dueAt));
      },
      catchUp() {
        postgresWebhookStore(sql, "read")
          .activeWithNextDue()
          .then(
            (rows) => {
              for (const { id, next } of rows) if (next !== null) callEach(queued, (fn) => fn(id, next));
            },
            () => {},
          );
      },
    },
  ]);

  function subscribe<L>(set: Set<L>, fn: L): () => void {
    set.add(fn);
    conn.sync();
    armCheck();
    return () => {
      if (set.delete(fn)) {
        conn.sync();
        armCheck();
      }
    };
  }

  return {
    onRecorded: (fn) => subscribe(recorded, fn),
    onQueued: (fn) => subscribe(queued, fn),
  };
}

/** The payload announceDue sends (`{"webhook_id":…,"due_at":…}`), or null when it is not one. */
function parseDue(payload: string): { webhookId: string; dueAt: number } | null {
  try {
    const x = JSON.parse(payload) as { webhook_id?: unknown; due_at?: unknown };
    return typeof x.webhook_id === "string" && typeof x.due_at === "number" ? { webhookId: x.webhook_id, dueAt: x.due_at } : null;
  } catch {
    return null;
  }
}
