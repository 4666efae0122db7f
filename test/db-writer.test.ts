// The group-commit writer on a real SQLite file: batching, per-write rollback, commit-before-answer, bounds.
import { Database } from "bun:sqlite";
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createWriter } from "../src/db/writer";

let dir: string;
let db: Database;
let other: Database;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "cc-writer-"));
  db = new Database(join(dir, "w.db"), { create: true, strict: true });
  db.exec("PRAGMA journal_mode = WAL");
  db.exec("PRAGMA synchronous = FULL");
  db.exec("PRAGMA foreign_keys = ON");
  db.exec("CREATE TABLE parent (id INTEGER PRIMARY KEY)");
  db.exec("CREATE TABLE item (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, parent INTEGER REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED)");
  // A second connection sees only what is committed on disk.
  other = new Database(join(dir, "w.db"), { readonly: true, strict: true });
});

afterEach(() => {
  other.close();
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

const insert = (name: string) => () => db.query("INSERT INTO item (name) VALUES (?) RETURNING id").get(name) as { id: number };
const committedNames = () => (other.query("SELECT name FROM item ORDER BY id").all() as { name: string }[]).map((r) => r.name);

describe("group commit", () => {
  test("writes that arrive together commit in one transaction, and each gets its own result", async () => {
    const writer = createWriter(db);
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => writer.write(insert(`n${i}`))));
    expect(results.map((r) => r.id)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(writer.stats()).toEqual({ batches: 1, writes: 20, largest: 20 });
    expect(committedNames()).toHaveLength(20);
  });

  test("nothing is visible before the batch commits; the answer comes only after it is on disk", async () => {
    const writer = createWriter(db);
    const pending = writer.write(insert("a"));
    expect(committedNames()).toEqual([]);
    expect(db.query("SELECT COUNT(*) AS n FROM item").get()).toEqual({ n: 0 });
    await pending;
    expect(committedNames()).toEqual(["a"]);
  });

  test("a failing write rolls back only its own work and gets its own error; the others commit", async () => {
    const writer = createWriter(db);
    const ok1 = writer.write(insert("x"));
    const bad = writer.write(() => {
      insert("half-done")();
      insert("x")(); // UNIQUE violation after a first insert: both must go
    });
    const ok2 = writer.write(insert("y"));
    const [r1, rBad, r2] = await Promise.allSettled([ok1, bad, ok2]);
    expect(r1).toEqual({ status: "fulfilled", value: { id: 1 } });
    expect(rBad.status === "rejected" && String(rBad.reason)).toMatch(/UNIQUE/);
    expect(r2.status).toBe("fulfilled");
    expect(committedNames()).toEqual(["x", "y"]);
    expect(writer.stats().batches).toBe(1);
  });

  test("a service's own transaction() nests as a savepoint, and an inner failure it catches stays local", async () => {
    const writer = createWriter(db);
    const value = await writer.write(() => {
      db.transaction(() => insert("outer")()).immediate();
      try {
        db.transaction(() => {
          insert("inner")();
          throw new Error("inner fails");
        }).immediate();
      } catch {}
      return "done";
    });
    expect(value).toBe("done");
    expect(committedNames()).toEqual(["outer"]);
  });

  test("a failed COMMIT rejects every write of the batch and keeps nothing", async () => {
    const writer = createWriter(db);
    const a = writer.write(insert("a"));
    // A deferred foreign-key violation passes its savepoint and fails at COMMIT.
    const orphan = writer.write(() => db.query("INSERT INTO item (name, parent) VALUES ('orphan', 99)").run());
    const settled = await Promise.allSettled([a, orphan]);
    expect(settled.map((r) => r.status)).toEqual(["rejected", "rejected"]);
    for (const r of settled) expect(String((r as PromiseRejectedResult).reason)).toMatch(/FOREIGN KEY/);
    expect(committedNames()).toEqual([]);
    expect(db.inTransaction).toBe(false);
    // The writer keeps working afterwards.
    await writer.write(insert("after"));
    expect(committedNames()).toEqual(["after"]);
  });

  test("batches are bounded: a full queue commits at once, the rest in the next batch", async () => {
    const writer = createWriter(db, { maxBatch: 4 });
    await Promise.all(Array.from({ length: 10 }, (_, i) => writer.write(insert(`n${i}`))));
    expect(writer.stats()).toEqual({ batches: 3, writes: 10, largest: 4 });
    expect(committedNames()).toHaveLength(10);
  });

  test("an asynchronous unit that awaits only settled promises runs inside the batch, in its own savepoint", async () => {
    const writer = createWriter(db);
    const ok = writer.write(async () => {
      const row = await Promise.resolve(insert("async-a")());
      await Promise.resolve();
      return row;
    });
    const bad = writer.write(async () => {
      insert("async-half")();
      await Promise.resolve();
      throw new Error("second step fails");
    });
    const [r1, r2] = await Promise.allSettled([ok, bad]);
    expect(r1).toEqual({ status: "fulfilled", value: { id: 1 } });
    expect(r2.status === "rejected" && String(r2.reason)).toMatch(/second step fails/);
    expect(writer.stats()).toEqual({ batches: 1, writes: 2, largest: 2 });
    expect(committedNames()).toEqual(["async-a"]);
  });

  test("a unit that awaits real I/O (a timer here) is refused and rolled back: other code could have run inside the transaction", async () => {
    const writer = createWriter(db);
    const escaping = writer.write(async () => {
      insert("escaped")();
      await new Promise((r) => setImmediate(r));
      return "never";
    });
    const fine = writer.write(insert("fine"));
    const [r1, r2] = await Promise.allSettled([escaping, fine]);
    expect(r1.status === "rejected" && (r1.reason as Error).name).toBe("EscapedUnitError");
    expect(r2.status).toBe("fulfilled");
    expect(committedNames()).toEqual(["fine"]);
    expect(db.inTransaction).toBe(false);
  });

  test("inBatch is true only between BEGIN and COMMIT; flush resolves when everything queued is committed", async () => {
    const writer = createWriter(db);
    const seen: boolean[] = [];
    expect(writer.inBatch()).toBe(false);
    const pending = writer.write(async () => {
      seen.push(writer.inBatch());
      insert("f1")();
    });
    writer.write(insert("f2"));
    await writer.flush();
    expect(seen).toEqual([true]);
    expect(writer.inBatch()).toBe(false);
    expect(committedNames()).toEqual(["f1", "f2"]);
    await pending;
    await writer.flush(); // nothing queued: resolves at once
  });

  test("writes queued from a write's continuation go into the next batch", async () => {
    const writer = createWriter(db);
    await writer.write(insert("first")).then(() => writer.write(insert("second")));
    expect(writer.stats()).toEqual({ batches: 2, writes: 2, largest: 1 });
    expect(committedNames()).toEqual(["first", "second"]);
  });
});
