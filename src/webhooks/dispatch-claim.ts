// Dispatch stage 1, claim: which due deliveries may start now under the global, per-organization and per-endpoint caps, round-robin between organizations.
import type { DueDelivery, WebhookStore } from "./store";

export interface Caps {
  /** Attempts in flight in all (webhookConcurrency). */
  global: number;
  /** Per organization, over all its endpoints (webhookOrgConcurrency). */
  org: number;
  /** Per endpoint (webhookEndpointConcurrency). */
  endpoint: number;
}

export interface Claimer {
  /** Remembers that `webhookId` may have a delivery due at `at` (a hint: the database is the truth). */
  noteDue(webhookId: string, at: number): void;
  /**
   * Takes a slot for each delivery that may start now, and resolves with them. Slots go round-robin between
   * organizations (one per organization per round, the least recently served first) and, inside one,
   * between its endpoints; no organization holds more than `caps.org` and no endpoint more than
   * `caps.endpoint`. So one tenant's dead endpoints cannot take the slots another tenant's deliveries need.
   * One claim at a time (the scheduler's pump serializes them); `noteDue` and `release` may come while one runs.
   */
  claim(now: number): Promise<DueDelivery[]>;
  /** Gives a claimed delivery's slot back (its outcome is recorded, or it was dropped and stays pending). */
  release(row: Pick<DueDelivery, "id" | "webhook_id" | "org_id">): void;
  /** Deliveries holding a slot (on the wire or awaiting their write). */
  held(): number;
  /** The earliest due hint after `now`, or Infinity: when the scheduler must wake next. */
  nextDueAfter(now: number): number;
}

/** Due rows of one endpoint read in this claim, and how far they were used. */
interface Batch {
  rows: DueDelivery[];
  used: number;
  limit: number;
}

/** Counts per key that forget a key at zero, so idle endpoints and organizations cost nothing. */
function counter() {
  const m = new Map<string, number>();
  return {
    get: (k: string) => m.get(k) ?? 0,
    add(k: string, d: number) {
      const n = (m.get(k) ?? 0) + d;
      if (n > 0) m.set(k, n);
      else m.delete(k);
    },
  };
}

/**
 * The claimer over the store's cross-organization reads (`dueFor`, `nextDueAfter`, `webhookOrg`: committed rows,
 * outside any unit of work). Its slots and due hints live in memory: one dispatcher per database.
 */
