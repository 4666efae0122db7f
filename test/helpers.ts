// Test fixtures: a real data dir in a temp folder, a migrated SQLite database, the real app, orgs and keys.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildApp, type App } from "../src/app";
import { loadConfig, type Config } from "../src/config";
import { openDatabase, type DbHandle } from "../src/db/client";
import { migrate } from "../src/db/migrate";
import { createKey } from "../src/keys/service";
import { systemClock, type Clock } from "../src/lib/clock";
import { silentLogger } from "../src/lib/log";
import { createOrg } from "../src/orgs/service";
import type { Plan } from "../src/orgs/model";

export function tempDir(label = "cc"): string {
  return mkdtempSync(join(tmpdir(), `${label}-`));
}

export interface TestEnv {
  dir: string;
  config: Config;
  handle: DbHandle;
  app: App;
  clock: Clock;
  /** Sends a request through the whole app (no socket). `path` starts with `/`. */
  request(path: string, init?: RequestInit & { key?: string; json?: unknown }): Promise<Response>;
  /** Creates an organization with its owner and an API key; returns the key's secret. */
  org(name?: string, plan?: Plan): { orgId: string; userId: string; key: string };
  close(): void;
}

export function createTestEnv(opts: { config?: Partial<Config>; clock?: Clock } = {}): TestEnv {
  const dir = tempDir();
  const config = { ...loadConfig({ "data-dir": dir, "log-level": "silent" }, {}).config, ...opts.config };
  const handle = openDatabase(dir);
  migrate(handle.sqlite);
  const clock = opts.clock ?? systemClock;
  const app = buildApp({ config, db: handle.db, clock, log: silentLogger });
  const env: TestEnv = {
    dir,
    config,
    handle,
    app,
    clock,
    request(path, init = {}) {
      const headers = new Headers(init.headers);
      if (init.key !== undefined) headers.set("authorization", `Bearer ${init.key}`);
      let body = init.body;
      if (init.json !== undefined) {
        body = JSON.stringify(init.json);
        if (!headers.has("content-type")) headers.set("content-type", "application/json");
      }
      return app.handle(new Request(`http://localhost${path}`, { ...init, headers, body }));
    },
    org(name = "Acme", plan = "pro") {
      const { org, owner } = createOrg({ db: handle.db, clock }, { name, plan, ownerEmail: `owner@${name.toLowerCase().replace(/\W/g, "")}.test` });
      const key = createKey({ db: handle.db, clock }, { orgId: org.id });
      return { orgId: org.id, userId: owner.id, key: key.key };
    },
    close() {
      handle.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return env;
}
