/**
 * `pgsnap report`: how each project, tenant and table grows, from manifests alone (no database).
 * Per-tenant numbers come from `tenants` snapshots (one frame per tenant per table: rows and
 * stored bytes) and from `tenant` snapshots (the whole snapshot is one tenant); per-table and
 * project numbers from snapshots that hold whole tables (`full` and `tenants`).
 */
import type { Manifest } from "../format/manifest.js";

/** One snapshot's numbers for one series (a tenant, a table, or a tenant's table). */
export interface SeriesPoint {
  snapshot: string;
  createdAt: string;
  rows: number;
  storedBytes: number;
}

/**
 * Change between a series' first and last point, per day and per 30-day month. The rates are
 * null when the points span less than a day (a rate from minutes apart says nothing).
 */
export interface Growth {
  days: number;
  rows: number;
  storedBytes: number;
  rowsPerDay: number | null;
  storedBytesPerDay: number | null;
  rowsPerMonth: number | null;
  storedBytesPerMonth: number | null;
}

export interface TenantSeries {
  tenant: string;
  /** Display name; manifests carry none, so null unless the caller adds names. */
  name: string | null;
  series: SeriesPoint[];
  growth: Growth;
  /** Rows and stored bytes per table of this tenant, over the same snapshots. */
  tables: { table: string; series: SeriesPoint[] }[];
}

export interface TableSeries {
  table: string;
  series: SeriesPoint[];
  growth: Growth;
}

/** A table (of the whole project, or of one tenant) whose rows went down between two snapshots. */
export interface Shrink {
  table: string;
  tenant: string | null;
  from: string;
  to: string;
  fromCreatedAt: string;
  toCreatedAt: string;
  rowsBefore: number;
  rowsAfter: number;
}

/** What `pgsnap report --json` prints (CLI.md). */
export interface GrowthReport {
  project: string;
  snapshots: { id: string; createdAt: string; scope: string; rows: number; storedBytes: number }[];
  tenants: TenantSeries[];
  tables: TableSeries[];
  /** Tenants by stored bytes at their latest point, largest first. */
  largestTenants: { tenant: string; name: string | null; rows: number; storedBytes: number }[];
  shrank: Shrink[];
}

export interface ReportOptions {
  /** Only snapshots created at or after this instant. */
  since?: Date | undefined;
  /** Only this tenant in `tenants` (tables still cover the project). */
  tenant?: string | undefined;
}

const DAY = 86_400_000;

/** Growth of a series from its first to its last point. */
export function growthOf(series: readonly SeriesPoint[]): Growth {
  const first = series[0];
  const last = series[series.length - 1];
  const days = first && last ? (Date.parse(last.createdAt) - Date.parse(first.createdAt)) / DAY : 0;
  const rows = first && last ? last.rows - first.rows : 0;
  const storedBytes = first && last ? last.storedBytes - first.storedBytes : 0;
  const rate = (n: number, per: number, digits: number) => (days >= 1 ? round((n / days) * per, digits) : null);
  return {
    days: round(days, 2),
    rows,
    storedBytes,
    rowsPerDay: rate(rows, 1, 1),
    storedBytesPerDay: rate(storedBytes, 1, 0),
    rowsPerMonth: rate(rows, 30, 0),
    storedBytesPerMonth: rate(storedBytes, 30, 0),
  };
}

