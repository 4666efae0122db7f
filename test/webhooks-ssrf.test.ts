// SSRF guard: refusals at registration and at delivery, allow-private and CIDR allowlists, and connections pinned to the checked address (HTTP and TLS).
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createDispatcher, type Dispatcher } from "../src/webhooks/dispatcher";
import { createWebhook } from "../src/webhooks/service";
import { classifyAddress, createAddressGuard, systemResolver, type Resolver } from "../src/webhooks/ssrf";
import { dispatcherDeps, observeDispatch, until, webhookEnv, type WebhookEnv, receiverPool } from "./webhooks-fixtures";

let w: WebhookEnv | undefined;
let extra: Dispatcher | undefined;
const receivers = receiverPool();
const receiver = receivers.start;

afterEach(async () => {
  await extra?.stop(100);
  extra = undefined;
  await w?.close();
  w = undefined;
  receivers.stopAll();
});

/** DNS as an attacker might run it: fixed answers for test names, the system resolver for the rest. */
function fakeDns(answers: Record<string, string[]>): Resolver {
  return async (host) => {
    const list = answers[host];
    if (!list) return systemResolver(host);
    return list.map((address) => ({ address, family: address.includes(":") ? 6 : 4 }));
  };
}

async function firstAttempt(env: WebhookEnv, hookId: string) {
  return until(async () => {
    const row = (await env.env.db.get(
      "SELECT a.status_code, a.error FROM webhook_attempts a JOIN webhook_deliveries d ON d.id = a.delivery_id WHERE d.webhook_id = ? ORDER BY a.id LIMIT 1",
      hookId,
    )) as { status_code: number | null; error: string | null } | null;
    return row;
  }, "an attempt");
}

describe("address classification", () => {
  test.each([
    ["127.0.0.1", "loopback"],
    ["127.255.0.9", "loopback"],
    ["::1", "loopback"],
    ["::ffff:127.0.0.1", "loopback"],
    ["::ffff:7f00:1", "loopback"],
    ["64:ff9b::a00:1", "private"],
    ["2002:c0a8:0101::1", "private"],
    ["10.0.0.1", "private"],
    ["172.16.5.4", "private"],
    ["172.32.0.1", "public"],
    ["192.168.1.1", "private"],
    ["100.64.0.1", "private"],
    ["fd12:3456::1", "private"],
    ["169.254.10.10", "link-local"],
    ["fe80::1", "link-local"],
    ["169.254.169.254", "metadata"],
    ["fd00:ec2::254", "metadata"],
    ["0.0.0.0", "unspecified"],
    ["::", "unspecified"],
    ["224.0.0.1", "multicast"],
    ["ff02::1", "multicast"],
    ["255.255.255.255", "reserved"],
    ["8.8.8.8", "public"],
    ["93.184.215.14", "public"],
    ["2606:4700::1111", "public"],
    ["not-an-ip", "reserved"],
  ])("%s is %s", (ip, kind) => {
    expect(classifyAddress(ip)).toBe(kind as never);
  });

  test("allow-private opens loopback/private/link-local but never metadata, multicast or unspecified; a CIDR opens exactly its range", () => {
    const priv = createAddressGuard({ allowPrivate: true, allowCidrs: [] });
    expect(priv.check("127.0.0.1").allowed).toBe(true);
    expect(priv.check("10.1.1.1").allowed).toBe(true);
    expect(priv.check("fe80::1").allowed).toBe(true);
    expect(priv.check("169.254.169.254").allowed).toBe(false);
    expect(priv.check("0.0.0.0").allowed).toBe(false);
    expect(priv.check("224.0.0.1").allowed).toBe(false);
    const cidr = createAddressGuard({ allowPrivate: false, allowCidrs: ["10.20.0.0/16", "fd00:1::/32", "169.254.169.254/32"] });
    expect(cidr.check("10.20.3.4").allowed).toBe(true);
    expect(cidr.check("::ffff:10.20.3.4").allowed).toBe(true);
    expect(cidr.check("10.21.0.1").allowed).toBe(false);
    expect(cidr.check("fd00:1:2::3").allowed).toBe(true);
    expect(cidr.check("fd00:2::3").allowed).toBe(false);
    expect(cidr.check("169.254.169.254").allowed).toBe(true);
    expect(cidr.check("127.0.0.1")).toEqual({ allowed: false, kind: "loopback", reason: "127.0.0.1 is a loopback address" });
  });
});

