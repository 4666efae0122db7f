// Organizations and their users: creation, listing, and the first-start bootstrap.
import { asc, eq } from "drizzle-orm";
import type { Db } from "../db/client";
import { orgs, users } from "../db/schema";
import { ApiError, errors } from "../errors";
import type { Clock } from "../lib/clock";
import { newId } from "../lib/ids";
import { toIso } from "../lib/time";
import { createKey, type CreatedKey } from "../keys/service";
import { PLANS, ROLES, type Org, type Plan, type Role, type User } from "./model";

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

/** Creates an organization together with its owner user, in one transaction. */
export function createOrg(deps: Deps, input: { name: string; plan?: Plan; ownerEmail?: string; ownerName?: string }): { org: Org; owner: User } {
  const plan = input.plan ?? "pro";
  if (!PLANS.includes(plan)) throw errors.validation([{ field: "plan", message: `must be one of: ${PLANS.join(", ")}.` }]);
  const name = checkName(input.name);
  const email = checkEmail(input.ownerEmail ?? "owner@localhost");
  const now = deps.clock.now();
  const orgRow = { id: newId("org"), name, plan, createdAt: now };
  const userRow = { id: newId("user"), orgId: orgRow.id, email, name: input.ownerName ?? null, role: "owner" as const, createdAt: now };
  deps.db.transaction((tx) => {
    tx.insert(orgs).values(orgRow).run();
    tx.insert(users).values(userRow).run();
  });
  return { org: toOrg(orgRow), owner: toUser(userRow) };
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
