// Crash safety of every kind of write: 8 concurrent clients create, update and delete tickets, folders and files while a
// real server is SIGKILLed at seeded moments. After each restart every acknowledged write is there as acknowledged (an
// unanswered one either happened whole or not at all), counts and events agree with the rows, bytes agree with the file
// rows, and a create retried with its Idempotency-Key is answered once and never stored twice.
import { afterAll, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { TICKET_PRIORITIES, TICKET_STATUSES } from "../src/db/schema/tickets";
import { toIso } from "../src/lib/time";
import { verifyDataDir } from "../src/ops/verify";
import { runCli, seededRandom, startServerProcess, tempDir, type ServerProcess } from "./helpers";
import { eventually, listTemp, pseudoRandomBytes, sha256Hex } from "./files-fixtures";

const KILLS = Number(process.env.CRASH_KILLS ?? 20);
const CLIENTS = 8;
const SEED = 1111;
const dir = tempDir("crash-writes");
let server: ServerProcess | undefined;
afterAll(async () => {
  await server?.stop("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
});

// Eight clients may each have an upload in flight: the per-key bound (default 8) must not turn one away.
const start = () =>
  startServerProcess(["--data-dir", dir, "--port", "0", "--host", "127.0.0.1", "--rate-limit-per-minute", "0", "--max-uploads-per-key", "64"]);

type TicketState = { subject: string; status: string; priority: string } | null;
type FolderState = { name: string } | null;
type FileState = { sha256: string; folder_id: string | null } | null;

/**
 * A resource and the states it may be in after a restart: one once the last request about it was answered, two
 * (before, after) while that request went unanswered. Each resource belongs to one client, whose requests are sequential,
 * so "the last acknowledged state" is well defined; the restart check resolves two states to the one found.
 */
interface Tracked<S> {
  id: string;
  owner: number;
  may: S[];
}

/** A create whose answer never came: retried after the restart with the same Idempotency-Key. */
type Unanswered =
  | { kind: "ticket"; owner: number; key: string; body: { subject: string; priority: string } }
  | { kind: "folder"; owner: number; key: string; body: { name: string } }
  | { kind: "file"; owner: number; key: string; bytes: Uint8Array<ArrayBuffer>; folder_id: string | null };

/** The request reached no answer (refused, reset, cut mid-body): the server died under it. */
class NoAnswer extends Error {}

const pick = <T>(rand: () => number, xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

describe("SIGKILL during concurrent creates, updates, uploads and deletes", () => {
  test(`${KILLS} kills under ${CLIENTS} clients: every acknowledged write as acknowledged, nothing half-done, no duplicate from a retried key`, async () => {
    expect(runCli(["migrate", "--data-dir", dir]).code).toBe(0);
    const org = JSON.parse(runCli(["orgs", "create", "--name", "Crash writers", "--json", "--data-dir", dir]).stdout);
    const apiKey = JSON.parse(runCli(["keys", "create", "--org", org.id, "--json", "--data-dir", dir]).stdout).key as string;
    const killRand = seededRandom(SEED);

    const tickets = new Map<string, Tracked<TicketState>>();
    const folders = new Map<string, Tracked<FolderState>>();
    const files = new Map<string, Tracked<FileState>>();
    const unanswered: Unanswered[] = [];
    /** Creates that were answered, by Idempotency-Key: a later resend must replay the same resource. */
    const answeredCreates: { path: string; key: string; body: unknown; id: string }[] = [];
    /** What was sent, so that every event can be traced back to a request. */
    const sent = {
      ticketSubjects: new Set<string>(),
      patches: new Map<string, Record<string, string>[]>(),
      ticketDeletes: new Set<string>(),
      fileNames: new Set<string>(),
      fileDeletes: new Set<string>(),
    };
    /** Recursive folder deletes that went unanswered: the folder and its files go together or not at all. */
    const unansweredFolderDeletes: { folderId: string; fileIds: string[] }[] = [];
    const n = {
      creates: 0,
      updates: 0,
      deletes: 0,
      uploads: 0,
      fileDeletes: 0,
      folderOps: 0,
      unanswered: 0,
      cutApplied: 0,
      cutNotApplied: 0,
      retries: 0,
      replays: 0,
      resent: 0,
    };
    let seq = 0;

    let base = "";
    /** One request; NoAnswer if the server died before a complete answer, an Error for any other unexpected answer. */
    const call = async (method: string, path: string, want: number, init: { json?: unknown; form?: FormData; key?: string } = {}) => {
      const headers: Record<string, string> = { authorization: `Bearer ${apiKey}` };
      if (init.key) headers["idempotency-key"] = init.key;
      if (init.json !== undefined) headers["content-type"] = "application/json";
      let status: number;
      let text: string;
      let replayed: boolean;
      try {
        const r = await fetch(`${base}${path}`, { method, headers, body: init.form ?? (init.json === undefined ? undefined : JSON.stringify(init.json)) });
        status = r.status;
        replayed = r.headers.get("idempotent-replayed") === "true";
        text = await r.text();
      } catch {
        throw new NoAnswer();
      }
      if (status !== want) throw new Error(`${method} ${path} answered ${status}, not ${want}: ${text}`);
      return { body: (text ? JSON.parse(text) : null) as any, replayed };
    };
    const uploadForm = (key: string, bytes: Uint8Array<ArrayBuffer>, folderId: string | null) => {
      const fd = new FormData();
      if (folderId) fd.append("folder_id", folderId);
      fd.append("file", new Blob([bytes]), `${key}.bin`);
      return fd;
    };
    const alive = <S>(m: Map<string, Tracked<S>>, owner: number) => [...m.values()].filter((t) => t.owner === owner && t.may.length === 1 && t.may[0] !== null);

    /** One client's next request, chosen by its own seeded PRNG; a request that gets no answer leaves both outcomes open. */
    const step = async (c: number, rand: () => number) => {
      const mine = alive(tickets, c);
      const myFolders = alive(folders, c);
      const myFiles = alive(files, c);
      const r = rand();
      if (r < 0.25 || mine.length === 0) {
        const key = `tkt-${seq++}`;
        const body = { subject: `crash ticket ${key}`, priority: pick(rand, TICKET_PRIORITIES) };
        sent.ticketSubjects.add(body.subject);
        try {
          const { body: t } = await call("POST", "/v1/tickets", 201, { json: body, key });
          expect(t).toMatchObject({ subject: body.subject, status: "open", priority: body.priority });
          tickets.set(t.id, { id: t.id, owner: c, may: [{ subject: t.subject, status: t.status, priority: t.priority }] });
          answeredCreates.push({ path: "/v1/tickets", key, body, id: t.id });
          n.creates++;
        } catch (err) {
          if (err instanceof NoAnswer) unanswered.push({ kind: "ticket", owner: c, key, body });
          throw err;
        }
      } else if (r < 0.55) {
        const t = pick(rand, mine);
        const before = t.may[0]!;
        const patch: Record<string, string> = {};
        if (rand() < 0.6) patch.status = pick(rand, TICKET_STATUSES);
        if (rand() < 0.5) patch.priority = pick(rand, TICKET_PRIORITIES);
        if (rand() < 0.4 || Object.keys(patch).length === 0) patch.subject = `crash update ${seq++}`;
        const after = { ...before, ...patch };
        sent.patches.set(t.id, [...(sent.patches.get(t.id) ?? []), patch]);
        try {
          const { body } = await call("PATCH", `/v1/tickets/${t.id}`, 200, { json: patch });
          expect({ subject: body.subject, status: body.status, priority: body.priority }).toEqual(after);
          t.may = [after];
          n.updates++;
        } catch (err) {
          if (err instanceof NoAnswer) t.may = [before, after];
          throw err;
        }
      } else if (r < 0.65) {
        const t = pick(rand, mine);
        sent.ticketDeletes.add(t.id);
        try {
          await call("DELETE", `/v1/tickets/${t.id}`, 204);
          t.may = [null];
          n.deletes++;
        } catch (err) {
          if (err instanceof NoAnswer) t.may = [t.may[0]!, null];
          throw err;
        }
      } else if (r < 0.7 || (r < 0.8 && myFolders.length === 0)) {
        const key = `fld-${seq++}`;
        const body = { name: `folder ${key}` };
        try {
          const { body: f } = await call("POST", "/v1/folders", 201, { json: body, key });
          expect(f.name).toBe(body.name);
          folders.set(f.id, { id: f.id, owner: c, may: [{ name: f.name }] });
          answeredCreates.push({ path: "/v1/folders", key, body, id: f.id });
          n.folderOps++;
        } catch (err) {
          if (err instanceof NoAnswer) unanswered.push({ kind: "folder", owner: c, key, body });
          throw err;
        }
      } else if (r < 0.75) {
        const f = pick(rand, myFolders);
        const before = f.may[0]!;
        // Renames keep the folder's own key in the name, so its names never collide with another folder's.
        const after = { name: `${before.name.split(" ~")[0]} ~${seq++}` };
        try {
          const { body } = await call("PATCH", `/v1/folders/${f.id}`, 200, { json: after });
          expect(body.name).toBe(after.name);
          f.may = [after];
          n.folderOps++;
        } catch (err) {
          if (err instanceof NoAnswer) f.may = [before, after];
          throw err;
        }
      } else if (r < 0.8) {
        // Recursive: the folder's files go with it, in the same transaction (and their bytes after it, under an intent).
        const f = pick(rand, myFolders);
        const inside = [...files.values()].filter((x) => x.may.length === 1 && x.may[0]?.folder_id === f.id);
        for (const x of inside) sent.fileDeletes.add(x.id);
        try {
          await call("DELETE", `/v1/folders/${f.id}?recursive=true`, 204);
          f.may = [null];
          for (const x of inside) x.may = [null];
          n.folderOps++;
        } catch (err) {
          if (err instanceof NoAnswer) {
            f.may = [f.may[0]!, null];
            for (const x of inside) x.may = [x.may[0]!, null];
            unansweredFolderDeletes.push({ folderId: f.id, fileIds: inside.map((x) => x.id) });
          }
          throw err;
        }
      } else if (r < 0.92 || myFiles.length === 0) {
        const key = `file-${seq++}`;
        const bytes = pseudoRandomBytes(1024 + Math.floor(rand() * 127 * 1024), SEED + seq);
        // Half of the uploads go into one of the client's folders, so folder deletes take files with them.
        const folderId = myFolders.length > 0 && rand() < 0.5 ? pick(rand, myFolders).id : null;
        sent.fileNames.add(`${key}.bin`);
        try {
          const { body: f } = await call("POST", "/v1/files", 201, { form: uploadForm(key, bytes, folderId), key });
          expect({ sha256: f.sha256, size: f.size_bytes, folder_id: f.folder_id }).toEqual({
            sha256: sha256Hex(bytes),
            size: bytes.byteLength,
            folder_id: folderId,
          });
          files.set(f.id, { id: f.id, owner: c, may: [{ sha256: f.sha256, folder_id: folderId }] });
          n.uploads++;
        } catch (err) {
          if (err instanceof NoAnswer) unanswered.push({ kind: "file", owner: c, key, bytes, folder_id: folderId });
          throw err;
        }
      } else {
        const f = pick(rand, myFiles);
        sent.fileDeletes.add(f.id);
        try {
          await call("DELETE", `/v1/files/${f.id}`, 204);
          f.may = [null];
          n.fileDeletes++;
        } catch (err) {
          if (err instanceof NoAnswer) f.may = [f.may[0]!, null];
          throw err;
        }
      }
    };

    /** Retries every create the crash left unanswered, with its own key: created now, or the stored answer replayed. */
    const retryUnanswered = async () => {
      for (const u of unanswered.splice(0)) {
        n.retries++;
        if (u.kind === "file") {
          const { body: f, replayed } = await call("POST", "/v1/files", 201, { form: uploadForm(u.key, u.bytes, u.folder_id), key: u.key });
          expect({ sha256: f.sha256, folder_id: f.folder_id }).toEqual({ sha256: sha256Hex(u.bytes), folder_id: u.folder_id });
          files.set(f.id, { id: f.id, owner: u.owner, may: [{ sha256: f.sha256, folder_id: u.folder_id }] });
          if (replayed) n.replays++;
          continue;
        }
        const path = u.kind === "ticket" ? "/v1/tickets" : "/v1/folders";
        const { body, replayed } = await call("POST", path, 201, { json: u.body, key: u.key });
        if (replayed) n.replays++;
        answeredCreates.push({ path, key: u.key, body: u.body, id: body.id });
        if (u.kind === "ticket") {
          expect(body).toMatchObject({ subject: u.body.subject, status: "open", priority: u.body.priority });
          tickets.set(body.id, { id: body.id, owner: u.owner, may: [{ subject: body.subject, status: body.status, priority: body.priority }] });
        } else {
          expect(body.name).toBe(u.body.name);
          folders.set(body.id, { id: body.id, owner: u.owner, may: [{ name: body.name }] });
        }
      }
    };

    /** The data dir after a restart (and the retries): checks every invariant and resolves open outcomes to what happened. */
    const checkDatabase = () => {
      const db = new Database(join(dir, "clientcove.db"), { readonly: true });
      try {
        const ticketRows = new Map((db.query("SELECT id, subject, status, priority, updated_at FROM tickets").all() as any[]).map((r) => [r.id as string, r]));
        const folderRows = new Map((db.query("SELECT id, name FROM folders").all() as any[]).map((r) => [r.id as string, r]));
        const fileRows = new Map((db.query("SELECT id, folder_id, sha256, storage_key, filename FROM files").all() as any[]).map((r) => [r.id as string, r]));

        // Each resource is in a state its requests allow: the acknowledged one, or before/after an unanswered request.
        const resolve = <S>(kind: string, tracked: Map<string, Tracked<S>>, rows: Map<string, any>, stateOf: (row: any) => S) => {
          const wrong: unknown[] = [];
          for (const t of tracked.values()) {
            const row = rows.get(t.id);
            const actual = row ? stateOf(row) : null;
            if (!t.may.some((m) => same(m, actual))) wrong.push({ kind, id: t.id, may: t.may, actual });
            else {
              if (t.may.length === 2) n[same(t.may[1], actual) ? "cutApplied" : "cutNotApplied"]++;
              t.may = [actual as S];
            }
          }
          // Nothing exists that no client knows of: every unanswered create has been retried and answered by now.
          for (const id of rows.keys()) if (!tracked.has(id)) wrong.push({ kind, id, unknown: true });
          expect(wrong).toEqual([]);
        };
        resolve("ticket", tickets, ticketRows, (r) => ({ subject: r.subject, status: r.status, priority: r.priority }));
        resolve("folder", folders, folderRows, (r) => ({ name: r.name }));
        resolve("file", files, fileRows, (r) => ({ sha256: r.sha256, folder_id: r.folder_id }));
        for (const d of unansweredFolderDeletes.splice(0)) {
          const gone = !folderRows.has(d.folderId);
          expect({ folder: d.folderId, filesGone: d.fileIds.map((id) => !fileRows.has(id)) }).toEqual({
            folder: d.folderId,
            filesGone: d.fileIds.map(() => gone),
          });
        }
        for (const row of fileRows.values()) expect(sha256Hex(readFileSync(join(dir, "files", row.storage_key)))).toBe(row.sha256);

        // The counts are exactly what the rows say: no request changed a ticket without its count, or the reverse.
        const kept = db.query("SELECT org_id, status, priority, count FROM ticket_counts WHERE count <> 0 ORDER BY 1, 2, 3").all();
        const counted = db.query("SELECT org_id, status, priority, COUNT(*) AS count FROM tickets GROUP BY 1, 2, 3 ORDER BY 1, 2, 3").all();
        expect(kept).toEqual(counted);

        // Every event belongs to a write that happened, and every write that happened has its event.
        const events = db.query("SELECT seq, type, data, changed_fields FROM events ORDER BY seq").all() as {
          seq: number;
          type: string;
          data: string;
          changed_fields: string | null;
        }[];
        const byId = new Map<string, { type: string; data: any; changed: string[] | null }[]>();
        const stray: unknown[] = [];
        const createdSubjects = new Map<string, number>();
        const uploadedNames = new Map<string, number>();
        for (const e of events) {
          const data = JSON.parse(e.data);
          const changed = e.changed_fields ? (JSON.parse(e.changed_fields) as string[]) : null;
          byId.set(data.id, [...(byId.get(data.id) ?? []), { type: e.type, data, changed }]);
          if (e.type === "ticket.created") {
            createdSubjects.set(data.subject, (createdSubjects.get(data.subject) ?? 0) + 1);
            if (!sent.ticketSubjects.has(data.subject)) stray.push(e);
          } else if (e.type === "ticket.updated") {
            // The changed fields and their values are those of one PATCH sent to that ticket.
            const fits = (sent.patches.get(data.id) ?? []).some((p) => changed!.every((f) => f in p && p[f] === data[f]));
            if (!fits) stray.push(e);
          } else if (e.type === "ticket.deleted") {
            if (!sent.ticketDeletes.has(data.id)) stray.push(e);
          } else if (e.type === "file.uploaded") {
            uploadedNames.set(data.filename, (uploadedNames.get(data.filename) ?? 0) + 1);
            if (!sent.fileNames.has(data.filename)) stray.push(e);
          } else if (e.type === "file.deleted") {
            if (!sent.fileDeletes.has(data.id)) stray.push(e);
          } else stray.push(e);
        }
        expect(stray).toEqual([]);
        // A retried Idempotency-Key never stored a second ticket or file, even one deleted since.
        expect([...createdSubjects].filter(([, k]) => k > 1)).toEqual([]);
        expect([...uploadedNames].filter(([, k]) => k > 1)).toEqual([]);

        const history: unknown[] = [];
        for (const t of tickets.values()) {
          const evs = byId.get(t.id) ?? [];
          const row = ticketRows.get(t.id);
          const types = evs.map((e) => e.type);
          const created = types.filter((x) => x === "ticket.created").length;
          const deleted = types.filter((x) => x === "ticket.deleted").length;
          const last = evs.filter((e) => e.type !== "ticket.deleted").at(-1)?.data;
          // The last created/updated event shows the row as it is (so no update committed without its event or the reverse).
          const matches =
            !row ||
            (last && last.subject === row.subject && last.status === row.status && last.priority === row.priority && last.updated_at === toIso(row.updated_at));
          if (created !== 1 || deleted !== (row ? 0 : 1) || !matches) history.push({ id: t.id, types, row, last });
        }
        for (const f of files.values()) {
          const types = (byId.get(f.id) ?? []).map((e) => e.type);
          const want = fileRows.has(f.id) ? ["file.uploaded"] : ["file.uploaded", "file.deleted"];
          if (!same(types, want)) history.push({ id: f.id, types, want });
        }
        expect(history).toEqual([]);
      } finally {
        db.close();
      }
    };

    let killed = 0;
    for (let round = 0; round <= KILLS; round++) {
      server = await start();
      base = server.url;

      // The start-up sweep has settled what the crash left in tmp/ (partial uploads, intents of uploads and deletes) …
      await eventually(() => listTemp(dir).length === 0, "tmp/ to be empty after the restart");
      // … so no stored bytes lack a row, no row lacks its bytes, and every stored sha256 is right.
      const report = await verifyDataDir({ dataDir: dir });
      expect({ ok: report.ok, problems: report.problems, orphans: report.orphans }).toEqual({ ok: true, problems: [], orphans: [] });

      await retryUnanswered();
      // A create that was answered and is sent again (a client that never saw the answer arrive) replays the same resource.
      for (const a of answeredCreates.slice(-2)) {
        const again = await call("POST", a.path, 201, { json: a.body, key: a.key });
        expect({ replayed: again.replayed, id: again.body.id }).toEqual({ replayed: true, id: a.id });
        n.resent++;
      }
      checkDatabase();
      if (round === KILLS) break;

      // Eight clients, each a sequence of requests on its own resources, until the process dies under them.
      let running = true;
      const client = async (c: number) => {
        const rand = seededRandom(SEED * 100 + round * CLIENTS + c);
        while (running) {
          try {
            await step(c, rand);
          } catch (err) {
            if (!(err instanceof NoAnswer)) throw err;
            n.unanswered++;
            return;
          }
        }
      };
      const clients = Array.from({ length: CLIENTS }, (_, c) => client(c));
      await Bun.sleep(60 + Math.floor(killRand() * 240));
      server.proc.kill("SIGKILL");
      await server.proc.exited;
      running = false;
      const outcomes = await Promise.allSettled(clients);
      for (const o of outcomes) if (o.status === "rejected") throw o.reason;
      killed++;
    }

    await server!.stop();
    server = undefined;
    // The admin's check on the stopped data dir agrees: database intact, every file's bytes right, no orphans.
    const liveFiles = [...files.values()].filter((f) => f.may[0] !== null).length;
    const verify = runCli(["verify", "--data-dir", dir, "--json"]);
    expect(verify.code).toBe(0);
    expect(JSON.parse(verify.stdout)).toMatchObject({ ok: true, problems: [], orphans: [], files_checked: liveFiles });
    const db = new Database(join(dir, "clientcove.db"));
    try {
      expect(db.query("PRAGMA integrity_check").get()).toEqual({ integrity_check: "ok" });
    } finally {
      db.close();
    }

    expect(killed).toBe(KILLS);
    // Every kind of write was acknowledged, and kills cut requests in flight (how many varies with the machine's speed).
    for (const k of ["creates", "updates", "deletes", "uploads", "fileDeletes", "folderOps", "unanswered"] as const)
      expect({ [k]: n[k] > 0 }).toEqual({ [k]: true });
    console.log(
      `crash-writes: ${killed} SIGKILLs under ${CLIENTS} clients; acknowledged ${n.creates} ticket creates, ${n.updates} updates, ${n.deletes} deletes, ` +
        `${n.uploads} uploads, ${n.fileDeletes} file deletes, ${n.folderOps} folder creates/renames/deletes; ${n.unanswered} requests cut by a kill ` +
        `(of the cut updates/deletes ${n.cutApplied} had committed, ${n.cutNotApplied} had not), ` +
        `${n.retries} creates retried with their key (${n.replays} replayed a stored answer), ${n.resent} answered keys resent and replayed`,
    );
  }, 120_000);
});
