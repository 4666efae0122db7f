// `clientcove orgs create|list` and `clientcove users create`: manage tenants and their people.
import { PLANS, ROLES, type Plan, type Role } from "../orgs/model";
import { createOrg, createUser, listOrgs } from "../orgs/service";
import { CONFIG_FLAGS, optionalFlag, parseArgs, requireFlag, UsageError } from "./args";
import { openDataContext, print, type Io } from "./context";

const FLAGS = { ...CONFIG_FLAGS, json: "boolean", help: "boolean" } as const;

export const ORGS_HELP = `Usage:
  clientcove orgs create --name NAME [--plan free|pro|enterprise] [--owner-email EMAIL] [--json]
  clientcove orgs list [--json]
Options: --data-dir and every other option of \`clientcove serve --help\`.`;

export const USERS_HELP = `Usage:
  clientcove users create --org ORG_ID --email EMAIL [--name NAME] [--role owner|admin|member] [--json]
Options: --data-dir and every other option of \`clientcove serve --help\`.`;

export function runOrgs(argv: string[], io: Io): number {
  const args = parseArgs(argv, { ...FLAGS, name: "string", plan: "string", "owner-email": "string" });
  const [sub, ...rest] = args.positionals;
  if (args.flags.help || !sub) {
    io.out(ORGS_HELP);
    return args.flags.help ? 0 : 2;
  }
  if (rest.length) throw new UsageError(`unexpected argument ${rest[0]}`);
  if (sub === "create") {
    const name = requireFlag(args, "name");
    const plan = optionalFlag(args, "plan") ?? "pro";
    if (!(PLANS as readonly string[]).includes(plan)) throw new UsageError(`--plan must be one of ${PLANS.join(", ")}`);
    const ctx = openDataContext(args, io);
    try {
      const { org, owner } = createOrg(ctx.deps, { name, plan: plan as Plan, ownerEmail: optionalFlag(args, "owner-email") });
      print(io, args, { ...org, owner }, () => `Created organization ${org.id} "${org.name}" (plan ${org.plan}) with owner ${owner.id} <${owner.email}>.`);
    } finally {
      ctx.handle.close();
    }
    return 0;
  }
  if (sub === "list") {
    const ctx = openDataContext(args, io);
    try {
      const orgs = listOrgs(ctx.deps);
      print(io, args, orgs, () => (orgs.length ? orgs.map((o) => `${o.id}  ${o.plan.padEnd(10)}  ${o.name}`).join("\n") : "No organizations."));
    } finally {
      ctx.handle.close();
    }
    return 0;
  }
  throw new UsageError(`unknown command "orgs ${sub}"; try orgs create or orgs list`);
}

export function runUsers(argv: string[], io: Io): number {
  const args = parseArgs(argv, { ...FLAGS, org: "string", email: "string", name: "string", role: "string" });
  const [sub, ...rest] = args.positionals;
  if (args.flags.help || !sub) {
    io.out(USERS_HELP);
    return args.flags.help ? 0 : 2;
  }
  if (rest.length) throw new UsageError(`unexpected argument ${rest[0]}`);
  if (sub !== "create") throw new UsageError(`unknown command "users ${sub}"; try users create`);
  const orgId = requireFlag(args, "org");
  const email = requireFlag(args, "email");
  const role = optionalFlag(args, "role") ?? "member";
  if (!(ROLES as readonly string[]).includes(role)) throw new UsageError(`--role must be one of ${ROLES.join(", ")}`);
  const ctx = openDataContext(args, io);
  try {
    const user = createUser(ctx.deps, { orgId, email, name: optionalFlag(args, "name"), role: role as Role });
    print(io, args, user, () => `Created user ${user.id} <${user.email}> (${user.role}) in ${user.org_id}.`);
  } finally {
    ctx.handle.close();
  }
  return 0;
}
