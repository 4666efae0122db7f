// Configuration: flags > environment > defaults, PORT and CLIENTCOVE_PORT, bad values, and --help listing every option.
import { afterAll, describe, expect, test } from "bun:test";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ConfigError, loadConfig, OPTIONS } from "../src/config";
import { runCli, runCli as runCliIn, tempDir } from "./helpers";

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe("loadConfig", () => {
  test("defaults, all marked as such", () => {
    const { config, sources } = loadConfig({}, {});
    expect(config.host).toBe("::");
    expect(config.port).toBe(8080);
    expect(config.dataDir).toBe("./data");
    expect(config.publicUrl).toBe("http://localhost:8080");
    expect(config.logLevel).toBe("info");
    for (const o of OPTIONS) expect(sources[o.key], o.key).toBe("default");
  });

  const precedence: [string, string, string, string, string, unknown, unknown, unknown][] = [
    // key, flag, env, flag value, env value, parsed flag, parsed env, parsed default
    ["host", "host", "CLIENTCOVE_HOST", "127.0.0.1", "10.0.0.1", "127.0.0.1", "10.0.0.1", "::"],
    ["port", "port", "CLIENTCOVE_PORT", "9001", "9002", 9001, 9002, 8080],
    ["dataDir", "data-dir", "CLIENTCOVE_DATA_DIR", "/srv/flag", "/srv/env", "/srv/flag", "/srv/env", "./data"],
    [
      "publicUrl",
      "public-url",
      "CLIENTCOVE_PUBLIC_URL",
      "https://flag.example",
      "https://env.example",
      "https://flag.example",
      "https://env.example",
      "http://localhost:8080",
    ],
    ["logLevel", "log-level", "CLIENTCOVE_LOG_LEVEL", "debug", "warn", "debug", "warn", "info"],
    ["maxJsonBytes", "max-json-bytes", "CLIENTCOVE_MAX_JSON_BYTES", "4096", "8192", 4096, 8192, 1024 * 1024],
  ];
  for (const [key, flag, envName, flagValue, envValue, parsedFlag, parsedEnv, parsedDefault] of precedence) {
    test(`${key}: flag > env > default`, () => {
      const k = key as keyof ReturnType<typeof loadConfig>["config"];
      const both = loadConfig({ [flag]: flagValue }, { [envName]: envValue });
      expect(both.config[k] as unknown).toEqual(parsedFlag);
      expect(both.sources[k]).toBe("flag");
      const envOnly = loadConfig({}, { [envName]: envValue });
      expect(envOnly.config[k] as unknown).toEqual(parsedEnv);
      expect(envOnly.sources[k]).toBe("env");
      expect(loadConfig({}, {}).config[k] as unknown).toEqual(parsedDefault);
    });
  }

  test("PORT and CLIENTCOVE_PORT: either works alone; the specific one wins; the flag beats both", () => {
    expect(loadConfig({}, { PORT: "3000" }).config.port).toBe(3000);
    expect(loadConfig({}, { CLIENTCOVE_PORT: "4000" }).config.port).toBe(4000);
    expect(loadConfig({}, { PORT: "3000", CLIENTCOVE_PORT: "4000" }).config.port).toBe(4000);
    expect(loadConfig({ port: "5000" }, { PORT: "3000", CLIENTCOVE_PORT: "4000" }).config.port).toBe(5000);
  });

  test("an empty environment variable counts as unset", () => {
    expect(loadConfig({}, { CLIENTCOVE_PORT: "", PORT: "3000" }).config.port).toBe(3000);
    expect(loadConfig({}, { CLIENTCOVE_HOST: "" }).config.host).toBe("::");
  });

  test("the default public URL follows the port, wherever the port came from", () => {
    expect(loadConfig({ port: "9090" }, {}).config.publicUrl).toBe("http://localhost:9090");
    expect(loadConfig({}, { PORT: "3000" }).config.publicUrl).toBe("http://localhost:3000");
    expect(loadConfig({}, { CLIENTCOVE_PORT: "4000" }).config.publicUrl).toBe("http://localhost:4000");
    expect(loadConfig({ port: "9090" }, { CLIENTCOVE_PUBLIC_URL: "https://support.acme.test" }).config.publicUrl).toBe("https://support.acme.test");
  });

  test("a public URL loses its trailing slashes (Location headers are built by appending)", () => {
    expect(loadConfig({ "public-url": "https://x.example/cc/" }, {}).config.publicUrl).toBe("https://x.example/cc");
    expect(loadConfig({ "public-url": "https://x.example//" }, {}).config.publicUrl).toBe("https://x.example");
  });

  test("a boolean flag given bare is true", () => {
    const bool = OPTIONS.find((o) => o.default({}) === false)!;
    expect(loadConfig({ [bool.flag]: true }, {}).config[bool.key]).toBe(true);
  });

  const bad: [string, Record<string, string>, Record<string, string>, RegExp][] = [
    ["port abc (flag)", { port: "abc" }, {}, /--port/],
    ["port abc (PORT)", {}, { PORT: "abc" }, /PORT/],
    ["port abc (CLIENTCOVE_PORT)", {}, { CLIENTCOVE_PORT: "abc" }, /CLIENTCOVE_PORT/],
    ["port -1", { port: "-1" }, {}, /--port/],
    ["port 65536", { port: "65536" }, {}, /--port/],
    ["port 80.5", { port: "80.5" }, {}, /--port/],
    ["port 1e3", { port: "1e3" }, {}, /--port/],
    ["port empty", { port: "" }, {}, /--port/],
    ["public URL not a URL", { "public-url": "support.acme.test" }, {}, /--public-url/],
    ["public URL ftp", { "public-url": "ftp://acme.test" }, {}, /--public-url/],
    ["log level loud", { "log-level": "loud" }, {}, /--log-level/],
    ["log level from env", {}, { CLIENTCOVE_LOG_LEVEL: "LOUD" }, /CLIENTCOVE_LOG_LEVEL/],
    ["empty data dir", { "data-dir": "  " }, {}, /--data-dir/],
    ["max JSON bytes too small", { "max-json-bytes": "10" }, {}, /--max-json-bytes/],
    ["boolean maybe", { "webhook-allow-private": "maybe" }, {}, /--webhook-allow-private/],
  ];
  for (const [name, flags, env, names] of bad) {
    test(`bad value → ConfigError on one line: ${name}`, () => {
      let caught: unknown;
      try {
        loadConfig(flags, env);
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(ConfigError);
      const message = (caught as Error).message;
      expect(message).toMatch(names);
      expect(message).not.toContain("\n");
    });
  }
});

describe("clientcove with bad configuration (a real process): exit 2, one line, nothing listens", () => {
  // An empty working directory: should a case wrongly start, its ./data lands in a temp dir, not the repository.
  const cwd = tempDir("cc-config-cwd");
  dirs.push(cwd);
  const runCli = (args: string[], opts: { env?: Record<string, string> } = {}) => runCliIn(args, { ...opts, cwd });

  function expectUsageFailure(r: { code: number; stdout: string; stderr: string }, mentions: RegExp) {
    expect(r.code, r.stderr).toBe(2);
    const lines = r.stderr.trim().split("\n");
    expect(lines.length, r.stderr).toBe(1);
    expect(lines[0]).toMatch(mentions);
    expect(r.stdout).not.toContain("listening");
  }

  test("--port abc", () => expectUsageFailure(runCli(["--port", "abc"]), /--port.*abc/));
  test("serve --port abc", () => expectUsageFailure(runCli(["serve", "--port", "abc"]), /--port/));
  test("PORT=abc", () => expectUsageFailure(runCli([], { env: { PORT: "abc" } }), /PORT/));
  test("an unknown flag", () => expectUsageFailure(runCli(["--bogus"]), /--bogus/));
  test("an unknown flag after serve", () => expectUsageFailure(runCli(["serve", "--no-such-thing", "1"]), /--no-such-thing/));
  test("a flag without its value", () => expectUsageFailure(runCli(["serve", "--port"]), /--port/));
  test("an unknown command", () => expectUsageFailure(runCli(["frobnicate"]), /frobnicate/));
  test("--log-level loud", () => expectUsageFailure(runCli(["--log-level", "loud"]), /--log-level/));

  test("a data dir under a regular file (unwritable)", () => {
    const dir = tempDir("cc-config");
    dirs.push(dir);
    const file = join(dir, "a-file");
    writeFileSync(file, "x");
    expectUsageFailure(runCli(["--port", "0", "--data-dir", join(file, "data")]), /data dir/);
    expectUsageFailure(runCli(["migrate", "--data-dir", join(file, "data")]), /data dir/);
  });
});

describe("--help", () => {
  /** The help text of one option: from its `--flag` to the next option line. */
  function optionBlock(help: string, flag: string): string {
    const start = help.search(new RegExp(`^\\s+--${flag}(?=[\\s<])`, "m"));
    expect(start, `--${flag} is listed`).toBeGreaterThanOrEqual(0);
    const rest = help.slice(start + 3);
    const next = rest.search(/\n\s+--[a-z]/);
    return next === -1 ? rest : rest.slice(0, next);
  }

  for (const args of [["--help"], ["serve", "--help"], ["-h"], ["help"]]) {
    test(`clientcove ${args.join(" ")} lists every option with its env name and default`, () => {
      const r = runCli(args);
      expect(r.code).toBe(0);
      expect(r.stderr).toBe("");
      for (const o of OPTIONS) {
        const block = optionBlock(r.stdout, o.flag);
        for (const e of o.env) expect(block, `--${o.flag} names ${e}`).toContain(e);
        expect(block, `--${o.flag} shows its default`).toContain(`default ${o.defaultText}`);
      }
    });
  }

  test("the main help names every command", () => {
    const r = runCli(["--help"]);
    for (const cmd of ["serve", "migrate", "orgs", "users", "keys", "version"]) expect(r.stdout).toMatch(new RegExp(`^\\s+${cmd}\\b`, "m"));
  });
});
