// Organizations and their users: creation, update, listing, and the first-start bootstrap.
import type { Writer } from "../db/writer";
import { ApiError, errors } from "../errors";
import type { Clock } from "../lib/clock";
import { newId } from "../lib/ids";
import { toIso } from "../lib/time";
import { addKey, type CreatedKey } from "../keys/service";
import { PLANS, type Plan, ROLES, type Role } from "../db/schema/orgs";
import type { Org, User } from "./model";
import type { OrgRow, OrgsStore, UserRow } from "./store";

/** What an organizations unit of work is given: the stores bound to its transaction. */
export interface OrgsTx {
  orgs: OrgsStore;
}

export interface Deps {
  /** For reads: committed rows only. */
  stores: { orgs: OrgsStore };
  /** Every change goes through it, answered after its batch's commit. */
  writer: Writer<OrgsTx>;
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
export async function findOrgsByName(deps: Pick<Deps, "stores">, name: string): Promise<Org[]> {
  return (await deps.stores.orgs.orgsNamed(name)).map(toOrg);
}

function duplicateName(_name: string, existing: Org): ApiError {
  return new ApiError(409, "conflict", `An organization named "${existing.name}" already exists (${existing.id}); names are compared ignoring case.`);
}

interface NewOrg {
  name: string;
  plan?: Plan;
  ownerEmail?: string;
  ownerName?: string;
  uniqueName?: boolean;
}

/** Checks the input and builds the organization's and its owner's rows (nothing written). */
function newOrgRows(input: NewOrg, now: number): { org: OrgRow; owner: UserRow } {
  const plan = input.plan ?? "pro";
  if (!PLANS.includes(plan)) throw errors.validation([{ field: "plan", message: `must be one of: ${PLANS.join(", ")}.` }]);
  const name = checkName(input.name);
  const email = checkEmail(input.ownerEmail ?? "owner@localhost");
  const org: OrgRow = { id: newId("org"), name, plan, created_at: now };
  const owner: UserRow = { id: newId("user"), org_id: org.id, email, name: input.ownerName ?? null, role: "owner", created_at: now };
  return { org, owner };
}

/** Inside a unit of work: writes the rows of newOrgRows; a duplicate name (with `uniqueName`) is a 409. */
async function insertOrg(store: OrgsStore, rows: { org: OrgRow; owner: UserRow }, uniqueName: boolean | undefined): Promise<{ org: Org; owner: User }> {
  const existing = await store.createOrgWithOwner(rows.org, rows.owner, { uniqueName });
  if (existing) throw duplicateName(rows.org.name, toOrg(existing));
  return { org: toOrg(rows.org), owner: toUser(rows.owner) };
}

/**
 * Creates an organization together with its owner user, in one unit of work. With `uniqueName`, a name another
 * organization already has (ignoring case) is a 409 conflict, checked atomically with the write (see OrgsStore).
 */
export async function createOrg(deps: Deps, input: NewOrg): Promise<{ org: Org; owner: User }> {
  const rows = newOrgRows(input, deps.clock.now());
  return deps.writer.write((tx) => insertOrg(tx.orgs, rows, input.uniqueName));
}

/**
 * Renames an organization and/or changes its plan. With `uniqueName`, a name another organization already has
 * (ignoring case) is a 409 conflict. A plan change takes effect on the next request of its keys.
 */
export async function updateOrg(deps: Deps, orgId: string, input: { name?: string; plan?: Plan; uniqueName?: boolean }): Promise<Org> {
  if (input.plan !== undefined && !PLANS.includes(input.plan)) throw errors.validation([{ field: "plan", message: `must be one of: ${PLANS.join(", ")}.` }]);
  const name = input.name === undefined ? undefined : checkName(input.name);
  const result = await deps.writer.write((tx) => tx.orgs.updateOrg(orgId, { name, plan: input.plan }, { uniqueName: input.uniqueName }));
  if (result.status === "not_found") throw errors.notFound(`Organization ${orgId}`);
  if (result.status === "duplicate") throw duplicateName(result.existing.name, toOrg(result.existing));
  return toOrg(result.org);
}

export async function listOrgs(deps: Pick<Deps, "stores">): Promise<Org[]> {
  return (await deps.stores.orgs.listOrgs()).map(toOrg);
}

export async function getOrg(deps: Pick<Deps, "stores">, orgId: string): Promise<Org> {
  const row = await deps.stores.orgs.getOrg(orgId);
  if (!row) throw errors.notFound(`Organization ${orgId}`);
  return toOrg(row);
}

/** Adds a user to an organization; an email already used in that organization is a conflict. */
export async function createUser(deps: Deps, input: { orgId: string; email: string; name?: string; role?: Role }): Promise<User> {
  const now = deps.clock.now();
  // The organization is checked in the unit, and first: an unknown organization is a 404 whatever else is wrong.
  return deps.writer.write(async (tx) => {
    if (!(await tx.orgs.getOrg(input.orgId))) throw errors.notFound(`Organization ${input.orgId}`);
    const role = input.role ?? "member";
    if (!ROLES.includes(role)) throw errors.validation([{ field: "role", message: `must be one of: ${ROLES.join(", ")}.` }]);
    const email = checkEmail(input.email);
    const row: UserRow = { id: newId("user"), org_id: input.orgId, email, name: input.name?.trim() || null, role, created_at: now };
    if (!(await tx.orgs.insertUser(row))) throw new ApiError(409, "conflict", `A user with email ${email} already exists in ${input.orgId}.`);
    return toUser(row);
  });
}

/** Users of one organization (or of all), oldest first; an unknown organization is a 404. */
export async function listUsers(deps: Pick<Deps, "stores">, orgId?: string): Promise<User[]> {
  if (orgId !== undefined) await getOrg(deps, orgId);
  return (await deps.stores.orgs.listUsers(orgId)).map(toUser);
}

/** The organization's owner (the earliest owner if there are several). */
export async function findOwner(deps: Pick<Deps, "stores">, orgId: string): Promise<User> {
  const owner = await deps.stores.orgs.findOwner(orgId);
  if (!owner) throw errors.notFound(`An owner of ${orgId}`);
  return toUser(owner);
}

export function hasAnyOrg(deps: Pick<Deps, "stores">): Promise<boolean> {
  return deps.stores.orgs.hasAnyOrg();
}

/**
 * First start: when the database has no organization, creates "Default" (plan pro), its owner and one API key, in
 * one unit of work (the check included), and returns the key's secret so it can be printed once. Later starts
 * return null.
 */
export async function bootstrapIfEmpty(deps: Deps): Promise<{ org: Org; owner: User; key: CreatedKey } | null> {
  const now = deps.clock.now();
  const rows = newOrgRows({ name: "Default", plan: "pro", ownerEmail: "owner@localhost", ownerName: "Owner" }, now);
  return deps.writer.write(async (tx) => {
    if (await tx.orgs.hasAnyOrg()) return null;
    const { org, owner } = await insertOrg(tx.orgs, rows, false);
    const key = await addKey(tx.orgs, { orgId: org.id, userId: owner.id, name: "Initial key" }, now);
    return { org, owner, key };
  });
}
