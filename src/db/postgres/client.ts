// Opens a PostgreSQL pool (postgres.js) whose rows hold the values bun:sqlite rows hold; parses, checks and redacts database URLs.
import { readFileSync } from "node:fs";
import postgres, { type Notice, type Sql } from "postgres";

/** The `sslmode` values accepted, with libpq's meaning (`prefer` when absent, as libpq). `allow` is refused: postgres.js cannot do it. */
export const SSL_MODES = ["disable", "prefer", "require", "verify-ca", "verify-full"] as const;
export type SslMode = (typeof SSL_MODES)[number];

/** The query parameters a database URL may carry; anything else is refused rather than sent to the server as a setting. */
export const URL_PARAMETERS = ["sslmode", "sslrootcert", "application_name"] as const;

/** How a password is shown wherever a URL is printed (the same mask as `clientcove config`). */
const MASK = "********";
const EXAMPLE = "postgres://user:password@host:5432/database";

export interface PostgresOptions {
  /** `postgres://` or `postgresql://` URL, checked by parseDatabaseUrl. */
  url: string;
  /** Most connections the pool opens. */
  poolSize: number;
  /** Server-side limit per statement (the `statement_timeout` setting, sent when each connection starts); 0 = none. */
  statementTimeoutMs: number;
  /** Shown in pg_stat_activity; default: the URL's `application_name`, else "clientcove". */
  applicationName?: string;
  /** How long a new connection may take; default 10 s. */
  connectTimeoutMs?: number;
  /** Server notices (e.g. from migrations); default: ignored (postgres.js would print them on stdout). */
  onNotice?: (notice: Notice) => void;
}

export interface PostgresHandle {
  sql: Sql;
  /** Ends the pool: waits up to 5 s for running queries, then closes the connections. */
  close(): Promise<void>;
}

/**
 * Type parsers (by type oid) so a row read from PostgreSQL equals the row bun:sqlite returns for the same table
 * (`RawRow` in db/schema/raw-row.ts): SQLite has only integers, reals and text, so
 * - int8 (20): every integer column is bigint (SQLite integers are 64-bit) and COUNT(*) is int8 → JS number.
 * - numeric (1700): what SUM over bigint and AVG return → JS number (SQLite returns numbers for both).
 * - bool (16): comparisons, EXISTS → 1/0, as SQLite gives them (no column is boolean: `webhooks.active` is 0/1).
 * - json/jsonb (114, 3802): left as text, as SQLite's JSON functions return it (no column has these types).
 * int2/int4/float4/float8/oid are numbers and text is text already (postgres.js defaults).
 * Numbers beyond 2^53 lose precision exactly as bun:sqlite's numbers do (no value of the schema comes near).
 */
const TYPES = {
  int8: { to: 20, from: [20], serialize: (x: unknown) => String(x), parse: (x: string) => Number(x) },
  numeric: { to: 1700, from: [1700], serialize: (x: unknown) => String(x), parse: (x: string) => Number(x) },
  bool: { to: 16, from: [16], serialize: (x: unknown) => (x === true || x === 1 ? "t" : "f"), parse: (x: string) => (x === "t" ? 1 : 0) },
  json: { to: 114, from: [114, 3802], serialize: (x: unknown) => (typeof x === "string" ? x : JSON.stringify(x)), parse: (x: string) => x },
};

/**
 * Checks a database URL and returns it parsed. Throws an Error with a one-line message (no password in it) for: another
 * scheme, no host, several hosts, a bad port, no user, no or a nested database name, a #fragment, a bad %-escape, an
 * `sslmode` outside SSL_MODES, `sslrootcert` without a verify mode, an unknown or repeated parameter.
 */
export function parseDatabaseUrl(raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    throw new Error(`not a URL such as ${EXAMPLE} (percent-encode "@", ":", "/", "#" or "?" in the user name or password, e.g. "@" as %40)`);
  }
  if (url.protocol !== "postgres:" && url.protocol !== "postgresql:") {
    throw new Error(`expected a postgres:// or postgresql:// URL such as ${EXAMPLE}, got one starting "${url.protocol}//"`);
  }
  if (url.hash) throw new Error(`the URL has a #fragment: write a "#" in the password as %23`);
  if (!url.hostname) throw new Error(`the URL has no host (${EXAMPLE})`);
  if (url.hostname.includes(",")) throw new Error("the URL names several hosts: give one host (a load balancer or the primary's address)");
  if (url.port === "0") throw new Error("the URL's port must be from 1 to 65535");
  let user: string;
  try {
    user = decodeURIComponent(url.username);
    decodeURIComponent(url.password);
  } catch {
    throw new Error("the URL's user name or password has a malformed %-escape");
  }
  if (!user) throw new Error(`the URL has no user name (${EXAMPLE})`);
  if (!databaseName(url)) throw new Error(`the URL has no database name (${EXAMPLE})`);
  if (url.pathname.slice(1).includes("/")) throw new Error(`the URL's path must be just the database name (${EXAMPLE}; a "/" in the name is %2F)`);
  const seen = new Set<string>();
  for (const [key] of url.searchParams) {
    if (!(URL_PARAMETERS as readonly string[]).includes(key)) {
      throw new Error(`the URL has an unknown parameter "${key}" (allowed: ${URL_PARAMETERS.join(", ")})`);
    }
    if (seen.has(key)) throw new Error(`the URL gives the parameter "${key}" twice`);
    seen.add(key);
  }
  const mode = url.searchParams.get("sslmode");
  if (mode !== null && !(SSL_MODES as readonly string[]).includes(mode)) {
    throw new Error(`sslmode must be one of ${SSL_MODES.join(", ")}, got "${mode}"`);
  }
  const rootCert = url.searchParams.get("sslrootcert");
  if (rootCert !== null && (mode === null || !mode.startsWith("verify-"))) {
    throw new Error("sslrootcert needs sslmode=verify-ca or sslmode=verify-full");
  }
  if (rootCert === "") throw new Error('sslrootcert must be a file path or "system"');
  return url;
}

