// Organizations with their owner and an API key, written through the app's writer and stores, so on every engine.
import type { Plan } from "../src/db/schema/orgs";
import type { Writer } from "../src/db/writer";
import { displayPrefix, generateSecret, hashSecret } from "../src/keys/api-key";
import { newId } from "../src/lib/ids";
import type { ApiKeyRow, OrgRow, UserRow } from "../src/orgs/store";
import type { Stores } from "../src/stores";

/**
 * The rows `createOrg` and `createKey` would write for this organization (owner `owner@<name>.test`, a key named
 * "API key" without expiry), inserted in one unit of work. Returns the key's secret.
 */
export async function insertOrgWithKey(writer: Writer<Stores>, now: number, name: string, plan: Plan): Promise<{ orgId: string; userId: string; key: string }> {
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
  await writer.write(async (tx) => {
    await tx.orgs.createOrgWithOwner(org, owner);
    await tx.orgs.insertKey(key);
  });
  return { orgId: org.id, userId: owner.id, key: secret };
}
