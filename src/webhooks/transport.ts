// One webhook attempt over the wire: node:http(s) pinned to the SSRF-checked address, a hard timeout, no redirects, 1 KiB of response kept.
import http from "node:http";
import https from "node:https";
import { isIP } from "node:net";
import { AddressRefusedError, hostOf, pinnedLookup, ResolveError, resolveChecked, type AddressGuard, type Resolver } from "./ssrf";
import { parseRetryAfter } from "./retry-policy";
import { scrubSecrets, sendableUrl } from "./url";

/** Response bytes kept for the delivery log; the rest is dropped unread. */
export const RESPONSE_BODY_LIMIT = 1024;

export interface AttemptResult {
  /** The HTTP status, or null when no response arrived. */
  statusCode: number | null;
  /** Why the attempt failed when the status alone does not say (timeout, refused, DNS, redirect); null otherwise. */
  error: string | null;
  responseBody: string | null;
  durationMs: number;
  /** Retry-After of a 429 or 503, in ms. */
  retryAfterMs: number | null;
  /** True when the attempt was cut short by shutdown: it must not be recorded. */
  aborted: boolean;
}

export interface TransportOptions {
  timeoutMs: number;
  guard: AddressGuard;
  resolve: Resolver;
  /** Extra trusted CA certificates (PEM); for receivers with a private CA. */
  ca?: string;
  /** Aborting drops the attempt (shutdown). */
  signal?: AbortSignal;
  /** Keep-alive pools (see createAgents); without them every attempt opens and closes its own connection. */
  agents?: Agents;
}

export interface Agents {
  http: http.Agent;
  https: https.Agent;
  destroy(): void;
}

/** Idle kept-alive connections close after this; shorter than common server keep-alive timeouts (Node's is 5 s). */
const KEEP_ALIVE_IDLE_MS = 2000;

/**
 * Keep-alive connection pools for the dispatcher: reusing a connection saves a TCP (and TLS) handshake per
 * delivery. Concurrency is bounded by the dispatcher, not here; idle connections close on their own, so an
 * idle server keeps none open.
 */
export function createAgents(maxFreePerHost: number): Agents {
  const opts = { keepAlive: true, maxFreeSockets: maxFreePerHost, timeout: KEEP_ALIVE_IDLE_MS };
  const a = { http: new http.Agent(opts), https: new https.Agent(opts) };
  return {
    ...a,
    destroy: () => {
      a.http.destroy();
      a.https.destroy();
    },
  };
}

class AttemptTimeout extends Error {
  override name = "AttemptTimeout";
}
class AttemptAborted extends Error {
  override name = "AttemptAborted";
}

export function isSuccess(status: number | null): boolean {
  return status !== null && status >= 200 && status < 300;
}

function describeError(err: unknown, timeoutMs: number): string {
  if (err instanceof AttemptTimeout) return `timed out after ${timeoutMs} ms`;
  if (err instanceof AddressRefusedError) return `refused: ${err.message}`;
  if (err instanceof ResolveError) return `DNS: ${err.message}`;
  const e = err as NodeJS.ErrnoException;
  switch (e?.code) {
    case "ECONNREFUSED":
      return "connection refused";
    case "ECONNRESET":
      return "connection reset by the receiver";
    case "EHOSTUNREACH":
    case "ENETUNREACH":
      return "host unreachable";
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return `DNS: could not resolve host (${e.code})`;
  }
  const message = e instanceof Error ? e.message : String(e);
  return e?.code ? `${message} (${e.code})` : message;
}

/** Describes a non-2xx status where it needs words; redirects are never followed. */
function describeStatus(status: number, location: string | undefined): string | null {
  if (status >= 300 && status < 400) return `redirect not followed (HTTP ${status}${location ? ` to ${location.slice(0, 200)}` : ""})`;
  return null;
}

/**
 * POSTs `body` to `url` once. Never rejects, whatever throws inside (a URL stored before the strict
 * check, a node:http surprise): every outcome is an AttemptResult, so the caller's slot always comes
 * back. The whole attempt (DNS, connect, TLS, response headers) is bounded by `timeoutMs`; a 2xx whose
 * body is still trickling when time runs out counts as delivered. Error texts never carry the URL's credentials.
 */
export async function sendAttempt(req: { url: string; body: string; headers: Record<string, string> }, opts: TransportOptions): Promise<AttemptResult> {
  const start = performance.now();
  try {
    const result = await attempt(req, opts, start);
    return result.error === null ? result : { ...result, error: scrubSecrets(result.error, req.url) };
  } catch (err) {
    const message = scrubSecrets(err instanceof Error ? `${err.name}: ${err.message}` : String(err), req.url);
    return {
      statusCode: null,
      error: `could not send: ${message}`,
      responseBody: null,
      durationMs: Math.round(performance.now() - start),
      retryAfterMs: null,
      aborted: false,
    };
  }
}