export function createClaimer(store: Pick<WebhookStore, "webhookOrg" | "dueFor" | "nextDueAfter">, caps: Caps): Claimer {
  /** Endpoint → earliest time it may have a due delivery. */
  const due = new Map<string, number>();
  /** Delivery ids holding a slot, so a row read again while on the wire is not started twice. */
  const taken = new Set<string>();
  const perEndpoint = counter();
  const perOrg = counter();
  /** Endpoint → its organization (it never changes), so claiming needs no query per endpoint and pass. */
  const orgOf = new Map<string, string>();
  /** Organization → when it last got a slot (a sequence number): the least recently served goes first. */
  const served = new Map<string, number>();
  let serveSeq = 0;
  /**
   * While a claim awaits its reads: due hints that arrive are applied after it (its own bookkeeping of an endpoint's
   * next due time must not overwrite them), and deliveries released meanwhile are not taken by it (it may have read
   * them as pending before their outcome committed).
   */
  let claiming = false;
  const lateHints: [string, number][] = [];
  const releasedMeanwhile = new Set<string>();

  async function orgFor(webhookId: string): Promise<string | null> {
    let org = orgOf.get(webhookId);
    if (org === undefined) {
      const found = await store.webhookOrg(webhookId);
      if (found === null) return null;
      orgOf.set(webhookId, (org = found));
    }
    return org;
  }

  function noteDue(webhookId: string, at: number) {
    if (claiming) {
      lateHints.push([webhookId, at]);
      return;
    }
    const current = due.get(webhookId);
    if (current === undefined || at < current) due.set(webhookId, at);
  }

  const unavailable = (id: string) => taken.has(id) || releasedMeanwhile.has(id);

  function take(row: DueDelivery) {
    taken.add(row.id);
    perEndpoint.add(row.webhook_id, 1);
    perOrg.add(row.org_id, 1);
  }

  /** Claims one delivery of this organization, from the first of its endpoints that can take one; null when none can. */
  async function claimOne(org: string, endpoints: string[], batches: Map<string, Batch>, now: number): Promise<DueDelivery | null> {
    if (perOrg.get(org) >= caps.org) return null;
    while (endpoints.length > 0) {
      const webhookId = endpoints[0]!;
      const running = perEndpoint.get(webhookId);
      if (running >= caps.endpoint) {
        endpoints.shift();
        continue;
      }
      let b = batches.get(webhookId);
      if (!b) {
        const free = Math.min(caps.endpoint - running, caps.org - perOrg.get(org), caps.global - taken.size);
        // Ask for enough rows to find `free` that are not already in flight.
        const limit = free + running;
        b = { rows: await store.dueFor(webhookId, now, limit), used: 0, limit };
        batches.set(webhookId, b);
      }
      while (b.used < b.rows.length && unavailable(b.rows[b.used]!.id)) b.used++;
      if (b.used >= b.rows.length) {
        endpoints.shift();
        continue;
      }
      const row = b.rows[b.used++]!;
      take(row);
      endpoints.push(endpoints.shift()!); // this organization's next turn goes to its next endpoint
      served.set(org, ++serveSeq);
      return row;
    }
    return null;
  }

  /** One claim: the endpoints due by `now`, grouped by organization, served round-robin until the caps or the rows run out. */
  async function claimAll(now: number): Promise<DueDelivery[]> {
    const claimed: DueDelivery[] = [];
    const byOrg = new Map<string, string[]>();
    for (const [webhookId, at] of [...due].sort((a, b) => a[1] - b[1])) {
      if (at > now) break;
      const org = await orgFor(webhookId);
      if (org === null) {
        due.delete(webhookId); // deleted meanwhile
        continue;
      }
      const list = byOrg.get(org);
      if (list) list.push(webhookId);
      else byOrg.set(org, [webhookId]);
    }
    const batches = new Map<string, Batch>();
    let turn = [...byOrg.keys()].sort((a, b) => (served.get(a) ?? -1) - (served.get(b) ?? -1));
    while (turn.length > 0 && taken.size < caps.global) {
      const again: string[] = [];
      for (const org of turn) {
        if (taken.size >= caps.global) break;
        const row = await claimOne(org, byOrg.get(org)!, batches, now);
        if (row) {
          claimed.push(row);
          again.push(org);
        }
      }
      turn = again;
    }
    for (const [webhookId, b] of batches) {
      if (b.rows.length < b.limit && b.used >= b.rows.length) {
        // Everything due now is claimed; remember only the endpoint's next future attempt.
        const next = await store.nextDueAfter(webhookId, now);
        if (next === null) due.delete(webhookId);
        else due.set(webhookId, next);
      }
    }
    return claimed;
  }

  return {
    noteDue,

    async claim(now) {
      if (taken.size >= caps.global) return [];
      claiming = true;
      try {
        return await claimAll(now);
      } finally {
        claiming = false;
        releasedMeanwhile.clear();
        for (const [webhookId, at] of lateHints.splice(0)) noteDue(webhookId, at);
      }
    },

    release(row) {
      if (!taken.delete(row.id)) return;
      if (claiming) releasedMeanwhile.add(row.id);
      perEndpoint.add(row.webhook_id, -1);
      perOrg.add(row.org_id, -1);
    },

    held: () => taken.size,

    nextDueAfter(now) {
      let next = Infinity;
      for (const t of due.values()) if (t > now && t < next) next = t;
      return next;
    },
  };
}
