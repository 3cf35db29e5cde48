/** Formatting of benchmark numbers and plain-text tables. */

export function fmtSeconds(s: number | undefined): string {
  if (s === undefined) return "-";
  return s < 10 ? s.toFixed(2) : s.toFixed(1);
}

export function fmtBytes(b: number | undefined): string {
  if (b === undefined) return "-";
  if (b < 1024) return `${b} B`;
  if (b < 1024 * 1024) return `${(b / 1024).toFixed(1)} KiB`;
  if (b < 1024 * 1024 * 1024) return `${(b / 1024 / 1024).toFixed(1)} MiB`;
  return `${(b / 1024 / 1024 / 1024).toFixed(2)} GiB`;
}

export function fmtRate(rows: number | undefined, seconds: number): string {
  if (rows === undefined || seconds <= 0) return "-";
  const r = rows / seconds;
  return r >= 1e6 ? `${(r / 1e6).toFixed(2)} M` : `${Math.round(r / 1000)} k`;
}

export function fmtRatio(x: number | undefined): string {
  return x === undefined || !Number.isFinite(x) ? "-" : `${x.toFixed(2)}×`;
}

export function fmtInt(n: number | undefined): string {
  return n === undefined ? "-" : n.toLocaleString("en-US");
}

/** A left-aligned first column, right-aligned numbers, a rule under the header. */
export function formatTable(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
      .join("  ")
      .trimEnd();
  return [line(headers), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}