describe("registration", () => {
  test.each([
    ["http://127.0.0.1:9/hook", "127.0.0.1 (a loopback address) is not a target"],
    ["http://localhost:9/hook", "localhost resolves to 127.0.0.1 (a loopback address), not a target webhooks may use"],
    ["http://2130706433/hook", "127.0.0.1 (a loopback address)"],
    ["http://0x7f.1/hook", "127.0.0.1 (a loopback address)"],
    ["http://[::1]/hook", "::1 (a loopback address)"],
    ["http://[::ffff:127.0.0.1]/hook", "(a loopback address)"],
    ["http://169.254.169.254/latest/meta-data/", "169.254.169.254 (a cloud metadata address)"],
    ["http://10.0.0.8/hook", "10.0.0.8 (a private-network address)"],
    ["http://192.168.1.20/hook", "192.168.1.20 (a private-network address)"],
    ["http://[fd12::1]/hook", "fd12::1 (a private-network address)"],
    ["http://169.254.1.1/hook", "169.254.1.1 (a link-local address)"],
    ["http://0.0.0.0:8080/hook", "0.0.0.0 (an unspecified address)"],
    ["http://224.0.0.1/hook", "224.0.0.1 (a multicast address)"],
  ])("by default %s is refused with a 400 naming url (%s)", async (url, reason) => {
    w = await webhookEnv({ config: { webhookAllowPrivate: false }, start: false });
    const res = await w.api("POST", "/v1/webhooks", { url, events: ["*"] });
    expect(res.status).toBe(400);
    expect(res.body.error).toBe("validation_error");
    expect(res.body.details).toEqual([{ field: "url", message: expect.stringContaining(reason) }]);
    expect(res.body.details[0].message).toStartWith("is not allowed: ");
  });

  test("bad URLs are 400s; a public address is accepted without any DNS", async () => {
    w = await webhookEnv({ config: { webhookAllowPrivate: false }, start: false });
    for (const url of ["ftp://93.184.215.14/x", "not a url", "/relative", "http://93.184.215.14/x#frag"]) {
      const res = await w.api("POST", "/v1/webhooks", { url, events: ["*"] });
      expect(res.status, url).toBe(400);
      expect(res.body.details[0].field).toBe("url");
    }
    expect((await w.api("POST", "/v1/webhooks", { url: "https://93.184.215.14/hooks", events: ["*"] })).status).toBe(201);
    const patched = await w.api("PATCH", `/v1/webhooks/${(await w.api("GET", "/v1/webhooks")).body.data[0].id}`, { url: "http://127.0.0.1/x" });
    expect(patched.status).toBe(400);
    expect(patched.body.details[0].field).toBe("url");
  });

  test("allow-private admits loopback and private targets but still not cloud metadata; a CIDR allowlist admits exactly its ranges", async () => {
    w = await webhookEnv({ config: { webhookAllowPrivate: true }, start: false });
    expect((await w.api("POST", "/v1/webhooks", { url: "http://127.0.0.1:9/x", events: ["*"] })).status).toBe(201);
    expect((await w.api("POST", "/v1/webhooks", { url: "http://localhost:9/x", events: ["*"] })).status).toBe(201);
    expect((await w.api("POST", "/v1/webhooks", { url: "http://10.9.8.7/x", events: ["*"] })).status).toBe(201);
    expect((await w.api("POST", "/v1/webhooks", { url: "http://169.254.169.254/x", events: ["*"] })).status).toBe(400);
    await w.close();

    w = await webhookEnv({ config: { webhookAllowPrivate: false, webhookAllowCidrs: ["127.0.0.0/8"] }, start: false });
    expect((await w.api("POST", "/v1/webhooks", { url: "http://127.0.0.1:9/x", events: ["*"] })).status).toBe(201);
    expect((await w.api("POST", "/v1/webhooks", { url: "http://localhost:9/x", events: ["*"] })).status).toBe(201);
    expect((await w.api("POST", "/v1/webhooks", { url: "http://10.9.8.7/x", events: ["*"] })).status).toBe(400);
  });

  test("a host whose DNS answer contains any refused address is refused", async () => {
    w = await webhookEnv({ config: { webhookAllowPrivate: false }, start: false });
    const deps = { ...w.env.deps, resolve: fakeDns({ "mixed.test": ["93.184.215.14", "10.0.0.1"], "fine.test": ["93.184.215.14"] }) };
    await expect(createWebhook(deps, w.orgId, { url: "http://mixed.test/x", events: ["*"] })).rejects.toThrow(
      "The request body is not valid: url is not allowed: mixed.test resolves to 10.0.0.1 (a private-network address), not a target webhooks may use.",
    );
    expect((await createWebhook(deps, w.orgId, { url: "http://fine.test/x", events: ["*"] })).url).toBe("http://fine.test/x");
    await expect(createWebhook(deps, w.orgId, { url: "http://nothing-here.invalid/x", events: ["*"] })).rejects.toThrow(
      "is not reachable: could not resolve nothing-here.invalid",
    );
  });
});

