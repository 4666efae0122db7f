// Routes of /v1/folders: bind HTTP to the folders service, nothing more.
import { Elysia } from "elysia";
import type { Config } from "../config";
import type { Writer } from "../db/writer";
import type { AnsweringTx, ApiGuard } from "../idempotency/plugin";
import { errorResponses, NoContent } from "../http/openapi";
import { CreateFolder, DeleteFolderQuery, Folder, FolderIdParams, FolderList, ListFoldersQuery, UpdateFolder } from "./model";
import { createFolder, deleteFolder, getFolder, listFolders, updateFolder, type FoldersDeps, type FoldersTx } from "./service";

/** What the folders routes need: the service's deps (storage from the composition root), and the public URL for Location. */
export interface FolderRoutesDeps extends FoldersDeps {
  config: FoldersDeps["config"] & Pick<Config, "publicUrl">;
  /** The service's writer, whose units can also store an idempotent answer. */
  writer: Writer<FoldersTx & AnsweringTx>;
}

export function folderRoutes(deps: FolderRoutesDeps, auth: ApiGuard) {
  const folders: FoldersDeps = deps;
  return new Elysia({ name: "folders", prefix: "/v1/folders" })
    .use(auth)
    .model({ Folder, FolderList, CreateFolder, UpdateFolder })
    .get("", ({ principal, query }) => listFolders(folders, principal.orgId, query), {
      query: ListFoldersQuery,
      response: { 200: "FolderList", ...errorResponses(400, 401, 403) },
      detail: {
        summary: "List folders",
        description: "A page of the organization's folders, newest first; `parent_id` narrows to one level.",
        tags: ["Folders"],
        operationId: "listFolders",
      },
    })
    .post(
      "",
      ({ principal, body, idempotent }) =>
        // With an Idempotency-Key, the folder and its stored answer commit together (crash-safe retries).
        idempotent.commit({ status: 201, location: (folder: Folder) => `${deps.config.publicUrl}/v1/folders/${folder.id}` }, deps.writer, (writer) =>
          createFolder({ ...folders, writer }, principal, body),
        ),
      {
        body: "CreateFolder",
        response: { 201: "Folder", ...errorResponses(400, 401, 403, 404, 409, 413, 415) },
        detail: {
          summary: "Create a folder",
          description: "An unknown `parent_id` is a 404; a name already used by a sibling a 409 `conflict`.",
          tags: ["Folders"],
          operationId: "createFolder",
        },
      },
    )
    .get("/:id", ({ principal, params }) => getFolder(folders, principal.orgId, params.id), {
      params: FolderIdParams,
      response: { 200: "Folder", ...errorResponses(401, 403, 404) },
      detail: { summary: "Get a folder", tags: ["Folders"], operationId: "getFolder" },
    })
    .patch("/:id", async ({ principal, params, body }) => updateFolder(folders, principal, params.id, body), {
      params: FolderIdParams,
      body: "UpdateFolder",
      response: { 200: "Folder", ...errorResponses(400, 401, 403, 404, 409, 413, 415) },
      detail: {
        summary: "Rename or move a folder",
        description: "`parent_id: null` moves it to the top level. Moving a folder into itself or one of its sub-folders is a 400.",
        tags: ["Folders"],
        operationId: "updateFolder",
      },
    })
    .delete(
      "/:id",
      async ({ principal, params, query, set }) => {
        await deleteFolder(folders, principal, params.id, query.recursive === true);
        set.status = 204;
      },
      {
        params: FolderIdParams,
        query: DeleteFolderQuery,
        response: { 204: NoContent, ...errorResponses(400, 401, 403, 404, 409) },
        detail: {
          summary: "Delete a folder",
          description:
            "A folder that still holds files or folders is a 409 `folder_not_empty`, unless `?recursive=true`, which deletes the whole subtree and its files (bytes included; one `file.deleted` event per file).",
          tags: ["Folders"],
          operationId: "deleteFolder",
        },
      },
    );
}
