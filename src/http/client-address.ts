// The client's address and scheme: from the socket, or from X-Forwarded-* only when a trusted proxy sets them.
export interface ClientOrigin {
  ip: string | undefined;
  scheme: "http" | "https";
}

/** A dual-stack (`::`) listener sees IPv4 clients as `::ffff:a.b.c.d`; logs and per-address limits use `a.b.c.d`. */
function unmapIpv4(address: string | undefined): string | undefined {
  return address && /^::ffff:\d{1,3}(\.\d{1,3}){3}$/i.test(address) ? address.slice(7) : address;
}

/**
 * With `trustProxy` (Client Cove behind one reverse proxy), the address is the LAST X-Forwarded-For hop,
 * the one the proxy appended (earlier hops come from the client and can be forged), and the scheme is
 * X-Forwarded-Proto. Without it those headers are ignored: any client can send them.
 */
export function clientOrigin(request: Request, socketAddress: string | undefined, trustProxy: boolean): ClientOrigin {
  const own: ClientOrigin = { ip: unmapIpv4(socketAddress), scheme: request.url.startsWith("https:") ? "https" : "http" };
  if (!trustProxy) return own;
  const hops = (request.headers.get("x-forwarded-for") ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  const proto = request.headers.get("x-forwarded-proto")?.split(",")[0]?.trim().toLowerCase();
  return {
    ip: hops.at(-1) ?? own.ip,
    scheme: proto === "https" || proto === "http" ? proto : own.scheme,
  };
}
