// /readyz's storage check: present only for storage that can be asked (the S3 driver), failing while the bucket does not answer, absent for files in the data dir.
import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { rmSync } from "node:fs";
import { Database } from "bun:sqlite";
import { migrate } from "../src/db/migrate";
import { checkAllReadiness } from "../src/ops/readiness";
import { createS3Storage } from "../src/storage/s3";
import { openStorage } from "../src/storage";
import { freePort, tempDir } from "./helpers";
import { s3Server } from "./services/s3";

// Starting the S3 server (Swift) may take a while on a loaded machine.
setDefaultTimeout(60_000);

const dir = tempDir("cc-ready-storage");
const sqlite = new Database(":memory:", { strict: true });
migrate(sqlite);
afterAll(() => {
  sqlite.close();
  rmSync(dir, { recursive: true, force: true });
});
const database = { kind: "sqlite", sqlite } as const;
// Prints one line saying why when there is none.
const server = await s3Server();

describe("readiness with a storage check", () => {
  test("files in the data dir: no storage check, the three checks as before", async () => {
    const r = await checkAllReadiness({ database, dataDir: dir, storage: openStorage({ dataDir: dir }) });
    expect(r).toEqual({ ready: true, checks: { database: "ok", migrations: "ok", data_dir: "ok" } });
  });

  test("a bucket whose endpoint refuses connections: not ready, naming the storage", async () => {
    const storage = createS3Storage({
      bucket: "nowhere",
      prefix: "",
      endpoint: `http://127.0.0.1:${freePort()}`,
      region: "us-east-1",
      pathStyle: true,
      accessKeyId: "id",
      secretAccessKey: "secret",
    });
    const r = await checkAllReadiness({ database, dataDir: dir, storage });
    expect(r.ready).toBe(false);
    expect(r.checks).toEqual({ database: "ok", migrations: "ok", data_dir: "ok", storage: "storage does not answer (no answer within 2 s)" });
  });

  test.skipIf(!server)("a real S3-compatible bucket that answers: ready, storage ok", async () => {
    const s = server!;
    const bucket = `ready-${Date.now().toString(36)}`;
    await s.createBucket(bucket);
    afterAll(() => s.deleteBucket(bucket).catch(() => {}));
    const storage = createS3Storage({
      bucket,
      prefix: "",
      endpoint: s.endpoint,
      region: s.region,
      pathStyle: true,
      accessKeyId: s.accessKeyId,
      secretAccessKey: s.secretAccessKey,
    });
    const r = await checkAllReadiness({ database, dataDir: dir, storage });
    expect(r).toEqual({ ready: true, checks: { database: "ok", migrations: "ok", data_dir: "ok", storage: "ok" } });
  });
});
