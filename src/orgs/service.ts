// Organizations and their users: creation, update, listing, and the first-start bootstrap.
import { asc, eq } from "drizzle-orm";
import type { Db } from "../db/client";
import { orgs, users } from "../db/schema";
import { ApiError, errors } from "../errors";
import type { Clock } from "../lib/clock";
import { newId } from "../lib/ids";
import { toIso } from "../lib/time";
import { createKey, type CreatedKey } from "../keys/service";
import { PLANS, type Plan, ROLES, type Role } from "../db/schema/orgs";
import type { Org, User } from "./model";

export interface Deps {
  db: Db;
  clock: Clock;
}

const EMAIL = /^[^\s@]+@[^\s@]+$/;

function toOrg(row: typeof orgs.$inferSelect): Org {
  return { id: row.id, name: row.name, plan: row.plan, created_at: toIso(row.createdAt) };
}

function toUser(row: typeof users.$inferSelect): User {
  return { id: row.id, org_id: row.orgId, email: row.email, name: row.name, role: row.role, created_at: toIso(row.createdAt) };
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
  const wanted = name.trim().toLowerCase();
  // In JS, not SQL: SQLite's lower() folds ASCII only. Organizations are few (an admin makes them by hand).
  return listOrgs(deps).filter((o) => o.name.toLowerCase() === wanted);
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
  const orgRow = { id: newId("org"), name, plan, createdAt: now };
  const userRow = { id: newId("user"), orgId: orgRow.id, email, name: input.ownerName ?? null, role: "owner" as const, createdAt: now };
  deps.db.transaction(
    (tx) => {
      if (input.uniqueName) {
        const [existing] = findOrgsByName({ db: tx as unknown as Db }, name);
        if (existing) throw duplicateName(name, existing);
      }
      tx.insert(orgs).values(orgRow).run();
      tx.insert(users).values(userRow).run();
    },
    { behavior: "immediate" },
  );
  return { org: toOrg(orgRow), owner: toUser(userRow) };
}

/**
 * Renames an organization and/or changes its plan. With `uniqueName`, a name another organization already has
 * (ignoring case) is a 409 conflict. A plan change takes effect on the next request of its keys.
 */
export function updateOrg(deps: Deps, orgId: string, input: { name?: string; plan?: Plan; uniqueName?: boolean }): Org {
  if (input.plan !== undefined && !PLANS.includes(input.plan)) throw errors.validation([{ field: "plan", message: `must be one of: ${PLANS.join(", ")}.` }]);
  const name = input.name === undefined ? undefined : checkName(input.name);
  return deps.db.transaction(
    (tx) => {
      const txDeps = { db: tx as unknown as Db };
      const current = getOrg(txDeps, orgId);
      if (name !== undefined && input.uniqueName) {
        const other = findOrgsByName(txDeps, name).find((o) => o.id !== orgId);
        if (other) throw duplicateName(name, other);
      }
      const changes = { ...(name !== undefined ? { name } : {}), ...(input.plan !== undefined ? { plan: input.plan } : {}) };
      if (Object.keys(changes).length) tx.update(orgs).set(changes).where(eq(orgs.id, orgId)).run();
      return { ...current, ...changes };
    },
    { behavior: "immediate" },
  );
}

export function listOrgs(deps: Pick<Deps, "db">): Org[] {
  return deps.db.select().from(orgs).orderBy(asc(orgs.createdAt), asc(orgs.id)).all().map(toOrg);
}

export function getOrg(deps: Pick<Deps, "db">, orgId: string): Org {
  const row = deps.db.select().from(orgs).where(eq(orgs.id, orgId)).get();
  if (!row) throw errors.notFound(`Organization ${orgId}`);
  return toOrg(row);
}

/** Adds a user to an organization; an email already used in that organization is a conflict. */
export function createUser(deps: Deps, input: { orgId: string; email: string; name?: string; role?: Role }): User {
  getOrg(deps, input.orgId);
  const role = input.role ?? "member";
  if (!ROLES.includes(role)) throw errors.validation([{ field: "role", message: `must be one of: ${ROLES.join(", ")}.` }]);
  const email = checkEmail(input.email);
  const row = { id: newId("user"), orgId: input.orgId, email, name: input.name?.trim() || null, role, createdAt: deps.clock.now() };
  try {
    deps.db.insert(users).values(row).run();
  } catch (err) {
    if (String(err).includes("UNIQUE")) throw new ApiError(409, "conflict", `A user with email ${email} already exists in ${input.orgId}.`);
    throw err;
  }
  return toUser(row);
}

/** Users of one organization (or of all), oldest first; an unknown organization is a 404. */
export function listUsers(deps: Pick<Deps, "db">, orgId?: string): User[] {
  if (orgId !== undefined) getOrg(deps, orgId);
  const q = deps.db.select().from(users);
  const rows = (orgId === undefined ? q : q.where(eq(users.orgId, orgId))).orderBy(asc(users.createdAt), asc(users.id)).all();
  return rows.map(toUser);
}

/** The organization's owner (the earliest owner if there are several). */
export function findOwner(deps: Pick<Deps, "db">, orgId: string): User {
  const rows = deps.db.select().from(users).where(eq(users.orgId, orgId)).orderBy(asc(users.createdAt)).all();
  const owner = rows.find((u) => u.role === "owner") ?? rows[0];
  if (!owner) throw errors.notFound(`An owner of ${orgId}`);
  return toUser(owner);
}

export function hasAnyOrg(deps: Pick<Deps, "db">): boolean {
  return deps.db.select({ id: orgs.id }).from(orgs).limit(1).get() !== undefined;
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
