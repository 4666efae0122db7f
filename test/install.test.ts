// `npm ci` on every supported Node: package.json states the versions, every install script is decided in
// allowScripts (no install-scripts warning), and the only packages that ask for a newer Node are the docs UI's
// (they print EBADENGINE on Node 20; only its prebuilt browser bundle is used, by Bun, so it is harmless).
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT } from "./helpers";

const pkg = JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8"));
const lock = JSON.parse(readFileSync(join(REPO_ROOT, "package-lock.json"), "utf8"));
const locked = Object.entries(lock.packages as Record<string, { version?: string; engines?: { node?: string } | string[]; hasInstallScript?: boolean }>).filter(
  ([path]) => path !== "",
);

/** The lowest version of each supported Node line (package.json `engines.node` is `^20.19.0 || >=22.12.0`). */
const SUPPORTED_FLOORS = ["20.19.0", "22.12.0"];

describe("install", () => {
  test("package.json states the supported Node versions, and this machine's Node is one", () => {
    expect(pkg.engines).toEqual({ node: "^20.19.0 || >=22.12.0" });
    for (const v of SUPPORTED_FLOORS) expect(Bun.semver.satisfies(v, pkg.engines.node)).toBe(true);
    const node = Bun.spawnSync(["node", "--version"], { stdout: "pipe" }).stdout.toString().trim().replace(/^v/, "");
    expect(Bun.semver.satisfies(node, pkg.engines.node), `node ${node}`).toBe(true);
  });

  test("only the docs UI's dependency tree asks for a Node newer than the supported floors", () => {
    // The packages under @scalar/api-reference (README "The executable" says why their EBADENGINE warnings are harmless).
    const docsTree = new Set<string>();
    const visit = (name: string) => {
      if (docsTree.has(name)) return;
      docsTree.add(name);
      const entry = lock.packages[`node_modules/${name}`] as { dependencies?: Record<string, string> } | undefined;
      for (const dep of Object.keys(entry?.dependencies ?? {})) visit(dep);
    };
    visit("@scalar/api-reference");
    const unhappy = locked
      .filter(([, p]) => p.engines && !Array.isArray(p.engines) && p.engines.node)
      .filter(([, p]) => SUPPORTED_FLOORS.some((v) => !Bun.semver.satisfies(v, (p.engines as { node: string }).node)))
      .map(([path]) => path.replace(/^.*node_modules\//, ""))
      .filter((name) => !docsTree.has(name));
    expect(unhappy).toEqual([]);
  });

  test("every package with an install script is allowed by allowScripts (no install-scripts warning)", () => {
    const withScripts = locked.filter(([, p]) => p.hasInstallScript).map(([path]) => path.replace(/^.*node_modules\//, ""));
    expect(withScripts.filter((name) => typeof pkg.allowScripts?.[name] !== "boolean")).toEqual([]);
  });
});
