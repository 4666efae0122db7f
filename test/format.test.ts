// The tree is formatted and lint-clean as biome.json says: `npm test` fails on unformatted code or a lint finding.
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { REPO_ROOT } from "./helpers";

describe("code style", () => {
  test("biome ci: every file formatted, no lint finding (fix with `npm run format`, see `npm run lint`)", () => {
    const r = Bun.spawnSync([join(REPO_ROOT, "node_modules", ".bin", "biome"), "ci", "--colors=off", "."], { cwd: REPO_ROOT, stdout: "pipe", stderr: "pipe" });
    const output = `${r.stdout.toString()}${r.stderr.toString()}`;
    expect(r.exitCode, output.slice(0, 4000)).toBe(0);
  });
});
