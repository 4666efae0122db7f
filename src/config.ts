// Configuration: flags > environment > config file > defaults, merged into one typed, validated Config.
import { readFileSync } from "node:fs";
import { extname } from "node:path";
import { parseDatabaseUrl, redactDatabaseUrl } from "./db/postgres/client";
import { LOG_LEVELS, type LogFormat, type LogLevel } from "./lib/log";
import { parseStorageUrl, storageCredentialsProblem } from "./storage/s3-url";

export interface Config {
  host: string;
  port: number;
  dataDir: string;
  /** PostgreSQL URL; "" = SQLite in the data dir. */
  databaseUrl: string;
  databasePoolSize: number;
  databaseStatementTimeoutMs: number;
  publicUrl: string;
  logLevel: LogLevel;
  logFormat: LogFormat;
  maxJsonBytes: number;
  maxUploadBytes: number;
  downloadUrlTtlSeconds: number;
  shutdownTimeoutMs: number;
  webhookTimeoutMs: number;
  webhookRetryBaseMs: number;
  webhookAllowPrivate: boolean;
  webhookAllowCidrs: string[];
  webhookConcurrency: number;
  webhookEndpointConcurrency: number;
  webhookOrgConcurrency: number;
  webhookMaxPerOrg: number;
  uploadIdleTimeoutMs: number;
  maxUploadsPerKey: number;
  retentionDays: number;
  configFile: string;
  /** S3-compatible storage (`s3://bucket/prefix?…`); "" = files in the data dir. */
  storageUrl: string;
  s3AccessKeyId: string;
  s3SecretAccessKey: string;
  s3SessionToken: string;
  metrics: boolean;
  metricsAddr: string;
  metricsToken: string;
  corsOrigins: string[];
  trustProxy: boolean;
  rateLimitPerMinute: number;
  rateLimitBurst: number;
  /** PostgreSQL: rate-limit buckets each instance's own (memory, the default) or shared by every instance (in the database). */
  rateLimitScope: "cluster" | "instance";
  authFailuresPerMinute: number;
}

export type ConfigKey = keyof Config;
export type ConfigSource = "flag" | "env" | "file" | "default";

/** A bad flag or value: the process prints `message` on one line and exits with code 2. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

interface OptionSpec<K extends ConfigKey = ConfigKey> {
  key: K;
  flag: string;
  /** Environment variables, most specific first (the first one set wins). */
  env: string[];
  help: string;
  /** The default as text (shown in --help), or a function of the other values. */
  defaultText: string;
  default: (partial: Partial<Config>) => Config[K];
  parse: (raw: string, name: string) => Config[K];
  /** Masked wherever configuration is printed (`clientcove config`). */
  secret?: boolean;
  /** How the value is shown wherever configuration is printed, when not as it is (a URL with its password masked). */
  display?: (value: Config[K]) => unknown;
}

function integer(min: number, max: number) {
  return (raw: string, name: string): number => {
    const n = Number(raw);
    if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
      throw new ConfigError(`${name}: expected a whole number from ${min} to ${max}, got "${raw}"`);
    }
    return n;
  };
}

function oneOf<const V extends string>(values: readonly V[]) {
  return (raw: string, name: string): V => {
    if (!(values as readonly string[]).includes(raw)) throw new ConfigError(`${name}: expected one of ${values.join(", ")}, got "${raw}"`);
    return raw as V;
  };
}

function boolean(raw: string, name: string): boolean {
  const v = raw.trim().toLowerCase();
  if (["true", "1", "yes", "on"].includes(v)) return true;
  if (["false", "0", "no", "off"].includes(v)) return false;
  throw new ConfigError(`${name}: expected true or false, got "${raw}"`);
}

function text(raw: string, name: string): string {
  if (raw.trim() === "") throw new ConfigError(`${name}: must not be empty`);
  return raw;
}

function url(raw: string, name: string): string {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new ConfigError(`${name}: expected an absolute http(s) URL, got "${raw}"`);
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") throw new ConfigError(`${name}: expected an http or https URL, got "${raw}"`);
  return raw.replace(/\/+$/, "");
}

