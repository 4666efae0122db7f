// AWS Signature Version 4 for S3 requests: the one signer of the S3 driver (and of the tests' S3 admin calls).
import { createHash, createHmac } from "node:crypto";

/** RFC 3986 encoding, as SigV4 wants it: everything but unreserved characters. */
export function uriEncode(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

export function sha256Hex(data: string | Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

/** A path of slash-separated segments, each encoded (the slashes kept): `/bucket/org_x/file_y`. */
export function canonicalPath(path: string): string {
  return path.split("/").map(uriEncode).join("/");
}

/** The query as SigV4 signs it and as it is sent: keys sorted, keys and values encoded. */
export function canonicalQuery(query: Record<string, string>): string {
  return Object.keys(query)
    .sort()
    .map((k) => `${uriEncode(k)}=${uriEncode(query[k]!)}`)
    .join("&");
}

export interface SignInput {
  method: string;
  host: string;
  /** Already canonical (canonicalPath). */
  path: string;
  /** Already canonical (canonicalQuery). */
  query: string;
  payloadHash: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  /** Default: now. */
  date?: Date;
}

/** The headers to send (Host aside: fetch sets it from the URL): x-amz-* and Authorization. */
export function signedHeaders(input: SignInput): Record<string, string> {
  const amzDate = (input.date ?? new Date())
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d{3}/, "");
  const day = amzDate.slice(0, 8);
  const headers: Record<string, string> = { host: input.host, "x-amz-content-sha256": input.payloadHash, "x-amz-date": amzDate };
  if (input.sessionToken) headers["x-amz-security-token"] = input.sessionToken;
  const names = Object.keys(headers).sort();
  const canonicalRequest = [input.method, input.path, input.query, names.map((h) => `${h}:${headers[h]}\n`).join(""), names.join(";"), input.payloadHash].join(
    "\n",
  );
  const scope = `${day}/${input.region}/s3/aws4_request`;
  const stringToSign = ["AWS4-HMAC-SHA256", amzDate, scope, sha256Hex(canonicalRequest)].join("\n");
  let key: Buffer = Buffer.from(`AWS4${input.secretAccessKey}`);
  for (const part of [day, input.region, "s3", "aws4_request"]) key = createHmac("sha256", key).update(part).digest();
  const signature = createHmac("sha256", key).update(stringToSign).digest("hex");
  const { host: _, ...sent } = headers;
  return { ...sent, authorization: `AWS4-HMAC-SHA256 Credential=${input.accessKeyId}/${scope}, SignedHeaders=${names.join(";")}, Signature=${signature}` };
}