describe("delivery time", () => {
  test("addresses are checked again on every attempt: a target refused now is a logged failed attempt and no request is made", async () => {
    // Registered while the server allowed private targets; the dispatcher now runs without that.
    w = await webhookEnv({ config: { webhookAllowPrivate: true }, start: false });
    const r = receiver();
    const hook = await w.register(r.url);
    extra = createDispatcher({
      ...dispatcherDeps(w.env),
      config: { ...w.env.config, webhookAllowPrivate: false, webhookRetryBaseMs: 60_000 },
      observe: observeDispatch,
    });
    extra.start();
    await w.createTicket();
    const attempt = await firstAttempt(w, hook.id);
    expect(attempt).toEqual({ status_code: null, error: "refused: 127.0.0.1 (a loopback address) is not a target webhooks may use" });
    expect(r.requests).toHaveLength(0);
  });

  test("DNS rebinding: a host that resolved to a public address at registration and to loopback now is refused", async () => {
    w = await webhookEnv({ config: { webhookAllowPrivate: false }, start: false });
    const r = receiver();
    const registered = await createWebhook({ ...w.env.deps, resolve: fakeDns({ "rebind.test": ["93.184.215.14"] }) }, w.orgId, {
      url: `http://rebind.test:${r.port}/hook`,
      events: ["*"],
    });
    extra = createDispatcher({
      ...dispatcherDeps(w.env),
      config: { ...w.env.config, webhookRetryBaseMs: 60_000 },
      observe: observeDispatch,
      resolve: fakeDns({ "rebind.test": ["93.184.215.14", "127.0.0.1"] }),
    });
    extra.start();
    await w.createTicket();
    const attempt = await firstAttempt(w, registered.id);
    expect(attempt.error).toBe("refused: rebind.test resolves to 127.0.0.1 (a loopback address), not a target webhooks may use");
    expect(r.requests).toHaveLength(0);
  });

  test("the connection goes to the address that was checked: a name only our resolver knows reaches the receiver, Host header intact", async () => {
    w = await webhookEnv({ config: { webhookAllowPrivate: true }, start: false });
    const r = receiver();
    const dns = fakeDns({ "pinned.test": ["127.0.0.1"] });
    const hook = await createWebhook({ ...w.env.deps, resolve: dns }, w.orgId, {
      url: `http://pinned.test:${r.port}/hook`,
      events: ["*"],
    });
    extra = createDispatcher({
      ...dispatcherDeps(w.env),
      observe: observeDispatch,
      resolve: dns,
    });
    extra.start();
    await w.createTicket();
    await until(() => r.requests.length === 1, "the delivery");
    expect(r.requests[0]!.headers.host).toBe(`pinned.test:${r.port}`);
    expect((await firstAttempt(w, hook.id)).status_code).toBe(204);
  });
});

describe("HTTPS with a pinned address", () => {
  let dir: string;
  let cert: string;
  let key: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "cc-tls-"));
    const gen = Bun.spawnSync(
      [
        "openssl",
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        join(dir, "key.pem"),
        "-out",
        join(dir, "cert.pem"),
        "-days",
        "1",
        "-subj",
        "/CN=hooks.test",
        "-addext",
        "subjectAltName=DNS:hooks.test",
      ],
      { stderr: "pipe" },
    );
    if (gen.exitCode !== 0) throw new Error(`openssl failed: ${gen.stderr}`);
    cert = readFileSync(join(dir, "cert.pem"), "utf8");
    key = readFileSync(join(dir, "key.pem"), "utf8");
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test("TLS verifies the certificate against the URL's host name while connecting to the checked IP", async () => {
    const hits: string[] = [];
    const tls = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      tls: { cert, key },
      fetch: (req) => {
        hits.push(req.headers.get("host")!);
        return new Response(null, { status: 204 });
      },
    });
    try {
      w = await webhookEnv({ config: { webhookAllowPrivate: true, webhookRetryBaseMs: 60_000 }, start: false });
      const dns = fakeDns({ "hooks.test": ["127.0.0.1"], "impostor.test": ["127.0.0.1"] });
      const deps = { ...w.env.deps, resolve: dns };
      const good = await createWebhook(deps, w.orgId, { url: `https://hooks.test:${tls.port}/hook`, events: ["*"] });
      const wrongName = await createWebhook(deps, w.orgId, { url: `https://impostor.test:${tls.port}/hook`, events: ["*"] });
      extra = createDispatcher({
        ...dispatcherDeps(w.env),
        observe: observeDispatch,
        resolve: dns,
        ca: cert,
      });
      extra.start();
      await w.createTicket();
      expect((await firstAttempt(w, good.id)).status_code).toBe(204);
      const refused = await firstAttempt(w, wrongName.id);
      expect(refused.status_code).toBeNull();
      expect(refused.error).toContain("ERR_TLS_CERT_ALTNAME_INVALID");
      expect(hits).toEqual([`hooks.test:${tls.port}`]);
    } finally {
      tls.stop(true);
    }
  });
});

