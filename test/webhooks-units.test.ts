// Pure parts of webhooks: Standard Webhooks signatures (against the reference library), secrets, the retry schedule and Retry-After.
import { describe, expect, test } from "bun:test";
import { Webhook as Reference } from "standardwebhooks";
import { MAX_ATTEMPTS, MAX_RETRY_AFTER_MS, backoffDelay, parseRetryAfter, retryDelay } from "../src/webhooks/retry-policy";
import { isIdOf } from "../src/lib/ids";
import { deliveryIdFor } from "../src/webhooks/fan-out";
import { deliveryHeaders, generateSecret, liveSecrets, signPayload } from "../src/webhooks/signing";

describe("signing", () => {
  test("matches the Standard Webhooks reference vector and the reference library's own signer", () => {
    const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const id = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const ts = 1614265330;
    const body = '{"test": 2432232314}';
    expect(signPayload(secret, id, ts, body)).toBe("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    expect(signPayload(secret, id, ts, body)).toBe(new Reference(secret).sign(id, new Date(ts * 1000), body));
  });

  test("headers carry one signature per live secret, newest first, and verify with either", () => {
    const a = generateSecret();
    const b = generateSecret();
    const ts = Math.floor(Date.now() / 1000);
    const body = JSON.stringify({ event: "webhook.test", timestamp: "2026-02-27T10:30:00Z", data: {} });
    const headers = deliveryHeaders({ deliveryId: "dlv_abc", timestampSeconds: ts, body, secrets: [b, a] });
    expect(headers["webhook-signature"]).toBe(`${signPayload(b, "dlv_abc", ts, body)} ${signPayload(a, "dlv_abc", ts, body)}`);
    expect(new Reference(a).verify(body, headers)).toEqual(JSON.parse(body));
    expect(new Reference(b).verify(body, headers)).toEqual(JSON.parse(body));
    expect(() => new Reference(generateSecret()).verify(body, headers)).toThrow();
  });

  test("secrets are whsec_ + base64 of 32 random bytes, all different", () => {
    const secrets = new Set(Array.from({ length: 50 }, generateSecret));
    expect(secrets.size).toBe(50);
    for (const s of secrets) {
      expect(s).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
      expect(Buffer.from(s.slice(6), "base64")).toHaveLength(32);
    }
  });

  test("the previous secret signs only until its overlap ends", () => {
    const w = { secret: "whsec_new", previous_secret: "whsec_old", previous_secret_expires_at: 1000 };
    expect(liveSecrets(w, 999)).toEqual(["whsec_new", "whsec_old"]);
    expect(liveSecrets(w, 1000)).toEqual(["whsec_new"]);
    expect(liveSecrets({ ...w, previous_secret: null }, 0)).toEqual(["whsec_new"]);
  });
});

describe("retry schedule", () => {
  test("4 attempts; delays 30 s, 2 min, 8 min at the default base, each within ±20 %", () => {
    expect(MAX_ATTEMPTS).toBe(4);
    const base = 30_000;
    for (const [n, nominal] of [
      [1, 30_000],
      [2, 120_000],
      [3, 480_000],
    ] as const) {
      expect(backoffDelay(base, n, () => 0.5)).toBe(nominal);
      expect(backoffDelay(base, n, () => 0)).toBe(nominal * 0.8);
      expect(backoffDelay(base, n, () => 1)).toBe(nominal * 1.2);
    }
    // Even with the worst jitter, every delay is longer than the one before.
    expect(backoffDelay(base, 2, () => 0)).toBeGreaterThan(backoffDelay(base, 1, () => 1));
    expect(backoffDelay(base, 3, () => 0)).toBeGreaterThan(backoffDelay(base, 2, () => 1));
  });

  test("Retry-After: seconds or an HTTP date; it only ever lengthens the wait, up to an hour", () => {
    const now = Date.UTC(2026, 1, 27, 10, 30, 0);
    expect(parseRetryAfter("120", now)).toBe(120_000);
    expect(parseRetryAfter(" 5 ", now)).toBe(5_000);
    expect(parseRetryAfter(new Date(now + 90_000).toUTCString(), now)).toBe(90_000);
    expect(parseRetryAfter(new Date(now - 90_000).toUTCString(), now)).toBe(0);
    expect(parseRetryAfter("soon", now)).toBeNull();
    expect(parseRetryAfter(undefined, now)).toBeNull();
    const mid = () => 0.5;
    expect(retryDelay(30_000, 1, null, mid)).toBe(30_000);
    expect(retryDelay(30_000, 1, 5_000, mid)).toBe(30_000);
    expect(retryDelay(30_000, 1, 600_000, mid)).toBe(600_000);
    expect(retryDelay(30_000, 1, 86_400_000, mid)).toBe(MAX_RETRY_AFTER_MS);
  });
});

describe("delivery ids", () => {
  test("are dlv_ ids derived from event and endpoint: the same pair always gives the same id, any other pair another", () => {
    const id = deliveryIdFor("evt_aaaaaaaaaaaaaaaa", "wh_bbbbbbbbbbbbbbbb");
    expect(id).toMatch(/^dlv_[0-9a-z]{16}$/);
    expect(isIdOf("dlv", id)).toBe(true);
    expect(deliveryIdFor("evt_aaaaaaaaaaaaaaaa", "wh_bbbbbbbbbbbbbbbb")).toBe(id);
    expect(deliveryIdFor("evt_aaaaaaaaaaaaaaab", "wh_bbbbbbbbbbbbbbbb")).not.toBe(id);
    expect(deliveryIdFor("evt_aaaaaaaaaaaaaaaa", "wh_bbbbbbbbbbbbbbbc")).not.toBe(id);
    const many = new Set(Array.from({ length: 2000 }, (_, i) => deliveryIdFor(`evt_${i}`, "wh_x")));
    expect(many.size).toBe(2000);
  });
});