/** A PostgreSQL URL checked by parseDatabaseUrl (its messages never show the password); "" keeps SQLite. */
function databaseUrl(raw: string, name: string): string {
  if (raw.trim() === "") return "";
  try {
    parseDatabaseUrl(raw);
  } catch (err) {
    throw new ConfigError(`${name}: ${(err as Error).message}`);
  }
  return raw.trim();
}

/** An S3 storage URL checked by parseStorageUrl (one line, never a credential); "" keeps files in the data dir. */
function storageUrl(raw: string, name: string): string {
  if (raw.trim() === "") return "";
  try {
    parseStorageUrl(raw);
  } catch (err) {
    throw new ConfigError(`${name}: ${(err as Error).message}`);
  }
  return raw.trim();
}

function cidrList(raw: string, name: string): string[] {
  const list = raw
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  for (const c of list) {
    if (!/^[0-9a-fA-F:.]+\/\d{1,3}$/.test(c)) throw new ConfigError(`${name}: "${c}" is not a CIDR such as 10.0.0.0/8`);
  }
  return list;
}

/** Browser origins allowed by CORS: `*` or `scheme://host[:port]`, exactly as browsers send them. */
function originList(raw: string, name: string): string[] {
  const list = raw
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  for (const o of list) {
    if (o === "*") continue;
    let origin: string | undefined;
    try {
      origin = new URL(o).origin;
    } catch {}
    if (!origin || origin === "null" || origin !== o.replace(/\/+$/, ""))
      throw new ConfigError(`${name}: "${o}" is not an origin such as https://app.example.com`);
  }
  return list.map((o) => o.replace(/\/+$/, ""));
}

function hostPort(raw: string, name: string): string {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^\s:[\]]+):(\d{1,5})$/.exec(raw.trim());
  if (!m || Number(m[2]) > 65535) throw new ConfigError(`${name}: expected host:port such as 127.0.0.1:9090, got "${raw}"`);
  return raw.trim();
}

const MiB = 1024 * 1024;

