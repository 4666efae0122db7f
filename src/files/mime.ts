// Content types of stored files: detected from the leading bytes, else from the extension; and which types are safe to show inline.

/** How many leading bytes detection looks at (tar's magic sits at offset 257). */
export const SNIFF_BYTES = 512;

export const OCTET_STREAM = "application/octet-stream";

type Probe = (b: Uint8Array, ext: string) => string | null;

function startsWith(b: Uint8Array, sig: readonly number[] | string, offset = 0): boolean {
  const bytes = typeof sig === "string" ? [...sig].map((c) => c.charCodeAt(0)) : sig;
  if (b.length < offset + bytes.length) return false;
  for (let i = 0; i < bytes.length; i++) if (b[offset + i] !== bytes[i]) return false;
  return true;
}

/** Formats that are ZIP archives inside, told apart by their extension once the content proved to be a ZIP. */
const ZIP_BASED: Record<string, string> = {
  docx: "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
  xlsx: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
  pptx: "application/vnd.openxmlformats-officedocument.presentationml.presentation",
  odt: "application/vnd.oasis.opendocument.text",
  ods: "application/vnd.oasis.opendocument.spreadsheet",
  odp: "application/vnd.oasis.opendocument.presentation",
  epub: "application/epub+zip",
  jar: "application/java-archive",
  apk: "application/vnd.android.package-archive",
};

/** Legacy Office files share the OLE compound-file signature. */
const OLE_BASED: Record<string, string> = {
  doc: "application/msword",
  xls: "application/vnd.ms-excel",
  ppt: "application/vnd.ms-powerpoint",
  msg: "application/vnd.ms-outlook",
};

function isoBrand(b: Uint8Array): string | null {
  if (!startsWith(b, "ftyp", 4) || b.length < 12) return null;
  const brand = String.fromCharCode(b[8]!, b[9]!, b[10]!, b[11]!);
  if (brand === "avif" || brand === "avis") return "image/avif";
  if (["heic", "heix", "heim", "heis", "mif1", "msf1"].includes(brand)) return "image/heic";
  if (brand === "qt  ") return "video/quicktime";
  if (brand === "M4A " || brand === "M4B ") return "audio/mp4";
  return "video/mp4";
}

// Ordered: longer, more specific signatures first.
const PROBES: Probe[] = [
  (b) => (startsWith(b, "%PDF-") ? "application/pdf" : null),
  (b) => (startsWith(b, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]) ? "image/png" : null),
  (b) => (startsWith(b, [0xff, 0xd8, 0xff]) ? "image/jpeg" : null),
  (b) => (startsWith(b, "GIF87a") || startsWith(b, "GIF89a") ? "image/gif" : null),
  (b) => {
    if (!startsWith(b, "RIFF")) return null;
    if (startsWith(b, "WEBP", 8)) return "image/webp";
    if (startsWith(b, "WAVE", 8)) return "audio/wav";
    if (startsWith(b, "AVI ", 8)) return "video/x-msvideo";
    return null;
  },
  (b, ext) => (startsWith(b, [0x50, 0x4b, 0x03, 0x04]) || startsWith(b, [0x50, 0x4b, 0x05, 0x06]) ? (ZIP_BASED[ext] ?? "application/zip") : null),
  (b, ext) => (startsWith(b, [0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1]) ? (OLE_BASED[ext] ?? "application/x-ole-storage") : null),
  (b) => (startsWith(b, [0x1f, 0x8b]) ? "application/gzip" : null),
  (b) => (startsWith(b, "BZh") ? "application/x-bzip2" : null),
  (b) => (startsWith(b, [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]) ? "application/x-xz" : null),
  (b) => (startsWith(b, [0x28, 0xb5, 0x2f, 0xfd]) ? "application/zstd" : null),
  (b) => (startsWith(b, [0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c]) ? "application/x-7z-compressed" : null),
  (b) => (startsWith(b, [0x52, 0x61, 0x72, 0x21, 0x1a, 0x07]) ? "application/vnd.rar" : null),
  (b) => (startsWith(b, "ustar", 257) ? "application/x-tar" : null),
  (b) => (startsWith(b, "SQLite format 3\0") ? "application/vnd.sqlite3" : null),
  (b) => (startsWith(b, "{\\rtf") ? "application/rtf" : null),
  (b) => (startsWith(b, "%!PS") ? "application/postscript" : null),
  (b) => (startsWith(b, [0x00, 0x61, 0x73, 0x6d]) ? "application/wasm" : null),
  (b) => (startsWith(b, [0x7f, 0x45, 0x4c, 0x46]) ? "application/x-executable" : null),
  (b) => (startsWith(b, "wOFF") ? "font/woff" : startsWith(b, "wOF2") ? "font/woff2" : startsWith(b, "OTTO") ? "font/otf" : null),
  (b) => isoBrand(b),
  (b, ext) => (startsWith(b, [0x1a, 0x45, 0xdf, 0xa3]) ? (ext === "mkv" ? "video/x-matroska" : "video/webm") : null),
  (b) => (startsWith(b, "OggS") ? "audio/ogg" : null),
  (b) => (startsWith(b, "fLaC") ? "audio/flac" : null),
  (b) => (startsWith(b, "ID3") ? "audio/mpeg" : null),
  (b) => (startsWith(b, "II*\0") || startsWith(b, "MM\0*") ? "image/tiff" : null),
  // Two-byte signatures are weak: also require the format's reserved zero bytes.
  (b) => (startsWith(b, "BM") && startsWith(b, [0, 0, 0, 0], 6) ? "image/bmp" : null),
  (b, ext) => (startsWith(b, [0x00, 0x00, 0x01, 0x00]) && ext === "ico" ? "image/vnd.microsoft.icon" : null),
  (b, ext) => (b.length >= 2 && b[0] === 0xff && (b[1]! & 0xe0) === 0xe0 && ext === "mp3" ? "audio/mpeg" : null),
];

