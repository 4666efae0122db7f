// The composition root (src/deps.ts): one frozen Config, the signing key read or created once, metrics only when on.
import { afterAll, describe, expect, test } from "bun:test";
import { rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { loadConfig } from "../src/config";
import { openDatabase } from "../src/db/client";
import { migrate } from "../src/db/migrate";
import { buildDeps } from "../src/deps";
import { DOWNLOAD_KEY_FILENAME } from "../src/storage/layout";
import { manualClock } from "../src/lib/clock";
import { silentLogger } from "../src/lib/log";
import { createMetrics } from "../src/ops/metrics";
import { tempDir } from "./helpers";

const dir = tempDir("deps");
const handle = openDatabase(dir);
migrate(handle.sqlite);
afterAll(() => {
  handle.close();
  rmSync(dir, { recursive: true, force: true });
});
const configFor = (flags: Record<string, string> = {}) => loadConfig({ "data-dir": dir, ...flags }, {}).config;

describe("buildDeps", () => {
  test("the Config it hands out is frozen, a copy: the caller's object is left as it was", () => {
    const config = configFor({ "public-url": "https://support.example.test" });
    const deps = buildDeps({ config, db: handle.db, log: silentLogger });
    expect(Object.isFrozen(deps.config)).toBe(true);
    expect(deps.config).toEqual(config);
    expect(Object.isFrozen(config)).toBe(false);
    expect(() => {
      (deps.config as { publicUrl: string }).publicUrl = "http://elsewhere";
    }).toThrow();
    expect(deps.config.publicUrl).toBe("https://support.example.test");
    // Already frozen (serve freezes the final Config itself): used as it is.
    const frozen = Object.freeze(configFor());
    expect(buildDeps({ config: frozen, db: handle.db, log: silentLogger }).config).toBe(frozen);
  });

  test("the download signing key is created once (0600) and shared: two builds on one data dir sign alike", () => {
    const clock = manualClock();
    const one = buildDeps({ config: configFor(), db: handle.db, log: silentLogger, clock });
    expect(statSync(join(dir, DOWNLOAD_KEY_FILENAME)).mode & 0o777).toBe(0o600);
    const two = buildDeps({ config: configFor(), db: handle.db, log: silentLogger, clock });
    const link = new URL(one.signer.url("file_x", "a.txt", clock.now()));
    expect(() => two.signer.verify("file_x", link.searchParams.get("expires")!, link.searchParams.get("signature")!, clock.now())).not.toThrow();
    expect(one.clock).toBe(clock);
  });

  test("metrics: none when off, a new instance when on, or the one given", () => {
    expect(buildDeps({ config: configFor({ metrics: "false" }), db: handle.db, log: silentLogger }).metrics).toBeUndefined();
    expect(buildDeps({ config: configFor({ metrics: "true" }), db: handle.db, log: silentLogger }).metrics).toBeDefined();
    const shared = createMetrics();
    expect(buildDeps({ config: configFor({ metrics: "true" }), db: handle.db, log: silentLogger, metrics: shared }).metrics).toBe(shared);
  });
});