/** Every option, in --help order. Adding an option here adds its flag, env variable and help line. */
export const OPTIONS: OptionSpec[] = [
  {
    key: "host",
    flag: "host",
    env: ["CLIENTCOVE_HOST"],
    help: "Address to listen on (:: is every IPv6 and IPv4 address; 0.0.0.0 IPv4 only)",
    defaultText: "::",
    default: () => "::",
    parse: text,
  },
  {
    key: "port",
    flag: "port",
    env: ["CLIENTCOVE_PORT", "PORT"],
    help: "TCP port to listen on (0 picks a free one)",
    defaultText: "8080",
    default: () => 8080,
    parse: integer(0, 65535),
  },
  {
    key: "dataDir",
    flag: "data-dir",
    env: ["CLIENTCOVE_DATA_DIR"],
    help: "Directory for the database and stored files",
    defaultText: "./data",
    default: () => "./data",
    parse: text,
  },
  {
    key: "databaseUrl",
    flag: "database-url",
    env: ["CLIENTCOVE_DATABASE_URL"],
    help: "PostgreSQL database (postgres://user:password@host:5432/db?sslmode=require) instead of SQLite in the data dir",
    defaultText: "(none: SQLite in the data dir)",
    default: () => "",
    parse: databaseUrl,
    display: (v) => redactDatabaseUrl(String(v)),
  },
  {
    key: "databasePoolSize",
    flag: "database-pool-size",
    env: ["CLIENTCOVE_DATABASE_POOL_SIZE"],
    help: "PostgreSQL connections this process opens at most",
    defaultText: "10",
    default: () => 10,
    parse: integer(1, 1000),
  },
  {
    key: "databaseStatementTimeoutMs",
    flag: "database-statement-timeout-ms",
    env: ["CLIENTCOVE_DATABASE_STATEMENT_TIMEOUT_MS"],
    help: "PostgreSQL cancels a statement that runs longer, in ms (0: no limit)",
    defaultText: "30000",
    default: () => 30_000,
    parse: integer(0, 86_400_000),
  },
  {
    key: "configFile",
    flag: "config",
    env: ["CLIENTCOVE_CONFIG"],
    help: "Config file (.toml or .json) with the same keys as the flags; lowest precedence",
    defaultText: "(none)",
    default: () => "",
    parse: text,
  },
  {
    key: "storageUrl",
    flag: "storage-url",
    env: ["CLIENTCOVE_STORAGE_URL"],
    help: "S3-compatible storage for files (s3://bucket/prefix?endpoint=https://host&region=name&path_style=true) instead of the data dir",
    defaultText: "(none: files in the data dir)",
    default: () => "",
    parse: storageUrl,
  },
  {
    key: "s3AccessKeyId",
    flag: "s3-access-key-id",
    env: ["CLIENTCOVE_S3_ACCESS_KEY_ID", "AWS_ACCESS_KEY_ID"],
    help: "Access key id for --storage-url",
    defaultText: "(none)",
    default: () => "",
    parse: text,
    secret: true,
  },
  {
    key: "s3SecretAccessKey",
    flag: "s3-secret-access-key",
    env: ["CLIENTCOVE_S3_SECRET_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY"],
    help: "Secret access key for --storage-url",
    defaultText: "(none)",
    default: () => "",
    parse: text,
    secret: true,
  },
  {
    key: "s3SessionToken",
    flag: "s3-session-token",
    env: ["CLIENTCOVE_S3_SESSION_TOKEN", "AWS_SESSION_TOKEN"],
    help: "Session token of temporary S3 credentials, for --storage-url",
    defaultText: "(none)",
    default: () => "",
    parse: text,
    secret: true,
  },
  {
    key: "publicUrl",
    flag: "public-url",
    env: ["CLIENTCOVE_PUBLIC_URL"],
    help: "Public base URL used in absolute links (Location, download_url)",
    defaultText: "http://localhost:<port>",
    default: (p) => `http://localhost:${p.port ?? 8080}`,
    parse: url,
  },
  {
    key: "logLevel",
    flag: "log-level",
    env: ["CLIENTCOVE_LOG_LEVEL"],
    help: `Log level: ${LOG_LEVELS.join(", ")}`,
    defaultText: "info",
    default: () => "info",
    parse: oneOf(LOG_LEVELS),
  },
  {
    key: "logFormat",
    flag: "log-format",
    env: ["CLIENTCOVE_LOG_FORMAT"],
    help: "Log format: json (one object per line) or pretty",
    defaultText: "json",
    default: () => "json",
    parse: oneOf(["json", "pretty"] as const),
  },
  {
    key: "maxJsonBytes",
    flag: "max-json-bytes",
    env: ["CLIENTCOVE_MAX_JSON_BYTES"],
    help: "Largest JSON request body accepted, in bytes",
    defaultText: String(MiB),
    default: () => MiB,
    parse: integer(1024, 64 * MiB),
  },
  {
    key: "maxUploadBytes",
    flag: "max-upload-bytes",
    env: ["CLIENTCOVE_MAX_UPLOAD_BYTES"],
    help: "Largest file upload accepted, in bytes",
    defaultText: String(100 * MiB),
    default: () => 100 * MiB,
    parse: integer(1, Number.MAX_SAFE_INTEGER),
  },
  {
    key: "uploadIdleTimeoutMs",
    flag: "upload-idle-timeout-ms",
    env: ["CLIENTCOVE_UPLOAD_IDLE_TIMEOUT_MS"],
    help: "An upload that sends no bytes for this long is aborted, in ms",
    defaultText: "60000",
    default: () => 60_000,
    parse: integer(1, 3_600_000),
  },
  {
    key: "maxUploadsPerKey",
    flag: "max-uploads-per-key",
    env: ["CLIENTCOVE_MAX_UPLOADS_PER_KEY"],
    help: "Uploads one API key may have in flight at once (429 beyond)",
    defaultText: "8",
    default: () => 8,
    parse: integer(1, 10_000),
  },
  {
    key: "downloadUrlTtlSeconds",
    flag: "download-url-ttl-seconds",
    env: ["CLIENTCOVE_DOWNLOAD_URL_TTL_SECONDS"],
    help: "Lifetime of signed download links, in seconds",
    defaultText: "3600",
    default: () => 3600,
    parse: integer(1, 7 * 86400),
  },
  {
    key: "shutdownTimeoutMs",
    flag: "shutdown-timeout-ms",
    env: ["CLIENTCOVE_SHUTDOWN_TIMEOUT_MS"],
    help: "How long a graceful shutdown waits for in-flight work, in ms",
    defaultText: "30000",
    default: () => 30_000,
    parse: integer(0, 3_600_000),
  },
  {
    key: "webhookTimeoutMs",
    flag: "webhook-timeout-ms",
    env: ["CLIENTCOVE_WEBHOOK_TIMEOUT_MS"],
    help: "Timeout of one webhook delivery attempt, in ms",
    defaultText: "15000",
    default: () => 15_000,
    parse: integer(1, 600_000),
  },
  {
    key: "webhookRetryBaseMs",
    flag: "webhook-retry-base-ms",
    env: ["CLIENTCOVE_WEBHOOK_RETRY_BASE_MS"],
    help: "Base delay of webhook retry backoff, in ms",
    defaultText: "30000",
    default: () => 30_000,
    parse: integer(1, 86_400_000),
  },
  {
    key: "webhookAllowPrivate",
    flag: "webhook-allow-private",
    env: ["CLIENTCOVE_WEBHOOK_ALLOW_PRIVATE"],
    help: "Allow webhooks to loopback/private/link-local addresses",
    defaultText: "false",
    default: () => false,
    parse: boolean,
  },
  {
    key: "webhookAllowCidrs",
    flag: "webhook-allow-cidrs",
    env: ["CLIENTCOVE_WEBHOOK_ALLOW_CIDRS"],
    help: "Comma-separated CIDRs webhooks may reach even if private",
    defaultText: "(none)",
    default: () => [],
    parse: cidrList,
  },
  {
    key: "webhookConcurrency",
    flag: "webhook-concurrency",
    env: ["CLIENTCOVE_WEBHOOK_CONCURRENCY"],
    help: "Webhook attempts in flight at once, over all endpoints",
    defaultText: "64",
    default: () => 64,
    parse: integer(1, 10_000),
  },
  {
    key: "webhookEndpointConcurrency",
    flag: "webhook-endpoint-concurrency",
    env: ["CLIENTCOVE_WEBHOOK_ENDPOINT_CONCURRENCY"],
    help: "Webhook attempts in flight at once to one endpoint",
    defaultText: "4",
    default: () => 4,
    parse: integer(1, 1_000),
  },
  {
    key: "webhookOrgConcurrency",
    flag: "webhook-org-concurrency",
    env: ["CLIENTCOVE_WEBHOOK_ORG_CONCURRENCY"],
    help: "Webhook attempts in flight at once for one organization (keeps one tenant's slow endpoints from starving the others)",
    defaultText: "16",
    default: () => 16,
    parse: integer(1, 10_000),
  },
  {
    key: "webhookMaxPerOrg",
    flag: "webhook-max-per-org",
    env: ["CLIENTCOVE_WEBHOOK_MAX_PER_ORG"],
    help: "Webhook endpoints one organization may register",
    defaultText: "50",
    default: () => 50,
    parse: integer(1, 100_000),
  },
  {
    key: "retentionDays",
    flag: "retention-days",
    env: ["CLIENTCOVE_RETENTION_DAYS"],
    help: "Days to keep webhook deliveries and outbox events",
    defaultText: "30",
    default: () => 30,
    parse: integer(1, 3650),
  },
  {
    key: "metrics",
    flag: "metrics",
    env: ["CLIENTCOVE_METRICS"],
    help: "Serve Prometheus metrics at /metrics",
    defaultText: "false",
    default: () => false,
    parse: boolean,
  },
  {
    key: "metricsAddr",
    flag: "metrics-addr",
    env: ["CLIENTCOVE_METRICS_ADDR"],
    help: "Serve /metrics on this separate host:port instead of the API port",
    defaultText: "(the API listener)",
    default: () => "",
    parse: hostPort,
  },
  {
    key: "metricsToken",
    flag: "metrics-token",
    env: ["CLIENTCOVE_METRICS_TOKEN"],
    help: "Bearer token /metrics requires",
    defaultText: "(none)",
    default: () => "",
    parse: text,
    secret: true,
  },
  {
    key: "corsOrigins",
    flag: "cors-origins",
    env: ["CLIENTCOVE_CORS_ORIGINS"],
    help: "Comma-separated browser origins allowed by CORS, or *",
    defaultText: "(none: CORS off)",
    default: () => [],
    parse: originList,
  },
  {
    key: "trustProxy",
    flag: "trust-proxy",
    env: ["CLIENTCOVE_TRUST_PROXY"],
    help: "Take client address and scheme from X-Forwarded-For/-Proto (behind a reverse proxy only)",
    defaultText: "false",
    default: () => false,
    parse: boolean,
  },
  {
    key: "rateLimitPerMinute",
    flag: "rate-limit-per-minute",
    env: ["CLIENTCOVE_RATE_LIMIT_PER_MINUTE"],
    help: "Requests per minute per API key (token bucket refill; 0 turns limiting off)",
    defaultText: "600",
    default: () => 600,
    parse: integer(0, 10_000_000),
  },
  {
    key: "rateLimitBurst",
    flag: "rate-limit-burst",
    env: ["CLIENTCOVE_RATE_LIMIT_BURST"],
    help: "Requests an API key may make at once (token bucket size; 0 turns limiting off)",
    defaultText: "100",
    default: () => 100,
    parse: integer(0, 10_000_000),
  },
  {
    key: "rateLimitScope",
    flag: "rate-limit-scope",
    env: ["CLIENTCOVE_RATE_LIMIT_SCOPE"],
    help: "With PostgreSQL: instance (each instance its own buckets, in memory: set the limits per instance) or cluster (one budget per key for all, in the database; costs a statement per request)",
    defaultText: "instance",
    default: () => "instance",
    parse: oneOf(["cluster", "instance"] as const),
  },
  {
    key: "authFailuresPerMinute",
    flag: "auth-failures-per-minute",
    env: ["CLIENTCOVE_AUTH_FAILURES_PER_MINUTE"],
    help: "Failed authentications per minute per client address before 429 (0: off)",
    defaultText: "30",
    default: () => 30,
    parse: integer(0, 10_000_000),
  },
];

