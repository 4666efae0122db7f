// The JSON body parser: content type checked (415), size bounded while reading (413), syntax checked (400).
import { errors } from "../errors";

/** Reads the body as text, failing with 413 as soon as more than `limit` bytes have arrived. */
async function readLimited(request: Request, limit: number): Promise<string> {
  const declared = Number(request.headers.get("content-length") ?? NaN);
  if (declared > limit) throw tooLarge(limit);
  if (!request.body) return "";
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
  return new TextDecoder("utf-8", { fatal: false }).decode(Buffer.concat(chunks));
}

function tooLarge(limit: number) {
  return errors.payloadTooLarge(`The request body is too large; the limit is ${formatBytes(limit)}.`);
}

export function formatBytes(n: number): string {
  const MiB = 1024 * 1024;
  if (n % MiB === 0) return `${n / MiB} MiB`;
  if (n % 1024 === 0) return `${n / 1024} KiB`;
  return `${n} bytes`;
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
  try {
    return JSON.parse(text);
  } catch {
    throw errors.validation([{ field: "body", message: "is not valid JSON." }], "The request body is not valid JSON.");
  }
}
