// Per-request bookkeeping shared by the hooks: request id and start time, keyed by the Request object.
import type { ClientOrigin } from "./client-address";

const SANE_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export interface RequestInfo {
  id: string;
  start: number;
  /** The status of an error response (set by the error handler, which answers with its own Response). */
  status?: number;
  /** Client address and scheme (from X-Forwarded-* only with --trust-proxy). */
  client?: ClientOrigin;
}

const infos = new WeakMap<Request, RequestInfo>();

/** Echoes a sane incoming X-Request-Id, else makes one. */
export function beginRequest(request: Request): RequestInfo {
  const incoming = request.headers.get("x-request-id");
  const info = { id: incoming && SANE_ID.test(incoming) ? incoming : crypto.randomUUID(), start: performance.now() };
  infos.set(request, info);
  return info;
}

export function requestInfo(request: Request): RequestInfo {
  return infos.get(request) ?? beginRequest(request);
}
