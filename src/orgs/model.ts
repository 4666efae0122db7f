// Shapes of organizations, users and keys as the CLI prints them with --json.
import type { Plan, Role } from "../db/schema/orgs";

export interface Org {
  id: string;
  name: string;
  plan: Plan;
  created_at: string;
}

export interface User {
  id: string;
  org_id: string;
  email: string;
  name: string | null;
  role: Role;
  created_at: string;
}

export interface ApiKeyInfo {
  id: string;
  org_id: string;
  user_id: string;
  name: string;
  prefix: string;
  created_at: string;
  last_used_at: string | null;
  expires_at: string | null;
  revoked_at: string | null;
}
