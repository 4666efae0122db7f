// Organizations with their owner and an API key, written straight into a test database and synchronously (TestEnv.org is called where nothing can await the writer).
import type { Database } from "bun:sqlite";
import { getTableName } from "drizzle-orm";
import { apiKeys, orgs, type Plan, users } from "../src/db/schema/orgs";
import { columnList, columnNames, placeholders, type RawRow } from "../src/db/schema/raw-row";
import { displayPrefix, generateSecret, hashSecret } from "../src/keys/api-key";
import { newId } from "../src/lib/ids";
import type { ApiKeyRow, OrgRow, UserRow } from "../src/orgs/store";

function insert<T extends typeof orgs | typeof users | typeof apiKeys>(sqlite: Database, table: T, row: RawRow<T>): void {
  const values = columnNames(table).map((c) => row[c as keyof RawRow<T>] as string | number | null);
  sqlite.query(`INSERT INTO ${getTableName(table)} (${columnList(table)}) VALUES (${placeholders(table)})`).run(...values);
}

/**
 * The rows `createOrg` and `createKey` would write for this organization (owner `owner@<name>.test`, a key named
 * "API key" without expiry), inserted in one transaction. Returns the key's secret.
 */
export function insertOrgWithKey(sqlite: Database, now: number, name: string, plan: Plan): { orgId: string; userId: string; key: string } {
  const org: OrgRow = { id: newId("org"), name: name.trim(), plan, created_at: now };
  const owner: UserRow = {
    id: newId("user"),
    org_id: org.id,
    email: `owner@${name.toLowerCase().replace(/\W/g, "")}.test`,
    name: null,
    role: "owner",
    created_at: now,
  };
  const secret = generateSecret();
  const key: ApiKeyRow = {
    id: newId("key"),
    org_id: org.id,
    user_id: owner.id,
    name: "API key",
    prefix: displayPrefix(secret),
    hash: hashSecret(secret),
    created_at: now,
    last_used_at: null,
    expires_at: null,
    revoked_at: null,
  };
  sqlite.transaction(() => {
    insert(sqlite, orgs, org);
    insert(sqlite, users, owner);
    insert(sqlite, apiKeys, key);
  })();
  return { orgId: org.id, userId: owner.id, key: secret };
}