export const BOOLEAN_KEYS = new Set<ConfigKey>(OPTIONS.filter((o) => o.parse === boolean).map((o) => o.key));

export interface LoadedConfig {
  config: Config;
  sources: Record<ConfigKey, ConfigSource>;
  /** Where each value came from, for people: "--port", "CLIENTCOVE_PORT", the config file's path, or "default". */
  origins: Record<ConfigKey, string>;
}

/** Path of the config file named by --config or CLIENTCOVE_CONFIG, if any. */
function configFilePath(flags: Record<string, string | boolean | undefined>, env: Record<string, string | undefined>): string | undefined {
  if (typeof flags.config === "string" && flags.config !== "") return flags.config;
  return env.CLIENTCOVE_CONFIG || undefined;
}

/**
 * Reads a .toml or .json config file into raw values by flag name. Keys may be written as the
 * flag (`data-dir`), in snake_case (`data_dir`) or camelCase (`dataDir`); unknown keys are errors.
 */
function readConfigFile(path: string): Map<string, string> {
  let textValue: string;
  try {
    textValue = readFileSync(path, "utf8");
  } catch (err) {
    throw new ConfigError(`config file ${path}: cannot read it (${(err as NodeJS.ErrnoException).code ?? "error"})`);
  }
  let parsed: unknown;
  const kind = extname(path).toLowerCase();
  try {
    if (kind === ".toml") parsed = Bun.TOML.parse(textValue);
    else if (kind === ".json") parsed = JSON.parse(textValue);
    else throw new ConfigError(`config file ${path}: expected a .toml or .json file`);
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(`config file ${path}: not valid ${kind.slice(1).toUpperCase()} (${(err as Error).message})`);
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) throw new ConfigError(`config file ${path}: expected a table of settings`);
  const byFlag = new Map(OPTIONS.map((o) => [o.flag, o]));
  const values = new Map<string, string>();
  for (const [key, value] of Object.entries(parsed)) {
    const flag = key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`).replace(/_/g, "-");
    const opt = byFlag.get(flag);
    if (!opt) throw new ConfigError(`config file ${path}: unknown setting "${key}"`);
    if (opt.key === "configFile") throw new ConfigError(`config file ${path}: "${key}" cannot be set in a config file`);
    const items = Array.isArray(value) ? value : [value];
    if (!items.every((v) => ["string", "number", "boolean"].includes(typeof v)) || (Array.isArray(value) && items.some((v) => String(v).includes(",")))) {
      throw new ConfigError(`config file ${path}: "${key}" must be a string, number, boolean or list of strings`);
    }
    values.set(flag, items.map(String).join(","));
  }
  return values;
}

/**
 * Builds the Config from parsed flags (by flag name, e.g. "data-dir") and an environment.
 * Throws ConfigError with a one-line message on the first bad value.
 */
export function loadConfig(flags: Record<string, string | boolean | undefined>, env: Record<string, string | undefined>): LoadedConfig {
  const partial: Partial<Config> = {};
  const sources = {} as Record<ConfigKey, ConfigSource>;
  const origins = {} as Record<ConfigKey, string>;
  const pending: OptionSpec[] = [];
  const filePath = configFilePath(flags, env);
  const fileValues = filePath ? readConfigFile(filePath) : undefined;
  for (const opt of OPTIONS) {
    const flagValue = flags[opt.flag];
    if (flagValue !== undefined) {
      const raw = flagValue === true ? "true" : String(flagValue);
      (partial as any)[opt.key] = opt.parse(raw, `--${opt.flag}`);
      sources[opt.key] = "flag";
      origins[opt.key] = `--${opt.flag}`;
      continue;
    }
    const envName = opt.env.find((name) => env[name] !== undefined && env[name] !== "");
    if (envName) {
      (partial as any)[opt.key] = opt.parse(env[envName]!, envName);
      sources[opt.key] = "env";
      origins[opt.key] = envName;
      continue;
    }
    const fileRaw = fileValues?.get(opt.flag);
    if (fileRaw !== undefined) {
      (partial as any)[opt.key] = opt.parse(fileRaw, `config file ${filePath}: ${opt.flag}`);
      sources[opt.key] = "file";
      origins[opt.key] = filePath!;
      continue;
    }
    pending.push(opt);
  }
  // Defaults last, so a default may depend on other resolved values (public URL on the port).
  for (const opt of pending) {
    (partial as any)[opt.key] = opt.default(partial);
    sources[opt.key] = "default";
    origins[opt.key] = "default";
  }
  const storageProblem = storageCredentialsProblem(partial as Config, origins, env);
  if (storageProblem) throw new ConfigError(storageProblem);
  return { config: partial as Config, sources, origins };
}

/** The option lines of --help: flag, env names, default. */
export function optionsHelp(): string {
  return OPTIONS.map((o) => {
    const left = `  --${o.flag}${BOOLEAN_KEYS.has(o.key) ? "" : " <value>"}`;
    const head = left.length < 35 ? left.padEnd(36) : `${left}\n${"".padEnd(36)}`;
    return `${head}${o.help}\n${"".padEnd(36)}env ${o.env.join(" or ")}; default ${o.defaultText}`;
  }).join("\n");
}

/**
 * The README's configuration table (Flag | Environment | Default | Meaning), rendered from OPTIONS so the
 * docs cannot fall behind the code; `bun scripts/config-table.ts` writes it into README.md.
 */
export function optionsMarkdownTable(): string {
  const cell = (s: string) => s.replace(/\|/g, "\\|");
  const code = (s: string) => `\`${s}\``;
  // Placeholders such as "(none)" are prose, not values to type.
  const value = (s: string) => (s.startsWith("(") ? cell(s) : code(cell(s)));
  // Byte sizes read better with their MiB beside them (1048576 (1 MiB)).
  const unit = (o: OptionSpec) =>
    o.flag.endsWith("-bytes") && /^\d+$/.test(o.defaultText) && Number(o.defaultText) % MiB === 0 ? ` (${Number(o.defaultText) / MiB} MiB)` : "";
  const rows = OPTIONS.map((o) => `| ${code(`--${o.flag}`)} | ${o.env.map(code).join(" or ")} | ${value(o.defaultText)}${unit(o)} | ${cell(o.help)} |`);
  return ["| Flag | Environment | Default | Meaning |", "| --- | --- | --- | --- |", ...rows].join("\n");
}
