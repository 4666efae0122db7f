// Seeds a benchmark database through the product's own code: createOrg, createKey, createTicket, updateTicket.
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { openDatabase } from "../src/db/client";
import { migrate } from "../src/db/migrate";
import { createKey } from "../src/keys/service";
import { systemClock, type Clock } from "../src/lib/clock";
import { createOrg } from "../src/orgs/service";
import { createTicket, updateTicket } from "../src/tickets/service";
import type { Ticket, TicketPriority, TicketStatus } from "../src/tickets/model";
import { type Engine, sqliteEngine } from "../src/stores";

export interface SeedSizes {
  /** Tickets of the organization the list/get/create rows use ("main"). */
  main: number;
  /** Tickets of the organization of the growth row at the large size ("big"). */
  big: number;
  /** Tickets of the organization of the growth row at the small size ("small"). */
  small: number;
}

export interface SeedOrg {
  orgId: string;
  userId: string;
  key: string;
  tickets: number;
}

export interface SeedManifest {
  sizes: SeedSizes;
  orgs: { main: SeedOrg; big: SeedOrg; small: SeedOrg };
  /** A sample of the main org's ticket ids, for GET /v1/tickets/:id. */
  sampleIds: string[];
  seconds: number;
  /** When the seed was made: its events age, and past the retention period the server would start pruning them. */
  seededAt: number;
}

export const MANIFEST = "seed.json";
const BATCH = 10_000;
const PRIORITIES: TicketPriority[] = ["low", "medium", "medium", "high", "urgent"];
// Where tickets end up: most support tickets get resolved; a quarter stay open.
const LATER_STATUS: (TicketStatus | null)[] = [null, null, "in_progress", "resolved", "resolved", "closed", "closed", "closed"];

/** A deterministic PRNG (mulberry32), so two seeds of the same sizes hold the same shape of data. */
function prng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Creates `count` tickets for the org through createTicket (each a unit of the product's writer, with its count and
 * outbox rows, as the route does), BATCH at a time: the writer commits them in batches (the seed runs with
 * synchronous=OFF, so a million rows take a minute, not an hour of fsyncs). Time advances 0–2 s per ticket from
 * `start`, so created_at has ties (the order's tie-break by id matters). Every random draw happens in the loop, in
 * the same order as ever, so the same sizes seed the same data.
 */
async function seedTickets(engine: Engine, org: SeedOrg, count: number, start: number, rand: () => number, sample?: string[]) {
  let now = start;
  const clockAt = (at: number): Clock => ({ now: () => at, setTimer: systemClock.setTimer });
  const actor = { orgId: org.orgId, userId: org.userId };
  let sampled = sample?.length ?? 0;
  for (let done = 0; done < count; ) {
    const n = Math.min(BATCH, count - done);
    const pending: Promise<unknown>[] = [];
    for (let i = 0; i < n; i++) {
      now += Math.floor(rand() * 3) * 1000;
      const seq = done + i;
      const deps = { ...engine, clock: clockAt(now) };
      const created = createTicket(deps, actor, {
        subject: `Benchmark ticket ${seq}: cannot upload files over 10MB`,
        description: seq % 3 === 0 ? undefined : "When I try to upload a PDF larger than 10MB, the upload fails silently.",
        priority: PRIORITIES[Math.floor(rand() * PRIORITIES.length)],
      });
      const later = LATER_STATUS[Math.floor(rand() * LATER_STATUS.length)];
      const keep = sample !== undefined && sampled < 1000 && rand() < 0.05;
      if (keep) sampled++;
      pending.push(
        created.then(async (t: Ticket) => {
          if (later) await updateTicket(deps, actor, t.id, { status: later });
          if (keep) sample!.push(t.id);
        }),
      );
    }
    await Promise.all(pending);
    done += n;
    if (process.stderr.isTTY) process.stderr.write(`\r  ${org.orgId}: ${done}/${count}`);
  }
  if (process.stderr.isTTY) process.stderr.write("\n");
  org.tickets = count;
}

/** Seeds a fresh database in `dir` (replacing any). Returns the manifest, also written to dir/seed.json. */
export async function seedDatabase(dir: string, sizes: SeedSizes): Promise<SeedManifest> {
  const started = performance.now();
  const tmp = `${dir}.partial`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  const handle = openDatabase(tmp);
  migrate(handle.sqlite);
  // Seeding is a bulk load: durability per batch is not the point here (the server runs with the product's pragmas).
  handle.sqlite.exec("PRAGMA synchronous = OFF");
  handle.sqlite.exec("PRAGMA cache_size = -1048576"); // 1 GiB: random-id B-tree inserts thrash the default 2 MiB cache
  handle.sqlite.exec("PRAGMA temp_store = MEMORY"); // createTicket's nested transactions are savepoints: keep their sub-journals off disk
  // The data ends about now: a million tickets at ~1 s apart span ~12 days, inside the 30-day outbox retention,
  // so the server's retention pruner finds nothing to delete (as on a server that has been pruning all along).
  const start = Date.now() - 14 * 86_400_000;
  const sysClock: Clock = { now: () => start, setTimer: systemClock.setTimer };
  const engine = sqliteEngine(handle.sqlite);
  const makeOrg = async (name: string): Promise<SeedOrg> => {
    const deps = { ...engine, clock: sysClock };
    const { org, owner } = await createOrg(deps, { name, plan: "pro", ownerEmail: `owner@${name}.bench` });
    const key = await createKey(deps, { orgId: org.id, name: "bench" });
    return { orgId: org.id, userId: owner.id, key: key.key, tickets: 0 };
  };
  const orgs = { main: await makeOrg("main"), big: await makeOrg("big"), small: await makeOrg("small") };
  const rand = prng(7);
  const sampleIds: string[] = [];
  await seedTickets(engine, orgs.small, sizes.small, start, rand);
  await seedTickets(engine, orgs.main, sizes.main, start, rand, sampleIds);
  await seedTickets(engine, orgs.big, sizes.big, start, rand);
  // A running server's dispatcher would have fanned these out long ago; a steady-state outbox has them marked.
  handle.sqlite.exec("UPDATE events SET dispatched_at = created_at WHERE dispatched_at IS NULL");
  handle.close();
  const manifest: SeedManifest = { sizes, orgs, sampleIds, seconds: Math.round((performance.now() - started) / 100) / 10, seededAt: Date.now() };
  writeFileSync(join(tmp, MANIFEST), JSON.stringify(manifest, null, 2));
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
  return manifest;
}

/** The manifest of a finished seed in `dir`, or null. */
export function readManifest(dir: string): SeedManifest | null {
  const path = join(dir, MANIFEST);
  if (!existsSync(path)) return null;
  return JSON.parse(readFileSync(path, "utf8")) as SeedManifest;
}

if (import.meta.main) {
  const [dir, main = "10000", big = "50000", small = "1000"] = process.argv.slice(2);
  if (!dir) {
    console.error("usage: bun bench/seed.ts <dir> [main] [big] [small]");
    process.exit(2);
  }
  const m = await seedDatabase(dir, { main: Number(main), big: Number(big), small: Number(small) });
  console.log(`seeded ${dir} in ${m.seconds} s`);
}
