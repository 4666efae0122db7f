// A real S3-compatible server for tests: the one CLIENTCOVE_TEST_S3_* names, else OpenStack Swift with its s3api started once per test process.
import { randomBytes } from "node:crypto";
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { canonicalPath, canonicalQuery, sha256Hex, signedHeaders } from "../../src/storage/sigv4";

export interface S3TestServer {
  /** Base URL, path-style (`http://127.0.0.1:<port>`). */
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** Creates a bucket (an existing one of ours is fine). */
  createBucket(name: string): Promise<void>;
  /** Deletes an empty bucket. */
  deleteBucket(name: string): Promise<void>;
  /** Multipart uploads begun and neither completed nor aborted (S3 ListMultipartUploads). */
  pendingUploads(bucket: string, prefix?: string): Promise<{ key: string; uploadId: string }[]>;
  /**
   * Swift only: every object in the bucket's hidden `<bucket>+segments` container, where s3api keeps upload markers and
   * parts (null for another server). An aborted upload must leave nothing there.
   */
  segments(bucket: string): Promise<string[] | null>;
  /** The endpoint to use with virtual-hosted style (`http://localhost:<port>`, buckets as `<bucket>.localhost`), when the server has one. */
  virtualHostedEndpoint?: string;
  /** What the server is, for messages (`swift 2.30.1 (s3api)`, or the external endpoint). */
  description: string;
  /** Seconds it took to start (0 for an external server). */
  startupSeconds: number;
}

/** One request signed with AWS Signature Version 4 (for the calls Bun's S3Client has no method for). */
export async function signedRequest(
  server: Pick<S3TestServer, "endpoint" | "region" | "accessKeyId" | "secretAccessKey">,
  method: string,
  path: string,
  query: Record<string, string> = {},
  body?: string,
): Promise<Response> {
  const url = new URL(server.endpoint);
  const signedPath = canonicalPath(path);
  const signedQuery = canonicalQuery(query);
  const headers = signedHeaders({
    method,
    host: url.host,
    path: signedPath,
    query: signedQuery,
    payloadHash: sha256Hex(body ?? ""),
    region: server.region,
    accessKeyId: server.accessKeyId,
    secretAccessKey: server.secretAccessKey,
  });
  return fetch(`${url.origin}${signedPath}${signedQuery ? `?${signedQuery}` : ""}`, { method, body, headers });
}

function xmlValues(xml: string, tag: string): string[] {
  return [...xml.matchAll(new RegExp(`<${tag}>([^<]*)</${tag}>`, "g"))].map((m) => m[1]!.replace(/&amp;/g, "&").replace(/&lt;/g, "<").replace(/&gt;/g, ">"));
}

export type Credentials = Pick<S3TestServer, "endpoint" | "region" | "accessKeyId" | "secretAccessKey">;

async function createBucketWith(creds: Credentials, name: string): Promise<void> {
  const res = await signedRequest(creds, "PUT", `/${name}`);
  const text = await res.text();
  if (res.ok || text.includes("BucketAlreadyOwnedByYou")) return;
  throw new Error(`CreateBucket ${name}: ${res.status} ${text.slice(0, 300)}`);
}

async function deleteBucketWith(creds: Credentials, name: string): Promise<void> {
  const res = await signedRequest(creds, "DELETE", `/${name}`);
  const text = await res.text();
  if (!res.ok) throw new Error(`DeleteBucket ${name}: ${res.status} ${text.slice(0, 300)}`);
}

async function pendingUploadsWith(creds: Credentials, bucket: string, prefix = ""): Promise<{ key: string; uploadId: string }[]> {
  const res = await signedRequest(creds, "GET", `/${bucket}`, prefix ? { uploads: "", prefix } : { uploads: "" });
  const text = await res.text();
  if (!res.ok) throw new Error(`ListMultipartUploads ${bucket}: ${res.status} ${text.slice(0, 300)}`);
  const out: { key: string; uploadId: string }[] = [];
  for (const upload of text.match(/<Upload>[\s\S]*?<\/Upload>/g) ?? [])
    out.push({ key: xmlValues(upload, "Key")[0] ?? "", uploadId: xmlValues(upload, "UploadId")[0] ?? "" });
  return out;
}

