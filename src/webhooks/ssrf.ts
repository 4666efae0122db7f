// SSRF guard for webhook targets: classifies IP addresses, applies the allow-private/allow-CIDR policy, and pins connections to checked addresses.
import { lookup as dnsLookup } from "node:dns";
import { isIP } from "node:net";

/** What an address is, as far as the guard cares. */
export type AddressKind = "public" | "loopback" | "private" | "link-local" | "metadata" | "multicast" | "unspecified" | "documentation" | "reserved";

const KIND_TEXT: Record<AddressKind, string> = {
  public: "a public address",
  loopback: "a loopback address",
  private: "a private-network address",
  "link-local": "a link-local address",
  metadata: "a cloud metadata address",
  multicast: "a multicast address",
  unspecified: "an unspecified address",
  documentation: "a documentation (example) address",
  reserved: "a reserved address",
};

interface Range {
  family: 4 | 6;
  base: bigint;
  bits: number;
}

/** A parsed CIDR; an IPv4 CIDR also matches the IPv4-mapped IPv6 form of its addresses. */
export type Cidr = Range;

function parseIpv4(ip: string): bigint | null {
  const parts = ip.split(".");
  if (parts.length !== 4) return null;
  let n = 0n;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) return null;
    n = (n << 8n) | BigInt(Number(p));
  }
  return n;
}

function parseIpv6(input: string): bigint | null {
  let ip = input.replace(/^\[|\]$/g, "");
  const zone = ip.indexOf("%");
  if (zone >= 0) ip = ip.slice(0, zone);
  // A trailing dotted quad (::ffff:1.2.3.4) becomes two hex groups.
  const quad = /(\d{1,3}(?:\.\d{1,3}){3})$/.exec(ip);
  if (quad) {
    const v4 = parseIpv4(quad[1]!);
    if (v4 === null) return null;
    ip = ip.slice(0, -quad[1]!.length) + `${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`;
  }
  const halves = ip.split("::");
  if (halves.length > 2) return null;
  const head = halves[0] ? halves[0].split(":") : [];
  const tail = halves.length === 2 && halves[1] ? halves[1].split(":") : [];
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return null;
  const groups = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill("0"), ...tail];
  let n = 0n;
  for (const g of groups) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
    n = (n << 16n) | BigInt(parseInt(g, 16));
  }
  return n;
}

function parseAddress(ip: string): { family: 4 | 6; value: bigint } | null {
  const bare = ip.replace(/^\[|\]$/g, "");
  const family = isIP(bare.split("%")[0]!);
  if (family === 4) {
    const v = parseIpv4(bare);
    return v === null ? null : { family: 4, value: v };
  }
  if (family === 6) {
    const v = parseIpv6(bare);
    return v === null ? null : { family: 6, value: v };
  }
  return null;
}

function range(cidr: string): Range {
  const [addr, bitsText] = cidr.split("/");
  const parsed = parseAddress(addr!);
  const bits = Number(bitsText);
  if (!parsed || !Number.isInteger(bits) || bits < 0 || bits > (parsed.family === 4 ? 32 : 128)) throw new Error(`not a CIDR: ${cidr}`);
  return { family: parsed.family, base: parsed.value, bits };
}

function inRange(family: 4 | 6, value: bigint, r: Range): boolean {
  if (family !== r.family) return false;
  const width = family === 4 ? 32n : 128n;
  const shift = width - BigInt(r.bits);
  return value >> shift === r.base >> shift;
}

/** Parses `10.0.0.0/8` or `fd00::/8`; throws on anything else. */
export function parseCidr(cidr: string): Cidr {
  return range(cidr.trim());
}

