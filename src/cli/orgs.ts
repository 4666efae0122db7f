// `clientcove orgs create|update|list` and `clientcove users create|list`: manage tenants and their people.
import { PLANS, type Plan, ROLES, type Role } from "../db/schema/orgs";
import { createOrg, createUser, listOrgs, listUsers, updateOrg } from "../orgs/service";
import { ApiError } from "../errors";
import { CONFIG_FLAGS, optionalFlag, parseArgs, requireFlag, UsageError } from "./args";
import { openDataContext, print, type Io } from "./context";

const FLAGS = { ...CONFIG_FLAGS, json: "boolean", help: "boolean" } as const;

export const ORGS_HELP = `Usage:
  clientcove orgs create --name NAME [--plan free|pro|enterprise] [--owner-email EMAIL] [--allow-duplicate] [--json]
  clientcove orgs update ORG_ID [--name NAME] [--plan free|pro|enterprise] [--allow-duplicate] [--json]
  clientcove orgs list [--json]
A name another organization already has (ignoring case) is refused unless --allow-duplicate.
A plan change applies to the organization's keys on their next request (also on a running server).
Options: --data-dir and every other option of \`clientcove serve --help\`.`;

export const USERS_HELP = `Usage:
  clientcove users create --org ORG_ID --email EMAIL [--name NAME] [--role owner|admin|member] [--json]
  clientcove users list [--org ORG_ID] [--json]
users list shows every user of every organization unless --org names one, oldest first.
Options: --data-dir and every other option of \`clientcove serve --help\`.`;

function parsePlan(args: ReturnType<typeof parseArgs>): Plan | undefined {
  const plan = optionalFlag(args, "plan");
  if (plan !== undefined && !(PLANS as readonly string[]).includes(plan)) throw new UsageError(`--plan must be one of ${PLANS.join(", ")}`);
  return plan as Plan | undefined;
}

/** The CLI's wording of a duplicate name: the service's message plus the flag that allows it. */
async function withDuplicateHint<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    if (err instanceof ApiError && err.errorCode === "conflict" && err.message.startsWith("An organization named")) {
      throw new ApiError(err.status, err.errorCode, `${err.message} Pass --allow-duplicate to use it anyway.`);
    }
    throw err;
  }
}

export async function runOrgs(argv: string[], io: Io): Promise<number> {
  const args = parseArgs(argv, { ...FLAGS, name: "string", plan: "string", "owner-email": "string", "allow-duplicate": "boolean" });
  const [sub, ...rest] = args.positionals;
  if (args.flags.help || !sub) {
    io.out(ORGS_HELP);
    return args.flags.help ? 0 : 2;
  }
  const uniqueName = args.flags["allow-duplicate"] !== true;
  if (sub === "update") {
    const [orgId, ...extra] = rest;
    if (!orgId) throw new UsageError("orgs update needs an ORG_ID");
    if (extra.length) throw new UsageError(`unexpected argument ${extra[0]}`);
    const name = optionalFlag(args, "name");
    const plan = parsePlan(args);
    if (name === undefined && plan === undefined) throw new UsageError("orgs update needs --name or --plan (or both)");
    const ctx = openDataContext(args, io);
    try {
      const org = await withDuplicateHint(() => updateOrg(ctx.deps, orgId, { name, plan, uniqueName }));
      print(io, args, org, () => `Updated organization ${org.id} "${org.name}" (plan ${org.plan}).`);
    } finally {
      ctx.close();
    }
    return 0;
  }
  if (rest.length) throw new UsageError(`unexpected argument ${rest[0]}`);
  if (sub === "create") {
    const name = requireFlag(args, "name");
    const plan = parsePlan(args) ?? "pro";
    const ctx = openDataContext(args, io);
    try {
      const { org, owner } = await withDuplicateHint(() => createOrg(ctx.deps, { name, plan, ownerEmail: optionalFlag(args, "owner-email"), uniqueName }));
      print(io, args, { ...org, owner }, () => `Created organization ${org.id} "${org.name}" (plan ${org.plan}) with owner ${owner.id} <${owner.email}>.`);
    } finally {
      ctx.close();
    }
    return 0;
  }
  if (sub === "list") {
    const ctx = openDataContext(args, io);
    try {
      const orgs = await listOrgs(ctx.deps);
      print(io, args, orgs, () => (orgs.length ? orgs.map((o) => `${o.id}  ${o.plan.padEnd(10)}  ${o.name}`).join("\n") : "No organizations."));
    } finally {
      ctx.close();
    }
    return 0;
  }
  throw new UsageError(`unknown command "orgs ${sub}"; try orgs create, orgs update or orgs list`);
}

export async function runUsers(argv: string[], io: Io): Promise<number> {
  const args = parseArgs(argv, { ...FLAGS, org: "string", email: "string", name: "string", role: "string" });
  const [sub, ...rest] = args.positionals;
  if (args.flags.help || !sub) {
    io.out(USERS_HELP);
    return args.flags.help ? 0 : 2;
  }
  if (rest.length) throw new UsageError(`unexpected argument ${rest[0]}`);
  if (sub === "list") {
    const orgId = optionalFlag(args, "org");
    const ctx = openDataContext(args, io);
    try {
      const list = await listUsers(ctx.deps, orgId);
      print(io, args, list, () =>
        list.length ? list.map((u) => `${u.id}  ${u.org_id}  ${u.role.padEnd(6)}  ${u.email}${u.name ? `  ${u.name}` : ""}`).join("\n") : "No users.",
      );
    } finally {
      ctx.close();
    }
    return 0;
  }
  if (sub !== "create") throw new UsageError(`unknown command "users ${sub}"; try users create or users list`);
  const orgId = requireFlag(args, "org");
  const email = requireFlag(args, "email");
  const role = optionalFlag(args, "role") ?? "member";
  if (!(ROLES as readonly string[]).includes(role)) throw new UsageError(`--role must be one of ${ROLES.join(", ")}`);
  const ctx = openDataContext(args, io);
  try {
    const user = await createUser(ctx.deps, { orgId, email, name: optionalFlag(args, "name"), role: role as Role });
    print(io, args, user, () => `Created user ${user.id} <${user.email}> (${user.role}) in ${user.org_id}.`);
  } finally {
    ctx.close();
  }
  return 0;
}