/** How many parts the pending multipart upload of `key` has stored (0 when there is no such upload). */
export async function partsOf(creds: Credentials, bucket: string, key: string): Promise<number> {
  const upload = (await pendingUploadsWith(creds, bucket, key)).find((u) => u.key === key);
  if (!upload) return 0;
  const res = await signedRequest(creds, "GET", `/${bucket}/${key}`, { uploadId: upload.uploadId });
  const text = await res.text();
  if (!res.ok) throw new Error(`ListParts ${key}: ${res.status} ${text.slice(0, 300)}`);
  return (text.match(/<Part>/g) ?? []).length;
}

/** Aborts every pending multipart upload of `key` from outside, as another client (or a lifecycle rule) would. */
export async function abortUploadsOf(creds: Credentials, bucket: string, key: string): Promise<number> {
  const uploads = (await pendingUploadsWith(creds, bucket, key)).filter((u) => u.key === key);
  for (const u of uploads) {
    const res = await signedRequest(creds, "DELETE", `/${bucket}/${key}`, { uploadId: u.uploadId });
    await res.body?.cancel();
    if (!res.ok) throw new Error(`AbortMultipartUpload ${key}: ${res.status}`);
  }
  return uploads.length;
}

function external(endpoint: string): S3TestServer {
  const creds: Credentials = {
    endpoint: endpoint.replace(/\/+$/, ""),
    region: process.env.CLIENTCOVE_TEST_S3_REGION || "us-east-1",
    accessKeyId: process.env.CLIENTCOVE_TEST_S3_ACCESS_KEY_ID ?? "",
    secretAccessKey: process.env.CLIENTCOVE_TEST_S3_SECRET_ACCESS_KEY ?? "",
  };
  return {
    ...creds,
    createBucket: (name) => createBucketWith(creds, name),
    deleteBucket: (name) => deleteBucketWith(creds, name),
    pendingUploads: (bucket, prefix) => pendingUploadsWith(creds, bucket, prefix),
    segments: async () => null,
    description: `external S3 at ${creds.endpoint}`,
    startupSeconds: 0,
  };
}

/** Free TCP ports on 127.0.0.1, held open together so they differ, then released for the servers to bind. */
function freePorts(n: number): number[] {
  const listeners = Array.from({ length: n }, () => Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } }));
  const ports = listeners.map((l) => l.port);
  for (const l of listeners) l.stop(true);
  return ports;
}

const SWIFT_SERVERS = ["account", "container", "object", "proxy"] as const;
const ACCOUNT = "cc";
const USER = "tester";

/** The python the Debian scripts run with (their shebang), to build the rings with Swift's own library. */
function swiftPython(proxyScript: string): string {
  const first = readFileSync(proxyScript, "utf8").split("\n", 1)[0] ?? "";
  return first.startsWith("#!") ? first.slice(2).trim().split(/\s+/)[0]! : "/usr/bin/python3";
}

const RING_SCRIPT = `
import sys
from swift.common.ring import RingBuilder
swift_dir = sys.argv[1]
for name, port in zip(("account", "container", "object"), sys.argv[2:5]):
    builder = RingBuilder(6, 1, 1)
    builder.add_dev({"id": 0, "region": 1, "zone": 1, "ip": "127.0.0.1", "port": int(port), "device": "d0", "weight": 100})
    builder.rebalance()
    builder.get_ring().save("%s/%s.ring.gz" % (swift_dir, name))
`;

