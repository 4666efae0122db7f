// Who is acting: the organization, user and API key behind an authenticated request; the one type every service takes.
import type { Plan, Role } from "../db/schema/orgs";

/** Yielded by key verification (auth plugin) and passed as is to the services that act for someone. */
export interface Principal {
  orgId: string;
  plan: Plan;
  userId: string;
  role: Role;
  keyId: string;
}

/** What a service acting for someone needs of the principal (a Principal is one; a seed script or the CLI can pass just these). */
export type Actor = Pick<Principal, "orgId" | "userId">;
