// Two server processes (bun src/main.ts serve) on one PostgreSQL database and one S3 (Swift) bucket, a client alternating between them — tickets, idempotency races, folders, uploads and downloads, counts, key revocation — and a real webhook receiver; then SIGKILL of one while its attempts are on the wire: the survivor serves everything acknowledged, counts are exact, every event arrives at least once, never two attempts of one delivery at once.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { rmSync } from "node:fs";
import { openPostgres } from "../src/db/postgres/client";
import { createS3Storage } from "../src/storage/s3";
import { LEASE_MARGIN_MS } from "../src/webhooks/dispatcher";
import { pseudoRandomBytes, sha256Hex } from "./files-fixtures";
import { startServerProcess, tempDir, type ServerProcess } from "./helpers";
import { runCliAsync, startInstanceReceiver, type Attempt, type InstanceReceiver } from "./multi-instance-fixtures";
import { freshDatabase, postgresUrl } from "./services/postgres";
import { s3Server, signedRequest } from "./services/s3";
import { until, waitFor } from "./webhooks-fixtures";

// Child processes, a Swift bucket and a lease that must run out, on a loaded machine.
setDefaultTimeout(180_000);

// Both services start at once; each prints one line saying why when it cannot (never a silent skip).
const [pgBase, s3] = await Promise.all([postgresUrl(), s3Server()]);
const skipReason = !pgBase ? "no PostgreSQL server" : !s3 ? "no S3-compatible server" : null;
if (skipReason) process.stderr.write(`test/multi-instance.test.ts: skipped (${skipReason}; see the line above)\n`);

/** One attempt's timeout: short, so a dead instance's lease (this plus the dispatcher's margin) runs out soon. */
const WEBHOOK_TIMEOUT_MS = 4000;
/** How long a claim outlives its attempt's timeout: the wait for a takeover below follows the product's margin. */
/** Attempts in flight at once to one endpoint (across instances once the leases land). */
const ENDPOINT_CAP = 3;
const EVENTS = ["ticket.created", "ticket.updated", "ticket.deleted"];
const BUCKET = `cc-multi-${randomBytes(4).toString("hex")}`;
const PREFIX = "mi";
const SECRET_LINE = /API key \(shown once, store it now\): (cc_\S+)/;
const MiB = 1024 * 1024;

interface Instance {
  name: "A" | "B";
  proc: ServerProcess;
  url: string;
  pid: number;
}
interface Answer {
  status: number;
  body: any;
  headers: Headers;
}
interface LeftClaim {
  id: string;
  status: string;
  claimed_by: string | null;
  claimed_until: number | string | null;
}
interface SentFile {
  id: string;
  filename: string;
  bytes: Uint8Array;
  sha256: string;
  via: Instance["name"];
}

const dirs: string[] = [];
const instances: Instance[] = [];
let receiver: InstanceReceiver | undefined;
let dropDatabase: (() => Promise<void>) | undefined;
let dbUrl = "";

afterAll(async () => {
  for (const i of instances) {
    if (i.proc.proc.exitCode === null && i.proc.proc.signalCode === null) i.proc.proc.kill("SIGCONT");
    await i.proc.stop("SIGKILL").catch(() => {});
  }
  receiver?.stop();
  await dropDatabase?.().catch(() => {});
  if (s3) {
    const all = createS3Storage({
      bucket: BUCKET,
      prefix: "",
      endpoint: s3.endpoint,
      region: s3.region,
      pathStyle: true,
      accessKeyId: s3.accessKeyId,
      secretAccessKey: s3.secretAccessKey,
    });
    for (const u of await s3.pendingUploads(BUCKET).catch(() => [])) {
      const res = await signedRequest(s3, "DELETE", `/${BUCKET}/${u.key}`, { uploadId: u.uploadId });
      await res.body?.cancel();
    }
    try {
      for await (const o of all.list()) {
        const res = await signedRequest(s3, "DELETE", `/${BUCKET}/${o.key}`);
        await res.body?.cancel();
      }
      await s3.deleteBucket(BUCKET);
    } catch {
      // the bucket was never made
    }
  }
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
}, 60_000);

