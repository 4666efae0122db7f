// The event types webhooks can subscribe to, with a sentence each; the list itself lives beside the events table (one place).
import type { EventType } from "../db/schema/events";

/** Subscribes to every event type, including ones added later. */
export const ALL_EVENTS = "*";

export const EVENT_DESCRIPTIONS: Record<EventType, string> = {
  "ticket.created": "A ticket was created. `data` is the ticket.",
  "ticket.updated":
    "A ticket changed (by PATCH or a bulk change). `data` is the ticket after the change, plus `changed_fields`: the names of the fields that changed (subject, description, status, priority, requester_id, assignee_id, tags, custom_fields). A comment does not send it: `comment.created` does.",
  "ticket.deleted": "A ticket was deleted. `data` is the ticket as it was.",
  "comment.created":
    "A comment was added to a ticket (a public reply or an internal note). `data` is the comment, with `ticket_id`; its attachments without `download_url`.",
  "comment.redacted": "A comment's body was redacted and its attachments removed. `data` is the comment after the redaction.",
  "contact.created": "A contact (requester) was created, directly or by a ticket naming a new `requester`. `data` is the contact.",
  "contact.updated": "A contact changed. `data` is the contact after the change, plus `changed_fields`.",
  "contact.deleted": "A contact was deleted: its personal fields are erased, its tickets and comments kept. `data` is the contact after the erasure.",
  "file.uploaded": "A file was uploaded. `data` is the file as the API returns it, without `download_url` (a link that expires; GET the file for a fresh one).",
  "file.deleted": "A file was deleted. `data` is the file as it was, without `download_url`.",
  "webhook.test": "Sent by `POST /v1/webhooks/{id}/test` to that endpoint only, whatever it subscribes to.",
};

/** True when an endpoint subscribed to `events` receives `type` (test pings are addressed, never subscribed to). */
export function subscribes(events: readonly string[], type: string): boolean {
  if (type === "webhook.test") return false;
  return events.includes(ALL_EVENTS) || events.includes(type);
}
