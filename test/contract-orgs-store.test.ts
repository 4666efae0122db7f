// Runs the organizations store contract against SQLite: a fresh, migrated database in a temp data dir per test.
import { rmSync } from "node:fs";
import { openDatabase } from "../src/db/client";
import { migrate } from "../src/db/migrate";
import { orgsStore } from "../src/orgs/store";
import { describeOrgsStoreContract } from "./contracts/orgs-store.contract";
import { tempDir } from "./helpers";

describeOrgsStoreContract("sqlite", () => {
  const dir = tempDir("cc-orgs-contract");
  const handle = openDatabase(dir);
  migrate(handle.sqlite);
  // The contract proves behaviour, not durability (the crash tests do): no fsync per statement.
  handle.sqlite.exec("PRAGMA synchronous = OFF");
  return {
    store: orgsStore(handle.sqlite),
    close() {
      handle.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});
