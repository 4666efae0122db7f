// Benchmark: peak RSS growth of the real server while it receives a 1 GiB upload (curl -F), sampled from /proc/<pid>/status.
//
//   node_modules/.bin/bun bench/upload-rss.ts [--size-mib 1024] [--binary dist/clientcove] [--runs 3] [--storage disk|s3]
//
// Starts `clientcove serve` as a child process (from source, or the compiled binary with --binary) on a fresh data
// dir, warms it up, uploads a file of pseudo-random bytes with `curl -F file=@…`, and samples the server's VmRSS every
// 5 ms during the upload; the kernel's VmHWM (peak resident set) is read too. Growth = peak − RSS just before the
// upload. The issue's bar is < 64 MiB for 1 GiB; the process exits 1 if any run exceeds it.
// With `--storage s3` the server stores into a bucket of the tests' S3-compatible server (test/services/s3.ts: a local
// OpenStack Swift, or the one CLIENTCOVE_TEST_S3_* name), a fresh prefix per run.
import { randomBytes } from "node:crypto";
import { closeSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createS3Storage, type S3Storage } from "../src/storage/s3";
import { s3Server, type S3TestServer } from "../test/services/s3";

const MiB = 1024 * 1024;
const REPO = join(import.meta.dir, "..");
const BUN = join(REPO, "node_modules", ".bin", "bun");

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? fallback : process.argv[i + 1]!;
}

const sizeMiB = Number(arg("size-mib", "1024"));
const runs = Number(arg("runs", "3"));
const binary = arg("binary", "");
const storageKind = arg("storage", "disk");
if (storageKind !== "disk" && storageKind !== "s3") throw new Error(`--storage must be disk or s3, got ${storageKind}`);
const LIMIT_MIB = 64;

/** The S3 server and bucket of `--storage s3`, set up once. */
let s3: { server: S3TestServer; bucket: string } | undefined;
if (storageKind === "s3") {
  const server = await s3Server();
  if (!server) throw new Error("--storage s3: no S3-compatible server (see the line above)");
  const bucket = `bench-upload-${randomBytes(4).toString("hex")}`;
  await server.createBucket(bucket);
  s3 = { server, bucket };
}

function bucketView(prefix: string): S3Storage {
  const { server, bucket } = s3!;
  const { endpoint, region, accessKeyId, secretAccessKey } = server;
  return createS3Storage({ bucket, prefix, endpoint, region, pathStyle: true, accessKeyId, secretAccessKey });
}

function status(pid: number): { rss: number; hwm: number } {
  const text = readFileSync(`/proc/${pid}/status`, "utf8");
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(text)?.[1] ?? NaN);
  return { rss: kib("VmRSS") * 1024, hwm: kib("VmHWM") * 1024 };
}

/** Writes `size` bytes of pseudo-random data (one random MiB block, varied per block) without holding it in memory. */
function makeFile(path: string, size: number): string {
  const block = crypto.getRandomValues(new Uint8Array(MiB));
  const hasher = new Bun.CryptoHasher("sha256");
  const fd = openSync(path, "w");
  for (let off = 0; off < size; off += MiB) {
    block[0] = off / MiB; // no two blocks alike, so nothing downstream can dedupe
    const chunk = block.subarray(0, Math.min(MiB, size - off));
    writeSync(fd, chunk);
    hasher.update(chunk);
  }
  closeSync(fd);
  return hasher.digest("hex");
}

async function startServer(dataDir: string, prefix: string) {
  const cmd = binary ? [binary] : [BUN, join(REPO, "src", "main.ts")];
  const storageEnv: Record<string, string> = s3
    ? {
        CLIENTCOVE_STORAGE_URL: `s3://${s3.bucket}/${prefix}?endpoint=${s3.server.endpoint}&region=${s3.server.region}`,
        CLIENTCOVE_S3_ACCESS_KEY_ID: s3.server.accessKeyId,
        CLIENTCOVE_S3_SECRET_ACCESS_KEY: s3.server.secretAccessKey,
      }
    : {};
  const proc = Bun.spawn([...cmd, "serve", "--port", "0", "--host", "127.0.0.1", "--data-dir", dataDir, "--max-upload-bytes", String(sizeMiB * MiB + MiB)], {
    cwd: dataDir,
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, CLIENTCOVE_LOG_LEVEL: "info", ...storageEnv },
  });
  let out = "";
  let err = "";
  const decoder = new TextDecoder();
  (async () => {
    for await (const c of proc.stderr) err += decoder.decode(c);
  })();
  const url = await (async () => {
    for await (const c of proc.stdout) {
      out += decoder.decode(c);
      const m = /"msg":"listening".*?"url":"([^"]+)"/.exec(out);
      if (m) return m[1]!.replace("localhost", "127.0.0.1");
    }
    throw new Error(`server did not start: ${out}\n${err}`);
  })();
  while (!/cc_[0-9A-Za-z]{32,}/.test(err)) await Bun.sleep(10);
  const key = /cc_[0-9A-Za-z]{32,}/.exec(err)![0];
  // Keep draining stdout so the pipe never blocks the server.
  (async () => {
    for await (const _ of proc.stdout) {
    }
  })().catch(() => {});
  return { proc, url, key };
}

