// Comments domain: a ticket's append-only conversation — add (with attachments), read, list, redact; every change with its outbox events in one unit of the writer.
import type { Config } from "../config";
import type { ContactStore } from "../contacts/store";
import type { AuthorType } from "../db/schema/comments";
import type { Writer } from "../db/writer";
import { errors } from "../errors";
import type { Outbox } from "../events/outbox";
import { clearIntent, type Intent, writeIntentSync } from "../files/recovery";
import { removeFileRows, removeStoredBytes, toFileEventData, toFileMeta } from "../files/service";
import type { DownloadSigner } from "../files/signed-url";
import type { FileRow, FileStore } from "../files/store";
import type { Actor, Principal } from "../keys/principal";
import type { Clock } from "../lib/clock";
import { isIdOf, newId } from "../lib/ids";
import type { Logger } from "../lib/log";
import { DEFAULT_PER_PAGE, keysetPage, nextPageNumber, offsetPage, type PageQuery } from "../lib/pagination";
import { isBlank, textProblem } from "../lib/text";
import { toIso } from "../lib/time";
import type { OrgsStore } from "../orgs/store";
import { dataDirLayout } from "../storage/layout";
import type { Storage } from "../storage/storage";
import type { TicketStore } from "../tickets/store";
import { BODY_RULE, MAX_ATTACHMENTS, type Comment, type CommentList, type CreateComment } from "./model";
import { type AttachedFileRow, type CommentFilter, type CommentRow, type CommentStore, REDACTED_BODY } from "./store";

/** What a comments unit of work is given: the stores bound to its transaction. */
export interface CommentsTx {
  comments: CommentStore;
  tickets: Pick<TicketStore, "get" | "touch">;
  files: Pick<FileStore, "attachToTicket" | "remove">;
  orgs: Pick<OrgsStore, "getUserInOrg">;
  contacts: Pick<ContactStore, "get">;
  outbox: Outbox;
}

export interface CommentsDeps {
  /** For reads: committed rows only. */
  stores: { comments: CommentStore; tickets: Pick<TicketStore, "get"> };
  /** Every change goes through it: committed with the other writes of its batch, answered after the fsync. */
  writer: Writer<CommentsTx>;
  clock: Clock;
  /** Mints the attachments' download links. */
  signer: DownloadSigner;
  /** Where a redaction removes its attachments' bytes from (after the commit). */
  storage: Storage;
  /** The data dir's tmp/ holds the intent that makes a redaction's byte removal crash-safe. */
  config: Pick<Config, "dataDir">;
  log?: Logger;
}

/** The comment as events carry it: the API shape with its files without download_url (see toFileEventData). */
export type CommentEventData = Omit<Comment, "attachments"> & { attachments: ReturnType<typeof toFileEventData>[] };

function commentFields(r: CommentRow): Omit<Comment, "attachments"> {
  return {
    id: r.id,
    ticket_id: r.ticket_id,
    author_id: r.author_id,
    author_type: r.author_type,
    body: r.body,
    public: r.public === 1,
    created_at: toIso(r.created_at),
    redacted_at: r.redacted_at === null ? null : toIso(r.redacted_at),
    redacted_by: r.redacted_by,
  };
}

/** The comment as the API returns it: `files` are its attachments in order, each with a freshly signed download_url. */
export function toComment(deps: Pick<CommentsDeps, "signer" | "clock">, r: CommentRow, files: readonly FileRow[]): Comment {
  const { created_at, redacted_at, redacted_by, ...head } = commentFields(r);
  return { ...head, attachments: files.map((f) => toFileMeta(deps, f)), created_at, redacted_at, redacted_by };
}

/** The comment as `comment.created` and `comment.redacted` carry it. */
export function toCommentEventData(r: CommentRow, files: readonly FileRow[]): CommentEventData {
  const { created_at, redacted_at, redacted_by, ...head } = commentFields(r);
  return { ...head, attachments: files.map(toFileEventData), created_at, redacted_at, redacted_by };
}

