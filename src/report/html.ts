/**
 * The report as one self-contained HTML page: inline CSS, inline data, inline script drawing SVG
 * charts (no network, no library): a stacked area chart of stored bytes per tenant over time, a
 * rows-per-table chart for the tenant picked in a menu, and tables sortable by any column.
 * Data goes in as JSON inside a <script type="application/json"> (with `<` escaped) and reaches
 * the page through textContent only, so tenant ids and table names can never inject markup.
 */
import type { GrowthReport } from "./report.js";

/** The stacked chart's data: one x per snapshot with tenant numbers, one row of values per tenant. */
export interface TenantStack {
  xs: { snapshot: string; createdAt: string }[];
  series: { tenant: string; values: number[] }[];
}

/**
 * Stored bytes of every tenant at every snapshot that has per-tenant numbers. A `tenants`
 * snapshot covers every tenant (absent = 0); between `tenant` snapshots of others a tenant keeps
 * its last known size.
 */
export function tenantStack(report: GrowthReport): TenantStack {
  const scopeOf = new Map(report.snapshots.map((s) => [s.id, s.scope]));
  const ids = new Set(report.tenants.flatMap((t) => t.series.map((p) => p.snapshot)));
  const xs = report.snapshots.filter((s) => ids.has(s.id)).map((s) => ({ snapshot: s.id, createdAt: s.createdAt }));
  const series = report.tenants.map((t) => {
    const at = new Map(t.series.map((p) => [p.snapshot, p.storedBytes]));
    let last = 0;
    const values = xs.map((x) => {
      const v = at.get(x.snapshot);
      if (v !== undefined) last = v;
      else if (scopeOf.get(x.snapshot) === "tenants") last = 0;
      return v ?? last;
    });
    return { tenant: t.tenant, values };
  });
  return { xs, series };
}

