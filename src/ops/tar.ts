// A small streaming POSIX ustar writer and reader (regular files and directories only), for backup archives.
import { createHash } from "node:crypto";

const BLOCK = 512;
const ZERO_BLOCK = new Uint8Array(BLOCK);
/** Largest size the 11 octal digits of the ustar size field hold; larger sizes use GNU base-256. */
const OCTAL_SIZE_MAX = 8 ** 11 - 1;

export class TarError extends Error {
  override name = "TarError";
}

export interface MemberDigest {
  size: number;
  sha256: string;
}

const encoder = new TextEncoder();

function writeString(buf: Uint8Array, offset: number, length: number, value: string): void {
  const bytes = encoder.encode(value);
  if (bytes.length > length) throw new TarError(`tar field too long: ${value}`);
  buf.set(bytes, offset);
}

function writeOctal(buf: Uint8Array, offset: number, length: number, value: number): void {
  // length-1 digits, zero-padded, then NUL.
  writeString(buf, offset, length, value.toString(8).padStart(length - 1, "0") + "\0");
}

/** GNU base-256: high bit of the first byte set, the number big-endian in the rest of the field. */
function writeBase256(buf: Uint8Array, offset: number, length: number, value: number): void {
  let v = BigInt(value);
  for (let i = offset + length - 1; i > offset; i--) {
    buf[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  buf[offset] = 0x80;
}

/** Splits a path into ustar prefix (≤155 bytes) and name (≤100 bytes) at a slash. */
function splitName(path: string): { prefix: string; name: string } {
  const len = encoder.encode(path).length;
  if (len <= 100) return { prefix: "", name: path };
  for (let i = path.length - 1; i > 0; i--) {
    if (path[i] !== "/") continue;
    const prefix = path.slice(0, i);
    const name = path.slice(i + 1);
    if (encoder.encode(prefix).length <= 155 && encoder.encode(name).length <= 100 && name !== "") return { prefix, name };
  }
  throw new TarError(`path too long for a ustar archive: ${path}`);
}

function checksum(header: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : header[i]!;
  return sum;
}

/** Builds the 512-byte header of a regular file or directory. */
export function buildHeader(path: string, size: number, opts: { type?: "file" | "dir"; mode?: number; mtimeSeconds?: number } = {}): Uint8Array {
  if (!Number.isSafeInteger(size) || size < 0) throw new TarError(`bad member size ${size}`);
  const h = new Uint8Array(BLOCK);
  const { prefix, name } = splitName(path);
  writeString(h, 0, 100, name);
  writeOctal(h, 100, 8, opts.mode ?? (opts.type === "dir" ? 0o755 : 0o644));
  writeOctal(h, 108, 8, 0);
  writeOctal(h, 116, 8, 0);
  if (size <= OCTAL_SIZE_MAX) writeOctal(h, 124, 12, size);
  else writeBase256(h, 124, 12, size);
  writeOctal(h, 136, 12, Math.max(0, Math.floor(opts.mtimeSeconds ?? Date.now() / 1000)));
  h[156] = (opts.type === "dir" ? "5" : "0").charCodeAt(0);
  writeString(h, 257, 6, "ustar\0");
  writeString(h, 263, 2, "00");
  writeString(h, 345, 155, prefix);
  // Checksum: six octal digits, NUL, space (the historical layout every reader accepts).
  writeString(h, 148, 8, checksum(h).toString(8).padStart(6, "0") + "\0 ");
  return h;
}

/**
 * Yields one member: header, the `size` bytes of `source` (hashed on the way), padding. Fails if the
 * source yields a different length. Returns the member's digest (`const d = yield* tarFile(...)`).
 * Generators rather than a writer object, so `stream/promises.pipeline` carries backpressure and errors.
 */
export async function* tarFile(
  path: string,
  size: number,
  source: AsyncIterable<Uint8Array>,
  opts: { mode?: number; mtimeSeconds?: number } = {},
): AsyncGenerator<Uint8Array, MemberDigest> {
  yield buildHeader(path, size, opts);
  const hash = createHash("sha256");
  let written = 0;
  for await (const chunk of source) {
    written += chunk.byteLength;
    if (written > size) throw new TarError(`${path} grew while being archived (expected ${size} bytes)`);
    hash.update(chunk);
    yield chunk;
  }
  if (written !== size) throw new TarError(`${path} shrank while being archived (expected ${size} bytes, read ${written})`);
  const pad = (BLOCK - (size % BLOCK)) % BLOCK;
  if (pad) yield ZERO_BLOCK.subarray(0, pad);
  return { size, sha256: hash.digest("hex") };
}

export async function* tarBytes(path: string, data: Uint8Array, opts: { mode?: number; mtimeSeconds?: number } = {}): AsyncGenerator<Uint8Array, MemberDigest> {
  return yield* tarFile(
    path,
    data.byteLength,
    (async function* () {
      yield data;
    })(),
    opts,
  );
}

export function tarDirectory(path: string, opts: { mtimeSeconds?: number } = {}): Uint8Array {
  return buildHeader(path.endsWith("/") ? path : `${path}/`, 0, { ...opts, type: "dir" });
}

/** Two zero blocks end a tar archive. */
export function tarEnd(): Uint8Array {
  return new Uint8Array(2 * BLOCK);
}

/** Pulls exact byte counts out of an async chunk stream. */
class ByteReader {
  private buffered: Uint8Array[] = [];
  private bufferedBytes = 0;
  private done = false;
  private readonly iterator: AsyncIterator<Uint8Array>;

  constructor(source: AsyncIterable<Uint8Array>) {
    this.iterator = source[Symbol.asyncIterator]();
  }

  private async fill(min: number): Promise<void> {
    while (this.bufferedBytes < min && !this.done) {
      const { value, done } = await this.iterator.next();
      if (done) this.done = true;
      else if (value.byteLength) {
        const chunk = value instanceof Uint8Array ? value : new Uint8Array(value);
        this.buffered.push(chunk);
        this.bufferedBytes += chunk.byteLength;
      }
    }
  }

  /** Up to `max` bytes, as one chunk (zero-copy when possible); empty at the end of the stream. */
  async readSome(max: number): Promise<Uint8Array> {
    await this.fill(1);
    const first = this.buffered[0];
    if (!first) return new Uint8Array(0);
    if (first.byteLength <= max) {
      this.buffered.shift();
      this.bufferedBytes -= first.byteLength;
      return first;
    }
    this.buffered[0] = first.subarray(max);
    this.bufferedBytes -= max;
    return first.subarray(0, max);
  }

  /** Exactly `n` bytes, or null if the stream ends first (with what was there discarded). */
  async readExact(n: number): Promise<Uint8Array | null> {
    await this.fill(n);
    if (this.bufferedBytes < n) return null;
    const out = new Uint8Array(n);
    let filled = 0;
    while (filled < n) {
      const part = await this.readSome(n - filled);
      out.set(part, filled);
      filled += part.byteLength;
    }
    return out;
  }
}

export interface TarEntry {
  path: string;
  type: "file" | "dir";
  size: number;
  mode: number;
  /** The member's content; must be consumed (or `skip`ped) before asking for the next entry. */
  body: AsyncIterable<Uint8Array>;
  skip(): Promise<void>;
}

const decoder = new TextDecoder("utf-8", { fatal: true });

function readString(h: Uint8Array, offset: number, length: number): string {
  const field = h.subarray(offset, offset + length);
  const end = field.indexOf(0);
  try {
    return decoder.decode(end === -1 ? field : field.subarray(0, end));
  } catch {
    throw new TarError("member name is not valid UTF-8");
  }
}

function readNumber(h: Uint8Array, offset: number, length: number, what: string): number {
  if (h[offset]! & 0x80) {
    let v = 0n;
    for (let i = offset + 1; i < offset + length; i++) v = (v << 8n) | BigInt(h[i]!);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new TarError(`${what} out of range`);
    return Number(v);
  }
  const s = readString(h, offset, length).trim();
  if (s === "") return 0;
  if (!/^[0-7]+$/.test(s)) throw new TarError(`bad ${what} field in a member header`);
  return parseInt(s, 8);
}

/**
 * Reads a tar stream entry by entry. Accepts regular files and directories (ustar, GNU and v7
 * headers, GNU long names); any other entry type (links, devices, pax headers) is an error, as is a bad header
 * checksum or a stream that ends before the end-of-archive marker.
 */
export async function* readTar(source: AsyncIterable<Uint8Array>): AsyncGenerator<TarEntry> {
  const reader = new ByteReader(source);
  let longName: string | undefined;
  for (;;) {
    const header = await reader.readExact(BLOCK);
    if (!header) throw new TarError("archive ends without an end-of-archive marker (truncated)");
    if (header.every((b) => b === 0)) return;
    const stored = readNumber(header, 148, 8, "checksum");
    let signed = 0;
    for (let i = 0; i < BLOCK; i++) signed += i >= 148 && i < 156 ? 0x20 : (header[i]! << 24) >> 24;
    if (stored !== checksum(header) && stored !== signed) throw new TarError("member header checksum mismatch (corrupt archive)");
    const typeflag = String.fromCharCode(header[156]!);
    const magic = readString(header, 257, 6);
    const prefix = magic.startsWith("ustar") ? readString(header, 345, 155) : "";
    const name = readString(header, 0, 100);
    const size = readNumber(header, 124, 12, "size");
    const mode = readNumber(header, 100, 8, "mode");
    if (typeflag === "L") {
      // GNU long name: the body is the next member's path (GNU tar's default format writes these for names over 100 bytes).
      if (size > 65_536) throw new TarError("implausibly long member name");
      const body = await reader.readExact(size + ((BLOCK - (size % BLOCK)) % BLOCK));
      if (!body) throw new TarError("archive ends inside a long-name record (truncated)");
      longName = readString(body, 0, size);
      continue;
    }
    const path = longName ?? (prefix ? `${prefix}/${name}` : name);
    longName = undefined;
    let type: "file" | "dir";
    if (typeflag === "0" || typeflag === "\0" || typeflag === "7") type = "file";
    else if (typeflag === "5") type = "dir";
    else throw new TarError(`unsupported member type "${typeflag}" for ${path}`);
    let remaining = size + ((BLOCK - (size % BLOCK)) % BLOCK);
    let contentLeft = size;
    const next = async (): Promise<Uint8Array> => {
      const chunk = await reader.readSome(remaining);
      if (chunk.byteLength === 0) throw new TarError(`archive ends inside ${path} (truncated)`);
      remaining -= chunk.byteLength;
      return chunk;
    };
    const entry: TarEntry = {
      path,
      type,
      size: type === "dir" ? 0 : size,
      mode,
      body: {
        async *[Symbol.asyncIterator]() {
          while (remaining > 0) {
            const chunk = await next();
            if (contentLeft > 0) {
              const part = chunk.byteLength <= contentLeft ? chunk : chunk.subarray(0, contentLeft);
              contentLeft -= part.byteLength;
              yield part;
            }
          }
        },
      },
      async skip() {
        while (remaining > 0) await next();
      },
    };
    yield entry;
    if (remaining > 0) await entry.skip();
  }
}
