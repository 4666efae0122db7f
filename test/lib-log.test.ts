// Structured logs: one JSON object per line, level filtering, the pretty format, and secrets redacted.
import { describe, expect, test } from "bun:test";
import { createLogger } from "../src/lib/log";

function capture(level: Parameters<typeof createLogger>[0]["level"], format?: "json" | "pretty") {
  const lines: string[] = [];
  return { lines, log: createLogger({ level, format, write: (l) => lines.push(l) }) };
}

describe("createLogger", () => {
  test("json: one parseable object per line with time, level, msg and fields", () => {
    const { lines, log } = capture("debug");
    log.info("listening", { url: "http://localhost:8080", n: 1 });
    expect(lines.length).toBe(1);
    expect(lines[0]).not.toContain("\n");
    const o = JSON.parse(lines[0]!);
    expect(o).toEqual({
      time: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      level: "info",
      msg: "listening",
      url: "http://localhost:8080",
      n: 1,
    });
  });

  test("levels below the minimum are dropped; silent drops everything", () => {
    const warn = capture("warn");
    warn.log.debug("d");
    warn.log.info("i");
    warn.log.warn("w");
    warn.log.error("e");
    expect(warn.lines.map((l) => JSON.parse(l).level)).toEqual(["warn", "error"]);
    const silent = capture("silent");
    silent.log.error("e");
    expect(silent.lines).toEqual([]);
  });

  test("fields that look like credentials are redacted, however deep", () => {
    const { lines, log } = capture("info");
    const secret = "cc_SECRETSECRETSECRETSECRETSECRETSECRET";
    log.info("req", {
      authorization: `Bearer ${secret}`,
      headers: { Authorization: secret, nested: { token: secret, api_secret: secret } },
      key: secret,
      password: secret,
      list: [{ secret }],
    });
    expect(lines[0]).not.toContain(secret);
    const o = JSON.parse(lines[0]!);
    expect(o.authorization).toBe("[redacted]");
    expect(o.headers.nested.token).toBe("[redacted]");
    expect(o.list[0].secret).toBe("[redacted]");
  });

  test("fields whose names merely contain 'key' are kept (key_id, keys)", () => {
    const { lines, log } = capture("info");
    log.info("k", { key_id: "key_abc", request_id: "r" });
    expect(JSON.parse(lines[0]!)).toMatchObject({ key_id: "key_abc", request_id: "r" });
  });

  test("pretty: a readable line with level and fields", () => {
    const { lines, log } = capture("info", "pretty");
    log.warn("slow", { ms: 12, route: "/v1/tickets" });
    expect(lines[0]).toMatch(/^\d{4}-\S+ WARN {2}slow ms=12 route=\/v1\/tickets$/);
  });
});