/**
 * Types taken from the extension alone: formats with no reliable signature (mostly text). Formats
 * that have a signature are deliberately absent, so `photo.png` whose bytes are not a PNG is not
 * labelled image/png.
 */
const BY_EXTENSION: Record<string, string> = {
  txt: "text/plain",
  text: "text/plain",
  log: "text/plain",
  ini: "text/plain",
  conf: "text/plain",
  csv: "text/csv",
  tsv: "text/tab-separated-values",
  md: "text/markdown",
  markdown: "text/markdown",
  json: "application/json",
  ndjson: "application/x-ndjson",
  yaml: "application/yaml",
  yml: "application/yaml",
  toml: "application/toml",
  xml: "application/xml",
  html: "text/html",
  htm: "text/html",
  xhtml: "application/xhtml+xml",
  svg: "image/svg+xml",
  js: "text/javascript",
  mjs: "text/javascript",
  css: "text/css",
  ics: "text/calendar",
  vcf: "text/vcard",
  eml: "message/rfc822",
  sql: "application/sql",
  sh: "application/x-sh",
  py: "text/x-python",
  ttf: "font/ttf",
};

export function extensionOf(filename: string): string {
  const dot = filename.lastIndexOf(".");
  return dot <= 0 ? "" : filename.slice(dot + 1).toLowerCase();
}

/**
 * The file's content type: from its leading bytes for common formats, else from the extension for
 * formats without a signature, else application/octet-stream. What the client declared is ignored.
 */
export function detectMimeType(head: Uint8Array, filename: string): string {
  const ext = extensionOf(filename);
  for (const probe of PROBES) {
    const found = probe(head, ext);
    if (found) return found;
  }
  return BY_EXTENSION[ext] ?? OCTET_STREAM;
}

/**
 * Types a browser may display on our origin. Everything else (HTML, SVG, XML, scripts, PDFs with
 * their embedded scripts, unknown types) is served as an attachment.
 */
const INLINE_SAFE = new Set([
  "image/png",
  "image/jpeg",
  "image/gif",
  "image/webp",
  "image/avif",
  "image/bmp",
  "image/vnd.microsoft.icon",
  "text/plain",
  "text/csv",
  "audio/mpeg",
  "audio/ogg",
  "audio/wav",
  "audio/flac",
  "audio/mp4",
  "video/mp4",
  "video/webm",
]);

export function isInlineSafe(mimeType: string): boolean {
  return INLINE_SAFE.has(mimeType);
}
