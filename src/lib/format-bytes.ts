// Byte counts for people, the one way they are written: limits exactly ("64 KiB", "1500 bytes"), measured sizes approximately ("12.3 MiB").
const UNITS = ["bytes", "KiB", "MiB", "GiB", "TiB"] as const;

/**
 * `n` bytes in the largest binary unit it reaches. A whole number of that unit is written as such ("2 KiB", "100 MiB"),
 * whatever the mode. Otherwise `exact` (for limits a person configured and must be able to type back) falls back to the
 * largest unit that divides `n` ("1500 bytes", "1536 KiB"), and the default rounds ("1.46 KiB", "12.3 MiB").
 */
export function formatBytes(n: number, mode: "exact" | "rounded" = "rounded"): string {
  let i = 0;
  while (i < UNITS.length - 1 && n >= 1024 ** (i + 1)) i++;
  const v = n / 1024 ** i;
  if (Number.isInteger(v)) return `${v} ${UNITS[i]}`;
  if (mode === "exact") {
    while (i > 0 && !Number.isInteger(n / 1024 ** i)) i--;
    return `${n / 1024 ** i} ${UNITS[i]}`;
  }
  return `${v.toFixed(v < 10 ? 2 : 1)} ${UNITS[i]}`;
}
