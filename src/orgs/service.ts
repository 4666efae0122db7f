// Organizations and their users: creation, update, listing, and the first-start bootstrap.
import type { Db } from "../db/client";
import { ApiError, errors } from "../errors";
import type { Clock } from "../lib/clock";
import { newId } from "../lib/ids";
import { toIso } from "../lib/time";
import { createKey, type CreatedKey } from "../keys/service";
import { PLANS, type Plan, ROLES, type Role } from "../db/schema/orgs";
import type { Org, User } from "./model";
import { type OrgRow, orgsStore, type UserRow } from "./store";

export interface Deps {
  db: Db;
  clock: Clock;
}

const EMAIL = /^[^\s@]+@[^\s@]+$/;

function toOrg(row: OrgRow): Org {
  return { id: row.id, name: row.name, plan: row.plan, created_at: toIso(row.created_at) };
}

function toUser(row: UserRow): User {
  return { id: row.id, org_id: row.org_id, email: row.email, name: row.name, role: row.role, created_at: toIso(row.created_at) };
}

function checkName(name: string): string {
  const trimmed = name.trim();
  if (!trimmed || trimmed.length > 200) throw errors.validation([{ field: "name", message: "must be 1 to 200 characters." }]);
  return trimmed;
}

function checkEmail(email: string): string {
  const trimmed = email.trim().toLowerCase();
  if (!EMAIL.test(trimmed) || trimmed.length > 320) throw errors.validation([{ field: "email", message: "must be an email address." }]);
  return trimmed;
}

/** Organizations whose name equals `name` ignoring case (names are trimmed when stored). */
export function findOrgsByName(deps: Pick<Deps, "db">, name: string): Org[] {
  return orgsStore(deps.db.$client).orgsNamed(name).map(toOrg);
}

function duplicateName(_name: string, existing: Org): ApiError {
  return new ApiError(409, "conflict", `An organization named "${existing.name}" already exists (${existing.id}); names are compared ignoring case.`);
}

/**
 * Creates an organization together with its owner user, in one transaction. With `uniqueName`, a name another
 * organization already has (ignoring case) is a 409 conflict, checked in the same (immediate) transaction.
 */
export function createOrg(
  deps: Deps,
  input: { name: string; plan?: Plan; ownerEmail?: string; ownerName?: string; uniqueName?: boolean },
): { org: Org; owner: User } {
  const plan = input.plan ?? "pro";
  if (!PLANS.includes(plan)) throw errors.validation([{ field: "plan", message: `must be one of: ${PLANS.join(", ")}.` }]);
  const name = checkName(input.name);
  const email = checkEmail(input.ownerEmail ?? "owner@localhost");
  const now = deps.clock.now();
  const orgRow: OrgRow = { id: newId("org"), name, plan, created_at: now };
  const userRow: UserRow = { id: newId("user"), org_id: orgRow.id, email, name: input.ownerName ?? null, role: "owner", created_at: now };
  const existing = orgsStore(deps.db.$client).createOrgWithOwner(orgRow, userRow, { uniqueName: input.uniqueName });
  if (existing) throw duplicateName(name, toOrg(existing));
  return { org: toOrg(orgRow), owner: toUser(userRow) };
}

/**
 * Renames an organization and/or changes its plan. With `uniqueName`, a name another organization already has
 * (ignoring case) is a 409 conflict. A plan change takes effect on the next request of its keys.
 */
export function updateOrg(deps: Deps, orgId: string, input: { name?: string; plan?: Plan; uniqueName?: boolean }): Org {
  if (input.plan !== undefined && !PLANS.includes(input.plan)) throw errors.validation([{ field: "plan", message: `must be one of: ${PLANS.join(", ")}.` }]);
  const name = input.name === undefined ? undefined : checkName(input.name);
  const result = orgsStore(deps.db.$client).updateOrg(orgId, { name, plan: input.plan }, { uniqueName: input.uniqueName });
  if (result.status === "not_found") throw errors.notFound(`Organization ${orgId}`);
  if (result.status === "duplicate") throw duplicateName(result.existing.name, toOrg(result.existing));
  return toOrg(result.org);
}

export function listOrgs(deps: Pick<Deps, "db">): Org[] {
  return orgsStore(deps.db.$client).listOrgs().map(toOrg);
}

export function getOrg(deps: Pick<Deps, "db">, orgId: string): Org {
  const row = orgsStore(deps.db.$client).getOrg(orgId);
  if (!row) throw errors.notFound(`Organization ${orgId}`);
  return toOrg(row);
}

/** Adds a user to an organization; an email already used in that organization is a conflict. */
export function createUser(deps: Deps, input: { orgId: string; email: string; name?: string; role?: Role }): User {
  getOrg(deps, input.orgId);
  const role = input.role ?? "member";
  if (!ROLES.includes(role)) throw errors.validation([{ field: "role", message: `must be one of: ${ROLES.join(", ")}.` }]);
  const email = checkEmail(input.email);
  const row: UserRow = { id: newId("user"), org_id: input.orgId, email, name: input.name?.trim() || null, role, created_at: deps.clock.now() };
  if (!orgsStore(deps.db.$client).insertUser(row)) throw new ApiError(409, "conflict", `A user with email ${email} already exists in ${input.orgId}.`);
  return toUser(row);
}

/** Users of one organization (or of all), oldest first; an unknown organization is a 404. */
export function listUsers(deps: Pick<Deps, "db">, orgId?: string): User[] {
  if (orgId !== undefined) getOrg(deps, orgId);
  return orgsStore(deps.db.$client).listUsers(orgId).map(toUser);
}

/** The organization's owner (the earliest owner if there are several). */
export function findOwner(deps: Pick<Deps, "db">, orgId: string): User {
  const owner = orgsStore(deps.db.$client).findOwner(orgId);
  if (!owner) throw errors.notFound(`An owner of ${orgId}`);
  return toUser(owner);
}

export function hasAnyOrg(deps: Pick<Deps, "db">): boolean {
  return orgsStore(deps.db.$client).hasAnyOrg();
}

/**
 * First start: when the database has no organization, creates "Default" (plan pro), its owner and
 * one API key, and returns the key's secret so it can be printed once. Later starts return null.
 */
export function bootstrapIfEmpty(deps: Deps): { org: Org; owner: User; key: CreatedKey } | null {
  if (hasAnyOrg(deps)) return null;
  const { org, owner } = createOrg(deps, { name: "Default", plan: "pro", ownerEmail: "owner@localhost", ownerName: "Owner" });
  const key = createKey(deps, { orgId: org.id, userId: owner.id, name: "Initial key" });
  return { org, owner, key };
}