function serverConf(kind: (typeof SWIFT_SERVERS)[number], dir: string, port: number, user: string, memcachePort: number): string {
  const common = [
    "[DEFAULT]",
    "bind_ip = 127.0.0.1",
    `bind_port = ${port}`,
    "workers = 0",
    `swift_dir = ${dir}`,
    `devices = ${join(dir, "srv")}`,
    "mount_check = false",
    `user = ${user}`,
    "log_level = WARNING",
    "",
  ];
  if (kind !== "proxy") return [...common, "[pipeline:main]", `pipeline = ${kind}-server`, `[app:${kind}-server]`, `use = egg:swift#${kind}`, ""].join("\n");
  const filters = ["catch_errors", "gatekeeper", "healthcheck", "proxy-logging", "listing_formats", "bulk", "copy", "dlo"];
  return [
    ...common,
    "[pipeline:main]",
    // slo and dlo carry S3 multipart uploads; s3api speaks S3 and tempauth checks its signatures.
    "pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats bulk s3api tempauth copy slo dlo proxy-logging proxy-server",
    "[app:proxy-server]",
    "use = egg:swift#proxy",
    "account_autocreate = true",
    "[filter:cache]",
    "use = egg:swift#memcache",
    `memcache_servers = 127.0.0.1:${memcachePort}`,
    "[filter:s3api]",
    "use = egg:swift#s3api",
    "location = us-east-1",
    // Virtual-hosted style too: <bucket>.localhost resolves to 127.0.0.1 for Bun.
    "storage_domain = localhost",
    // As many parts as AWS S3 allows (Swift's default is 1000).
    "max_upload_part_num = 10000",
    "[filter:slo]",
    "use = egg:swift#slo",
    "max_manifest_segments = 10000",
    "max_manifest_size = 16777216",
    "[filter:tempauth]",
    "use = egg:swift#tempauth",
    `user_${ACCOUNT}_${USER} = {SECRET} .admin`,
    ...filters.flatMap((f) => [`[filter:${f}]`, `use = egg:swift#${f.replace("-", "_")}`]),
    "",
  ].join("\n");
}

/** The user name the servers keep (Swift switches to its `user`; memcached must be told one as root). */
function currentUser(): string {
  const id = Bun.spawnSync(["id", "-un"], { stderr: "ignore" });
  const name = id.exitCode === 0 ? id.stdout.toString().trim() : "";
  return name || userInfo().username;
}

interface Child {
  name: string;
  proc: Bun.Subprocess;
  log: string;
}

function tail(path: string): string {
  try {
    return readFileSync(path, "utf8").trim().split("\n").slice(-5).join(" | ");
  } catch {
    return "";
  }
}

/** Kills the children and waits (briefly) until they are gone, so the temp dir can be removed. */
function stopAll(children: Child[], dir: string): void {
  for (const c of children) c.proc.kill("SIGKILL");
  const deadline = Date.now() + 2000;
  for (const c of children) {
    while (Date.now() < deadline) {
      let state = "";
      try {
        state = readFileSync(`/proc/${c.proc.pid}/stat`, "utf8").split(") ")[1]?.[0] ?? "";
      } catch {
        break;
      }
      if (state === "Z" || state === "X") break;
      Bun.sleepSync(10);
    }
  }
  rmSync(dir, { recursive: true, force: true });
}

