// The OpenAPI document as a product: it lints clean (Redocly recommended) and a generated client type-checks and works.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createTestEnv, type TestEnv } from "./helpers";

const ROOT = join(import.meta.dir, "..");
const BIN = join(ROOT, "node_modules", ".bin");

function run(cmd: string[], cwd = ROOT) {
  const p = Bun.spawnSync(cmd, {
    cwd,
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, NO_COLOR: "1", REDOCLY_TELEMETRY: "off", REDOCLY_SUPPRESS_UPDATE_NOTICE: "true" },
  });
  return { code: p.exitCode, out: p.stdout.toString() + p.stderr.toString() };
}

let env: TestEnv;
let server: { port: number; stop(): void };
let dir: string;
let spec: any;

beforeAll(async () => {
  env = await createTestEnv({ config: { publicUrl: "https://support.acme.test" } });
  const listening = env.app.listen({ hostname: "127.0.0.1", port: 0, reusePort: false });
  server = { port: listening.server!.port!, stop: () => listening.stop(true) };
  dir = join(ROOT, "test", ".generated", `openapi-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  const res = await env.request("/docs/json");
  expect(res.status).toBe(200);
  spec = await res.json();
  writeFileSync(join(dir, "openapi.json"), JSON.stringify(spec, null, 2));
});

afterAll(() => {
  server?.stop();
  env?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("OpenAPI document", () => {
  test("describes every /v1 route with a summary, a tag, bearer security and shared error responses", () => {
    expect(spec.openapi).toStartWith("3.");
    expect(spec.components.securitySchemes.bearerAuth).toEqual(expect.objectContaining({ type: "http", scheme: "bearer" }));
    const ops = Object.entries(spec.paths).flatMap(([path, methods]: [string, any]) => Object.entries(methods).map(([m, op]) => ({ path, m, op: op as any })));
    expect(ops.some((o) => o.path === "/v1/tickets" && o.m === "post")).toBe(true);
    for (const { path, op } of ops.filter((o) => o.path.startsWith("/v1/"))) {
      expect(op.summary, path).toBeString();
      expect(op.tags?.length, path).toBeGreaterThan(0);
      expect(op.responses["401"]?.content["application/json"].schema).toEqual({ $ref: "#/components/schemas/Error" });
    }
    expect(spec.paths["/v1/tickets"].post.requestBody.content["application/json"].schema).toBeDefined();
  });

  test("lints clean under Redocly's recommended rules (no errors, no warnings)", () => {
    const { code, out } = run(["node", join(BIN, "redocly"), "lint", join(dir, "openapi.json"), "--format=stylish"]);
    expect(out).not.toMatch(/\b(error|warning)\b\s+\S/);
    expect(code).toBe(0);
  }, 60_000);

  test("a client generated with openapi-typescript + openapi-fetch type-checks and works against a live server", async () => {
    const gen = run(["node", join(BIN, "openapi-typescript"), join(dir, "openapi.json"), "-o", join(dir, "schema.d.ts")]);
    expect(gen.code, gen.out).toBe(0);
    const { key } = await env.org("Client Co");
    writeFileSync(
      join(dir, "client.ts"),
      `import createClient from "openapi-fetch";
import type { paths } from "./schema";
const client = createClient<paths>({ baseUrl: process.argv[2], headers: { Authorization: \`Bearer \${process.argv[3]}\` } });
const created = await client.POST("/v1/tickets", { body: { subject: "Generated client", priority: "high" } });
if (!created.data) throw new Error("create failed: " + JSON.stringify(created.error));
const subject: string = created.data.subject;
const got = await client.GET("/v1/tickets/{id}", { params: { path: { id: created.data.id } } });
const list = await client.GET("/v1/tickets", { params: { query: { status: "open", per_page: 10 } } });
const bad = await client.POST("/v1/tickets", { body: { subject: "" } });
// Proves the types are real (not any): a wrong priority must not compile.
// @ts-expect-error priority is an enum
void (() => client.POST("/v1/tickets", { body: { subject: "x", priority: "whenever" } }));
console.log(JSON.stringify({ subject, got: got.data?.id === created.data.id, total: list.data?.meta.total, badError: bad.error?.error }));
`,
    );
    writeFileSync(
      join(dir, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: { target: "ESNext", module: "ESNext", moduleResolution: "bundler", strict: true, noEmit: true, skipLibCheck: true, types: ["bun"] },
        files: ["client.ts"],
      }),
    );
    const tsc = run(["node", join(BIN, "tsc"), "-p", join(dir, "tsconfig.json")]);
    expect(tsc.out).toBe("");
    expect(tsc.code).toBe(0);
    const proc = Bun.spawn([process.execPath, join(dir, "client.ts"), `http://127.0.0.1:${server.port}`, key], { cwd: dir, stdout: "pipe", stderr: "pipe" });
    const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    expect(err).toBe("");
    expect(code).toBe(0);
    expect(JSON.parse(out)).toEqual({ subject: "Generated client", got: true, total: 1, badError: "validation_error" });
  }, 60_000);
});
