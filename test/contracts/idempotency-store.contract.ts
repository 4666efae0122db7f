// The idempotency store contract (claim, identify, saveAnswer, release, releaseAbandoned, 24 h expiry), written against the interface so every engine runs it unchanged.
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { ApiError } from "../../src/errors";
import { IDEMPOTENCY_TTL_MS, type KeyScope, type StoredAnswer } from "../../src/idempotency/service";
import type { IdempotencyStore } from "../../src/idempotency/store";
import { failure, type Open, type Opened, type SeededOrg, TEXTS } from "./fixtures";

const FP1 = "a".repeat(64);
const FP2 = "b".repeat(64);
const ANSWER: StoredAnswer = {
  status: 201,
  headers: { "content-type": "application/json", location: "/v1/tickets/tkt_1", "x-note": "é 🎫" },
  body: JSON.stringify({ id: "tkt_1", subject: TEXTS[1] }),
};

/** Asserts `fn` fails with the API error `status`/`code`. */
async function expectApiError(fn: () => unknown, status: number, code: string) {
  const err = await failure(fn);
  expect(err).toBeInstanceOf(ApiError);
  expect({ status: (err as ApiError).status, code: (err as ApiError).errorCode }).toEqual({ status, code });
}

export function describeIdempotencyStoreContract(engineName: string, open: Open<IdempotencyStore>) {
  describe(`idempotency store contract (${engineName})`, () => {
    let w: Opened<IdempotencyStore>;
    let store: IdempotencyStore;
    let a: SeededOrg;
    let b: SeededOrg;
    let scope: KeyScope;
    beforeEach(async () => {
      w = await open();
      store = w.store;
      a = await w.seed.org("A");
      b = await w.seed.org("B");
      scope = { keyId: a.keyId, idempotencyKey: "order-42" };
    });
    afterEach(() => w.close());

    const inProgress = (fn: () => unknown) => expectApiError(fn, 409, "idempotency_in_progress");
    const reused = (fn: () => unknown) => expectApiError(fn, 422, "idempotency_key_reused");

    test("a new key is claimed; its twin is in progress (same or other body) until the answer is saved, then replayed exactly", async () => {
      expect(await store.claim(scope, FP1, w.clock.now())).toEqual({ kind: "claimed" });
      await inProgress(() => store.claim(scope, FP1, w.clock.now()));
      await reused(() => store.claim(scope, FP2, w.clock.now()));
      await inProgress(() => store.claim(scope, null, w.clock.now()));
      await store.saveAnswer(scope, ANSWER);
      expect(await store.claim(scope, FP1, w.clock.now())).toEqual({ kind: "replay", answer: ANSWER });
      expect(await store.claim(scope, FP1, w.clock.now())).toEqual({ kind: "replay", answer: ANSWER });
      await reused(() => store.claim(scope, FP2, w.clock.now()));
      // A body not read yet cannot be matched against the answer: decide once it is.
      expect(await store.claim(scope, null, w.clock.now())).toEqual({ kind: "unknown_yet" });
    });

    test("keys are scoped to the API key: the same Idempotency-Key under another key, or another Idempotency-Key, is independent", async () => {
      expect(await store.claim(scope, FP1, w.clock.now())).toEqual({ kind: "claimed" });
      expect(await store.claim({ keyId: b.keyId, idempotencyKey: scope.idempotencyKey }, FP2, w.clock.now())).toEqual({ kind: "claimed" });
      expect(await store.claim({ keyId: a.keyId, idempotencyKey: "order-43" }, FP1, w.clock.now())).toEqual({ kind: "claimed" });
      await store.saveAnswer({ keyId: b.keyId, idempotencyKey: scope.idempotencyKey }, { ...ANSWER, status: 200 });
      await inProgress(() => store.claim(scope, FP1, w.clock.now()));
      expect(await store.claim({ keyId: b.keyId, idempotencyKey: scope.idempotencyKey }, FP2, w.clock.now())).toEqual({
        kind: "replay",
        answer: { ...ANSWER, status: 200 },
      });
    });

    test("a claim before the body is read gets a token; identify gives it its fingerprint, after which twins are matched on it", async () => {
      const claimed = await store.claim(scope, null, w.clock.now());
      expect(claimed.kind).toBe("claimed");
      const token = (claimed as { token?: string }).token;
      expect(typeof token).toBe("string");
      // While the body is still being read, any twin is in progress, whatever its fingerprint.
      await inProgress(() => store.claim(scope, FP1, w.clock.now()));
      await inProgress(() => store.claim(scope, FP2, w.clock.now()));
      expect(await store.identify(scope, token, FP1, w.clock.now())).toEqual({ kind: "claimed" });
      await inProgress(() => store.claim(scope, FP1, w.clock.now()));
      await reused(() => store.claim(scope, FP2, w.clock.now()));
      await store.saveAnswer(scope, ANSWER);
      expect(await store.claim(scope, FP1, w.clock.now())).toEqual({ kind: "replay", answer: ANSWER });
    });

    test("identify after the key was answered (no token: unknown_yet before) replays for the same body and refuses another", async () => {
      await store.claim(scope, FP1, w.clock.now());
      await store.saveAnswer(scope, ANSWER);
      expect(await store.claim(scope, null, w.clock.now())).toEqual({ kind: "unknown_yet" });
      expect(await store.identify(scope, undefined, FP1, w.clock.now())).toEqual({ kind: "replay", answer: ANSWER });
      await reused(() => store.identify(scope, undefined, FP2, w.clock.now()));
      // A token that no longer holds the key (it was answered meanwhile) decides again.
      expect(await store.identify(scope, "pending:stale", FP1, w.clock.now())).toEqual({ kind: "replay", answer: ANSWER });
    });

    test("release frees a failed request's claim so a corrected retry (any body) runs; releasing an answered key forgets it", async () => {
      await store.claim(scope, FP1, w.clock.now());
      await store.release(scope);
      expect(await store.claim(scope, FP2, w.clock.now())).toEqual({ kind: "claimed" });
      await store.saveAnswer(scope, ANSWER);
      await store.release(scope);
      expect(await store.claim(scope, FP1, w.clock.now())).toEqual({ kind: "claimed" });
      // Releasing a key never claimed is harmless.
      await store.release({ keyId: a.keyId, idempotencyKey: "never" });
    });

    test("releaseAbandoned drops every unanswered claim (returns how many) and keeps the answers", async () => {
      const answered = { keyId: a.keyId, idempotencyKey: "answered" };
      await store.claim(answered, FP1, w.clock.now());
      await store.saveAnswer(answered, ANSWER);
      await store.claim(scope, FP1, w.clock.now());
      await store.claim({ keyId: b.keyId, idempotencyKey: "upload" }, null, w.clock.now());
      expect(await store.releaseAbandoned(w.clock.now() + 1, w.clock.now())).toBe(2);
      expect(await store.releaseAbandoned(w.clock.now() + 1, w.clock.now())).toBe(0);
      expect(await store.claim(scope, FP2, w.clock.now())).toEqual({ kind: "claimed" });
      expect(await store.claim({ keyId: b.keyId, idempotencyKey: "upload" }, FP2, w.clock.now())).toEqual({ kind: "claimed" });
      expect(await store.claim(answered, FP1, w.clock.now())).toEqual({ kind: "replay", answer: ANSWER });
    });

    test("an answer lives 24 hours to the millisecond, then the key is new again (for any body)", async () => {
      const start = w.clock.now();
      await store.claim(scope, FP1, w.clock.now());
      await store.saveAnswer(scope, ANSWER);
      w.clock.set(start + IDEMPOTENCY_TTL_MS);
      expect(await store.claim(scope, FP1, w.clock.now())).toEqual({ kind: "replay", answer: ANSWER });
      await reused(() => store.claim(scope, FP2, w.clock.now()));
      w.clock.set(start + IDEMPOTENCY_TTL_MS + 1);
      expect(await store.claim(scope, FP2, w.clock.now())).toEqual({ kind: "claimed" });
      await inProgress(() => store.claim(scope, FP2, w.clock.now()));
      await store.saveAnswer(scope, { ...ANSWER, status: 202 });
      expect(await store.claim(scope, FP2, w.clock.now())).toEqual({ kind: "replay", answer: { ...ANSWER, status: 202 } });
    });

    test("a claim left running for over 24 hours expires too: the key can be claimed again", async () => {
      const start = w.clock.now();
      await store.claim(scope, FP1, w.clock.now());
      w.clock.set(start + IDEMPOTENCY_TTL_MS + 1);
      expect(await store.claim(scope, FP1, w.clock.now())).toEqual({ kind: "claimed" });
    });

    describe("concurrent claims of one key (twins arriving at once, on any instance)", () => {
      const CONCURRENCY = 8;
      /** Runs every claim at once; the index of each one claimed, and what every other one was refused with. */
      async function claimAll(fingerprints: (string | null)[]): Promise<{ claimed: number[]; results: PromiseSettledResult<unknown>[] }> {
        const results = await Promise.allSettled(fingerprints.map((fp) => (async () => store.claim(scope, fp, w.clock.now()))()));
        const claimed = results.flatMap((r, i) => (r.status === "fulfilled" && (r.value as { kind: string }).kind === "claimed" ? [i] : []));
        return { claimed, results };
      }
      const refusal = (r: PromiseSettledResult<unknown>) =>
        r.status === "rejected" && r.reason instanceof ApiError ? { status: r.reason.status, code: r.reason.errorCode } : r;
      const IN_PROGRESS = { status: 409, code: "idempotency_in_progress" };
      const REUSED = { status: 422, code: "idempotency_key_reused" };

      // As many calls at once first, so that an engine with a pool has opened that many connections: the claims
      // then really run side by side.
      beforeEach(async () => {
        await Promise.all(Array.from({ length: CONCURRENCY }, (_, i) => store.release({ keyId: a.keyId, idempotencyKey: `warm-${i}` })));
      });

      test("the same request: exactly one is claimed, every other is in progress", async () => {
        const { claimed, results } = await claimAll(Array(CONCURRENCY).fill(FP1));
        expect(claimed.length).toBe(1);
        expect(results.filter((_, i) => i !== claimed[0]).map(refusal)).toEqual(Array(CONCURRENCY - 1).fill(IN_PROGRESS));
        await store.saveAnswer(scope, ANSWER);
        expect(await store.claim(scope, FP1, w.clock.now())).toEqual({ kind: "replay", answer: ANSWER });
      });

      test("different bodies: exactly one is claimed; twins of its body are in progress, the others reused", async () => {
        const fps = Array.from({ length: CONCURRENCY }, (_, i) => (i % 2 ? FP1 : FP2));
        const { claimed, results } = await claimAll(fps);
        expect(claimed.length).toBe(1);
        const winner = fps[claimed[0]!];
        expect(results.map(refusal)).toEqual(fps.map((fp, i) => (i === claimed[0] ? results[i] : fp === winner ? IN_PROGRESS : REUSED)));
      });

      test("bodies not read yet (uploads): exactly one gets the key and a token", async () => {
        const { claimed, results } = await claimAll(Array(CONCURRENCY).fill(null));
        expect(claimed.length).toBe(1);
        expect(typeof (results[claimed[0]!] as PromiseFulfilledResult<{ token?: string }>).value.token).toBe("string");
        expect(results.filter((_, i) => i !== claimed[0]).map(refusal)).toEqual(Array(CONCURRENCY - 1).fill(IN_PROGRESS));
      });

      test("an expired key: exactly one replaces it, every other is in progress", async () => {
        const start = w.clock.now();
        await store.claim(scope, FP1, start);
        await store.saveAnswer(scope, ANSWER);
        w.clock.set(start + IDEMPOTENCY_TTL_MS + 1);
        const { claimed, results } = await claimAll(Array(CONCURRENCY).fill(FP2));
        expect(claimed.length).toBe(1);
        expect(results.filter((_, i) => i !== claimed[0]).map(refusal)).toEqual(Array(CONCURRENCY - 1).fill(IN_PROGRESS));
        await store.saveAnswer(scope, { ...ANSWER, status: 202 });
        expect(await store.claim(scope, FP2, w.clock.now())).toEqual({ kind: "replay", answer: { ...ANSWER, status: 202 } });
      });

      test("an answered key: every twin gets the replay", async () => {
        await store.claim(scope, FP1, w.clock.now());
        await store.saveAnswer(scope, ANSWER);
        const { claimed, results } = await claimAll(Array(CONCURRENCY).fill(FP1));
        expect(claimed).toEqual([]);
        expect(results).toEqual(Array(CONCURRENCY).fill({ status: "fulfilled", value: { kind: "replay", answer: ANSWER } }));
      });
    });

    test("answers round-trip exactly: empty body and headers, Unicode and large bodies, every status", async () => {
      const answers: StoredAnswer[] = [
        { status: 204, headers: {}, body: "" },
        { status: 200, headers: { "content-type": "text/plain; charset=utf-8" }, body: TEXTS.join("\n") },
        { status: 500, headers: { a: "1", b: "" }, body: "x".repeat(200_000) },
      ];
      for (const [i, answer] of answers.entries()) {
        const s = { keyId: a.keyId, idempotencyKey: `k${i}` };
        await store.claim(s, FP1, w.clock.now());
        await store.saveAnswer(s, answer);
        expect(await store.claim(s, FP1, w.clock.now())).toEqual({ kind: "replay", answer });
      }
    });
  });
}