async function startSwift(): Promise<S3TestServer> {
  const started = performance.now();
  const bin = (name: string) => Bun.which(name) ?? (existsSync(`/usr/bin/${name}`) ? `/usr/bin/${name}` : null);
  const binaries = Object.fromEntries(SWIFT_SERVERS.map((s) => [s, bin(`swift-${s}-server`)]));
  const memcached = bin("memcached");
  const missing = [...SWIFT_SERVERS.filter((s) => !binaries[s]).map((s) => `swift-${s}-server`), ...(memcached ? [] : ["memcached"])];
  if (missing.length)
    throw new Error(
      `${missing.join(", ")} not installed (apt-get install swift swift-proxy swift-account swift-container swift-object python3-swift memcached)`,
    );

  const dir = mkdtempSync(join(tmpdir(), "cc-swift-"));
  const children: Child[] = [];
  let stopped = false;
  const stop = () => {
    if (stopped) return;
    stopped = true;
    stopAll(children, dir);
  };
  // `bun test` runs no "exit" handlers, and a killed process none at all: a reaper outside our process group waits for
  // the end of its stdin (the pipe closes when this process ends, however it ends), then kills the servers named in
  // <dir>/pids and removes the dir. The servers also get SIGKILL from the kernel when we die (setpriv --pdeathsig).
  process.on("exit", stop);
  const reaper = Bun.spawn(
    [
      ...(Bun.which("setsid") ? ["setsid"] : []),
      "sh",
      "-c",
      'cat >/dev/null; kill -9 $(cat "$1/pids" 2>/dev/null) 2>/dev/null; sleep 0.3; rm -rf "$1" 2>/dev/null || { sleep 1; rm -rf "$1"; }',
      "s3-reaper",
      dir,
    ],
    { stdin: "pipe", stdout: "ignore", stderr: "ignore" },
  );
  reaper.unref();
  (reaper.stdin as import("bun").FileSink).unref();
  try {
    mkdirSync(join(dir, "srv", "d0"), { recursive: true });
    const [accountPort, containerPort, objectPort, proxyPort, memcachePort] = freePorts(5) as [number, number, number, number, number];
    const user = currentUser();
    const secret = randomBytes(18).toString("base64url");
    writeFileSync(
      join(dir, "swift.conf"),
      `[swift-hash]\nswift_hash_path_suffix = ${randomBytes(8).toString("hex")}\nswift_hash_path_prefix = ${randomBytes(8).toString("hex")}\n[storage-policy:0]\nname = gold\ndefault = yes\n`,
    );
    const ports = { account: accountPort, container: containerPort, object: objectPort, proxy: proxyPort };
    for (const s of SWIFT_SERVERS) writeFileSync(join(dir, `${s}-server.conf`), serverConf(s, dir, ports[s], user, memcachePort).replace("{SECRET}", secret));
    writeFileSync(join(dir, "rings.py"), RING_SCRIPT);

    // The children die with this process even when it is killed (no exit handler runs then).
    const deathSig = bin("setpriv") ? [bin("setpriv")!, "--pdeathsig", "KILL", "--"] : [];
    const spawnChild = (name: string, cmd: string[]) => {
      const log = join(dir, `${name}.log`);
      const proc = Bun.spawn([...deathSig, ...cmd], { stdin: "ignore", stdout: Bun.file(log), stderr: Bun.file(log) });
      proc.unref();
      children.push({ name, proc, log });
      appendFileSync(join(dir, "pids"), `${proc.pid}\n`);
    };
    // memcached refuses to run as root unless told which user to be.
    spawnChild("memcached", [
      memcached!,
      "-l",
      "127.0.0.1",
      "-p",
      String(memcachePort),
      "-U",
      "0",
      "-m",
      "16",
      ...(process.getuid?.() === 0 ? ["-u", user] : []),
    ]);
    const rings = Bun.spawnSync([swiftPython(binaries.proxy!), join(dir, "rings.py"), dir, String(accountPort), String(containerPort), String(objectPort)], {
      stderr: "pipe",
    });
    if (rings.exitCode !== 0) throw new Error(`building the rings failed: ${rings.stderr.toString().trim().split("\n").slice(-2).join(" | ")}`);
    for (const s of SWIFT_SERVERS) spawnChild(s, [binaries[s]!, join(dir, `${s}-server.conf`)]);

    const creds: Credentials = { endpoint: `http://127.0.0.1:${proxyPort}`, region: "us-east-1", accessKeyId: `${ACCOUNT}:${USER}`, secretAccessKey: secret };
    // Ready when every backend accepts connections and the proxy answers an authenticated S3 call (ListBuckets).
    const deadline = Date.now() + 90_000;
    const backendsUp = async () => {
      for (const port of [accountPort, containerPort, objectPort]) {
        const ok = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } }).then(
          (s) => {
            s.end();
            return true;
          },
          () => false,
        );
        if (!ok) return false;
      }
      return true;
    };
    for (;;) {
      const dead = children.find((c) => c.proc.exitCode !== null || c.proc.signalCode !== null);
      if (dead) throw new Error(`swift's ${dead.name} exited at start (${tail(dead.log) || `code ${dead.proc.exitCode}`})`);
      if (await backendsUp()) {
        const res = await signedRequest(creds, "GET", "/").catch(() => null);
        if (res?.ok) break;
        await res?.body?.cancel();
      }
      if (Date.now() > deadline) throw new Error(`swift did not answer within 90 s (${children.map((c) => `${c.name}: ${tail(c.log)}`).join("; ")})`);
      await Bun.sleep(100);
    }

    let token: { value: string; storageUrl: string } | undefined;
    const swiftToken = async () => {
      if (token) return token;
      const res = await fetch(`${creds.endpoint}/auth/v1.0`, { headers: { "x-auth-user": `${ACCOUNT}:${USER}`, "x-auth-key": secret } });
      await res.body?.cancel();
      if (!res.ok) throw new Error(`swift auth: ${res.status}`);
      token = { value: res.headers.get("x-auth-token") ?? "", storageUrl: res.headers.get("x-storage-url") ?? "" };
      return token;
    };
    const version = Bun.spawnSync([swiftPython(binaries.proxy!), "-c", "import swift; print(swift.__version__)"])
      .stdout.toString()
      .trim();
    return {
      ...creds,
      createBucket: (name) => createBucketWith(creds, name),
      deleteBucket: (name) => deleteBucketWith(creds, name),
      pendingUploads: (bucket, prefix) => pendingUploadsWith(creds, bucket, prefix),
      async segments(bucket) {
        const t = await swiftToken();
        const res = await fetch(`${t.storageUrl}/${encodeURIComponent(`${bucket}+segments`)}?format=json`, { headers: { "x-auth-token": t.value } });
        if (res.status === 404) {
          await res.body?.cancel();
          return [];
        }
        if (!res.ok) throw new Error(`swift list ${bucket}+segments: ${res.status}`);
        return ((await res.json()) as { name: string }[]).map((o) => o.name);
      },
      virtualHostedEndpoint: `http://localhost:${proxyPort}`,
      description: `swift ${version || "?"} (s3api)`,
      startupSeconds: (performance.now() - started) / 1000,
    };
  } catch (err) {
    stop();
    process.off("exit", stop);
    throw err;
  }
}

let server: Promise<S3TestServer | null> | undefined;

/**
 * The S3 server the storage tests use, started on the first call and shared by the whole test process; stopped and
 * removed when the process exits. Null (after one line on stderr saying why the S3 tests are skipped) when none can run.
 */
export function s3Server(): Promise<S3TestServer | null> {
  server ??= (async () => {
    const endpoint = process.env.CLIENTCOVE_TEST_S3_ENDPOINT;
    if (endpoint) return external(endpoint);
    try {
      return await startSwift();
    } catch (err) {
      process.stderr.write(`S3 tests skipped: no S3-compatible server (${(err as Error).message})\n`);
      return null;
    }
  })();
  return server;
}

if (import.meta.main) {
  const s = await s3Server();
  if (s) {
    console.log(`${s.description} at ${s.endpoint}, up in ${s.startupSeconds.toFixed(1)} s`);
    await s.createBucket("probe");
    console.log("bucket created; uploads pending:", await s.pendingUploads("probe"), "segments:", await s.segments("probe"));
  }
  process.exit(0);
}