/** The environment of every server and CLI run: the shared database and bucket, no stray credentials. */
function sharedEnv(): Record<string, string | undefined> {
  return {
    CLIENTCOVE_DATABASE_URL: dbUrl,
    CLIENTCOVE_STORAGE_URL: `s3://${BUCKET}/${PREFIX}?endpoint=${s3!.endpoint}&region=${s3!.region}`,
    CLIENTCOVE_S3_ACCESS_KEY_ID: s3!.accessKeyId,
    CLIENTCOVE_S3_SECRET_ACCESS_KEY: s3!.secretAccessKey,
    AWS_ACCESS_KEY_ID: undefined,
    AWS_SECRET_ACCESS_KEY: undefined,
    AWS_SESSION_TOKEN: undefined,
    S3_SESSION_TOKEN: undefined,
  };
}

async function serve(name: Instance["name"]): Promise<Instance> {
  const dir = tempDir(`cc-multi-${name}`);
  dirs.push(dir);
  const proc = await startServerProcess(
    [
      "--host",
      "127.0.0.1",
      "--port",
      "0",
      "--data-dir",
      dir,
      // The receiver is on loopback: opened by the allow-list, not by allowing every private address.
      "--webhook-allow-cidrs",
      "127.0.0.1/32",
      "--webhook-timeout-ms",
      String(WEBHOOK_TIMEOUT_MS),
      "--webhook-retry-base-ms",
      "100",
      "--webhook-endpoint-concurrency",
      String(ENDPOINT_CAP),
      "--rate-limit-per-minute",
      "0",
    ],
    { env: sharedEnv() },
  );
  const instance = { name, proc, url: proc.url, pid: proc.proc.pid };
  instances.push(instance);
  return instance;
}

