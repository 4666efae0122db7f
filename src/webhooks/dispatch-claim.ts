// Dispatch stage 1, claim: which due deliveries may start now under the global, per-organization and per-endpoint caps, round-robin between organizations, each claimed as a lease (the engine's: in the database on PostgreSQL, in memory on SQLite) so no other instance attempts it meanwhile.
import type { ClaimedDelivery, DueDelivery, WebhookStore } from "./store";

export interface Caps {
  /** Attempts in flight in all (webhookConcurrency). */
  global: number;
  /** Per organization, over all its endpoints (webhookOrgConcurrency). */
  org: number;
  /** Per endpoint (webhookEndpointConcurrency). */
  endpoint: number;
}

/** Who claims, and for how long a claim holds off every other instance. */
export interface Lease {
  instanceId: string;
  leaseMs: number;
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
   *
   * The slots are planned on committed rows (`dueFor`), then claimed in one call (`claimDue`, outside any writer unit:
   * no group commit to wait for): each delivery comes back with this instance's lease on it. On a shared database another instance may
   * hold some of the planned ones, or the endpoint's limit across instances; then fewer come back, the endpoint is
   * next due when those leases end, and `short` is set so the scheduler plans once more for the slots left.
   */
  claim(now: number): Promise<{ claimed: ClaimedDelivery[]; short: boolean }>;
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
 * outside any unit of work) and its claims (`claimDue`, one call per claim). Its slots and due hints live in memory;
 * the leases keep other instances (and the per-endpoint limit across them) in line.
 */
export function createClaimer(store: Pick<WebhookStore, "webhookOrg" | "dueFor" | "nextDueAfter" | "claimDue">, caps: Caps, lease: Lease): Claimer {
  /** Endpoint → earliest time it may have a due delivery. */
  const due = new Map<string, number>();
  /** Delivery ids holding a slot (→ their endpoint), so a row read again while on the wire is not started twice. */
  const taken = new Map<string, string>();
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
  const releasedMeanwhile = new Map<string, string>();
  /** Endpoints whose last claim fell short because of other instances' leases: due again when a slot of ours there comes back. */
  const blocked = new Set<string>();

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

  function take(row: Pick<DueDelivery, "id" | "webhook_id" | "org_id">) {
    taken.set(row.id, row.webhook_id);
    perEndpoint.add(row.webhook_id, 1);
    perOrg.add(row.org_id, 1);
  }

  /** Gives back a planned slot that was not claimed (not a release: no outcome or drop behind it). */
  function untake(row: Pick<DueDelivery, "id" | "webhook_id" | "org_id">) {
    if (!taken.delete(row.id)) return;
    perEndpoint.add(row.webhook_id, -1);
    perOrg.add(row.org_id, -1);
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

  /** One claim's plan: the endpoints due by `now`, grouped by organization, served round-robin until the caps or the rows run out. */
  async function plan(now: number): Promise<DueDelivery[]> {
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
        const next = await store.nextDueAfter(webhookId, now, lease.instanceId);
        if (next === null) due.delete(webhookId);
        else due.set(webhookId, next);
      }
    }
    return claimed;
  }

  /**
   * Claims what was planned, per endpoint as many as planned (which ones is the database's answer: on SQLite exactly
   * the planned ones), and puts the claimed rows in the planned rows' places; slots planned but not claimed come back.
   */
  async function claimPlanned(planned: DueDelivery[], now: number): Promise<{ claimed: ClaimedDelivery[]; short: boolean }> {
    if (planned.length === 0) return { claimed: [], short: false };
    const perHook = new Map<string, DueDelivery[]>();
    for (const row of planned) {
      const list = perHook.get(row.webhook_id);
      if (list) list.push(row);
      else perHook.set(row.webhook_id, [row]);
    }
    const got = new Map<string, ClaimedDelivery[]>();
    try {
      const requests = [...perHook].map(([webhookId, mine]) => ({
        webhookId,
        instanceId: lease.instanceId,
        now,
        leaseMs: lease.leaseMs,
        // This instance's own attempts on the endpoint (its slots, less the planned ones) use its limit first.
        endpointCap: caps.endpoint - (perEndpoint.get(webhookId) - mine.length),
        limit: mine.length,
        // What this instance holds of the endpoint now: never claimed twice.
        except: [...taken, ...releasedMeanwhile].filter(([id, hook]) => hook === webhookId && !mine.some((r) => r.id === id)).map(([id]) => id),
      }));
      const answers = await store.claimDue(requests);
      requests.forEach((r, i) => got.set(r.webhookId, answers[i] ?? []));
    } catch (err) {
      for (const row of planned) untake(row);
      throw err;
    }
    const claimed: ClaimedDelivery[] = [];
    let short = false;
    const used = new Map<string, number>();
    // Every planned slot back first: a claimed row may be one planned in another place.
    for (const row of planned) untake(row);
    for (const row of planned) {
      const rows = got.get(row.webhook_id) ?? [];
      const i = used.get(row.webhook_id) ?? 0;
      used.set(row.webhook_id, i + 1);
      const c = rows[i];
      if (c) {
        take(c);
        claimed.push(c);
      }
    }
    for (const [webhookId, rows] of perHook) {
      if ((got.get(webhookId)?.length ?? 0) >= rows.length) continue;
      // Held elsewhere (or the endpoint's limit is used by other instances): next due when a lease ends, or a due time;
      // and as soon as one of this instance's own attempts there ends (release), since the limit then has room.
      short = true;
      blocked.add(webhookId);
      const next = await store.nextDueAfter(webhookId, now, lease.instanceId);
      if (next === null) due.delete(webhookId);
      else due.set(webhookId, next);
    }
    return { claimed, short };
  }

  return {
    noteDue,

    async claim(now) {
      if (taken.size >= caps.global) return { claimed: [], short: false };
      claiming = true;
      try {
        return await claimPlanned(await plan(now), now);
      } finally {
        claiming = false;
        releasedMeanwhile.clear();
        for (const [webhookId, at] of lateHints.splice(0)) noteDue(webhookId, at);
      }
    },

    release(row) {
      if (!taken.delete(row.id)) return;
      if (claiming) releasedMeanwhile.set(row.id, row.webhook_id);
      perEndpoint.add(row.webhook_id, -1);
      perOrg.add(row.org_id, -1);
      // Other instances hold the rest of the endpoint's limit: this slot is the room the next claim there needs.
      if (blocked.delete(row.webhook_id)) noteDue(row.webhook_id, 0);
    },

    held: () => taken.size,

    nextDueAfter(now) {
      let next = Infinity;
      for (const t of due.values()) if (t > now && t < next) next = t;
      return next;
    },
  };
}
