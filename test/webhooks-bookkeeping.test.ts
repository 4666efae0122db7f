// The dispatcher's bookkeeping goes through the group-commit writer: slots held until an outcome commits, failed writes logged and retried, stop waits for the writes. Manual clock; failures are real SQLite errors (a TEMP trigger).
import { afterEach, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { join } from "node:path";
import { DB_FILENAME } from "../src/storage/layout";
import type { Writer } from "../src/db/writer";
import { manualClock, type ManualClock } from "../src/lib/clock";
import { createLogger } from "../src/lib/log";
import type { Stores } from "../src/stores";
import { createDispatcher } from "../src/webhooks/dispatcher";
import { dispatcherDeps, observeDispatch, pulse, receiverPool, stopDispatcher, until, webhookEnv, type WebhookEnv } from "./webhooks-fixtures";

let w: WebhookEnv;
let clock: ManualClock;
const receivers = receiverPool();

afterEach(async () => {
  readerDb?.close();
  readerDb = undefined;
  await w?.close();
  receivers.stopAll();
});

/** Error lines the dispatcher logged; each wakes `until`. */
async function env(opts: Parameters<typeof webhookEnv>[0] = {}): Promise<{ w: WebhookEnv; errors: string[] }> {
  clock = manualClock();
  const errors: string[] = [];
  const log = createLogger({
    level: "error",
    write: (line) => {
      errors.push(line);
      pulse();
    },
  });
  w = await webhookEnv({ clock, log, ...opts });
  return { w, errors };
}

// SQLite only (scripts/test-postgres.ts): the group-commit writer, seen from a second connection to the file, and TEMP triggers.
const sql = () => w.env.handle!.sqlite;
/** A second, read-only connection: it sees only what is committed. */
let readerDb: Database | undefined;
const reader = () => (readerDb ??= new Database(join(w.env.config.dataDir, DB_FILENAME), { readonly: true, strict: true }));
const deliveryRows = () =>
  sql().query("SELECT id, status, attempt_count FROM webhook_deliveries").all() as { id: string; status: string; attempt_count: number }[];
const attempts = () => (sql().query("SELECT COUNT(*) AS n FROM webhook_attempts").get() as { n: number }).n;
const undispatched = () => (sql().query("SELECT COUNT(*) AS n FROM events WHERE dispatched_at IS NULL").get() as { n: number }).n;

test("fan-out, outcomes and retention are writes of the dispatcher's writer, committed before each step is told", async () => {
  ({ w } = await env({ start: false }));
  // The engine's writer, counting this dispatcher's writes alone (the API's share its batches, uncounted).
  const shared = w.env.deps.writer;
  let writes = 0;
  const writer: Writer<Stores> = {
    ...shared,
    write: (work) => {
      writes++;
      return shared.write(work);
    },
  };
  const steps: string[] = [];
  const dispatcher = createDispatcher({
    ...dispatcherDeps(w.env),
    writer,
    observe: (s) => {
      // Told only after the write committed: a second connection already sees it.
      if (s.step === "fanned-out") steps.push(`fanned-out:${(reader().query("SELECT COUNT(*) AS n FROM webhook_deliveries").get() as { n: number }).n}`);
      if (s.step === "recorded")
        steps.push(`recorded:${(reader().query("SELECT status FROM webhook_deliveries WHERE id = ?").get(s.deliveryId) as { status: string }).status}`);
      observeDispatch(s);
    },
  });
  const r = receivers.start();
  await w.register(r.url);
  dispatcher.start();
  try {
    await dispatcher.settled();
    // At start: the prune (events, then the one endpoint's deliveries) and a fan-out that finds nothing.
    expect(writes).toBe(3);
    await w.createTicket();
    await until(() => steps.length === 2 && dispatcher.inFlight() === 0, "the delivery, recorded");
    await dispatcher.settled();
    expect(steps).toEqual(["fanned-out:1", "recorded:succeeded"]);
    // Then one fan-out and one outcome.
    expect(writes).toBe(5);
  } finally {
    await stopDispatcher(dispatcher, clock);
  }
});

test("an outcome whose write fails is logged and written again later; meanwhile its delivery keeps its slot and is not sent again", async () => {
  const { errors } = await env();
  const r = receivers.start();
  const hook = await w.register(r.url);
  sql().exec("CREATE TEMP TRIGGER refuse_attempts BEFORE INSERT ON webhook_attempts BEGIN SELECT RAISE(ABORT, 'attempt refused by the test'); END");
  await w.createTicket();
  await until(() => errors.some((l) => l.includes("could not record a webhook attempt")), "the failed write, logged");
  await w.dispatcher.settled();
  expect(errors.join("\n")).toContain("attempt refused by the test");
  expect(r.requests).toHaveLength(1);
  expect(w.dispatcher.inFlight()).toBe(1);
  expect(deliveryRows()).toEqual([{ id: r.requests[0]!.headers["webhook-id"]!, status: "pending", attempt_count: 0 }]);

  // The delivery is pending and due, but a pump now must not claim it again: it still holds its slot.
  await w.env.deps.stores.webhooks.announceDue(hook.id, clock.now());
  await w.dispatcher.settled();
  expect(r.requests).toHaveLength(1);

  // The retry comes on the clock, after the error back-off; it writes the same outcome.
  sql().exec("DROP TRIGGER refuse_attempts");
  clock.advance(999);
  await w.dispatcher.settled();
  expect(w.dispatcher.inFlight()).toBe(1);
  clock.advance(1);
  await w.idle();
  expect(w.dispatcher.inFlight()).toBe(0);
  expect(deliveryRows()).toEqual([{ id: r.requests[0]!.headers["webhook-id"]!, status: "succeeded", attempt_count: 1 }]);
  expect(attempts()).toBe(1);
  expect(r.requests).toHaveLength(1);
});

test("a fan-out whose write fails leaves the events undispatched, is logged, and runs again after the back-off", async () => {
  const { errors } = await env();
  const r = receivers.start();
  await w.register(r.url);
  sql().exec("CREATE TEMP TRIGGER refuse_deliveries BEFORE INSERT ON webhook_deliveries BEGIN SELECT RAISE(ABORT, 'delivery refused by the test'); END");
  await w.createTicket();
  await until(() => errors.some((l) => l.includes("delivery refused by the test")), "the failed fan-out, logged");
  await w.dispatcher.settled();
  expect(undispatched()).toBe(1);
  expect(deliveryRows()).toEqual([]);
  expect(w.dispatcher.nextWake()).toBe(clock.now() + 1000);

  sql().exec("DROP TRIGGER refuse_deliveries");
  expect(await w.runDue()).toBe(1);
  expect(undispatched()).toBe(0);
  expect(deliveryRows().map((d) => d.status)).toEqual(["succeeded"]);
  expect(r.requests).toHaveLength(1);
});

test("stop waits for the outcome of an attempt that answers during the grace period to commit", async () => {
  await env();
  let answer: (res: Response) => void = () => {};
  const r = receivers.start(() => new Promise<Response>((resolve) => (answer = resolve)));
  await w.register(r.url);
  await w.createTicket();
  await until(() => r.requests.length === 1, "the attempt on the wire");
  const stopped = w.dispatcher.stop(60_000); // the manual clock never runs the grace out here
  answer(new Response(null, { status: 204 }));
  await stopped;
  expect(w.dispatcher.inFlight()).toBe(0);
  expect(deliveryRows().map((d) => [d.status, d.attempt_count])).toEqual([["succeeded", 1]]);
  expect(attempts()).toBe(1);
});
