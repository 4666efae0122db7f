// TypeBox models of shared folders: the single source for validation, handler types and OpenAPI.
import { t } from "elysia";
import { pageMeta, pageQuery, text, Timestamp } from "../http/schema";
import type { TextRule } from "../lib/text";

export const FOLDER_NAME_MAX = 255;

export const Folder = t.Object(
  {
    id: t.String({ examples: ["fld_8x92k0a1b2c3d4e5"] }),
    name: t.String({ examples: ["Contracts"] }),
    parent_id: t.Union([t.String(), t.Null()], { description: "The enclosing folder; null at the top level." }),
    created_at: Timestamp,
    updated_at: Timestamp,
  },
  { additionalProperties: false },
);
export type Folder = typeof Folder.static;

export const FolderPageMeta = pageMeta("Folders matching the filter, across all pages.");

export const FolderList = t.Object({ data: t.Array(Folder), meta: FolderPageMeta }, { additionalProperties: false });
export type FolderList = typeof FolderList.static;

// Single-line text (src/lib/text.ts): trimmed, 1–255 characters (code points), not blank, no control characters.
export const FOLDER_NAME_RULE: TextRule = { kind: "line", minLength: 1, maxLength: FOLDER_NAME_MAX };
const Name = text(FOLDER_NAME_RULE, {
  description: "1–255 characters after trimming; one line: no control characters, not blank; no `/`; unique among the folder's siblings.",
});
const ParentId = t.Union([t.String(), t.Null()], { description: "The enclosing folder (`fld_…`); null or absent for the top level." });

export const CreateFolder = t.Object({ name: Name, parent_id: t.Optional(ParentId) }, { additionalProperties: false });
export type CreateFolder = typeof CreateFolder.static;

export const UpdateFolder = t.Object(
  { name: t.Optional(Name), parent_id: t.Optional(ParentId) },
  { additionalProperties: false, minProperties: 1, description: "Rename (`name`), move (`parent_id`; null moves to the top level), or both." },
);
export type UpdateFolder = typeof UpdateFolder.static;

export const ListFoldersQuery = t.Object(
  {
    parent_id: t.Optional(t.String({ description: "Only the folders directly inside this one; `root` for the top level." })),
    ...pageQuery(),
  },
  { additionalProperties: true },
); // unknown query parameters are ignored, as on every route
export type ListFoldersQuery = typeof ListFoldersQuery.static;

export const DeleteFolderQuery = t.Object(
  {
    recursive: t.Optional(
      t.Boolean({ description: "Also delete everything inside (sub-folders and their files, bytes included). Without it a non-empty folder is a 409." }),
    ),
  },
  { additionalProperties: true },
);

export const FolderIdParams = t.Object({ id: t.String({ description: "A folder id (`fld_…`)." }) });
