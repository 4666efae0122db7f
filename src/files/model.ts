// TypeBox models of files: the single source for validation, handler types and OpenAPI (incl. the multipart upload body).
import { t } from "elysia";
import { pageMeta, pageQuery, ResponseInteger, Timestamp } from "../http/schema";

export const FileMeta = t.Object(
  {
    id: t.String({ examples: ["file_4m9xq0a1b2c3d4e5"] }),
    filename: t.String({ description: "The name the file was uploaded with (directory parts and control characters removed).", examples: ["document.pdf"] }),
    size_bytes: ResponseInteger({ minimum: 0, examples: [2048576] }),
    mime_type: t.String({
      description: "Detected from the content (else the extension); the client's declared type is not trusted.",
      examples: ["application/pdf"],
    }),
    folder_id: t.Union([t.String(), t.Null()], { examples: ["fld_8x92k0a1b2c3d4e5"] }),
    ticket_id: t.Union([t.String(), t.Null()], { description: "The ticket the file is attached to; cleared when the ticket is deleted (the file stays)." }),
    sha256: t.String({ pattern: "^[0-9a-f]{64}$", description: "SHA-256 of the content, hex; also the download ETag." }),
    uploaded_at: Timestamp,
    download_url: t.String({
      format: "uri",
      description:
        "Absolute link that works without an Authorization header until it expires (CLIENTCOVE_DOWNLOAD_URL_TTL_SECONDS, default 1 hour). Every response mints a fresh one.",
      examples: ["https://cove.example.com/files/file_4m9xq0a1b2c3d4e5/document.pdf?expires=1772190900&signature=7Hc2mVb0Qe1s3X8Ykq5uW9Zr4Ln6Tg2Jd0Fa8Pw1Ox4"],
    }),
  },
  { additionalProperties: false },
);
export type FileMeta = typeof FileMeta.static;

export const FilePageMeta = pageMeta("Files matching the filters, across all pages.");

export const FileList = t.Object({ data: t.Array(FileMeta), meta: FilePageMeta }, { additionalProperties: false });
export type FileList = typeof FileList.static;

export const ListFilesQuery = t.Object(
  {
    folder_id: t.Optional(t.String({ description: "Only files in this folder; `root` for files in no folder." })),
    ticket_id: t.Optional(t.String({ description: "Only files attached to this ticket." })),
    ...pageQuery(),
  },
  { additionalProperties: true },
); // unknown query parameters are ignored, as on every route
export type ListFilesQuery = typeof ListFilesQuery.static;

export const FileIdParams = t.Object({ id: t.String({ description: "A file id (`file_…`)." }) });

export const SignedDownloadParams = t.Object({
  id: t.String({ description: "A file id (`file_…`)." }),
  // Not t.String: the router hands over null for a segment that is not valid percent-encoding, and that link is a
  // 403 invalid_download_link (checked in the handler), not a 400. Documented as the string it is.
  filename: t.Any({ type: "string", description: "The file's name, percent-encoded as in `download_url`; any other name is `403 invalid_download_link`." }),
});

export const SignedDownloadQuery = t.Object(
  {
    expires: t.Optional(t.String({ description: "Unix time (seconds) after which the link stops working." })),
    signature: t.Optional(t.String({ description: "HMAC of the file id and expiry with the server's secret." })),
  },
  { additionalProperties: true },
); // mail clients and link trackers append parameters (utm_source, …): ignored

/** The multipart upload body, for the OpenAPI document (the route streams it; nothing here buffers it). */
export const UPLOAD_REQUEST_BODY = {
  required: true,
  description: "`multipart/form-data` with the file in the part named `file`; fields may come in any order.",
  content: {
    "multipart/form-data": {
      schema: {
        type: "object",
        required: ["file"],
        properties: {
          file: { type: "string", format: "binary", description: "The file's content; its part's filename becomes `filename`." },
          folder_id: { type: "string", description: "Put the file in this folder (`fld_…`)." },
          ticket_id: { type: "string", description: "Attach the file to this ticket (`tkt_…`)." },
        },
        additionalProperties: false,
      },
      encoding: { file: { contentType: "application/octet-stream, */*" } },
    },
  },
} as const;

const errorRef = (description: string) => ({ description, content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } } });
const BINARY = { schema: { type: "string", format: "binary" } };
const DOWNLOAD_HEADERS = {
  "Content-Disposition": {
    description:
      "`inline` for images, plain text, audio and video; `attachment` for everything else. RFC 6266 with an RFC 5987 `filename*` for non-ASCII names.",
    schema: { type: "string" },
  },
  ETag: { description: "The quoted SHA-256 of the content.", schema: { type: "string" } },
  "Last-Modified": { description: "When the file was uploaded.", schema: { type: "string" } },
  "Content-Security-Policy": { description: "Always `sandbox`.", schema: { type: "string" } },
  "X-Content-Type-Options": { description: "Always `nosniff`.", schema: { type: "string" } },
};

/** Responses of the two download routes, written out because they are bytes, not JSON. */
export function downloadResponses(errorStatuses: Record<number, string>) {
  const out: Record<string, unknown> = {
    200: { description: "The file's bytes, with its detected Content-Type.", headers: DOWNLOAD_HEADERS, content: { "*/*": BINARY } },
    206: { description: "One byte range (`Range: bytes=start-end`), with Content-Range.", headers: DOWNLOAD_HEADERS, content: { "*/*": BINARY } },
    304: { description: "`If-None-Match` matched the ETag (or `If-Modified-Since` is not older than the upload)." },
    416: errorRef("The range lies outside the file (`range_not_satisfiable`); Content-Range gives the size."),
    500: errorRef("The file's row exists but its stored bytes are missing (`file_content_missing`); `clientcove verify` lists such files."),
  };
  for (const [status, description] of Object.entries(errorStatuses)) out[status] = errorRef(description);
  return out;
}