function databaseName(url: URL): string {
  try {
    return decodeURIComponent(url.pathname.slice(1));
  } catch {
    throw new Error("the URL's database name has a malformed %-escape");
  }
}

/**
 * The URL with its password (and any `password=` parameter) masked, for `clientcove config` and logs. Works on the
 * text, not on a parsed URL, so that a URL that does not parse (an unescaped "@" or "/" in the password) is masked
 * too: everything from the first ":" after the scheme to the last "@" goes, when that ":" comes first. Never throws.
 */
export function redactDatabaseUrl(raw: string): string {
  let out = raw;
  const scheme = raw.indexOf("://");
  if (scheme !== -1) {
    const at = raw.lastIndexOf("@");
    const colon = raw.indexOf(":", scheme + 3);
    if (colon !== -1 && colon + 1 < at) out = `${raw.slice(0, colon + 1)}${MASK}${raw.slice(at)}`;
  }
  return out.replace(/([?&\s]password=)[^&#\s]*/gi, `$1${MASK}`);
}

/** What postgres.js needs for TLS, from `sslmode` (and `sslrootcert`); libpq's meaning of each mode. */
function tlsOption(url: URL): boolean | "prefer" | "require" | object {
  const mode = (url.searchParams.get("sslmode") ?? "prefer") as SslMode;
  if (mode === "disable") return false;
  if (mode === "prefer" || mode === "require") return mode; // encrypted, the certificate not checked
  const rootCert = url.searchParams.get("sslrootcert");
  let ca: string | undefined;
  if (rootCert !== null && rootCert !== "system") {
    try {
      ca = readFileSync(rootCert, "utf8");
    } catch (err) {
      throw new Error(`cannot read the sslrootcert file ${rootCert} (${(err as NodeJS.ErrnoException).code ?? "error"})`);
    }
  }
  // verify-ca: the chain is checked, the host name is not; verify-full: both.
  return { rejectUnauthorized: true, ...(ca ? { ca } : {}), ...(mode === "verify-ca" ? { checkServerIdentity: () => undefined } : {}) };
}

/**
 * Opens a pool (connections are made on first use: an unreachable server shows in the first query, or in
 * checkPostgres). Every setting is given here, from the URL and the options: postgres.js would otherwise take
 * PGHOST, PGUSER, PGPASSWORD, PGSSL, PGIDLE_TIMEOUT… from the environment (it still honours PGTARGETSESSIONATTRS).
 */
export function openPostgres(opts: PostgresOptions): PostgresHandle {
  const url = parseDatabaseUrl(opts.url);
  if (!Number.isInteger(opts.poolSize) || opts.poolSize < 1) throw new Error(`the pool size must be a whole number of at least 1, got ${opts.poolSize}`);
  if (!Number.isInteger(opts.statementTimeoutMs) || opts.statementTimeoutMs < 0) {
    throw new Error(`the statement timeout must be a whole number of milliseconds (0 = none), got ${opts.statementTimeoutMs}`);
  }
  const password = decodeURIComponent(url.password);
  const sql = postgres({
    host: url.hostname.replace(/^\[(.*)\]$/, "$1"),
    port: url.port ? Number(url.port) : 5432,
    database: databaseName(url),
    user: decodeURIComponent(url.username),
    // A function, so that an empty password is not replaced by PGPASSWORD.
    pass: () => password,
    ssl: tlsOption(url),
    max: opts.poolSize,
    connect_timeout: Math.max(1, Math.ceil((opts.connectTimeoutMs ?? 10_000) / 1000)),
    idle_timeout: 0,
    // postgres.js's own defaults, given so that no PG* variable replaces them: connections are recycled after 30–60
    // minutes (random per pool, so that instances do not reconnect together); a lost connection is retried with a
    // growing pause.
    max_lifetime: Math.round(60 * (30 + Math.random() * 30)),
    backoff: (retries: number) => (0.5 + Math.random() / 2) * Math.min(3 ** retries / 100, 20),
    keep_alive: 60,
    fetch_types: true,
    debug: false,
    publications: "alltables",
    prepare: true,
    // Options postgres.js reads but does not declare in its types.
    ...({ max_pipeline: 100, sslnegotiation: null } as object),
    types: TYPES,
    onnotice: opts.onNotice ?? (() => {}),
    connection: {
      application_name: opts.applicationName ?? url.searchParams.get("application_name") ?? "clientcove",
      statement_timeout: opts.statementTimeoutMs,
    },
  }) as unknown as Sql;
  return {
    sql,
    close: () => sql.end({ timeout: 5 }),
  };
}

/**
 * For /readyz: true when the server answers `SELECT 1` within `timeoutMs`, false otherwise (unreachable, refused,
 * the pool ended, too slow). Never throws.
 */
export async function checkPostgres(sql: Sql, timeoutMs = 2000): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(resolve, timeoutMs, false);
  });
  try {
    const answer = Promise.resolve()
      .then(() => sql`SELECT 1 AS one`)
      .then(
        (rows) => rows[0]?.one === 1,
        () => false,
      );
    return await Promise.race([answer, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