async function oneRun(file: string, sha256: string) {
  const dataDir = mkdtempSync(join(tmpdir(), "cc-bench-upload-"));
  const prefix = `run-${randomBytes(4).toString("hex")}`;
  const { proc, url, key } = await startServer(dataDir, prefix);
  try {
    // Warm-up: a small upload, so lazily loaded code paths are resident before the baseline.
    const warm = Bun.spawnSync([
      "curl",
      "-sS",
      "-o",
      "/dev/null",
      "-w",
      "%{http_code}",
      "-H",
      `Authorization: Bearer ${key}`,
      "-F",
      `file=@${join(REPO, "package.json")}`,
      `${url}/v1/files`,
    ]);
    if (warm.stdout.toString() !== "201") throw new Error(`warm-up upload failed: ${warm.stdout}`);
    await Bun.sleep(200);
    const before = status(proc.pid);
    let peak = before.rss;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        peak = Math.max(peak, status(proc.pid).rss);
        await Bun.sleep(5);
      }
    })();
    const started = performance.now();
    const upload = Bun.spawn(["curl", "-sS", "-H", `Authorization: Bearer ${key}`, "-F", `file=@${file}`, `${url}/v1/files`], {
      stdout: "pipe",
      stderr: "pipe",
    });
    const body = await new Response(upload.stdout).text();
    await upload.exited;
    const seconds = (performance.now() - started) / 1000;
    sampling = false;
    await sampler;
    const after = status(proc.pid);
    const meta = JSON.parse(body);
    if (meta.sha256 !== sha256 || meta.size_bytes !== sizeMiB * MiB) throw new Error(`upload did not round-trip: ${body.slice(0, 300)}`);
    if (s3) {
      const view = bucketView(prefix);
      const keys: string[] = [];
      for await (const o of view.list()) keys.push(o.key);
      const stored = keys.find((k) => k.endsWith(`/${meta.id}`));
      if (!stored || (await view.stat(stored))?.size !== sizeMiB * MiB) throw new Error("stored size differs");
      for (const k of keys) await view.delete(k);
    } else {
      const [orgDir] = readdirSync(join(dataDir, "files"));
      if (statSync(join(dataDir, "files", orgDir!, meta.id)).size !== sizeMiB * MiB) throw new Error("stored size differs");
    }
    // VmHWM is the kernel's exact peak; it only says something about the upload if it rose during it.
    const peakRss = after.hwm > before.hwm ? Math.max(after.hwm, peak) : peak;
    return { baseline: before.rss, peak: peakRss, growth: peakRss - before.rss, seconds };
  } finally {
    proc.kill("SIGTERM");
    await proc.exited;
    rmSync(dataDir, { recursive: true, force: true });
  }
}

const fmt = (n: number) => `${(n / MiB).toFixed(1)} MiB`;
const work = mkdtempSync(join(tmpdir(), "cc-bench-src-"));
try {
  const file = join(work, "upload.bin");
  console.log(`writing a ${sizeMiB} MiB test file...`);
  const sha256 = makeFile(file, sizeMiB * MiB);
  console.log(
    `server: ${binary || "bun src/main.ts"}; storage: ${s3 ? `${s3.server.description} at ${s3.server.endpoint}` : "data dir"}; ${runs} run(s); upload with curl -F`,
  );
  const results = [];
  for (let i = 0; i < runs; i++) {
    const r = await oneRun(file, sha256);
    results.push(r);
    console.log(`run ${i + 1}: baseline RSS ${fmt(r.baseline)}, peak ${fmt(r.peak)}, growth ${fmt(r.growth)}, ${(sizeMiB / r.seconds).toFixed(0)} MiB/s`);
  }
  const worst = Math.max(...results.map((r) => r.growth));
  const sorted = results.map((r) => r.growth).sort((x, y) => x - y);
  console.log(`median growth ${fmt(sorted[Math.floor(sorted.length / 2)]!)}, worst ${fmt(worst)} (bar: < ${LIMIT_MIB} MiB)`);
  if (worst >= LIMIT_MIB * MiB) process.exitCode = 1;
} finally {
  rmSync(work, { recursive: true, force: true });
  if (s3) await s3.server.deleteBucket(s3.bucket).catch(() => {});
}
// The S3 test server's processes end with this one.
process.exit(process.exitCode ?? 0);