async function api(
  s: Instance,
  key: string,
  method: string,
  path: string,
  opts: { json?: unknown; headers?: Record<string, string>; body?: RequestInit["body"] } = {},
): Promise<Answer> {
  const headers: Record<string, string> = { authorization: `Bearer ${key}`, ...opts.headers };
  if (opts.json !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(`${s.url}${path}`, { method, headers, body: opts.json === undefined ? opts.body : JSON.stringify(opts.json) });
  const text = await res.text();
  let body: any = text;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {}
  return { status: res.status, body, headers: res.headers };
}

function form(bytes: Uint8Array, filename: string, folderId?: string): FormData {
  const fd = new FormData();
  if (folderId) fd.append("folder_id", folderId);
  fd.append("file", new Blob([bytes], { type: "application/octet-stream" }), filename);
  return fd;
}

/** Every item of a list route, walked page by page (`page`, 100 a page); checks meta.total against what was walked. */
async function listAll(s: Instance, key: string, path: string): Promise<any[]> {
  const out: any[] = [];
  let total = -1;
  for (let page = 1; ; page++) {
    const sep = path.includes("?") ? "&" : "?";
    const r = await api(s, key, "GET", `${path}${sep}per_page=100&page=${page}`);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    total = r.body.meta.total;
    out.push(...r.body.data);
    if (r.body.data.length < 100) break;
  }
  expect(out.length).toBe(total);
  return out;
}

/** The path and query of a signed link, sent to `s` (a link carries the public URL of the instance that minted it). */
function fetchLink(s: Instance, downloadUrl: string, init: RequestInit = {}): Promise<Response> {
  const u = new URL(downloadUrl);
  return fetch(`${s.url}${u.pathname}${u.search}`, init);
}

const isDelivered = (a: Attempt) => a.ended === "answered" && a.status !== null && a.status < 300;

describe.skipIf(skipReason !== null)("two instances on one PostgreSQL database and one bucket", () => {
  let A: Instance;
  let B: Instance;
  let key = "";
  let hookId = "";
  /** Ticket id → the body of its last answer the client got (2xx), from either instance. */
  const acked = new Map<string, any>();
  /** Every subject the client sent in a create, answered or not: what may exist. */
  const attemptedSubjects = new Set<string>();
  /** Updates acknowledged, each a change (one ticket.updated event each). */
  let ackedUpdates = 0;
  const deleted: string[] = [];
  const files: SentFile[] = [];
  /** Filename → bytes of every upload sent, answered or not. */
  const attemptedFiles = new Map<string, Uint8Array>();
  let folderCount = 0;
  /** What the writers had on the wire to A when it was killed. */
  const unacked: { kind: "ticket" | "file"; name: string; idempotencyKey: string | null }[] = [];
  /** Attempts of A's that were on the wire when it was killed. */
  let cutOff: Attempt[] = [];
  /** A's claims on those deliveries, read from the database right after its death (or why they could not be). */
  let leftByA: LeftClaim[] | string = "not read";
  let readAt = 0;
  let started = 0;
  const name = (pid: number | null) => (pid === A.pid ? "A" : pid === B.pid ? "B" : "?");

  beforeAll(async () => {
    started = performance.now();
    const db = await freshDatabase();
    dropDatabase = db.drop;
    dbUrl = db.url;
    await s3!.createBucket(BUCKET);
    receiver = startInstanceReceiver();
    // Both start at once on the empty database: one migrates and bootstraps (prints the first key), the other waits.
    [A, B] = await Promise.all([serve("A"), serve("B")]);
    receiver.watch([A.pid, B.pid]);
    const first = await Promise.any([A.proc.waitForStderr(SECRET_LINE), B.proc.waitForStderr(SECRET_LINE)]);
    key = first[1]!;
    const printed = [A, B].filter((s) => SECRET_LINE.test(s.proc.stderr()));
    expect(printed).toHaveLength(1);
  });

  async function createTicket(s: Instance, subject: string, idempotencyKey?: string): Promise<Answer> {
    attemptedSubjects.add(subject);
    const r = await api(s, key, "POST", "/v1/tickets", {
      json: { subject, priority: "high" },
      headers: idempotencyKey ? { "idempotency-key": idempotencyKey } : {},
    });
    if (r.status === 201) acked.set(r.body.id, r.body);
    return r;
  }

  async function updateTicket(s: Instance, id: string, status: string): Promise<Answer> {
    const r = await api(s, key, "PATCH", `/v1/tickets/${id}`, { json: { status } });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    acked.set(id, r.body);
    ackedUpdates++;
    return r;
  }

  async function uploadFile(s: Instance, bytes: Uint8Array, filename: string, opts: { folderId?: string; idempotencyKey?: string } = {}): Promise<Answer> {
    attemptedFiles.set(filename, bytes);
    const r = await api(s, key, "POST", "/v1/files", {
      body: form(bytes, filename, opts.folderId),
      headers: opts.idempotencyKey ? { "idempotency-key": opts.idempotencyKey } : {},
    });
    if (r.status === 201 && r.headers.get("idempotent-replayed") !== "true")
      files.push({ id: r.body.id, filename, bytes, sha256: sha256Hex(bytes), via: s.name });
    return r;
  }

  test("a client alternating between them: tickets, idempotency races, folders, files across instances, equal counts, a revoked key", async () => {
    const both = [A, B];
    const other = (s: Instance) => (s === A ? B : A);

    // The webhook first (through A), so every ticket event of the run is expected at the receiver.
    receiver!.setMode("answer", 25);
    const hook = await api(A, key, "POST", "/v1/webhooks", { json: { url: `${receiver!.url}/hook`, events: EVENTS } });
    expect(hook.status, JSON.stringify(hook.body)).toBe(201);
    hookId = hook.body.id;
    expect((await api(B, key, "GET", `/v1/webhooks/${hookId}`)).body.url).toBe(`${receiver!.url}/hook`);

    // Tickets created through both, every other one with an Idempotency-Key, each read and updated through the other.
    for (let i = 0; i < 8; i++) {
      const s = both[i % 2]!;
      const r = await createTicket(s, `Alternating ${i}`, i % 2 === 0 ? `alt-${i}` : undefined);
      expect(r.status, JSON.stringify(r.body)).toBe(201);
      const read = await api(other(s), key, "GET", `/v1/tickets/${r.body.id}`);
      expect(read.body).toEqual(r.body);
    }
    const firstIds = [...acked.keys()];
    // A burst through both at once, answered slowly: the endpoint's attempts on the wire stay within its limit.
    receiver!.setMode("answer", 100);
    const burst = await Promise.all(Array.from({ length: 12 }, (_, i) => createTicket(both[i % 2]!, `Burst ${i}`)));
    expect(burst.map((r) => r.status)).toEqual(Array(12).fill(201));
    await until(() => receiver!.delivered.size >= 8 + 12, "the burst's deliveries", 30_000);
    receiver!.setMode("answer", 25);
    for (const [i, id] of firstIds.slice(0, 4).entries()) await updateTicket(both[i % 2]!, id, "in_progress");
    // A retried idempotent create, through the other instance: the first answer, replayed.
    const replay = await api(B, key, "POST", "/v1/tickets", { json: { subject: "Alternating 0", priority: "high" }, headers: { "idempotency-key": "alt-0" } });
    expect({ status: replay.status, replayed: replay.headers.get("idempotent-replayed"), id: replay.body.id }).toEqual({
      status: 201,
      replayed: "true",
      id: firstIds[0],
    });

    // The same key sent to both instances at once: one wins, the other gets 409 idempotency_in_progress or the replay.
    for (let round = 0; round < 3; round++) {
      const subject = `Raced ${round}`;
      attemptedSubjects.add(subject);
      const answers = await Promise.all(
        both.map((s) => api(s, key, "POST", "/v1/tickets", { json: { subject, priority: "urgent" }, headers: { "idempotency-key": `race-${round}` } })),
      );
      const winners = answers.filter((r) => r.status === 201 && r.headers.get("idempotent-replayed") !== "true");
      expect(
        winners.map((r) => r.status),
        JSON.stringify(answers.map((r) => [r.status, r.body])),
      ).toEqual([201]);
      const winner = winners[0]!;
      acked.set(winner.body.id, winner.body);
      const loser = answers.find((r) => r !== winner)!;
      if (loser.status === 409) expect(loser.body.error).toBe("idempotency_in_progress");
      else
        expect({ status: loser.status, replayed: loser.headers.get("idempotent-replayed"), body: loser.body }).toEqual({
          status: 201,
          replayed: "true",
          body: winner.body,
        });
      // Once it has finished, either instance replays it.
      for (const s of both) {
        const again = await api(s, key, "POST", "/v1/tickets", { json: { subject, priority: "urgent" }, headers: { "idempotency-key": `race-${round}` } });
        expect({ status: again.status, replayed: again.headers.get("idempotent-replayed"), id: again.body.id }).toEqual({
          status: 201,
          replayed: "true",
          id: winner.body.id,
        });
      }
    }
    // A delete through A, seen through B.
    const gone = firstIds[7]!;
    expect((await api(A, key, "DELETE", `/v1/tickets/${gone}`)).status).toBe(204);
    acked.delete(gone);
    deleted.push(gone);
    expect((await api(B, key, "GET", `/v1/tickets/${gone}`)).status).toBe(404);

    // Folders: one created through A, listed through B; one name sent to both at once: one 201, one 409 conflict.
    const contracts = await api(A, key, "POST", "/v1/folders", { json: { name: "Contracts" } });
    expect(contracts.status).toBe(201);
    folderCount++;
    expect((await api(B, key, "GET", `/v1/folders/${contracts.body.id}`)).body).toEqual(contracts.body);
    const raced = await Promise.all(both.map((s) => api(s, key, "POST", "/v1/folders", { json: { name: "Shared" } })));
    expect(raced.map((r) => r.status).sort()).toEqual([201, 409]);
    expect(raced.find((r) => r.status === 409)!.body.error).toBe("conflict");
    folderCount++;

    // Uploads through one instance, downloads through the other: bytes, ETag, a range, If-None-Match, a signed link.
    const small = pseudoRandomBytes(300_000, 11);
    const big = pseudoRandomBytes(6 * MiB + 4321, 12); // two parts of a multipart upload
    const up1 = await uploadFile(A, small, "contract.pdf", { folderId: contracts.body.id });
    expect(up1.status, JSON.stringify(up1.body)).toBe(201);
    const up2 = await uploadFile(B, big, "backup.bin", { idempotencyKey: "upload-big" });
    expect(up2.status, JSON.stringify(up2.body)).toBe(201);
    // The same upload retried through A: the first answer, no second copy.
    const again = await api(A, key, "POST", "/v1/files", { body: form(big, "backup.bin"), headers: { "idempotency-key": "upload-big" } });
    expect({ status: again.status, replayed: again.headers.get("idempotent-replayed"), id: again.body.id }).toEqual({
      status: 201,
      replayed: "true",
      id: up2.body.id,
    });
    for (const [file, via] of [
      [files[0]!, A],
      [files[1]!, B],
    ] as const) {
      const to = other(via);
      expect(file.via).toBe(via.name);
      const head = await fetch(`${via.url}/v1/files/${file.id}/content`, { method: "HEAD", headers: { authorization: `Bearer ${key}` } });
      const etag = head.headers.get("etag");
      expect(etag).toBe(`"${file.sha256}"`);
      const got = await fetch(`${to.url}/v1/files/${file.id}/content`, { headers: { authorization: `Bearer ${key}` } });
      expect(got.status).toBe(200);
      expect(got.headers.get("etag")).toBe(etag);
      expect(sha256Hex(new Uint8Array(await got.arrayBuffer()))).toBe(file.sha256);
      const range = await fetch(`${to.url}/v1/files/${file.id}/content`, { headers: { authorization: `Bearer ${key}`, range: "bytes=1000-1999" } });
      expect(range.status).toBe(206);
      expect(range.headers.get("content-range")).toBe(`bytes 1000-1999/${file.bytes.length}`);
      expect(new Uint8Array(await range.arrayBuffer())).toEqual(file.bytes.slice(1000, 2000));
      const cached = await fetch(`${to.url}/v1/files/${file.id}/content`, { headers: { authorization: `Bearer ${key}`, "if-none-match": etag! } });
      expect(cached.status).toBe(304);
      await cached.body?.cancel();
      // A link minted by the uploading instance, opened on the other (one signing key in the database).
      const meta = await api(via, key, "GET", `/v1/files/${file.id}`);
      const link = await fetchLink(to, meta.body.download_url);
      expect(link.status).toBe(200);
      expect(sha256Hex(new Uint8Array(await link.arrayBuffer()))).toBe(file.sha256);
      const linkRange = await fetchLink(to, meta.body.download_url, { headers: { range: "bytes=0-9" } });
      expect(linkRange.status).toBe(206);
      expect(new Uint8Array(await linkRange.arrayBuffer())).toEqual(file.bytes.slice(0, 10));
    }
    const inFolder = await api(B, key, "GET", `/v1/files?folder_id=${contracts.body.id}`);
    expect(inFolder.body.data.map((f: { id: string }) => f.id)).toEqual([files[0]!.id]);

    // The same meta.total on both.
    for (const [path, n] of [
      ["/v1/tickets", acked.size],
      ["/v1/folders", folderCount],
      ["/v1/files", files.length],
    ] as const) {
      const totals = await Promise.all(both.map(async (s) => (await api(s, key, "GET", `${path}?per_page=1`)).body.meta.total));
      expect({ path, totals }).toEqual({ path, totals: [n, n] });
    }

    // A second key, used on both; revoked (the CLI on the shared database): refused by both at their next request.
    const orgs = await runCliAsync(["orgs", "list", "--json"], sharedEnv());
    expect(orgs.code, orgs.stderr).toBe(0);
    const orgId = JSON.parse(orgs.stdout)[0].id as string;
    const made = await runCliAsync(["keys", "create", "--org", orgId, "--name", "second", "--json"], sharedEnv());
    expect(made.code, made.stderr).toBe(0);
    const second = JSON.parse(made.stdout) as { id: string; key: string };
    for (const s of both) expect((await api(s, second.key, "GET", "/v1/tickets?per_page=1")).status).toBe(200);
    const revoked = await runCliAsync(["keys", "revoke", second.id], sharedEnv());
    expect(revoked.code, revoked.stderr).toBe(0);
    for (const s of [B, A]) {
      const r = await api(s, second.key, "GET", "/v1/tickets?per_page=1");
      expect({ instance: s.name, status: r.status, error: r.body?.error }).toEqual({ instance: s.name, status: 401, error: "unauthorized" });
    }
    expect((await api(B, key, "GET", "/v1/tickets?per_page=1")).status).toBe(200);
  });

  test("SIGKILL of A while its attempts are on the wire (held by the receiver); B, paused meanwhile, serves on", async () => {
    // Everything so far delivered and logged, so what follows starts from a quiet queue.
    const expectedSoFar = acked.size + deleted.length + ackedUpdates + deleted.length;
    await until(() => receiver!.delivered.size >= expectedSoFar, `the first ${expectedSoFar} deliveries`, 30_000);
    await waitFor(
      async () => (await api(B, key, "GET", `/v1/webhooks/${hookId}/deliveries?status=succeeded&per_page=1`)).body.meta.total === expectedSoFar,
      "the delivery log to record them",
      30_000,
    );

    // From now on the receiver answers nothing; B is paused (SIGSTOP), so only A's dispatcher runs: whatever is
    // attempted next is A's, and B cannot race it until it is woken after A's death.
    receiver!.setMode("hold");
    B.proc.proc.kill("SIGSTOP");
    try {
      const holdFrom = receiver!.attempts.length;
      // Two writers on A: tickets (some with an Idempotency-Key) and small uploads, until A stops answering.
      let killing = false;
      const writer = async (w: number) => {
        for (let i = 0; i < 60; i++) {
          const name = `Writer ${w}.${i}`;
          const idempotencyKey = i % 2 === 0 ? `w${w}-${i}` : null;
          const kind = i % 4 === 3 ? "file" : "ticket";
          let r: Answer;
          try {
            r =
              kind === "file"
                ? await uploadFile(A, pseudoRandomBytes(20_000 + i, 100 * w + i), `${name}.bin`, idempotencyKey ? { idempotencyKey } : {})
                : await createTicket(A, name, idempotencyKey ?? undefined);
          } catch (err) {
            if (!killing) throw err;
            unacked.push({ kind, name, idempotencyKey });
            return;
          }
          expect(r.status, JSON.stringify(r.body)).toBe(201);
        }
      };
      const writers = [writer(1), writer(2)];
      // The kill lands when A has its endpoint's full share of attempts on the wire (seen by the receiver, not slept for).
      const onWireFromA = () => receiver!.open().filter((a) => a.sender === A.pid);
      await until(() => onWireFromA().length >= ENDPOINT_CAP, `${ENDPOINT_CAP} of A's attempts on the wire`, 30_000);
      cutOff = onWireFromA();
      killing = true;
      A.proc.proc.kill("SIGKILL");
      await A.proc.proc.exited;
      expect(A.proc.proc.signalCode).toBe("SIGKILL");
      await Promise.all(writers);
      // Its connections broke with it: none of its attempts is on the wire any more, and none since the hold was delivered.
      await until(() => onWireFromA().length === 0, "A's attempts to end with its connections", 10_000);
      expect(cutOff.every((a) => a.ended === "aborted")).toBe(true);
      const sinceHold = receiver!.attempts.slice(holdFrom);
      expect(sinceHold.filter((a) => a.sender !== A.pid || isDelivered(a))).toEqual([]);
      // What A left in the database (read now, checked with the takeover below): its claims on those deliveries.
      const pg = openPostgres({ url: dbUrl, poolSize: 1, statementTimeoutMs: 10_000 });
      try {
        leftByA = await pg.sql<LeftClaim[]>`
          SELECT id, status, claimed_by, claimed_until FROM webhook_deliveries WHERE id IN ${pg.sql(cutOff.map((a) => a.deliveryId))}`;
        readAt = Date.now();
      } catch (err) {
        leftByA = err instanceof Error ? err.message : String(err);
      } finally {
        await pg.close();
      }
    } finally {
      receiver!.setMode("answer", 25);
      receiver!.releaseHeld();
      B.proc.proc.kill("SIGCONT");
    }

    // The survivor serves on: ready, reads, writes, uploads.
    await waitFor(async () => (await fetch(`${B.url}/readyz`)).status === 200, "B to be ready", 10_000);
    for (let i = 0; i < 3; i++) expect((await createTicket(B, `After the kill ${i}`, `after-${i}`)).status).toBe(201);
    const fromA = [...acked.values()].filter((t) => t.subject.startsWith("Writer")).slice(0, 2);
    for (const t of fromA) await updateTicket(B, t.id, "resolved");
    const late = await uploadFile(B, pseudoRandomBytes(50_000, 77), "after-the-kill.bin");
    expect(late.status).toBe(201);

    // A create that was on the wire to A when it died, retried on B with its key: at most one ticket whatever the
    // answer — the replay (it had committed), a new ticket (it had not), or 409 while A's claim on the key lasts.
    for (const u of unacked.filter((x) => x.kind === "ticket" && x.idempotencyKey)) {
      const r = await api(B, key, "POST", "/v1/tickets", { json: { subject: u.name, priority: "high" }, headers: { "idempotency-key": u.idempotencyKey! } });
      expect([201, 409], JSON.stringify(r.body)).toContain(r.status);
      if (r.status === 409) expect(r.body.error).toBe("idempotency_in_progress");
      else acked.set(r.body.id, r.body);
    }
  });

  test("after the kill: every acknowledged ticket and file is on the survivor with its bytes; counts exact", async () => {
    const tickets = await listAll(B, key, "/v1/tickets");
    const ids = tickets.map((t) => t.id);
    expect(new Set(ids).size).toBe(ids.length);
    // Every acknowledged ticket, as last acknowledged.
    const byId = new Map(tickets.map((t) => [t.id, t]));
    for (const [id, body] of acked) expect({ id, stored: byId.get(id) ?? null }).toEqual({ id, stored: body });
    // Nothing else but what a create on the wire at the kill may have committed, each at most once.
    const subjects = tickets.map((t) => t.subject);
    expect(new Set(subjects).size).toBe(subjects.length);
    const extra = tickets.filter((t) => !acked.has(t.id));
    for (const t of extra) expect(unacked.map((u) => u.name)).toContain(t.subject);
    for (const t of tickets) expect(attemptedSubjects.has(t.subject)).toBe(true);
    for (const id of deleted) expect((await api(B, key, "GET", `/v1/tickets/${id}`)).status).toBe(404);
    expect((await api(B, key, "GET", "/v1/tickets?per_page=1")).body.meta.total).toBe(acked.size + extra.length);
    // The per-status counts agree with the rows.
    for (const status of ["open", "in_progress", "resolved"]) {
      const n = tickets.filter((t) => t.status === status).length;
      expect({ status, total: (await api(B, key, "GET", `/v1/tickets?status=${status}&per_page=1`)).body.meta.total }).toEqual({ status, total: n });
    }

    // Files: every acknowledged one with its bytes (read from the bucket through B); any other is an upload on the wire at the kill, complete.
    const listed = await listAll(B, key, "/v1/files");
    const listedIds = new Set(listed.map((f) => f.id));
    for (const f of files) expect({ id: f.id, listed: listedIds.has(f.id) }).toEqual({ id: f.id, listed: true });
    for (const f of listed) {
      const sent = attemptedFiles.get(f.filename);
      expect(sent, f.filename).toBeDefined();
      if (!files.some((x) => x.id === f.id)) expect(unacked.map((u) => `${u.name}.bin`)).toContain(f.filename);
      const res = await fetch(`${B.url}/v1/files/${f.id}/content`, { headers: { authorization: `Bearer ${key}` } });
      expect(res.status).toBe(200);
      const bytes = new Uint8Array(await res.arrayBuffer());
      expect({ file: f.filename, sha256: sha256Hex(bytes), size: bytes.length }).toEqual({ file: f.filename, sha256: sha256Hex(sent!), size: sent!.length });
    }
    expect(new Set(listed.map((f) => f.filename)).size).toBe(listed.length);
    expect((await listAll(B, key, "/v1/folders")).length).toBe(folderCount);

    // The bucket holds an object for every row; anything more is an upload cut off by the kill after its object was
    // complete (its intent is in A's data dir, settled by A's next start there).
    const objects: string[] = [];
    const view = createS3Storage({
      bucket: BUCKET,
      prefix: PREFIX,
      endpoint: s3!.endpoint,
      region: s3!.region,
      pathStyle: true,
      accessKeyId: s3!.accessKeyId,
      secretAccessKey: s3!.secretAccessKey,
    });
    for await (const o of view.list()) objects.push(o.key.split("/").pop()!);
    for (const f of listed) expect(objects).toContain(f.id);
    expect(objects.length - listed.length).toBeLessThanOrEqual(unacked.filter((u) => u.kind === "file").length);
  });

  test("every event is delivered at least once; the survivor takes over the dead instance's claimed deliveries once their lease runs out", async () => {
    const tickets = await listAll(B, key, "/v1/tickets");
    const createdIds = [...tickets.map((t) => t.id), ...deleted].sort();
    const expected = createdIds.length + ackedUpdates + deleted.length;
    const deliveredOf = (event: string) => [...receiver!.delivered.values()].filter((a) => a.event === event);
    // The lease of A's claims lasts the timeout plus the margin; then B's retries of them need a moment more.
    const deadline = WEBHOOK_TIMEOUT_MS + LEASE_MARGIN_MS + 30_000;
    await until(
      () => receiver!.delivered.size >= expected && cutOff.every((a) => receiver!.delivered.has(a.deliveryId)),
      `all ${expected} events delivered (${receiver!.delivered.size} so far)`,
      deadline,
    );
    expect([...new Set(deliveredOf("ticket.created").map((a) => a.dataId))].sort()).toEqual(createdIds);
    expect(deliveredOf("ticket.created")).toHaveLength(createdIds.length);
    expect(deliveredOf("ticket.updated")).toHaveLength(ackedUpdates);
    expect(deliveredOf("ticket.deleted").map((a) => a.dataId)).toEqual(deleted);
    expect(receiver!.delivered.size).toBe(expected);

    // A's attempts cut off by its death were sent again, by B, under the same webhook-id.
    for (const a of cutOff) expect({ id: a.deliveryId, by: receiver!.delivered.get(a.deliveryId)!.sender }).toEqual({ id: a.deliveryId, by: B.pid });
    // When A died each was still pending under one live claim, A's (its lease); B sent none of them again before that
    // lease had ended (B's clock and the receiver's are this machine's).
    expect(typeof leftByA === "string" ? leftByA : null).toBeNull();
    const claims = leftByA as LeftClaim[];
    expect(claims.map((c) => c.id).sort()).toEqual(cutOff.map((a) => a.deliveryId).sort());
    expect(claims.map((c) => c.status)).toEqual(claims.map(() => "pending"));
    expect(new Set(claims.map((c) => c.claimed_by)).size).toBe(1);
    expect(claims[0]!.claimed_by).not.toBeNull();
    for (const c of claims) {
      const leaseEnd = Number(c.claimed_until);
      expect(leaseEnd).toBeGreaterThan(readAt);
      const cut = cutOff.find((a) => a.deliveryId === c.id)!;
      for (const r of receiver!.attempts.filter((x) => x.deliveryId === c.id && x.seq > cut.seq))
        expect({ id: c.id, before_lease_end: r.at < leaseEnd }).toEqual({ id: c.id, before_lease_end: false });
    }

    // The delivery log agrees: every delivery succeeded, each one the receiver got.
    await waitFor(
      async () => (await api(B, key, "GET", `/v1/webhooks/${hookId}/deliveries?status=succeeded&per_page=1`)).body.meta.total === expected,
      "the log to record every success",
      30_000,
    );
    const log = await listAll(B, key, `/v1/webhooks/${hookId}/deliveries`);
    expect(log.length).toBe(expected);
    for (const d of log)
      expect({ id: d.id, delivered: receiver!.delivered.has(d.id), status: d.status }).toEqual({ id: d.id, delivered: true, status: "succeeded" });
  });

  test("no delivery ever had two attempts on the wire at the same moment", () => {
    const attempts = receiver!.attempts;
    process.stderr.write(
      `test/multi-instance.test.ts: ${attempts.length} attempts (${attempts.filter((a) => a.sender === A.pid).length} by A, ${attempts.filter((a) => a.sender === B.pid).length} by B), ${receiver!.delivered.size} deliveries, at most ${receiver!.peak().count} on the wire, ${cutOff.length} cut off by the kill, ${unacked.length} requests unanswered, ${Math.round((performance.now() - started) / 1000)} s since the servers started\n`,
    );
    // Every attempt was attributed to one of the two instances.
    expect(attempts.filter((a) => a.sender === null)).toEqual([]);
    expect(receiver!.overlaps.map((o) => `${o.deliveryId} by ${o.senders.map(name).join(" and ")}`)).toEqual([]);
  });

  test("the endpoint's concurrency limit held across both instances", () => {
    const peak = receiver!.peak();
    expect(peak.count, `attempts on the wire at once: ${peak.senders.map(name).join(" ")}`).toBeLessThanOrEqual(ENDPOINT_CAP);
  });
});
