// Routes of /v1/files (Bearer) and of signed download links /files/:id/:filename (no Authorization): bind HTTP to the files service.
import { Elysia } from "elysia";
import type { Config } from "../config";
import type { Writer } from "../db/writer";
import type { AnsweringTx, ApiGuard } from "../idempotency/plugin";
import { errorResponses, NoContent } from "../http/openapi";
import { serveDownload } from "./download";
import { downloadResponses, FileIdParams, FileList, FileMeta, ListFilesQuery, SignedDownloadParams, SignedDownloadQuery, UPLOAD_REQUEST_BODY } from "./model";
import {
  createUploadSlots,
  deleteFile,
  fileLocation,
  getFile,
  getFileRow,
  getFileRowForLink,
  listFiles,
  uploadFile,
  type FilesDeps,
  type FilesTx,
} from "./service";
import { invalidLink } from "./signed-url";

/**
 * Routes that read `request.body` as a stream themselves. The app's body parser must return
 * STREAMED_BODY for them without touching the body (Elysia would otherwise buffer multipart whole).
 */
export const STREAMED_ROUTES: ReadonlySet<string> = new Set(["POST /v1/files"]);
export const STREAMED_BODY = Symbol.for("clientcove.streamed-body");

export function isStreamedRoute(method: string, route: string): boolean {
  return STREAMED_ROUTES.has(`${method} ${route}`);
}

/**
 * What the files routes need: the service's deps (storage and the download signer come built from the composition
 * root, src/deps.ts), and the per-key upload limit the binding enforces.
 */
export interface FileRoutesDeps extends FilesDeps {
  config: FilesDeps["config"] & Pick<Config, "maxUploadsPerKey">;
  /** The service's writer, whose units can also store an idempotent answer. */
  writer: Writer<FilesTx & AnsweringTx>;
}