/** A file row without the comment it was read with. */
function fileRowOf(a: AttachedFileRow): FileRow {
  const { comment_id: _, ...row } = a;
  return row;
}

/** The attachments of each of `rows`, in one query, grouped by comment in attachment order. */
async function attachmentsOf(store: CommentStore, orgId: string, rows: readonly CommentRow[]): Promise<Map<string, FileRow[]>> {
  const out = new Map<string, FileRow[]>();
  if (!rows.length) return out;
  for (const a of await store.attachedFiles(
    orgId,
    rows.map((r) => r.id),
  )) {
    const list = out.get(a.comment_id) ?? [];
    list.push(fileRowOf(a));
    out.set(a.comment_id, list);
  }
  return out;
}

function invalid(field: string, message: string) {
  return errors.validation([{ field, message }], `The request body is not valid: ${field} ${message}`);
}

/** Multi-line text, 1 character to 64 KiB, and not blank (the schema applies the rule too; a service may be called without it). */
function checkBody(body: string): string {
  const problem = textProblem(body, BODY_RULE);
  if (problem) throw invalid("body", problem);
  if (isBlank(body)) throw invalid("body", "must not be blank (only spaces, line breaks or invisible characters).");
  return body;
}

/** The files to attach: at most 20, distinct. Their existence is checked in the unit. */
function checkAttachments(ids: readonly string[] | undefined): string[] {
  const list = [...(ids ?? [])];
  if (list.length > MAX_ATTACHMENTS) throw invalid("attachments", `must contain at most ${MAX_ATTACHMENTS} items.`);
  if (new Set(list).size !== list.length) throw invalid("attachments", "must not contain duplicates.");
  return list;
}

const USER_ID = /^user_[0-9a-z]{1,64}$/;
const CONTACT_ID = /^con_[0-9a-z]{1,64}$/;

/**
 * Who the comment is by: the key's user by default; else a user of the organization, or a contact of it that is not
 * deleted (a requester's message another tool recorded), whose comments are public. 400 naming the field otherwise.
 */
async function resolveAuthor(tx: CommentsTx, actor: Actor, input: CreateComment, isPublic: boolean): Promise<{ id: string; type: AuthorType }> {
  const id = input.author_id;
  if (id === undefined) return { id: actor.userId, type: "user" };
  if (USER_ID.test(id) && (await tx.orgs.getUserInOrg(id, actor.orgId))) return { id, type: "user" };
  if (CONTACT_ID.test(id)) {
    const contact = await tx.contacts.get(id, actor.orgId);
    if (contact && contact.deleted_at === null) {
      if (!isPublic) throw invalid("public", "must be true for a comment by a contact: internal notes are written by users.");
      return { id, type: "contact" };
    }
  }
  throw invalid("author_id", "must be a user or a contact (not deleted) of your organization.");
}

const fileNotFound = (id: string) => errors.notFound(`File ${id}`);

/**
 * Sets the files' ticket_id to the ticket and returns their rows in the order given; the first id that is not one of
 * the organization's files is a 404 naming it (the unit then rolls back: nothing is created or changed).
 */
async function attachFiles(tx: CommentsTx, orgId: string, ticketId: string, ids: readonly string[]): Promise<FileRow[]> {
  if (!ids.length) return [];
  const malformed = ids.find((id) => !isIdOf("file", id));
  if (malformed !== undefined) throw fileNotFound(malformed);
  const found = new Map((await tx.files.attachToTicket(ids, orgId, ticketId)).map((f) => [f.id, f]));
  return ids.map((id) => {
    const row = found.get(id);
    if (!row) throw fileNotFound(id);
    return row;
  });
}

/**
 * Adds a comment to one of the organization's tickets, in one unit: the ticket (404), the author (400), the files
 * (404 naming the first unknown one), then the comment and its attachments, the files' ticket_id, the ticket's
 * updated_at and the `comment.created` event. Exactly one writer.write, whose value is the answer (idempotent POSTs).
 */
