// The organization's users, read-only over the API: the list, one user, and the user behind the request's key.
import { hasNul } from "../db/postgres/text";
import { errors } from "../errors";
import { nextPageNumber, offsetPage, type PageQuery } from "../lib/pagination";
import { toIso } from "../lib/time";
import type { OrgsStore, UserRow } from "../orgs/store";
import type { User, UserList } from "./model";

export interface Deps {
  /** For reads: committed rows only. */
  stores: { orgs: Pick<OrgsStore, "getUserInOrg" | "usersPage" | "usersTotal"> };
}

export function toUser(r: UserRow): User {
  return { id: r.id, name: r.name, email: r.email, role: r.role, created_at: toIso(r.created_at) };
}

/** A page of the organization's users, oldest first (ties by id), and the next page's number when there is one. */
export async function listUsersPage(deps: Deps, orgId: string, q: PageQuery): Promise<{ list: UserList; next: number | null }> {
  const orgs = deps.stores.orgs;
  const list = await offsetPage(q, await orgs.usersTotal(orgId), (limit, offset) => orgs.usersPage(orgId, limit, offset), toUser);
  return { list, next: nextPageNumber(list.meta) };
}

/** A user of the organization (404 for an unknown id and for another organization's user alike). */
export async function getUser(deps: Deps, orgId: string, id: string): Promise<User> {
  // U+0000 cannot be in any id (PostgreSQL text cannot even be asked for it): no such user, on every engine.
  const row = hasNul(id) ? null : await deps.stores.orgs.getUserInOrg(id, orgId);
  if (!row) throw errors.notFound("User");
  return toUser(row);
}
