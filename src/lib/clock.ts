// The clock dependency: "now" and timers, so tests can control time (a manual clock fires its timers only when advanced).
export interface Timer {
  /** Stops the timer; harmless once it fired or was cancelled. */
  cancel(): void;
}

export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
  /**
   * Calls `fn` once, `ms` from now (a negative delay counts as 0). The system clock's timers do not keep
   * the process alive (unref), so a scheduler asleep until its next due time never blocks an exit.
   */
  setTimer(fn: () => void, ms: number): Timer;
}

/** setTimeout's ceiling (~24.8 days); a later timer fires early, at the ceiling, and its owner arms it again. */
const MAX_TIMEOUT_MS = 2_147_483_647;

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer(fn, ms) {
    const handle = setTimeout(fn, Math.min(Math.max(0, ms), MAX_TIMEOUT_MS));
    handle.unref?.();
    return { cancel: () => clearTimeout(handle) };
  },
};

export interface ManualClock extends Clock {
  /** Moves time forward by `ms`, firing every timer that comes due on the way, in due order, each with now() at its due time. */
  advance(ms: number): void;
  /** Jumps to `ms`; timers due by then fire (with now() at `ms`). */
  set(ms: number): void;
  /** The due time of the earliest pending timer, or null when none is pending. */
  nextTimer(): number | null;
}

/** A clock that only moves when told to; for tests of expiry and scheduling. Its timers fire synchronously inside advance/set. */
export function manualClock(start = Date.UTC(2026, 0, 1)): ManualClock {
  let t = start;
  let seq = 0;
  /** Pending timers; `seq` keeps timers due at the same time in the order they were set. */
  const timers = new Map<number, { at: number; fn: () => void }>();

  function earliest(limit: number): [number, { at: number; fn: () => void }] | null {
    let best: [number, { at: number; fn: () => void }] | null = null;
    for (const entry of timers) if (entry[1].at <= limit && (best === null || entry[1].at < best[1].at)) best = entry;
    return best;
  }

  /** Fires due timers up to `until`, including those set by callbacks that fall due before it. */
  function fireUntil(until: number, stepTime: boolean) {
    for (let next = earliest(until); next !== null; next = earliest(until)) {
      timers.delete(next[0]);
      if (stepTime && next[1].at > t) t = next[1].at;
      next[1].fn();
    }
  }

  return {
    now: () => t,
    setTimer(fn, ms) {
      const id = ++seq;
      timers.set(id, { at: t + Math.max(0, ms), fn });
      return { cancel: () => void timers.delete(id) };
    },
    advance(ms) {
      const target = t + Math.max(0, ms);
      fireUntil(target, true);
      t = target;
    },
    set(ms) {
      t = ms;
      fireUntil(t, false);
    },
    nextTimer() {
      const next = earliest(Infinity);
      return next === null ? null : next[1].at;
    },
  };
}
