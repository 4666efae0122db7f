// /docs in a real headless Chromium: no scalar.com-only buttons, a favicon, and no request to any other host.
// Needs Debian's /usr/bin/chromium (`apt-get install -y chromium`); without it the browser tests skip, saying so.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync } from "node:fs";
import { chromium, type Browser, type Page } from "playwright-core";
import { SCALAR_CONFIG } from "../src/docs";
import { createTestEnv, freePort, type TestEnv } from "./helpers";

setDefaultTimeout(60_000);

const CHROMIUM = "/usr/bin/chromium";
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) console.warn(`docs-browser.test.ts: ${CHROMIUM} is missing, so the browser tests of /docs are skipped (apt-get install -y chromium).`);

/**
 * A name that is not local to Scalar (it shows its developer toolbar on localhost, and skips its request proxy for
 * local hosts), mapped to 127.0.0.1 inside Chromium only: the server URL of the document when the page is served
 * under a public-looking name.
 */
const PUBLIC_HOST = "api.cove-docs-check.com";

/** Labels of Scalar features that work only with scalar.com (AI agent, SDK/MCP generator, developer toolbar). */
const CLOUD_LABELS = /Ask AI|Generate SDK|Generate MCP|SDKs & MCP|Connect MCP|\bDeploy\b|\bShare\b|Developer Tools|\bConfigure\b/;

let env: TestEnv;
let port: number;
let stop: () => void;
let browser: Browser;

beforeAll(async () => {
  port = freePort();
  // The page is opened on 127.0.0.1 and calls the API under PUBLIC_HOST: a cross-origin call, which CORS allows here.
  env = await createTestEnv({ config: { publicUrl: `http://${PUBLIC_HOST}:${port}`, corsOrigins: [`http://127.0.0.1:${port}`] } });
  const listening = env.app.listen({ hostname: "127.0.0.1", port, reusePort: false });
  stop = () => listening.stop(true);
  if (!hasChromium) return;
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
      `--host-resolver-rules=MAP ${PUBLIC_HOST} 127.0.0.1`,
    ],
  });
});

afterAll(async () => {
  await browser?.close();
  stop?.();
  env?.close();
});

/** A page that records every request and lets only our own server be reached (anything else is aborted, not sent). */
async function recordingPage(allowedHosts: string[]): Promise<{ page: Page; requests: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  const requests: string[] = [];
  await page.route("**/*", (route) => {
    const url = route.request().url();
    requests.push(url);
    return allowedHosts.includes(new URL(url).host) ? route.continue() : route.abort();
  });
  return { page, requests };
}

describe("the /docs page (HTML)", () => {
  test("its Scalar configuration turns off the cloud features and it links the favicon", async () => {
    const res = await env.request("/docs");
    const html = await res.text();
    const config = JSON.parse(/data-configuration='([^']*)'/.exec(html)![1]!);
    expect(config).toEqual(SCALAR_CONFIG);
    expect(config).toMatchObject({ hideClientButton: true, showDeveloperTools: "never", agent: { disabled: true }, mcp: { disabled: true } });
    expect(config).not.toHaveProperty("proxyUrl");
    expect(html).toContain('<link rel="icon" href="/favicon.ico"');
    const icon = await env.request("/favicon.ico");
    expect(icon.status).toBe(200);
    expect(icon.headers.get("content-type")).toBe("image/x-icon");
    const bytes = new Uint8Array(await icon.arrayBuffer());
    // ICONDIR: reserved 0, type 1 (icon), one image; the image is a PNG.
    expect([...bytes.slice(0, 6)]).toEqual([0, 0, 1, 0, 1, 0]);
    expect([...bytes.slice(22, 26)]).toEqual([0x89, 0x50, 0x4e, 0x47]);
  });
});

describe.skipIf(!hasChromium)("/docs in headless Chromium", () => {
  test("on localhost: the reference renders, with no cloud-only button, the favicon loads, every request is to 127.0.0.1", async () => {
    const own = `127.0.0.1:${port}`;
    const { page, requests } = await recordingPage([own]);
    await page.goto(`http://${own}/docs`, { waitUntil: "networkidle" });
    // It did render (so the absence below means something): the title and the ticket operations are there.
    await page.getByRole("heading", { name: "Client Cove API" }).waitFor();
    expect(await page.getByText("List and search tickets").count()).toBeGreaterThan(0);

    for (const role of ["button", "link"] as const) expect(await page.getByRole(role, { name: CLOUD_LABELS }).count(), role).toBe(0);
    // biome-ignore lint/performance/useDomNodeTextContent: the text a person sees (innerText skips hidden nodes), not every node's text.
    expect(await page.locator("body").innerText()).not.toMatch(CLOUD_LABELS);

    // Runs in the page; `globalThis` there is the window (this project's types have no DOM lib).
    const icon = await page.evaluate(
      () =>
        new Promise<{ href: string | null; width: number }>((resolve) => {
          const w = globalThis as any;
          const href: string | null = w.document.querySelector("link[rel=icon]")?.getAttribute("href") ?? null;
          const img = new w.Image();
          img.onload = () => resolve({ href, width: img.naturalWidth });
          img.onerror = () => resolve({ href, width: -1 });
          // A query of its own: Chromium fetches the page's icon outside the page's (intercepted) network, and an
          // image then asked for under the same URL through the interception fails to load.
          img.src = `${href}?probe`;
        }),
    );
    expect(icon).toEqual({ href: "/favicon.ico", width: 32 });

    expect(requests.length).toBeGreaterThanOrEqual(3);
    expect(requests.filter((u) => new URL(u).host !== own)).toEqual([]);
    expect(requests.map((u) => new URL(u).pathname)).toEqual(expect.arrayContaining(["/docs", "/docs/assets/scalar.js", "/docs/json", "/favicon.ico"]));
    await page.close();
  });

  test("a server under a public name: Test Request sends to it directly, not through Scalar's proxy", async () => {
    const own = `127.0.0.1:${port}`;
    const api = `${PUBLIC_HOST}:${port}`;
    const { page, requests } = await recordingPage([own, api]);
    await page.goto(`http://${own}/docs#tag/tickets/GET/v1/tickets`, { waitUntil: "networkidle" });
    await page.getByRole("button", { name: "Test Request" }).first().click();
    const answered = page.waitForResponse((r) => new URL(r.url()).pathname === "/v1/tickets");
    await page.getByRole("button", { name: /^Send/ }).first().click();
    const res = await answered;
    // No key was entered: our server's own 401 came back, straight from it (the key would have gone the same way).
    expect(new URL(res.url()).host).toBe(api);
    expect(res.status()).toBe(401);
    expect(requests.filter((u) => ![own, api].includes(new URL(u).host))).toEqual([]);
    await page.close();
  });
});