export function fileRoutes(deps: FileRoutesDeps, auth: ApiGuard) {
  const files: FilesDeps = deps;
  const uploadSlots = createUploadSlots(deps.config.maxUploadsPerKey);

  const api = new Elysia({ name: "files", prefix: "/v1/files" })
    .use(auth)
    .model({ File: FileMeta, FileList })
    .get("", ({ principal, query }) => listFiles(files, principal.orgId, query), {
      query: ListFilesQuery,
      response: { 200: "FileList", ...errorResponses(400, 401, 403) },
      detail: {
        summary: "List files",
        description: "A page of the organization's files, newest first. Filters combine.",
        tags: ["Files"],
        operationId: "listFiles",
      },
    })
    .post(
      "",
      async ({ principal, request, idempotent }) => {
        // Held until the upload has ended and cleaned up after itself, whatever the outcome.
        const releaseSlot = uploadSlots.acquire(principal.keyId);
        let result: Awaited<ReturnType<typeof uploadFile>>;
        try {
          result = await uploadFile(
            files,
            principal,
            { body: request.body, contentType: request.headers.get("content-type"), contentLength: request.headers.get("content-length") },
            {
              identify: (content) => idempotent.identify(content),
              commit: (change) =>
                idempotent.commit({ status: 201, location: (file: FileMeta) => fileLocation(deps.config.publicUrl, file.id) }, deps.writer, change),
            },
          );
        } finally {
          releaseSlot();
        }
        return result.kind === "answered" ? idempotent.replay() : result.file;
      },
      {
        response: { 201: "File", ...errorResponses(400, 401, 403, 404, 408, 409, 413, 415, 422, 429) },
        detail: {
          summary: "Upload a file",
          description: [
            "Streams one file (`multipart/form-data`, part `file`) to storage, optionally into a folder and/or attached to a ticket:",
            "",
            '    curl -X POST $URL/v1/files -H "Authorization: Bearer $KEY" -F "file=@/path/to/document.pdf" -F "folder_id=fld_…"',
            "",
            "The upload is all or nothing. Larger than the limit (`--max-upload-bytes`, default 100 MiB): `413 payload_too_large`, decided from Content-Length when sent.",
            "`mime_type` is detected from the content. An unknown `folder_id` or `ticket_id` is a 404.",
            "With `Idempotency-Key`, a retry of the same upload (same fields, name and content) replays the first answer instead of storing a second copy;",
            "a retry sent while the first is still streaming is `409 idempotency_in_progress`, other content under the key `422 idempotency_key_reused`.",
            "An upload that sends no bytes for `--upload-idle-timeout-ms` (default 60 s) is `408 upload_timeout`; more than `--max-uploads-per-key` (default 8) at once from one API key is `429 too_many_uploads` with `Retry-After`.",
          ].join("\n"),
          tags: ["Files"],
          operationId: "uploadFile",
          requestBody: UPLOAD_REQUEST_BODY as never,
        },
      },
    )
    .get("/:id", ({ principal, params }) => getFile(files, principal.orgId, params.id), {
      params: FileIdParams,
      response: { 200: "File", ...errorResponses(401, 403, 404) },
      detail: { summary: "Get a file's metadata", description: "Includes a freshly signed `download_url`.", tags: ["Files"], operationId: "getFile" },
    })
    .get(
      "/:id/content",
      async ({ principal, params, request }) =>
        serveDownload(files.storage, await getFileRow(files, principal.orgId, params.id), request, { cacheControl: "private, no-store" }),
      {
        params: FileIdParams,
        detail: {
          summary: "Download a file (Bearer)",
          description: "The file's bytes for an authenticated caller; same headers, ranges and conditional requests as the signed link. HEAD is supported.",
          tags: ["Files"],
          operationId: "getFileContent",
          responses: downloadResponses({
            401: "Missing or invalid API key (`unauthorized`).",
            403: "Plan without API access (`plan_required`).",
            404: "No such file (`not_found`).",
          }) as never,
        },
      },
    )
    .delete(
      "/:id",
      async ({ principal, params, set }) => {
        await deleteFile(files, principal, params.id);
        set.status = 204;
      },
      {
        params: FileIdParams,
        response: { 204: NoContent, ...errorResponses(401, 403, 404) },
        detail: {
          summary: "Delete a file",
          description: "Removes the metadata and the stored bytes, and emits `file.deleted`.",
          tags: ["Files"],
          operationId: "deleteFile",
        },
      },
    );

  const links = new Elysia({ name: "file-links" }).get(
    "/files/:id/:filename",
    async ({ params, query, request }) => {
      files.signer.verify(params.id, query.expires, query.signature, files.clock.now());
      const row = await getFileRowForLink(files, params.id);
      // Browsers and `curl -O` name the download after the last path segment: a link renamed to `x.exe` must not
      // work, or anyone holding a link could hand out the file under a name of their choosing.
      // The router has already percent-decoded the segment (invalid encoding never equals a stored name).
      if (params.filename !== row.filename) throw invalidLink();
      // The link is private to whoever holds it; caches may keep the bytes only for that client, revalidating by ETag.
      return serveDownload(files.storage, row, request, { cacheControl: "private, no-cache" });
    },
    {
      params: SignedDownloadParams,
      query: SignedDownloadQuery,
      detail: {
        summary: "Download a file (signed link)",
        description:
          "The `download_url` of a file's metadata: works without an Authorization header (browser, `curl -O`) until `expires`. HTML, SVG, XML and other active types are served as attachments; every download carries `X-Content-Type-Options: nosniff` and `Content-Security-Policy: sandbox`. HEAD is supported.",
        tags: ["Files"],
        operationId: "downloadFileBySignedLink",
        security: [],
        responses: downloadResponses({
          403: "Tampered (`invalid_download_link`: signature, expiry or filename changed) or expired (`download_link_expired`) link.",
          404: "The file no longer exists (`not_found`).",
        }) as never,
      },
    },
  );

  return new Elysia({ name: "files-module" }).use(api).use(links);
}
