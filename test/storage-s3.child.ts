// Child process for test/storage-s3.test.ts: `rss <MiB>` streams a generated upload and prints its RSS growth as JSON; `hang` stops mid-upload to be killed.
import { createS3Storage, DEFAULT_PART_BYTES } from "../src/storage/s3";
import { partsOf } from "./services/s3";

const cfg = JSON.parse(process.env.CC_S3_CHILD ?? "{}");
const storage = createS3Storage({
  bucket: cfg.bucket,
  prefix: cfg.prefix,
  endpoint: cfg.endpoint,
  region: cfg.region,
  pathStyle: true,
  accessKeyId: cfg.accessKeyId,
  secretAccessKey: cfg.secretAccessKey,
});

const CHUNK = 64 * 1024;
let peak = 0;
/** Fresh chunks, as a request body delivers them; RSS is sampled at every one (no timer involved). */
async function* generated(total: number) {
  for (let sent = 0; sent < total; sent += CHUNK) {
    const chunk = new Uint8Array(Math.min(CHUNK, total - sent)).fill((sent / CHUNK) & 255);
    peak = Math.max(peak, process.memoryUsage.rss());
    yield chunk;
  }
}

if (process.argv[2] === "rss") {
  const mib = Number(process.argv[3]);
  // Warm up every code path (a multipart upload of three parts) before the baseline is taken.
  await storage.put("org_rss/warmup", generated(2 * DEFAULT_PART_BYTES + 1));
  await storage.delete("org_rss/warmup");
  Bun.gc(true);
  const baseline = process.memoryUsage.rss();
  peak = baseline;
  const stat = await storage.put("org_rss/big", generated(mib * 1024 * 1024));
  peak = Math.max(peak, process.memoryUsage.rss());
  const stored = await storage.stat("org_rss/big");
  // Read back through Bun's client (which could pick up S3_* / AWS_* variables): the first and the last chunk.
  const last = mib * 16 - 1;
  const first = await (await storage.open("org_rss/big", { start: 0, end: CHUNK - 1 })).bytes();
  const tail = await (await storage.open("org_rss/big", { start: last * CHUNK, end: (last + 1) * CHUNK - 1 })).bytes();
  const readBack = first.length === CHUNK && first.every((b) => b === 0) && tail.length === CHUNK && tail.every((b) => b === (last & 255));
  await storage.delete("org_rss/big");
  console.log(
    JSON.stringify({ size: stat.size, storedSize: stored?.size ?? null, readBack, baselineMiB: baseline / 1048576, growthMiB: (peak - baseline) / 1048576 }),
  );
} else if (process.argv[2] === "hang") {
  // Two whole parts stored, then the source stalls for good: the parent kills this process there.
  async function* stalls() {
    yield* generated(2 * DEFAULT_PART_BYTES + 1);
    while ((await partsOf(cfg, cfg.bucket, `${cfg.prefix}/org_a/crashed`)) < 2) await Bun.sleep(20);
    console.log("parts sent");
    await new Promise(() => {});
  }
  await storage.put("org_a/crashed", stalls());
}
