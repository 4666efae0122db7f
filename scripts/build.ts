// Builds dist/clientcove: one self-contained executable (runtime, code, migrations, docs assets).
import { $ } from "bun";
import { mkdirSync } from "node:fs";

const outfile = process.argv[2] ?? "dist/clientcove";
const commit = (await $`git rev-parse --short HEAD`.nothrow().quiet().text()).trim() || "unknown";
mkdirSync("dist", { recursive: true });

// No --minify-identifiers: it breaks Elysia's handler analysis (STACK-NOTES). No autoloaded .env or
// bunfig.toml from the admin's working directory: configuration comes from flags and CLIENTCOVE_* only.
const result = await Bun.build({
  entrypoints: ["src/main.ts"],
  compile: { outfile, autoloadDotenv: false, autoloadBunfig: false },
  minify: { whitespace: true, syntax: true, identifiers: false },
  sourcemap: "none",
  define: { __CLIENTCOVE_COMMIT__: JSON.stringify(commit), "process.env.NODE_ENV": JSON.stringify("production") },
});
if (!result.success) {
  for (const log of result.logs) console.error(log);
  process.exit(1);
}
console.log(`built ${outfile} (commit ${commit})`);