describe("every IANA special-purpose and reserved range is refused by default", () => {
  // [range, an address inside, its kind, the first address just outside (public), or "-" where the neighbour is itself special]
  const V4: [string, string, string, string][] = [
    ["0.0.0.0/8", "0.255.255.255", "unspecified", "1.0.0.0"],
    ["10.0.0.0/8", "10.255.255.255", "private", "11.0.0.0"],
    ["100.64.0.0/10", "100.64.0.0", "private", "100.63.255.255"],
    ["100.64.0.0/10 (end)", "100.127.255.255", "private", "100.128.0.0"],
    ["100.100.100.200/32 (Alibaba metadata)", "100.100.100.200", "metadata", "-"],
    ["127.0.0.0/8", "127.255.255.254", "loopback", "128.0.0.0"],
    ["169.254.0.0/16", "169.254.255.255", "link-local", "169.255.0.0"],
    ["172.16.0.0/12", "172.31.255.255", "private", "172.32.0.0"],
    ["192.0.0.0/24", "192.0.0.9", "reserved", "192.0.1.0"],
    ["192.0.0.0/24 (NAT64 discovery)", "192.0.0.170", "reserved", "191.255.255.255"],
    ["192.0.2.0/24", "192.0.2.1", "documentation", "192.0.3.0"],
    ["192.31.196.0/24", "192.31.196.1", "reserved", "192.31.197.0"],
    ["192.52.193.0/24", "192.52.193.1", "reserved", "192.52.194.0"],
    ["192.88.99.0/24", "192.88.99.1", "reserved", "192.88.100.0"],
    ["192.168.0.0/16", "192.168.255.255", "private", "192.169.0.0"],
    ["192.175.48.0/24", "192.175.48.1", "reserved", "192.175.49.0"],
    ["198.18.0.0/15", "198.19.255.255", "private", "198.20.0.0"],
    ["198.18.0.0/15 (start)", "198.18.0.0", "private", "198.17.255.255"],
    ["198.51.100.0/24", "198.51.100.7", "documentation", "198.51.101.0"],
    ["203.0.113.0/24", "203.0.113.255", "documentation", "203.0.114.0"],
    ["224.0.0.0/4", "239.255.255.255", "multicast", "223.255.255.255"],
    ["240.0.0.0/4", "240.0.0.1", "reserved", "-"],
    ["255.255.255.255/32", "255.255.255.255", "reserved", "-"],
  ];
  const V6: [string, string, string, string][] = [
    ["::/128", "::", "unspecified", "-"],
    ["::1/128", "::1", "loopback", "-"],
    ["::ffff:0:0/96 (mapped, checked as IPv4)", "::ffff:10.1.2.3", "private", "::ffff:8.8.8.8"],
    ["::ffff:0:0/96 (mapped TEST-NET)", "::ffff:192.0.2.1", "documentation", "-"],
    ["::/96 (IPv4-compatible, deprecated)", "::8.8.8.8", "reserved", "-"],
    ["64:ff9b::/96 (NAT64, checked as IPv4)", "64:ff9b::c633:6401", "documentation", "64:ff9b::808:808"],
    ["64:ff9b::/96 (NAT64 CGNAT)", "64:ff9b::100.64.0.1", "private", "-"],
    ["64:ff9b:1::/48", "64:ff9b:1::808:808", "private", "-"],
    ["100::/64", "100::1", "reserved", "-"],
    ["2001::/23", "2001:1ff:ffff::1", "reserved", "2001:200::1"],
    ["2001::/32 (TEREDO)", "2001:0:4136:e378:8000:63bf:3fff:fdd2", "reserved", "-"],
    ["2001:2::/48 (benchmarking)", "2001:2::1", "reserved", "-"],
    ["2001:20::/28 (ORCHIDv2)", "2001:20::1", "reserved", "-"],
    ["2001:db8::/32", "2001:db8:ffff::1", "documentation", "2001:db9::1"],
    ["2002::/16 (6to4, checked as IPv4)", "2002:c000:0201::1", "documentation", "2002:0808:0808::1"],
    ["2002::/16 (6to4 private)", "2002:0a00:0001::1", "private", "-"],
    ["2620:4f:8000::/48 (AS112)", "2620:4f:8000::1", "reserved", "2620:4f:8001::1"],
    ["3fff::/20", "3fff:fff::1", "documentation", "3fff:1000::1"],
    ["5f00::/16", "5f00::1", "reserved", "-"],
    ["fc00::/7", "fdff:ffff::1", "private", "-"],
    ["fec0::/10 (site-local)", "fec0::1", "private", "-"],
    ["fe80::/10", "febf::1", "link-local", "-"],
    ["ff00::/8", "ff05::2", "multicast", "-"],
    ["outside 2000::/3 (unallocated)", "4000::1", "reserved", "3fff:ffff:ffff::1"],
    ["outside 2000::/3 (unallocated, low)", "1fff::1", "reserved", "2000::1"],
  ];

  test.each([...V4, ...V6])("%s: %s is %s and refused by default; just outside: %s", (_range, inside, kind, outside) => {
    const guard = createAddressGuard({ allowPrivate: false, allowCidrs: [] });
    expect(classifyAddress(inside)).toBe(kind as never);
    expect(guard.check(inside).allowed).toBe(false);
    if (outside !== "-") {
      expect(classifyAddress(outside)).toBe("public");
      expect(guard.check(outside).allowed).toBe(true);
    }
    // allow-private opens exactly loopback, private and link-local; an explicit CIDR opens the address whatever it is.
    const priv = createAddressGuard({ allowPrivate: true, allowCidrs: [] });
    expect(priv.check(inside).allowed).toBe(["loopback", "private", "link-local"].includes(kind));
    const cidr = createAddressGuard({ allowPrivate: false, allowCidrs: [`${inside}/${inside.includes(":") ? 128 : 32}`] });
    expect(cidr.check(inside).allowed).toBe(true);
  });

  test.each([
    ["http://[fec0::1]/hook", "fec0::1 (a private-network address)"],
    ["http://192.0.2.10/hook", "192.0.2.10 (a documentation (example) address)"],
    ["http://198.18.0.1/hook", "198.18.0.1 (a private-network address)"],
    ["http://100.64.0.1/hook", "100.64.0.1 (a private-network address)"],
    ["http://240.0.0.1/hook", "240.0.0.1 (a reserved address)"],
    ["http://[2001:db8::1]/hook", "2001:db8::1 (a documentation (example) address)"],
    ["http://[64:ff9b::a00:1]/hook", "(a private-network address)"],
  ])("registration refuses %s (%s)", async (url, reason) => {
    w ??= await webhookEnv({ config: { webhookAllowPrivate: false }, start: false });
    const res = await w.api("POST", "/v1/webhooks", { url, events: ["*"] });
    expect(res.status).toBe(400);
    expect(res.body.details).toEqual([{ field: "url", message: expect.stringContaining(reason) }]);
  });
});