export function createComment(deps: CommentsDeps, actor: Actor, ticketId: string, input: CreateComment): Promise<Comment> {
  const body = checkBody(input.body);
  const isPublic = input.public ?? true;
  const fileIds = checkAttachments(input.attachments);
  return deps.writer.write(async (tx) => {
    if (!(await tx.tickets.get(ticketId, actor.orgId))) throw errors.notFound("Ticket");
    const author = await resolveAuthor(tx, actor, input, isPublic);
    const files = await attachFiles(tx, actor.orgId, ticketId, fileIds);
    const now = deps.clock.now();
    const row: CommentRow = {
      id: newId("cmt"),
      org_id: actor.orgId,
      ticket_id: ticketId,
      author_id: author.id,
      author_type: author.type,
      body,
      public: isPublic ? 1 : 0,
      created_at: now,
      redacted_at: null,
      redacted_by: null,
    };
    // Independent statements, sent together (PostgreSQL pipelines them on the unit's connection, in this order); if
    // one fails the transaction is aborted and the unit rolls back with its error.
    await Promise.all([
      tx.comments.insert(row, fileIds),
      tx.tickets.touch(ticketId, actor.orgId, now),
      tx.outbox.record({ type: "comment.created", orgId: actor.orgId, data: toCommentEventData(row, files) }, now),
    ]);
    return toComment(deps, row, files);
  });
}

/** The 404 for a comment not found: the ticket's when it is the ticket that is missing. */
async function missing(tickets: Pick<TicketStore, "get">, orgId: string, ticketId: string) {
  return (await tickets.get(ticketId, orgId)) ? errors.notFound("Comment") : errors.notFound("Ticket");
}

export async function getComment(
  deps: Pick<CommentsDeps, "stores" | "signer" | "clock">,
  orgId: string,
  ticketId: string,
  commentId: string,
): Promise<Comment> {
  const row = await deps.stores.comments.get(commentId, ticketId, orgId);
  // A comment found is its ticket's (comments go with their ticket): the ticket is read only to word a 404.
  if (!row) throw await missing(deps.stores.tickets, orgId, ticketId);
  return toComment(deps, row, (await attachmentsOf(deps.stores.comments, orgId, [row])).get(row.id) ?? []);
}

export interface ListQuery extends PageQuery {
  public?: boolean;
  starting_after?: string;
}

/** Where the next page starts, when there is one: a page number (offset mode) or a comment id (keyset mode). */
export type NextPage = { page: number } | { starting_after: string };

function badCursor(message: string) {
  return errors.invalidQuery("starting_after", message);
}

/**
 * A page of the ticket's comments, oldest first (ties by id), and where the next one starts. With `starting_after`
 * (keyset mode) the page holds the comments after that one (a comment of this ticket: 400 otherwise), and `page`
 * other than 1 cannot go with it. An unknown ticket is a 404. `meta.total` is exact.
 */
