// TypeBox models of webhooks, deliveries and attempts: the single source for validation, handler types and OpenAPI.
import { t } from "elysia";
import { enumOf, pageMeta, pageQuery, ResponseInteger, text, Timestamp } from "../http/schema";
import { EVENT_TYPES } from "../db/schema/events";
import { DELIVERY_STATUSES } from "../db/schema/webhooks";
import { ALL_EVENTS } from "./event-types";

const NullableTimestamp = t.Union([Timestamp, t.Null()]);

export const URL_MAX = 2048;
export const DESCRIPTION_MAX = 500;

export const EventName = enumOf([ALL_EVENTS, ...EVENT_TYPES] as const, { description: 'An event type, or "*" for every type.' });

export const Webhook = t.Object(
  {
    id: t.String({ examples: ["wh_3k9x0q7m2p4d8s1a"] }),
    url: t.String({
      examples: ["https://your-app.com/webhooks/clientcove"],
      description: "The URL in its normal form; credentials in it are shown as `user:****@`.",
    }),
    events: t.Array(t.String(), {
      description: 'Subscribed event types, or ["*"] for all.',
      examples: [["ticket.created", "ticket.updated", "file.uploaded"]],
    }),
    description: t.Union([t.String(), t.Null()]),
    active: t.Boolean({ description: "False when disabled by PATCH, by a 410 Gone, or after 20 failed deliveries in a row." }),
    disabled_reason: t.Union([t.String(), t.Null()], { description: "Why the endpoint is disabled; null while active." }),
    disabled_at: NullableTimestamp,
    previous_secret_expires_at: t.Union([Timestamp, t.Null()], {
      description: "Until then, deliveries are also signed with the secret before the last rotation.",
    }),
    created_at: Timestamp,
    updated_at: Timestamp,
  },
  { additionalProperties: false },
);
export type Webhook = typeof Webhook.static;

export const WebhookWithSecret = t.Object(
  {
    ...Webhook.properties,
    secret: t.String({
      description: "The signing secret (`whsec_` + base64). Shown only on creation and rotation.",
      examples: ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwa4zg1LlRqzY="],
    }),
  },
  { additionalProperties: false },
);
export type WebhookWithSecret = typeof WebhookWithSecret.static;

const PageMeta = pageMeta("Items matching the filters, across all pages.");

export const WebhookList = t.Object({ data: t.Array(Webhook), meta: PageMeta }, { additionalProperties: false });
export type WebhookList = typeof WebhookList.static;

const Url = t.String({
  minLength: 1,
  maxLength: URL_MAX,
  description:
    "An absolute http(s) URL with a host and no fragment; stored in its normal form. Private, loopback and other special-purpose targets are refused unless the server allows them. A password (or a bare user name) in it is shown as ****; sending the URL back with **** keeps the stored one.",
});
const Events = t.Array(EventName, { minItems: 1, maxItems: EVENT_TYPES.length + 1 });
// Multi-line text (src/lib/text.ts): up to 500 characters (code points), tabs and line breaks allowed, no other control characters.
const NullableDescription = t.Union([text({ kind: "multiline", maxLength: DESCRIPTION_MAX }), t.Null()], {
  description: `Up to ${DESCRIPTION_MAX} characters; tabs and line breaks allowed, no other control characters; null clears it.`,
});

export const CreateWebhook = t.Object(
  {
    url: Url,
    events: Events,
    description: t.Optional(NullableDescription),
  },
  { additionalProperties: false },
);
export type CreateWebhook = typeof CreateWebhook.static;

export const UpdateWebhook = t.Object(
  {
    url: t.Optional(Url),
    events: t.Optional(Events),
    description: t.Optional(NullableDescription),
    active: t.Optional(
      t.Boolean({ description: "true re-enables a disabled endpoint (its failure count starts over); false disables it and cancels its pending deliveries." }),
    ),
    replay_missed: t.Optional(
      t.Boolean({
        description:
          "With active: true on a disabled endpoint: also queue the deliveries cancelled when it was disabled and the events it missed since then (within the retention period). Without it, re-enabling sends only new events.",
      }),
    ),
  },
  { additionalProperties: false, minProperties: 1, description: "Any non-empty subset of the fields." },
);
export type UpdateWebhook = typeof UpdateWebhook.static;

export const ListWebhooksQuery = t.Object(
  {
    ...pageQuery(),
  },
  { additionalProperties: true },
); // unknown query parameters are ignored, as on every route

export const DeliveryStatus = enumOf(DELIVERY_STATUSES, {
  description: "pending: waiting for its next attempt; succeeded: a 2xx arrived; failed: out of attempts (or 410 Gone); cancelled: its endpoint was disabled.",
});

export const Delivery = t.Object(
  {
    id: t.String({ description: "Also the `webhook-id` header, identical on every attempt.", examples: ["dlv_0f3k2m9x8q7p6n5b"] }),
    webhook_id: t.String(),
    event_id: t.String({ examples: ["evt_7m2p4d8s1a3k9x0q"] }),
    event: t.String({ examples: ["ticket.created"] }),
    status: DeliveryStatus,
    attempt_count: ResponseInteger({ minimum: 0 }),
    next_attempt_at: t.Union([Timestamp, t.Null()], { description: "When the next attempt is due; null once the delivery has ended." }),
    created_at: Timestamp,
    updated_at: Timestamp,
  },
  { additionalProperties: false },
);
export type Delivery = typeof Delivery.static;

export const Attempt = t.Object(
  {
    attempted_at: Timestamp,
    status_code: t.Union([ResponseInteger(), t.Null()], { description: "The HTTP status, or null when no response arrived." }),
    error: t.Union([t.String(), t.Null()], {
      description: "Timeout, refused address, DNS failure, connection error or redirect; null for a plain HTTP status.",
    }),
    duration_ms: ResponseInteger({ minimum: 0 }),
    response_body: t.Union([t.String(), t.Null()], { description: "The first 1 KiB of the response body." }),
  },
  { additionalProperties: false },
);
export type Attempt = typeof Attempt.static;

export const Payload = t.Object(
  {
    event: t.String(),
    timestamp: Timestamp,
    data: t.Record(t.String(), t.Unknown()),
  },
  { additionalProperties: false, description: "The JSON body every attempt sends." },
);

export const DeliveryDetail = t.Object(
  {
    ...Delivery.properties,
    payload: Payload,
    attempts: t.Array(Attempt, { description: "Every attempt, oldest first." }),
  },
  { additionalProperties: false },
);
export type DeliveryDetail = typeof DeliveryDetail.static;

export const DeliveryList = t.Object({ data: t.Array(Delivery), meta: PageMeta }, { additionalProperties: false });
export type DeliveryList = typeof DeliveryList.static;

export const ListDeliveriesQuery = t.Object(
  {
    status: t.Optional(DeliveryStatus),
    ...pageQuery(),
  },
  { additionalProperties: true },
);

export const EventTypeList = t.Object(
  {
    data: t.Array(t.Object({ type: t.String({ examples: ["ticket.created"] }), description: t.String() }, { additionalProperties: false })),
  },
  { additionalProperties: false },
);
export type EventTypeList = typeof EventTypeList.static;

export const WebhookIdParams = t.Object({ id: t.String({ description: "A webhook id (`wh_…`)." }) });
export const DeliveryParams = t.Object({
  id: t.String({ description: "A webhook id (`wh_…`)." }),
  delivery_id: t.String({ description: "A delivery id (`dlv_…`)." }),
});