// Most specific first: the first match decides. Together these cover every entry of the IANA IPv4 and IPv6
// Special-Purpose Address Registries, and (for IPv6) everything outside 2000::/3, which IANA has not allocated.
const V4_RANGES: [string, AddressKind][] = [
  ["169.254.169.254/32", "metadata"], // AWS, GCP, Azure, OCI, DigitalOcean...
  ["100.100.100.200/32", "metadata"], // Alibaba Cloud (inside the CGNAT range)
  ["0.0.0.0/8", "unspecified"], // "this network"
  ["10.0.0.0/8", "private"],
  ["100.64.0.0/10", "private"], // shared address space (CGNAT)
  ["127.0.0.0/8", "loopback"],
  ["169.254.0.0/16", "link-local"],
  ["172.16.0.0/12", "private"],
  ["192.0.0.0/24", "reserved"], // IETF protocol assignments (DS-Lite, NAT64 discovery, PCP/TURN anycast)
  ["192.0.2.0/24", "documentation"], // TEST-NET-1
  ["192.31.196.0/24", "reserved"], // AS112-v4
  ["192.52.193.0/24", "reserved"], // AMT
  ["192.88.99.0/24", "reserved"], // deprecated 6to4 relay anycast
  ["192.168.0.0/16", "private"],
  ["192.175.48.0/24", "reserved"], // direct delegation AS112
  ["198.18.0.0/15", "private"], // benchmarking
  ["198.51.100.0/24", "documentation"], // TEST-NET-2
  ["203.0.113.0/24", "documentation"], // TEST-NET-3
  ["224.0.0.0/4", "multicast"],
  ["240.0.0.0/4", "reserved"], // future use, and 255.255.255.255 (limited broadcast)
].map(([c, k]) => [c, k] as [string, AddressKind]);

const V6_RANGES: [string, AddressKind][] = [
  ["::/128", "unspecified"],
  ["::1/128", "loopback"],
  ["fd00:ec2::254/128", "metadata"], // AWS over IPv6
  ["64:ff9b:1::/48", "private"], // local-use IPv4/IPv6 translation: where the IPv4 sits depends on the local prefix
  ["100::/64", "reserved"], // discard-only
  ["100:0:0:1::/64", "reserved"], // dummy prefix
  ["2001::/23", "reserved"], // IETF protocol assignments: TEREDO, benchmarking (2001:2::/48), AMT, AS112, ORCHID(v2), drone DETs
  ["2001:db8::/32", "documentation"],
  ["2620:4f:8000::/48", "reserved"], // direct delegation AS112
  ["3fff::/20", "documentation"],
  ["5f00::/16", "reserved"], // SRv6 SIDs
  ["fc00::/7", "private"], // unique local
  ["fec0::/10", "private"], // site-local (deprecated; the old form of unique local)
  ["fe80::/10", "link-local"],
  ["ff00::/8", "multicast"],
  ["2000::/3", "public"], // global unicast; anything else is not allocated
  ["::/0", "reserved"], // including ::/96 (deprecated IPv4-compatible) and the rest of ::/8
].map(([c, k]) => [c, k] as [string, AddressKind]);

const V4_TABLE = V4_RANGES.map(([c, k]) => [range(c), k] as const);
const V6_TABLE = V6_RANGES.map(([c, k]) => [range(c), k] as const);
// IPv6 forms that carry an IPv4 address: the embedded address decides.
const MAPPED = range("::ffff:0:0/96");
const NAT64 = range("64:ff9b::/96");
const SIX_TO_FOUR = range("2002::/16");

function classifyParsed(family: 4 | 6, value: bigint): AddressKind {
  if (family === 6) {
    if (inRange(6, value, MAPPED) || inRange(6, value, NAT64)) return classifyParsed(4, value & 0xffffffffn);
    if (inRange(6, value, SIX_TO_FOUR)) return classifyParsed(4, (value >> 80n) & 0xffffffffn);
    for (const [r, kind] of V6_TABLE) if (inRange(6, value, r)) return kind;
    return "public";
  }
  for (const [r, kind] of V4_TABLE) if (inRange(4, value, r)) return kind;
  return "public";
}

/** The kind of an IP address literal; "reserved" for anything that does not parse. */
export function classifyAddress(ip: string): AddressKind {
  const parsed = parseAddress(ip);
  return parsed ? classifyParsed(parsed.family, parsed.value) : "reserved";
}

export type Verdict = { allowed: true } | { allowed: false; kind: AddressKind; reason: string };

export interface AddressGuard {
  check(ip: string): Verdict;
}

/**
 * The policy: public addresses are always allowed; `allowPrivate` opens loopback, private and link-local
 * ranges (never cloud metadata, multicast, unspecified, documentation or reserved ones); an address inside one of
 * `allowCidrs` is allowed whatever its kind (the admin named it explicitly).
 */