async function attempt(req: { url: string; body: string; headers: Record<string, string> }, opts: TransportOptions, start: number): Promise<AttemptResult> {
  const elapsed = () => Math.round(performance.now() - start);
  const fail = (error: string, aborted = false): AttemptResult => ({
    statusCode: null,
    error,
    responseBody: null,
    durationMs: elapsed(),
    retryAfterMs: null,
    aborted,
  });

  // A URL stored before registration checked strictly may not be sendable: that is a failed attempt, not a throw.
  const checked = sendableUrl(req.url);
  if (!checked.ok) return fail(`invalid URL: it ${checked.message.replace(/\.$/, "")}; PATCH the webhook with a valid url`);
  const url = checked.url;
  const host = hostOf(url);
  const literal = isIP(host) !== 0;
  if (literal) {
    // node:http skips `lookup` for IP literals, so they are checked here.
    try {
      await resolveChecked(host, opts.guard, opts.resolve);
    } catch (err) {
      return fail(describeError(err, opts.timeoutMs));
    }
  }
  if (opts.signal?.aborted) return fail("aborted by shutdown", true);

  const deadline = performance.now() + opts.timeoutMs;
  const first = await sendOnce(url, host, literal, req, opts, deadline, true);
  // A kept-alive connection the receiver closed while idle fails before any response; that is not the
  // receiver's answer, so try once more on a fresh connection (receivers de-duplicate by webhook-id anyway).
  const result = first.staleSocket && performance.now() < deadline ? await sendOnce(url, host, literal, req, opts, deadline, false) : first;
  return { ...result.result, durationMs: elapsed() };
}

/** One request over node:http(s); `pooled` picks the keep-alive agent (if any) over a fresh connection. */
function sendOnce(
  url: URL,
  host: string,
  literal: boolean,
  req: { body: string; headers: Record<string, string> },
  opts: TransportOptions,
  deadline: number,
  pooled: boolean,
): Promise<{ result: Omit<AttemptResult, "durationMs">; staleSocket: boolean }> {
  return new Promise((resolve) => {
    let settled = false;
    const finish = (r: Omit<AttemptResult, "durationMs">, staleSocket = false) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      opts.signal?.removeEventListener("abort", onAbort);
      resolve({ result: r, staleSocket });
    };
    const https_ = url.protocol === "https:";
    const agent = pooled && opts.agents ? (https_ ? opts.agents.https : opts.agents.http) : false;
    const request = (https_ ? https : http).request({
      protocol: url.protocol,
      hostname: host,
      port: url.port || undefined,
      path: `${url.pathname}${url.search}`,
      method: "POST",
      headers: { ...req.headers, "content-length": String(Buffer.byteLength(req.body)), ...(agent ? {} : { connection: "close" }) },
      agent,
      auth: url.username ? `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}` : undefined,
      // A new connection resolves, checks every address and connects to the checked one. A pooled
      // connection was checked when it was opened and is only ever reused for the same host name.
      lookup: literal ? undefined : (pinnedLookup(opts.guard, opts.resolve) as never),
      ca: opts.ca,
    });
    const timer = setTimeout(() => request.destroy(new AttemptTimeout()), Math.max(0, deadline - performance.now()));
    const onAbort = () => request.destroy(new AttemptAborted());
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    if (opts.signal?.aborted) onAbort();

    let response: http.IncomingMessage | null = null;
    const chunks: Buffer[] = [];
    let kept = 0;
    // Once the status line is in, the outcome is known: whatever ends the response (its end, our 1 KiB cap,
    // the timeout) records that status with the body read so far. The rest of a long body is not read: the
    // connection is dropped instead of drained.
    const finishWithResponse = (res: http.IncomingMessage) => {
      if (settled) return;
      const complete = res.complete;
      if (!complete) res.destroy();
      const status = res.statusCode ?? 0;
      // U+0000 becomes U+FFFD: PostgreSQL cannot store it in text, and both engines must keep the same body.
      const body = Buffer.concat(chunks).subarray(0, RESPONSE_BODY_LIMIT).toString("utf8").replaceAll("\u0000", "\uFFFD");
      const retryAfter = status === 429 || status === 503 ? parseRetryAfter(res.headers["retry-after"], Date.now()) : null;
      finish({ statusCode: status, error: describeStatus(status, res.headers.location), responseBody: body, retryAfterMs: retryAfter, aborted: false });
    };
    request.on("response", (res) => {
      response = res;
      const done = () => finishWithResponse(res);
      res.on("data", (chunk: Buffer) => {
        if (kept < RESPONSE_BODY_LIMIT) {
          chunks.push(chunk);
          kept += chunk.length;
        }
        if (kept >= RESPONSE_BODY_LIMIT && !res.complete) done();
      });
      res.on("end", done);
      res.on("close", done);
      res.on("error", done);
    });
    request.on("error", (err) => {
      const code = (err as NodeJS.ErrnoException).code;
      if (err instanceof AttemptAborted) finish({ statusCode: null, error: "aborted by shutdown", responseBody: null, retryAfterMs: null, aborted: true });
      else if (response) finishWithResponse(response);
      else {
        const stale = request.reusedSocket && (code === "ECONNRESET" || code === "EPIPE" || code === "ECONNABORTED");
        finish({ statusCode: null, error: describeError(err, opts.timeoutMs), responseBody: null, retryAfterMs: null, aborted: false }, stale);
      }
    });
    request.end(req.body);
  });
}
