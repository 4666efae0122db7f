// Config file layer (flags > env > file > defaults) and `clientcove config` (effective values, secrets masked, sources).
import { afterAll, describe, expect, test } from "bun:test";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ConfigError, loadConfig } from "../src/config";
import { tempDir } from "./helpers";
import { runCli, startServe } from "./ops-fixtures";

const work = tempDir("cc-config");
afterAll(() => rmSync(work, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const p = join(work, name);
  writeFileSync(p, text);
  return p;
}

const toml = file(
  "clientcove.toml",
  `# Client Cove settings
port = 9000
data_dir = "/srv/cc"
log-level = "warn"
metrics = true
metrics_token = "s3cret-from-file"
cors_origins = ["https://app.example.com", "https://admin.example.com"]
shutdownTimeoutMs = 5000
`,
);

describe("config file", () => {
  test('TOML values apply with source "file"; env beats file; flags beat env; the rest are defaults', () => {
    const { config, sources, origins } = loadConfig({ config: toml, "log-level": "debug" }, { CLIENTCOVE_PORT: "9100" });
    expect(config).toMatchObject({
      port: 9100,
      dataDir: "/srv/cc",
      logLevel: "debug",
      metrics: true,
      metricsToken: "s3cret-from-file",
      corsOrigins: ["https://app.example.com", "https://admin.example.com"],
      shutdownTimeoutMs: 5000,
      host: "::",
      configFile: toml,
    });
    expect(sources).toMatchObject({
      port: "env",
      dataDir: "file",
      logLevel: "flag",
      metrics: "file",
      corsOrigins: "file",
      shutdownTimeoutMs: "file",
      host: "default",
      configFile: "flag",
    });
    expect(origins).toMatchObject({ port: "CLIENTCOVE_PORT", dataDir: toml, logLevel: "--log-level", host: "default" });
    // A default that depends on another value sees the file's value.
    expect(loadConfig({ config: toml }, {}).config.publicUrl).toBe("http://localhost:9000");
  });

  test("JSON works the same, and CLIENTCOVE_CONFIG names the file", () => {
    const json = file("cc.json", JSON.stringify({ "data-dir": "/var/lib/cc", trust_proxy: true, webhook_allow_cidrs: ["10.0.0.0/8"] }));
    const { config, sources } = loadConfig({}, { CLIENTCOVE_CONFIG: json });
    expect(config).toMatchObject({ dataDir: "/var/lib/cc", trustProxy: true, webhookAllowCidrs: ["10.0.0.0/8"] });
    expect(sources).toMatchObject({ dataDir: "file", trustProxy: "file", configFile: "env" });
  });

  const bad: [string, string, string][] = [
    ["unknown.toml", 'colour = "blue"\n', 'unknown setting "colour"'],
    ["badvalue.toml", "port = 70000\n", "config file %: port: expected a whole number from 0 to 65535"],
    ["badtoml.toml", "port = = 1\n", "not valid TOML"],
    ["nested.toml", "config = 'other.toml'\n", '"config" cannot be set in a config file'],
    ["table.toml", "[server]\nport = 1\n", 'unknown setting "server"'],
    ["object.toml", "port = { a = 1 }\n", '"port" must be a string, number, boolean or list of strings'],
    ["cc.yaml", "port: 1\n", "expected a .toml or .json file"],
  ];
  for (const [name, text, message] of bad) {
    test(`a bad file is a ConfigError naming it: ${name}`, () => {
      const p = file(name, text);
      expect(() => loadConfig({ config: p }, {})).toThrow(ConfigError);
      expect(() => loadConfig({ config: p }, {})).toThrow(message.replace("%", p));
    });
  }

  test("a missing file is an error, not silently ignored", () => {
    expect(() => loadConfig({ config: join(work, "nope.toml") }, {})).toThrow(`config file ${join(work, "nope.toml")}: cannot read it (ENOENT)`);
  });

  test("new settings validate: metrics address, CORS origins", () => {
    expect(loadConfig({ "metrics-addr": "127.0.0.1:9090" }, {}).config.metricsAddr).toBe("127.0.0.1:9090");
    expect(loadConfig({ "metrics-addr": "[::1]:9090" }, {}).config.metricsAddr).toBe("[::1]:9090");
    expect(() => loadConfig({ "metrics-addr": "9090" }, {})).toThrow("expected host:port");
    expect(loadConfig({ "cors-origins": "*" }, {}).config.corsOrigins).toEqual(["*"]);
    expect(() => loadConfig({ "cors-origins": "https://a.example.com/path" }, {})).toThrow('"https://a.example.com/path" is not an origin');
    expect(() => loadConfig({ "cors-origins": "a.example.com" }, {})).toThrow("is not an origin");
    expect(loadConfig({}, {}).config).toMatchObject({ metrics: false, metricsAddr: "", metricsToken: "", corsOrigins: [], trustProxy: false, configFile: "" });
  });
});

describe("clientcove config", () => {
  test("prints every setting with its source; secrets are masked whatever their source", async () => {
    const r = await runCli(["config", "--config", toml, "--port", "9200", "--json"], { CLIENTCOVE_LOG_FORMAT: "pretty" });
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.config_file).toBe(toml);
    expect(out.settings.port).toEqual({ value: 9200, source: "flag", from: "--port" });
    expect(out.settings["log-format"]).toEqual({ value: "pretty", source: "env", from: "CLIENTCOVE_LOG_FORMAT" });
    expect(out.settings["data-dir"]).toEqual({ value: "/srv/cc", source: "file", from: toml });
    expect(out.settings.host).toEqual({ value: "::", source: "default", from: "default" });
    expect(out.settings["metrics-token"]).toEqual({ value: "********", source: "file", from: toml });
    expect(r.stdout).not.toContain("s3cret");

    const text = await runCli(["config", "--config", toml], { CLIENTCOVE_METRICS_TOKEN: "tok-from-env" });
    expect(text.stdout).toMatch(/metrics-token\s+\*{8}\s+env \(CLIENTCOVE_METRICS_TOKEN\)/);
    expect(text.stdout).toMatch(/data-dir\s+\/srv\/cc\s+file \(/);
    expect(text.stdout).not.toContain("tok-from-env");
  });

  test("a bad setting exits 2 with one line", async () => {
    const r = await runCli(["config", "--port", "x"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('clientcove: --port: expected a whole number from 0 to 65535, got "x"\n');
  });

  test("serve reads the config file", async () => {
    const dataDir = join(work, "served");
    const p = file("serve.toml", `data_dir = "${dataDir}"\nlog_level = "info"\n`);
    const server = await startServe(["--config", p], { expectKey: true });
    try {
      expect((await server.waitForLog((l) => l.msg === "listening")).data_dir).toBe(dataDir);
    } finally {
      server.proc.kill("SIGTERM");
      expect(await server.exited).toBe(0);
    }
  });
});