/** The page. */
export function renderReportHtml(report: GrowthReport, generatedAt: Date = new Date()): string {
  const data = {
    report,
    stack: tenantStack(report),
    generatedAt: generatedAt.toISOString(),
  };
  const json = JSON.stringify(data)
    .replace(/</g, "\\u003c")
    .replace(/\u2028/g, "\\u2028")
    .replace(/\u2029/g, "\\u2029");
  const title = `pgsnap report: ${escapeHtml(report.project)}`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">
<title>${title}</title>
<style>${css}</style>
</head>
<body>
<header><h1>${title}</h1><p id="summary"></p></header>
<main>
<section><h2>Stored bytes per tenant</h2><div class="legend" id="stack-legend"></div><svg id="stack-chart" class="chart" role="img" aria-label="stacked stored bytes per tenant over time"></svg></section>
<section><h2>Rows per table of tenant <select id="tenant-pick" aria-label="tenant"></select></h2><div class="legend" id="tenant-legend"></div><svg id="tenant-chart" class="chart" role="img" aria-label="rows per table over time"></svg></section>
<section><h2>Largest tenants</h2><table id="tenants-table" class="sortable"></table></section>
<section><h2>Tables</h2><table id="tables-table" class="sortable"></table></section>
<section><h2>Tables that shrank</h2><table id="shrank-table" class="sortable"></table></section>
<section><h2>Snapshots</h2><table id="snapshots-table" class="sortable"></table></section>
</main>
<script type="application/json" id="report-data">${json}</script>
<script>${script}</script>
</body>
</html>
`;
}

function escapeHtml(s: string): string {
  return s.replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c] ?? c,
  );
}

const css = `
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
header{background:#1d2330;color:#fff;padding:16px 24px}header h1{margin:0;font-size:20px}header p{margin:4px 0 0;color:#c9d1e0}
main{padding:8px 24px 32px;max-width:1100px}
section{background:#fff;border:1px solid #dde1e8;border-radius:6px;margin:16px 0;padding:12px 16px}
h2{font-size:16px;margin:4px 0 8px}
.chart{width:100%;height:320px;display:block}
.chart text{font-size:11px;fill:#555}
.chart .axis{stroke:#bbb}
.chart .grid{stroke:#eee}
.legend{display:flex;flex-wrap:wrap;gap:4px 14px;font-size:12px}
.legend span::before{content:"";display:inline-block;width:10px;height:10px;margin-right:4px;background:var(--c);border-radius:2px}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}
th,td{padding:4px 8px;border-bottom:1px solid #eee;text-align:left}
td.n,th.n{text-align:right}
th{cursor:pointer;user-select:none;background:#f0f2f5}
th[aria-sort=ascending]::after{content:" \\25B2"}th[aria-sort=descending]::after{content:" \\25BC"}
.empty{color:#888;font-style:italic}
`;

// Runs in the page: builds the charts and tables from #report-data. Plain ES2020, no imports.
const script = String.raw`
"use strict";
const data = JSON.parse(document.getElementById("report-data").textContent);
const R = data.report;
const NS = "http://www.w3.org/2000/svg";
const palette = ["#3b6fd8","#e0803a","#3aa675","#c94c6a","#8b62c9","#2aa3b8","#b8a22a","#7a7f8c","#d65db1","#5d8b3a"];
const color = (i) => palette[i % palette.length];
function el(tag, attrs, text) {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}
function fmtBytes(n) {
  const u = ["B","kB","MB","GB","TB"]; let v = n, i = 0;
  if (v < 0) return "-" + fmtBytes(-v);
  while (v >= 1000 && i < u.length - 1) { v /= 1000; i++; }
  return (i === 0 ? String(Math.round(v)) : v.toFixed(1)) + " " + u[i];
}
const fmtCount = (n) => Math.round(n).toLocaleString("en-US");
const rate = (n, f) => (n === null ? "-" : (n > 0 ? "+" : "") + f(n));
const num = (n) => (n === null ? -Infinity : n);
const fmtTime = (iso) => iso.replace("T", " ").replace(/(\.\d+)?Z$/, "Z");

/** Draws series over time; stacked adds each series on the ones before it. */
function chart(svg, xs, series, opts) {
  svg.replaceChildren();
  const W = 900, H = 320, L = 70, Rm = 16, T = 12, B = 36;
  svg.setAttribute("viewBox", "0 0 " + W + " " + H);
  if (xs.length === 0 || series.length === 0) {
    svg.appendChild(el("text", { x: W / 2, y: H / 2, "text-anchor": "middle", class: "empty" }, "no data"));
    return;
  }
  const times = xs.map((x) => Date.parse(x.createdAt));
  const t0 = Math.min(...times), t1 = Math.max(...times);
  const xOf = (i) => (t1 === t0 ? L + (W - L - Rm) / 2 : L + ((times[i] - t0) / (t1 - t0)) * (W - L - Rm));
  const tops = series.map(() => []);
  const bottoms = series.map(() => []);
  let max = 0;
  xs.forEach((_, i) => {
    let acc = 0;
    series.forEach((s, k) => {
      const v = s.values[i] || 0;
      bottoms[k][i] = opts.stacked ? acc : 0;
      acc = opts.stacked ? acc + v : v;
      tops[k][i] = acc;
      max = Math.max(max, acc);
    });
  });
  max = max || 1;
  const yOf = (v) => T + (H - T - B) * (1 - v / max);
  for (let g = 0; g <= 4; g++) {
    const v = (max * g) / 4, y = yOf(v);
    svg.appendChild(el("line", { x1: L, x2: W - Rm, y1: y, y2: y, class: g === 0 ? "axis" : "grid" }));
    svg.appendChild(el("text", { x: L - 6, y: y + 4, "text-anchor": "end" }, opts.format(v)));
  }
  const labelAt = new Set([0, xs.length - 1, Math.floor((xs.length - 1) / 2)]);
  xs.forEach((x, i) => {
    if (labelAt.has(i)) svg.appendChild(el("text", { x: xOf(i), y: H - B + 16, "text-anchor": "middle" }, fmtTime(x.createdAt)));
  });
  series.forEach((s, k) => {
    const g = el("g", { class: "series", "data-series": s.key, "data-points": xs.length });
    const up = xs.map((_, i) => xOf(i).toFixed(1) + "," + yOf(tops[k][i]).toFixed(1));
    if (opts.stacked) {
      const down = xs.map((_, i) => xOf(i).toFixed(1) + "," + yOf(bottoms[k][i]).toFixed(1)).reverse();
      g.appendChild(el("path", { d: "M" + up.join("L") + "L" + down.join("L") + "Z", fill: color(k), "fill-opacity": 0.55, stroke: color(k) }));
    } else {
      g.appendChild(el("path", { d: "M" + up.join("L"), fill: "none", stroke: color(k), "stroke-width": 2 }));
    }
    xs.forEach((x, i) => {
      const c = el("circle", { class: "point", cx: xOf(i).toFixed(1), cy: yOf(tops[k][i]).toFixed(1), r: 3, fill: color(k) });
      c.appendChild(el("title", {}, s.label + " @ " + fmtTime(x.createdAt) + ": " + opts.format(s.values[i] || 0)));
      g.appendChild(c);
    });
    svg.appendChild(g);
  });
}
function legend(div, series) {
  div.replaceChildren(...series.map((s, k) => {
    const span = document.createElement("span");
    span.style.setProperty("--c", color(k));
    span.textContent = s.label;
    return span;
  }));
}
function table(id, headers, rows) {
  const t = document.getElementById(id);
  t.replaceChildren();
  const head = t.createTHead().insertRow();
  headers.forEach(([label, numeric]) => {
    const th = document.createElement("th");
    th.textContent = label;
    if (numeric) th.className = "n";
    head.appendChild(th);
  });
  const body = t.createTBody();
  if (rows.length === 0) {
    const td = body.insertRow().insertCell();
    td.colSpan = headers.length; td.className = "empty"; td.textContent = "none";
  }
  for (const r of rows) {
    const tr = body.insertRow();
    r.forEach(([text, value], i) => {
      const td = tr.insertCell();
      td.textContent = text;
      td.dataset.value = String(value);
      if (headers[i][1]) td.className = "n";
    });
  }
  head.querySelectorAll("th").forEach((th, i) => th.addEventListener("click", () => sortBy(t, i, headers[i][1], th)));
}
function sortBy(t, col, numeric, th) {
  const dir = th.getAttribute("aria-sort") === "ascending" ? "descending" : "ascending";
  t.querySelectorAll("th").forEach((h) => h.removeAttribute("aria-sort"));
  th.setAttribute("aria-sort", dir);
  const body = t.tBodies[0];
  const rows = [...body.rows].filter((r) => r.cells.length > 1 || t.rows[0].cells.length === 1);
  rows.sort((a, b) => {
    const x = a.cells[col].dataset.value, y = b.cells[col].dataset.value;
    const c = numeric ? Number(x) - Number(y) : x < y ? -1 : x > y ? 1 : 0;
    return dir === "ascending" ? c : -c;
  });
  body.append(...rows);
}

const tenantLabel = (t) => (t.name ? t.tenant + " (" + t.name + ")" : "tenant " + t.tenant);
document.getElementById("summary").textContent =
  R.snapshots.length + " snapshots" + (R.snapshots.length ? " from " + fmtTime(R.snapshots[0].createdAt) + " to " + fmtTime(R.snapshots[R.snapshots.length - 1].createdAt) : "") +
  ", " + R.tenants.length + " tenants, " + R.tables.length + " tables; generated " + fmtTime(data.generatedAt);

const stackSeries = data.stack.series.map((s) => {
  const t = R.tenants.find((x) => x.tenant === s.tenant);
  return { key: s.tenant, label: t ? tenantLabel(t) : s.tenant, values: s.values };
});
chart(document.getElementById("stack-chart"), data.stack.xs, stackSeries, { stacked: true, format: fmtBytes });
legend(document.getElementById("stack-legend"), stackSeries);

const pick = document.getElementById("tenant-pick");
R.tenants.forEach((t) => pick.appendChild(new Option(tenantLabel(t), t.tenant)));
function drawTenant() {
  const t = R.tenants.find((x) => x.tenant === pick.value);
  const xs = t ? t.series : [];
  const series = t ? t.tables.map((tt) => {
    const at = new Map(tt.series.map((p) => [p.snapshot, p.rows]));
    return { key: tt.table, label: tt.table, values: xs.map((x) => at.get(x.snapshot) || 0) };
  }) : [];
  chart(document.getElementById("tenant-chart"), xs, series, { stacked: false, format: fmtCount });
  legend(document.getElementById("tenant-legend"), series);
}
pick.addEventListener("change", drawTenant);
drawTenant();

const last = (s) => s[s.length - 1];
table("tenants-table", [["tenant"], ["rows", 1], ["stored", 1], ["rows/month", 1], ["stored/month", 1], ["snapshots", 1]],
  R.largestTenants.map((l) => {
    const t = R.tenants.find((x) => x.tenant === l.tenant);
    return [[tenantLabel(t), t.tenant], [fmtCount(l.rows), l.rows], [fmtBytes(l.storedBytes), l.storedBytes],
      [rate(t.growth.rowsPerMonth, fmtCount), num(t.growth.rowsPerMonth)], [rate(t.growth.storedBytesPerMonth, fmtBytes), num(t.growth.storedBytesPerMonth)],
      [String(t.series.length), t.series.length]];
  }));
table("tables-table", [["table"], ["rows", 1], ["stored", 1], ["rows/day", 1], ["rows/month", 1], ["stored/month", 1]],
  R.tables.map((t) => {
    const p = last(t.series);
    return [[t.table, t.table], [fmtCount(p.rows), p.rows], [fmtBytes(p.storedBytes), p.storedBytes],
      [rate(t.growth.rowsPerDay, fmtCount), num(t.growth.rowsPerDay)], [rate(t.growth.rowsPerMonth, fmtCount), num(t.growth.rowsPerMonth)],
      [rate(t.growth.storedBytesPerMonth, fmtBytes), num(t.growth.storedBytesPerMonth)]];
  }));
table("shrank-table", [["table"], ["tenant"], ["from"], ["to"], ["rows before", 1], ["rows after", 1]],
  R.shrank.map((s) => [[s.table, s.table], [s.tenant === null ? "all" : s.tenant, s.tenant === null ? "" : s.tenant],
    [fmtTime(s.fromCreatedAt), s.fromCreatedAt], [fmtTime(s.toCreatedAt), s.toCreatedAt],
    [fmtCount(s.rowsBefore), s.rowsBefore], [fmtCount(s.rowsAfter), s.rowsAfter]]));
table("snapshots-table", [["snapshot"], ["created"], ["scope"], ["rows", 1], ["stored", 1]],
  R.snapshots.map((s) => [[s.id, s.id], [fmtTime(s.createdAt), s.createdAt], [s.scope, s.scope],
    [fmtCount(s.rows), s.rows], [fmtBytes(s.storedBytes), s.storedBytes]]));
`;