describe("a refusal says how to allow the address", () => {
  test("private kinds name --webhook-allow-private and --webhook-allow-cidrs with their environment variables; the others only the CIDR list", async () => {
    w = await webhookEnv({ config: { webhookAllowPrivate: false }, start: false });
    const priv = await w.api("POST", "/v1/webhooks", { url: "http://10.0.0.8/hook", events: ["*"] });
    expect(priv.body.details[0].message).toBe(
      "is not allowed: 10.0.0.8 (a private-network address) is not a target webhooks may use. To allow it, start the server with --webhook-allow-private (CLIENTCOVE_WEBHOOK_ALLOW_PRIVATE=true) or list its range in --webhook-allow-cidrs (CLIENTCOVE_WEBHOOK_ALLOW_CIDRS, e.g. 10.20.0.0/16).",
    );
    expect(priv.body.message).toContain("--webhook-allow-private");
    const meta = await w.api("POST", "/v1/webhooks", { url: "http://169.254.169.254/latest/", events: ["*"] });
    expect(meta.body.details[0].message).toBe(
      "is not allowed: 169.254.169.254 (a cloud metadata address) is not a target webhooks may use. Only listing its range in --webhook-allow-cidrs (CLIENTCOVE_WEBHOOK_ALLOW_CIDRS, e.g. 10.20.0.0/16) allows it; --webhook-allow-private does not.",
    );
  });
});