export function createAddressGuard(opts: { allowPrivate: boolean; allowCidrs: readonly string[] }): AddressGuard {
  const cidrs = opts.allowCidrs.map(parseCidr);
  return {
    check(ip) {
      const parsed = parseAddress(ip);
      if (!parsed) return { allowed: false, kind: "reserved", reason: `${ip} is not an IP address` };
      const kind = classifyParsed(parsed.family, parsed.value);
      if (kind === "public") return { allowed: true };
      const mappedV4 = parsed.family === 6 && inRange(6, parsed.value, MAPPED) ? parsed.value & 0xffffffffn : null;
      for (const c of cidrs) {
        if (inRange(parsed.family, parsed.value, c) || (mappedV4 !== null && inRange(4, mappedV4, c))) return { allowed: true };
      }
      if (opts.allowPrivate && OPENED_BY_ALLOW_PRIVATE.has(kind)) return { allowed: true };
      return { allowed: false, kind, reason: `${ip} is ${KIND_TEXT[kind]}` };
    },
  };
}

export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

/** DNS resolution as the dispatcher and registration see it; tests may substitute one (DNS is the outside world). */
export type Resolver = (hostname: string) => Promise<ResolvedAddress[]>;

export const systemResolver: Resolver = (hostname) =>
  new Promise((resolve, reject) => {
    dnsLookup(hostname, { all: true, verbatim: true }, (err, addresses) => {
      if (err) reject(err);
      else resolve(addresses.map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 })));
    });
  });

/** A target refused by the guard: no connection was made. */
export class AddressRefusedError extends Error {
  override name = "AddressRefusedError";
  readonly code = "EADDRREFUSED";
  constructor(
    message: string,
    /** What the refused address is; decides which setting could allow it (see allowHint). */
    readonly kind: AddressKind = "reserved",
  ) {
    super(message);
  }
}

/** Kinds that --webhook-allow-private opens. */
export const OPENED_BY_ALLOW_PRIVATE: ReadonlySet<AddressKind> = new Set<AddressKind>(["loopback", "private", "link-local"]);

/** The sentence that tells an admin how to allow a refused address of this kind. */
export function allowHint(kind: AddressKind): string {
  const cidrs = "--webhook-allow-cidrs (CLIENTCOVE_WEBHOOK_ALLOW_CIDRS, e.g. 10.20.0.0/16)";
  return OPENED_BY_ALLOW_PRIVATE.has(kind)
    ? `To allow it, start the server with --webhook-allow-private (CLIENTCOVE_WEBHOOK_ALLOW_PRIVATE=true) or list its range in ${cidrs}.`
    : `Only listing its range in ${cidrs} allows it; --webhook-allow-private does not.`;
}

/** DNS gave no usable answer for the host. */
export class ResolveError extends Error {
  override name = "ResolveError";
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

/** The URL's host without IPv6 brackets. */
export function hostOf(url: URL): string {
  return url.hostname.replace(/^\[|\]$/g, "");
}

/**
 * Resolves `host` (or takes it as an IP literal) and checks EVERY address against the guard; returns the
 * address to connect to. One refused address refuses the host: an attacker controls which answer a
 * later resolution would pick, so a mixed answer is not trusted.
 */
export async function resolveChecked(host: string, guard: AddressGuard, resolve: Resolver): Promise<ResolvedAddress> {
  const literal = isIP(host);
  let addresses: ResolvedAddress[];
  if (literal) {
    addresses = [{ address: host, family: literal === 6 ? 6 : 4 }];
  } else {
    try {
      addresses = await resolve(host);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? "EDNS";
      throw new ResolveError(`could not resolve ${host} (${code})`, code);
    }
    if (addresses.length === 0) throw new ResolveError(`could not resolve ${host} (no addresses)`, "ENOTFOUND");
  }
  for (const a of addresses) {
    const verdict = guard.check(a.address);
    if (!verdict.allowed) {
      const what = `${a.address} (${KIND_TEXT[verdict.kind]})`;
      throw new AddressRefusedError(
        literal ? `${what} is not a target webhooks may use` : `${host} resolves to ${what}, not a target webhooks may use`,
        verdict.kind,
      );
    }
  }
  return addresses[0]!;
}

type LookupCallback = (err: Error | null, address?: string | { address: string; family: number }[], family?: number) => void;

/**
 * A `lookup` for node:http/node:https that resolves, checks every address, and hands the socket the
 * checked address, so the connection goes exactly where the check said (no DNS-rebinding window).
 */
export function pinnedLookup(guard: AddressGuard, resolve: Resolver) {
  return (hostname: string, options: { all?: boolean } | number | undefined, callback: LookupCallback): void => {
    const all = typeof options === "object" && options !== null && options.all === true;
    resolveChecked(hostname, guard, resolve).then(
      (a) => (all ? callback(null, [{ address: a.address, family: a.family }]) : callback(null, a.address, a.family)),
      (err) => callback(err as Error),
    );
  };
}
