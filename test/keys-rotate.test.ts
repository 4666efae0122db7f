// Key rotation's grace period, driven by the injected clock through the real app: the old secret works until the grace ends, then gets 401.
import { afterAll, describe, expect, test } from "bun:test";
import { rotateKey } from "../src/keys/service";
import { manualClock } from "../src/lib/clock";
import { createTestEnv } from "./helpers";

describe("keys rotate: the grace period", async () => {
  const clock = manualClock();
  const env = await createTestEnv({ clock });
  afterAll(() => env.close());
  const status = async (key: string) => (await env.request("/v1/tickets", { key })).status;

  test("the old secret works until the grace period ends, then stops; the new one keeps working", async () => {
    const { key: oldSecret } = await env.org("Acme");
    const oldId = (await env.db.get<{ id: string }>("SELECT id FROM api_keys"))!.id;
    const { key, previous } = await rotateKey(env.deps, oldId, { graceMs: 3600_000 });
    expect(previous.expires_at).toBe(new Date(clock.now() + 3600_000).toISOString().replace(/\.\d{3}Z$/, "Z"));
    expect(await status(oldSecret)).toBe(200);
    expect(await status(key.key)).toBe(200);
    clock.advance(3600_000 - 1);
    expect(await status(oldSecret)).toBe(200);
    clock.advance(1);
    expect(await status(oldSecret)).toBe(401);
    expect(await status(key.key)).toBe(200);
    // An expired key cannot be rotated again.
    await expect(rotateKey(env.deps, oldId)).rejects.toThrow(/expired/);
  });
});
