// `clientcove keys create|list|revoke|rotate`: API keys; a created (or rotated) key's secret is printed once.
import { createKey, DEFAULT_ROTATION_GRACE_MS, listKeys, revokeKey, rotateKey } from "../keys/service";
import { parseDuration } from "../lib/time";
import { CONFIG_FLAGS, optionalFlag, parseArgs, requireFlag, UsageError } from "./args";
import { openDataContext, print, type Io } from "./context";

export const KEYS_HELP = `Usage:
  clientcove keys create --org ORG_ID [--user USER_ID] [--name NAME] [--expires-in 30d] [--json]
  clientcove keys list --org ORG_ID [--json]
  clientcove keys revoke KEY_ID [--json]
  clientcove keys rotate KEY_ID [--grace-seconds N] [--json]
--expires-in takes a number and a unit: s, m, h, d or w (90d, 12h).
rotate prints a new secret once (same organization, user and name; the old key's lifetime, if it had one);
the old secret keeps working for --grace-seconds (default ${DEFAULT_ROTATION_GRACE_MS / 1000}, i.e. 24 h; 0 stops it at once), then stops.
Options: --data-dir and every other option of \`clientcove serve --help\`.`;

export async function runKeys(argv: string[], io: Io): Promise<number> {
  const args = parseArgs(argv, {
    ...CONFIG_FLAGS,
    json: "boolean",
    help: "boolean",
    org: "string",
    user: "string",
    name: "string",
    "expires-in": "string",
    "grace-seconds": "string",
  });
  const [sub, ...rest] = args.positionals;
  if (args.flags.help || !sub) {
    io.out(KEYS_HELP);
    return args.flags.help ? 0 : 2;
  }
  if (sub === "create") {
    if (rest.length) throw new UsageError(`unexpected argument ${rest[0]}`);
    const orgId = requireFlag(args, "org");
    const expiresIn = optionalFlag(args, "expires-in");
    const expiresInMs = expiresIn === undefined ? undefined : parseDuration(expiresIn);
    if (expiresInMs === null) throw new UsageError(`--expires-in: expected a duration such as 30d, 12h or 90m, got "${expiresIn}"`);
    const ctx = openDataContext(args, io);
    try {
      const key = await createKey(ctx.deps, { orgId, userId: optionalFlag(args, "user"), name: optionalFlag(args, "name"), expiresInMs });
      print(io, args, key, () =>
        [
          `Created API key ${key.id} for ${key.user_id} in ${key.org_id}${key.expires_at ? `, expires ${key.expires_at}` : ""}.`,
          `Secret (shown only now, store it safely): ${key.key}`,
        ].join("\n"),
      );
    } finally {
      ctx.close();
    }
    return 0;
  }
  if (sub === "list") {
    if (rest.length) throw new UsageError(`unexpected argument ${rest[0]}`);
    const orgId = requireFlag(args, "org");
    const ctx = openDataContext(args, io);
    try {
      const keys = await listKeys(ctx.deps, orgId);
      print(io, args, keys, () =>
        keys.length
          ? keys
              .map((k) => {
                const state = k.revoked_at ? "revoked" : k.expires_at && Date.parse(k.expires_at) <= Date.now() ? "expired" : "active";
                return `${k.id}  ${k.prefix}…  ${state.padEnd(7)}  ${k.user_id}  last used ${k.last_used_at ?? "never"}  ${k.name}`;
              })
              .join("\n")
          : "No API keys.",
      );
    } finally {
      ctx.close();
    }
    return 0;
  }
  if (sub === "revoke") {
    const [keyId, ...extra] = rest;
    if (!keyId) throw new UsageError("keys revoke needs a KEY_ID");
    if (extra.length) throw new UsageError(`unexpected argument ${extra[0]}`);
    const ctx = openDataContext(args, io);
    try {
      const key = await revokeKey(ctx.deps, keyId);
      print(io, args, key, () => `Revoked API key ${key.id} (${key.prefix}…) at ${key.revoked_at}.`);
    } finally {
      ctx.close();
    }
    return 0;
  }
  if (sub === "rotate") {
    const [keyId, ...extra] = rest;
    if (!keyId) throw new UsageError("keys rotate needs a KEY_ID");
    if (extra.length) throw new UsageError(`unexpected argument ${extra[0]}`);
    const grace = optionalFlag(args, "grace-seconds");
    // Up to a year: a grace period is for rolling a secret out, not for keeping two keys alive.
    if (grace !== undefined && (!/^\d+$/.test(grace) || Number(grace) > 366 * 86400)) {
      throw new UsageError(`--grace-seconds: expected a whole number of seconds from 0 to ${366 * 86400}, got "${grace}"`);
    }
    const ctx = openDataContext(args, io);
    try {
      const { key, previous } = await rotateKey(ctx.deps, keyId, { graceMs: grace === undefined ? undefined : Number(grace) * 1000 });
      print(io, args, { ...key, previous }, () =>
        [
          `Rotated API key ${previous.id}: new key ${key.id} for ${key.user_id} in ${key.org_id}${key.expires_at ? `, expires ${key.expires_at}` : ""}.`,
          `Secret (shown only now, store it safely): ${key.key}`,
          `The old key ${previous.id} (${previous.prefix}…) ${Date.parse(previous.expires_at!) <= Date.now() ? "stopped working now" : `keeps working until ${previous.expires_at}, then stops`}.`,
        ].join("\n"),
      );
    } finally {
      ctx.close();
    }
    return 0;
  }
  throw new UsageError(`unknown command "keys ${sub}"; try keys create, keys list, keys revoke or keys rotate`);
}