function round(n: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

/** Builds the report of one project from its manifests (any order). */
export function buildReport(
  project: string,
  manifests: readonly Manifest[],
  options: ReportOptions = {},
): GrowthReport {
  const since = options.since?.getTime();
  const chosen = manifests
    .filter((m) => m.project === project)
    .filter((m) => since === undefined || Date.parse(m.createdAt) >= since)
    .sort((a, b) => (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : a.id < b.id ? -1 : 1));

  const tenantPoints = new Map<string, SeriesPoint[]>();
  const tenantTablePoints = new Map<string, Map<string, SeriesPoint[]>>();
  const tablePoints = new Map<string, SeriesPoint[]>();
  const push = <K>(map: Map<K, SeriesPoint[]>, key: K, p: SeriesPoint) => {
    const list = map.get(key) ?? [];
    list.push(p);
    map.set(key, list);
  };
  const pointOf = (m: Manifest, rows: number, storedBytes: number): SeriesPoint => ({
    snapshot: m.id,
    createdAt: m.createdAt,
    rows,
    storedBytes,
  });

  for (const m of chosen) {
    if (m.scope === "full" || m.scope === "tenants") {
      for (const t of m.tables) push(tablePoints, t.table, pointOf(m, t.rows, t.storedBytes));
    }
    const perTenant = new Map<string, { rows: number; storedBytes: number; tables: Map<string, SeriesPoint> }>();
    const add = (tenant: string, table: string, rows: number, storedBytes: number) => {
      const e = perTenant.get(tenant) ?? { rows: 0, storedBytes: 0, tables: new Map<string, SeriesPoint>() };
      e.rows += rows;
      e.storedBytes += storedBytes;
      e.tables.set(table, pointOf(m, rows, storedBytes));
      perTenant.set(tenant, e);
    };
    if (m.scope === "tenants") {
      // The frame of rows owned by no tenant (tenant null) counts for its table, not for a tenant.
      for (const t of m.tables)
        for (const f of t.frames ?? []) if (f.tenant !== null) add(f.tenant, t.table, f.rows, f.length);
    } else if (m.scope === "tenant" && m.tenants?.length === 1) {
      for (const t of m.tables) add(m.tenants[0]!, t.table, t.rows, t.storedBytes);
    }
    for (const [tenant, e] of perTenant) {
      if (options.tenant !== undefined && tenant !== options.tenant) continue;
      push(tenantPoints, tenant, pointOf(m, e.rows, e.storedBytes));
      const tables = tenantTablePoints.get(tenant) ?? new Map<string, SeriesPoint[]>();
      for (const [table, p] of e.tables) push(tables, table, p);
      tenantTablePoints.set(tenant, tables);
    }
  }

  const byId = (a: string, b: string) => {
    const na = Number(a);
    const nb = Number(b);
    if (Number.isFinite(na) && Number.isFinite(nb) && na !== nb) return na - nb;
    return a < b ? -1 : a > b ? 1 : 0;
  };
  const tenants: TenantSeries[] = [...tenantPoints.keys()].sort(byId).map((tenant) => {
    const series = tenantPoints.get(tenant)!;
    const tables = [...(tenantTablePoints.get(tenant) ?? new Map<string, SeriesPoint[]>()).entries()]
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([table, s]) => ({ table, series: s }));
    return { tenant, name: null, series, growth: growthOf(series), tables };
  });
  const tables: TableSeries[] = [...tablePoints.entries()]
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([table, series]) => ({ table, series, growth: growthOf(series) }));

  const shrank: Shrink[] = [];
  const drops = (table: string, tenant: string | null, series: readonly SeriesPoint[]) => {
    for (let i = 1; i < series.length; i++) {
      const a = series[i - 1]!;
      const b = series[i]!;
      if (b.rows < a.rows) {
        shrank.push({
          table,
          tenant,
          from: a.snapshot,
          to: b.snapshot,
          fromCreatedAt: a.createdAt,
          toCreatedAt: b.createdAt,
          rowsBefore: a.rows,
          rowsAfter: b.rows,
        });
      }
    }
  };
  for (const t of tables) drops(t.table, null, t.series);
  for (const t of tenants) for (const tt of t.tables) drops(tt.table, t.tenant, tt.series);

  const largestTenants = tenants
    .map((t) => {
      const last = t.series[t.series.length - 1]!;
      return { tenant: t.tenant, name: t.name, rows: last.rows, storedBytes: last.storedBytes };
    })
    .sort((a, b) => b.storedBytes - a.storedBytes || b.rows - a.rows);

  return {
    project,
    snapshots: chosen.map((m) => ({
      id: m.id,
      createdAt: m.createdAt,
      scope: m.scope,
      rows: m.rows,
      storedBytes: m.storedBytes,
    })),
    tenants,
    tables,
    largestTenants,
    shrank,
  };
}
