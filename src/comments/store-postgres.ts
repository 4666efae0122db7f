// The comments store on PostgreSQL: the CommentStore contract over postgres.js. Skeleton: filled in by the comments work.
import type { Queryable, StoreMode } from "../db/postgres/writer";
import type { CommentStore } from "./store";

export function postgresCommentStore(_q: Queryable, _mode: StoreMode): CommentStore {
  return {};
}
