// The JSON body parser: content type checked (415), size bounded while reading (413), UTF-8, depth, syntax and lone surrogates checked (400).
import { errors } from "../errors";
import { formatBytes } from "../lib/format-bytes";

/**
 * Reads the body as text, failing with 413 as soon as more than `limit` bytes have arrived. A body that declares its
 * length within the limit is read whole in one call (the server stops at the declared length); a chunked or undeclared
 * one through the stream reader, which counts as it goes.
 */
async function readLimited(request: Request, limit: number): Promise<string> {
  const header = request.headers.get("content-length");
  const declared = Number(header ?? NaN);
  if (declared > limit) throw tooLarge(limit);
  if (!request.body) return "";
  if (header !== null && Number.isSafeInteger(declared) && declared >= 0 && request.headers.get("transfer-encoding") === null) {
    const bytes = await request.arrayBuffer();
    // Only the declared length can arrive on a connection, but a Request built in process may carry more.
    if (bytes.byteLength > limit) throw tooLarge(limit);
    return decodeUtf8(new Uint8Array(bytes));
  }
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => {});
      throw tooLarge(limit);
    }
    chunks.push(value);
  }
  return decodeUtf8(Buffer.concat(chunks));
}

/** Strict UTF-8 (400 on invalid bytes). */
function decodeUtf8(bytes: Uint8Array): string {
  try {
    return UTF8.decode(bytes);
  } catch {
    throw errors.validation([{ field: "body", message: "is not valid UTF-8." }], "The request body is not valid UTF-8 JSON.");
  }
}

const UTF8 = new TextDecoder("utf-8", { fatal: true });

/** Deeper than any of our bodies needs; JSON nested beyond it is refused before anything recurses over it. */
const MAX_DEPTH = 64;

/**
 * True when arrays/objects nest deeper than `max`. A linear scan of the text: deep JSON otherwise reaches
 * Elysia's ValidationError, whose JSON.stringify overflows the stack after seconds of CPU (a 500, and a DoS).
 */
function nestsDeeperThan(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92)
        i++; // backslash: skip the escaped character
      else if (c === 34) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 91 || c === 123) {
      if (++depth > max) return true;
    } else if (c === 93 || c === 125) depth--;
  }
  return false;
}

function tooLarge(limit: number) {
  return errors.payloadTooLarge(`The request body is too large; the limit is ${formatBytes(limit, "exact")}.`);
}

function isJson(contentType: string): boolean {
  const type = contentType.split(";")[0]!.trim().toLowerCase();
  return type === "application/json" || (type.startsWith("application/") && type.endsWith("+json"));
}

/**
 * Parses a JSON request body. Multipart bodies are left to the routes that stream them.
 * An empty body parses as undefined (the route's schema then says what was missing).
 */
export async function parseJsonBody(request: Request, contentType: string, limit: number): Promise<unknown> {
  if (!isJson(contentType)) {
    const hasBody = request.headers.get("content-length") !== "0" && request.body !== null;
    if (!hasBody) return undefined;
    throw errors.unsupportedMediaType("application/json");
  }
  const text = await readLimited(request, limit);
  if (text.trim() === "") return undefined;
  if (nestsDeeperThan(text, MAX_DEPTH)) {
    throw errors.validation([{ field: "body", message: `nests deeper than ${MAX_DEPTH} levels.` }], `The request body nests deeper than ${MAX_DEPTH} levels.`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw errors.validation([{ field: "body", message: "is not valid JSON." }], "The request body is not valid JSON.");
  }
  // A lone surrogate can only come from a \uD800–\uDFFF escape (the UTF-8 decoding above is strict): skip the walk
  // for bodies without one.
  if (SURROGATE_ESCAPE.test(text)) {
    const bad = illFormedStrings(value, "", []);
    if (bad.length) {
      throw errors.validation(
        bad.map((field) => ({ field, message: "must be valid Unicode (it contains a lone surrogate)." })),
        `The request body is not valid: ${bad.join(", ")} must be valid Unicode (it contains a lone surrogate).`,
      );
    }
  }
  return value;
}

const SURROGATE_ESCAPE = /\\u[dD][89a-fA-F]/;
const MAX_REPORTED = 10;

/**
 * The fields (dotted paths, as validation errors name them) whose strings, or keys, hold a lone surrogate. JSON allows
 * `"a\ud800b"`, but no UTF-8 can store or send it back: SQLite would keep `a\uFFFDb` after we acknowledged `a\ud800b`.
 * Refused everywhere JSON is accepted, whatever the field.
 */
function illFormedStrings(value: unknown, path: string, out: string[]): string[] {
  if (out.length >= MAX_REPORTED) return out;
  if (typeof value === "string") {
    if (!value.isWellFormed()) out.push(path || "body");
  } else if (Array.isArray(value)) {
    value.forEach((v, i) => illFormedStrings(v, path ? `${path}.${i}` : String(i), out));
  } else if (value && typeof value === "object") {
    for (const [k, v] of Object.entries(value)) {
      // A bad key cannot name itself: the field is where it sits.
      if (!k.isWellFormed()) out.push(path || "body");
      else illFormedStrings(v, path ? `${path}.${k}` : k, out);
    }
  }
  return out;
}
