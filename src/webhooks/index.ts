// Routes of /v1/webhooks: bind HTTP to the webhooks service, nothing more.
import { Elysia } from "elysia";
import type { Config } from "../config";
import type { Writer } from "../db/writer";
import type { AnsweringTx, ApiGuard } from "../idempotency/plugin";
import { errorResponses, NoContent } from "../http/openapi";
import {
  CreateWebhook,
  Delivery,
  DeliveryDetail,
  DeliveryList,
  DeliveryParams,
  EventTypeList,
  ListDeliveriesQuery,
  ListWebhooksQuery,
  UpdateWebhook,
  Webhook,
  WebhookIdParams,
  WebhookList,
  WebhookWithSecret,
} from "./model";
import {
  createWebhook,
  deleteWebhook,
  getDelivery,
  getWebhook,
  listDeliveries,
  listEventTypes,
  listWebhooks,
  retryDelivery,
  rotateSecret,
  sendTestEvent,
  updateWebhook,
  type Deps,
  type WebhooksTx,
} from "./service";

const tags = ["Webhooks"];

/** What the webhooks routes need: the service's deps, and the public URL for Location. */
export interface WebhookRoutesDeps extends Deps {
  config: Deps["config"] & Pick<Config, "publicUrl">;
  /** The service's writer, whose units can also store an idempotent answer. */
  writer: Writer<WebhooksTx & AnsweringTx>;
}

