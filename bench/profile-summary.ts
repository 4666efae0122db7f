// Summarises a V8/JSC .cpuprofile (from `bun --cpu-prof`): top functions by self time and by total time.
import { readFileSync } from "node:fs";

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
}

function label(n: Node): string {
  const file = n.callFrame.url.replace(/^.*\/(node_modules\/)?/, "$1").replace(/^file:\/\//, "");
  return `${n.callFrame.functionName || "(anonymous)"} ${file}:${n.callFrame.lineNumber + 1}`;
}

/** Prints the `top` heaviest functions of the profile at `path` by self and by inclusive time. */
export function summariseProfile(path: string, top = 25): string {
  const p = JSON.parse(readFileSync(path, "utf8")) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  let all = 0;
  p.samples.forEach((id, i) => {
    const dt = p.timeDeltas[i] ?? 0;
    all += dt;
    const leaf = byId.get(id)!;
    self.set(label(leaf), (self.get(label(leaf)) ?? 0) + dt);
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const l = label(byId.get(cur)!);
      if (seen.has(l)) continue;
      seen.add(l);
      total.set(l, (total.get(l) ?? 0) + dt);
    }
  });
  const fmt = (m: Map<string, number>) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([l, v]) => `${((v / all) * 100).toFixed(1).padStart(5)}%  ${l}`)
      .join("\n");
  return `samples: ${p.samples.length}, ${(all / 1000).toFixed(0)} ms\n\n-- self --\n${fmt(self)}\n\n-- total --\n${fmt(total)}`;
}

/** Time under every frame whose label contains `needle`, split by the callee frames directly below it. */
export function calleesOf(path: string, needle: string, top = 25): string {
  const p = JSON.parse(readFileSync(path, "utf8")) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const under = new Map<string, number>();
  let inside = 0;
  let all = 0;
  p.samples.forEach((id, i) => {
    const dt = p.timeDeltas[i] ?? 0;
    all += dt;
    // Walk up to the outermost frame matching the needle; the frame just below it is the callee.
    let callee: string | null = null;
    let below = id;
    let hit = false;
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      if (label(byId.get(cur)!).includes(needle)) {
        hit = true;
        callee = cur === id ? "(self)" : label(byId.get(below)!);
      }
      below = cur;
    }
    if (!hit) return;
    inside += dt;
    under.set(callee!, (under.get(callee!) ?? 0) + dt);
  });
  const rows = [...under].sort((a, b) => b[1] - a[1]).slice(0, top);
  return (
    `${needle}: ${((inside / all) * 100).toFixed(1)}% of all samples\n` + rows.map(([l, v]) => `${((v / all) * 100).toFixed(1).padStart(5)}%  ${l}`).join("\n")
  );
}

if (import.meta.main) {
  const [path, top, needle] = process.argv.slice(2);
  if (!path) {
    console.error("usage: bun bench/profile-summary.ts <file.cpuprofile> [top] [frame to split by callees]");
    process.exit(2);
  }
  console.log(needle ? calleesOf(path, needle, Number(top ?? 25)) : summariseProfile(path, Number(top ?? 25)));
}