export async function listCommentsPage(
  deps: Pick<CommentsDeps, "stores" | "signer" | "clock">,
  orgId: string,
  ticketId: string,
  q: ListQuery,
): Promise<{ list: CommentList; next: NextPage | null }> {
  const { comments, tickets } = deps.stores;
  const filter: CommentFilter = q.public === undefined ? {} : { public: q.public };
  const perPage = q.per_page ?? DEFAULT_PER_PAGE;
  const withFiles = async (rows: CommentRow[]) => {
    const files = await attachmentsOf(comments, orgId, rows);
    return (r: CommentRow) => toComment(deps, r, files.get(r.id) ?? []);
  };
  if (q.starting_after !== undefined) {
    if ((q.page ?? 1) !== 1) throw badCursor("cannot be combined with page; follow the Link header or send one of them.");
    // Independent reads of committed rows, sent together: the ticket, the cursor's comment and the count.
    const [ticket, cursor, total] = await Promise.all([
      tickets.get(ticketId, orgId),
      comments.get(q.starting_after, ticketId, orgId),
      comments.total(orgId, ticketId, filter),
    ]);
    if (!ticket) throw errors.notFound("Ticket");
    if (!cursor) throw badCursor("must be the id of a comment of this ticket.");
    const rows = await comments.pageAfter(orgId, ticketId, filter, cursor, perPage + 1);
    const map = await withFiles(rows.slice(0, perPage));
    const { page, last } = await keysetPage(q, total, async () => rows, map);
    return { list: page, next: last ? { starting_after: last.id } : null };
  }
  const offset = ((q.page ?? 1) - 1) * perPage;
  // The page is read beside the count (a ticket's comments are few enough that a page past the end costs little).
  const [ticket, total, rows] = await Promise.all([
    tickets.get(ticketId, orgId),
    comments.total(orgId, ticketId, filter),
    comments.page(orgId, ticketId, filter, perPage, offset),
  ]);
  if (!ticket) throw errors.notFound("Ticket");
  const map = await withFiles(rows);
  const list = await offsetPage(q, total, async () => rows, map);
  const next = nextPageNumber(list.meta);
  return { list, next: next === null ? null : { page: next } };
}

/** Who may redact: an owner or admin key. */
function mayRedact(role: Principal["role"]): boolean {
  return role === "owner" || role === "admin";
}

/**
 * Redacts a comment (owner or admin keys only: 403 otherwise): its body becomes `[redacted]`, redacted_at and
 * redacted_by are set, and its attachments are deleted as DELETE /v1/files/{id} deletes files — rows with their
 * `file.deleted` events in the unit, under an intent, bytes removed after the commit — then `comment.redacted` is
 * recorded. Redacting a redacted comment answers it unchanged (no write, no event). Exactly one writer.write, whose
 * value is the answer (idempotent POSTs).
 */
export async function redactComment(
  deps: CommentsDeps,
  actor: Pick<Principal, "orgId" | "userId" | "role">,
  ticketId: string,
  commentId: string,
): Promise<Comment> {
  if (!mayRedact(actor.role)) throw errors.forbidden("Only an owner or admin key may redact a comment.");
  const tmpDir = dataDirLayout(deps.config.dataDir).tmp;
  let intent: Intent | null = null;
  let removed: FileRow[] = [];
  let comment: Comment;
  try {
    comment = await deps.writer.write(async (tx) => {
      const row = await tx.comments.get(commentId, ticketId, actor.orgId);
      if (!row) throw await missing(tx.tickets, actor.orgId, ticketId);
      // A redacted comment has no attachments left.
      if (row.redacted_at !== null) return toComment(deps, row, []);
      const files = (await tx.comments.attachedFiles(actor.orgId, [row.id])).map(fileRowOf);
      // Durable before the rows go, so the bytes of a committed redaction are never orphaned by a crash (the start-up
      // sweep removes them). Synchronous: on SQLite the unit may await nothing but its stores.
      if (files.length)
        intent = writeIntentSync(
          tmpDir,
          files.map((f) => ({ id: f.id, key: f.storage_key })),
        );
      const now = deps.clock.now();
      await tx.comments.redact(row.id, actor.orgId, now, actor.userId);
      await removeFileRows(tx, files, now);
      const after: CommentRow = { ...row, body: REDACTED_BODY, redacted_at: now, redacted_by: actor.userId };
      await tx.outbox.record({ type: "comment.redacted", orgId: actor.orgId, data: toCommentEventData(after, []) }, now);
      removed = files;
      return toComment(deps, after, []);
    });
  } catch (err) {
    // Nothing was deleted: the intent (if written) names files whose rows still exist.
    if (intent) await clearIntent(intent).catch(() => {});
    throw err;
  }
  if (removed.length && (await removeStoredBytes(deps, removed)) && intent) await clearIntent(intent).catch(() => {});
  return comment;
}
