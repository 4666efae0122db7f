// The --storage-url for S3-compatible storage (`s3://bucket/optional/prefix?endpoint=https://…&region=…&path_style=true`) and its credentials, checked with one-line errors.

/** Where the objects live; credentials come separately (never in the URL). */
export interface S3Location {
  bucket: string;
  /** Key prefix without leading or trailing `/` ("" for none): objects are at `<prefix>/<org_id>/<file_id>`. */
  prefix: string;
  /** Base URL of the S3 API (`https://host[:port]`); undefined means AWS S3 in `region`. */
  endpoint?: string;
  region: string;
  /** `https://endpoint/bucket/key` (true) or `https://bucket.endpoint/key` (false). */
  pathStyle: boolean;
}

export const DEFAULT_S3_REGION = "us-east-1";
const PARAMS = ["endpoint", "region", "path_style"] as const;
const USAGE = "expected s3://bucket[/prefix][?endpoint=https://host&region=name&path_style=true]";

/** Bucket names as S3 allows them (3–63 characters; the older rules some servers keep also allow `_` and capitals). */
const BUCKET = /^[A-Za-z0-9][A-Za-z0-9._-]{1,61}[A-Za-z0-9]$/;
/** The characters S3 calls safe in a key, for each prefix segment. */
const PREFIX_SEGMENT = /^[A-Za-z0-9!_.*'()-]+$/;
const REGION = /^[a-z0-9][a-z0-9-]{0,62}$/;

function fail(message: string): never {
  throw new Error(`invalid storage URL: ${message}`);
}

function parseBoolean(name: string, value: string): boolean {
  if (value === "true" || value === "1") return true;
  if (value === "false" || value === "0") return false;
  fail(`${name} must be true or false, got ${JSON.stringify(value)}`);
}

function parseEndpoint(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    fail(`endpoint must be an http:// or https:// URL, got ${JSON.stringify(value)}`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") fail(`endpoint must be an http:// or https:// URL, got ${JSON.stringify(url.protocol)}`);
  if (url.username || url.password) fail("endpoint must not carry credentials; set CLIENTCOVE_S3_ACCESS_KEY_ID and CLIENTCOVE_S3_SECRET_ACCESS_KEY");
  if ((url.pathname !== "/" && url.pathname !== "") || url.search || url.hash)
    fail(`endpoint must be a bare origin like https://host:port, got ${JSON.stringify(value)}`);
  return url.origin;
}

/**
 * Parses a storage URL, throwing an Error with one clear line for anything wrong (the URL itself is echoed only when it
 * carries no credentials). `path_style` defaults to true with an `endpoint` (most S3-compatible servers want it) and
 * to false for AWS; `region` defaults to us-east-1.
 */
export function parseStorageUrl(raw: string): S3Location {
  const text = raw.trim();
  if (!text.toLowerCase().startsWith("s3://")) fail(`${USAGE}, got a URL that does not start with s3://`);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    fail(USAGE);
  }
  if (url.username || url.password) fail("credentials do not belong in the storage URL; set CLIENTCOVE_S3_ACCESS_KEY_ID and CLIENTCOVE_S3_SECRET_ACCESS_KEY");
  if (url.port) fail(`the bucket name cannot have a port; put the server in ?endpoint=, ${USAGE}`);
  if (url.hash) fail(`a storage URL has no #fragment; ${USAGE}`);
  // WHATWG URL lowercases the host of special schemes only; s3: is not special, so url.hostname is as written.
  const bucket = decodeURIComponent(url.hostname);
  if (!bucket) fail(`the bucket name is missing; ${USAGE}`);
  if (!BUCKET.test(bucket) || bucket.includes(".."))
    fail(`bucket ${JSON.stringify(bucket)} is not a valid bucket name (3 to 63 letters, digits, dots, hyphens or underscores)`);

  // The path as written: URL parsing would resolve `..` and `.` segments away before they could be refused.
  const authorityAndPath = text.slice("s3://".length).split(/[?#]/, 1)[0]!;
  const rawPath = authorityAndPath.includes("/") ? authorityAndPath.slice(authorityAndPath.indexOf("/")) : "";
  const segments = rawPath.split("/").filter((s, i, all) => !(s === "" && (i === 0 || i === all.length - 1)));
  for (const raw of segments) {
    let segment: string;
    try {
      segment = decodeURIComponent(raw);
    } catch {
      fail(`prefix segment ${JSON.stringify(raw)} is not valid percent-encoding`);
    }
    if (segment === "") fail("the prefix has an empty segment (`//`)");
    if (segment === "." || segment === "..") fail("the prefix must not contain `.` or `..` segments");
    if (!PREFIX_SEGMENT.test(segment)) fail(`prefix segment ${JSON.stringify(segment)} has characters other than letters, digits and !_.*'()-`);
  }
  const prefix = segments.map((s) => decodeURIComponent(s)).join("/");

  const seen = new Set<string>();
  for (const name of url.searchParams.keys()) {
    if (!(PARAMS as readonly string[]).includes(name)) fail(`unknown parameter ${JSON.stringify(name)}; the parameters are ${PARAMS.join(", ")}`);
    if (seen.has(name)) fail(`parameter ${name} is given twice`);
    seen.add(name);
  }
  const endpointParam = url.searchParams.get("endpoint");
  const endpoint = endpointParam === null ? undefined : parseEndpoint(endpointParam);
  const region = url.searchParams.get("region") ?? DEFAULT_S3_REGION;
  if (!REGION.test(region)) fail(`region ${JSON.stringify(region)} is not a region name (lowercase letters, digits and hyphens)`);
  const pathStyleParam = url.searchParams.get("path_style");
  const pathStyle = pathStyleParam === null ? endpoint !== undefined : parseBoolean("path_style", pathStyleParam);
  if (!pathStyle && (bucket.includes(".") || bucket.includes("_") || bucket !== bucket.toLowerCase()))
    fail(`bucket ${JSON.stringify(bucket)} cannot be a host name (dots, underscores or capitals); add path_style=true`);
  return { bucket, prefix, endpoint, region, pathStyle };
}

/** The storage settings as loadConfig resolved them, and where each came from (`--flag`, a variable's name, a file, "default"). */
export interface StorageCredentialSettings {
  storageUrl: string;
  s3AccessKeyId: string;
  s3SecretAccessKey: string;
  s3SessionToken: string;
}

/**
 * With S3 storage: both keys present, taken from one place (both AWS_* or neither), and a session token only with the
 * keys it belongs to. Bun's S3 client sends a session token from S3_SESSION_TOKEN or AWS_SESSION_TOKEN even when it is
 * given none, so a stray one fails every request with keys it does not go with. Null when fine, else one line.
 */
export function storageCredentialsProblem(
  values: StorageCredentialSettings,
  origins: Record<keyof StorageCredentialSettings, string>,
  env: Record<string, string | undefined>,
): string | null {
  if (!values.storageUrl) return null;
  const missing = [!values.s3AccessKeyId && "access key id", !values.s3SecretAccessKey && "secret access key"].filter(Boolean);
  if (missing.length)
    return `--storage-url is set but the S3 ${missing.join(" and ")} ${missing.length > 1 ? "are" : "is"} missing; set CLIENTCOVE_S3_ACCESS_KEY_ID and CLIENTCOVE_S3_SECRET_ACCESS_KEY (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)`;
  const fromAws = (origin: string) => origin.startsWith("AWS_");
  if (fromAws(origins.s3AccessKeyId) !== fromAws(origins.s3SecretAccessKey))
    return `the S3 access key id comes from ${origins.s3AccessKeyId} but the secret access key from ${origins.s3SecretAccessKey}; take both from one place`;
  if (origins.s3SessionToken === "AWS_SESSION_TOKEN" && !fromAws(origins.s3AccessKeyId))
    return `AWS_SESSION_TOKEN is set but the S3 keys come from ${origins.s3AccessKeyId}, and a session token only goes with the keys it was issued with; unset AWS_SESSION_TOKEN, or set CLIENTCOVE_S3_SESSION_TOKEN to those keys' token`;
  if (!values.s3SessionToken && env.S3_SESSION_TOKEN)
    return "S3_SESSION_TOKEN is set but the S3 credentials given have no session token (Bun's S3 client would send it with them); unset it, or set CLIENTCOVE_S3_SESSION_TOKEN";
  return null;
}