export function webhookRoutes(deps: WebhookRoutesDeps, auth: ApiGuard) {
  return (
    new Elysia({ name: "webhooks", prefix: "/v1/webhooks" })
      .use(auth)
      .model({ Webhook, WebhookWithSecret, WebhookList, CreateWebhook, UpdateWebhook, Delivery, DeliveryDetail, DeliveryList, EventTypeList })
      // Before "/:id", so "event-types" is not taken for an id.
      .get("/event-types", () => listEventTypes(), {
        response: { 200: "EventTypeList", ...errorResponses(401, 403) },
        detail: { summary: "List event types", description: "Every event type an endpoint can subscribe to.", tags, operationId: "listWebhookEventTypes" },
      })
      .get("", ({ principal, query }) => listWebhooks(deps, principal.orgId, query), {
        query: ListWebhooksQuery,
        response: { 200: "WebhookList", ...errorResponses(400, 401, 403) },
        detail: {
          summary: "List webhooks",
          description: "The organization's endpoints, newest first. Secrets are not included.",
          tags,
          operationId: "listWebhooks",
        },
      })
      .post(
        "",
        ({ principal, body, idempotent }) =>
          // The service checks the URL's addresses (DNS) before it writes: the answer is stored once it has.
          idempotent.commit(
            { status: 201, location: (webhook: WebhookWithSecret) => `${deps.config.publicUrl}/v1/webhooks/${webhook.id}` },
            deps.writer,
            (writer) => createWebhook({ ...deps, writer }, principal.orgId, body),
          ),
        {
          body: "CreateWebhook",
          response: { 201: "WebhookWithSecret", ...errorResponses(400, 401, 403, 409, 413, 415) },
          detail: {
            summary: "Register a webhook",
            description:
              'Registers an endpoint for the listed event types (or `["*"]`). The response carries the signing secret; it is not shown again. The URL is stored in its normal form; a password in it is never shown again (responses show `****`). URLs that resolve to loopback, private, link-local, multicast, documentation, unspecified or reserved addresses are refused unless the server allows them. An organization has at most `--webhook-max-per-org` webhooks (409 `webhook_limit_reached`).',
            tags,
            operationId: "createWebhook",
          },
        },
      )
      .get("/:id", ({ principal, params }) => getWebhook(deps, principal.orgId, params.id), {
        params: WebhookIdParams,
        response: { 200: "Webhook", ...errorResponses(401, 403, 404) },
        detail: { summary: "Get a webhook", tags, operationId: "getWebhook" },
      })
      .patch("/:id", async ({ principal, params, body }) => updateWebhook(deps, principal.orgId, params.id, body), {
        params: WebhookIdParams,
        body: "UpdateWebhook",
        response: { 200: "Webhook", ...errorResponses(400, 401, 403, 404, 413, 415) },
        detail: {
          summary: "Update a webhook",
          description:
            "Changes any non-empty subset of url, events, description and active. `active: false` cancels pending deliveries; `active: true` re-enables and sends new events only, unless `replay_missed: true`.",
          tags,
          operationId: "updateWebhook",
        },
      })
      .delete(
        "/:id",
        async ({ principal, params, set }) => {
          await deleteWebhook(deps, principal.orgId, params.id);
          set.status = 204;
        },
        {
          params: WebhookIdParams,
          response: { 204: NoContent, ...errorResponses(401, 403, 404) },
          detail: {
            summary: "Delete a webhook",
            description: "Deletes the endpoint and its delivery log; pending deliveries are not sent.",
            tags,
            operationId: "deleteWebhook",
          },
        },
      )
      .post(
        "/:id/rotate-secret",
        ({ principal, params, idempotent }) =>
          idempotent.commit({ status: 200 }, deps.writer, (writer) => rotateSecret({ ...deps, writer }, principal.orgId, params.id)),
        {
          params: WebhookIdParams,
          response: { 200: "WebhookWithSecret", ...errorResponses(401, 403, 404) },
          detail: {
            summary: "Rotate a webhook's secret",
            description:
              "Returns a new secret. For 24 hours deliveries carry two signatures, one with the new secret and one with the previous, so receivers can switch without losing events.",
            tags,
            operationId: "rotateWebhookSecret",
          },
        },
      )
      .post(
        "/:id/test",
        ({ principal, params, idempotent }) =>
          idempotent.commit({ status: 202 }, deps.writer, (writer) => sendTestEvent({ ...deps, writer }, principal.orgId, params.id)),
        {
          params: WebhookIdParams,
          response: { 202: "Delivery", ...errorResponses(401, 403, 404, 409) },
          detail: {
            summary: "Send a test event",
            description: "Queues a `webhook.test` event to this endpoint alone and returns its delivery.",
            tags,
            operationId: "testWebhook",
          },
        },
      )
      .get("/:id/deliveries", ({ principal, params, query }) => listDeliveries(deps, principal.orgId, params.id, query), {
        params: WebhookIdParams,
        query: ListDeliveriesQuery,
        response: { 200: "DeliveryList", ...errorResponses(400, 401, 403, 404) },
        detail: {
          summary: "List deliveries",
          description: "The endpoint's delivery log, newest first; filter by `status`.",
          tags,
          operationId: "listWebhookDeliveries",
        },
      })
      .get("/:id/deliveries/:delivery_id", ({ principal, params }) => getDelivery(deps, principal.orgId, params.id, params.delivery_id), {
        params: DeliveryParams,
        response: { 200: "DeliveryDetail", ...errorResponses(401, 403, 404) },
        detail: {
          summary: "Get a delivery",
          description: "The delivery with its payload and every attempt: time, HTTP status or error, duration, and the first 1 KiB of the response body.",
          tags,
          operationId: "getWebhookDelivery",
        },
      })
      .post(
        "/:id/deliveries/:delivery_id/retry",
        ({ principal, params, idempotent }) =>
          idempotent.commit({ status: 202 }, deps.writer, (writer) => retryDelivery({ ...deps, writer }, principal.orgId, params.id, params.delivery_id)),
        {
          params: DeliveryParams,
          response: { 202: "Delivery", ...errorResponses(401, 403, 404, 409) },
          detail: {
            summary: "Retry a delivery",
            description: "Sends the delivery again now as a new attempt, with the same `webhook-id` and body. An ended delivery gets one more attempt.",
            tags,
            operationId: "retryWebhookDelivery",
          },
        },
      )
  );
}
