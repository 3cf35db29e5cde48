import { describe, expect, it } from "vitest";
import { testManifest } from "../../test/helpers/manifest.js";
import type { Manifest, ManifestTable } from "../format/manifest.js";
import { tenantStack } from "./html.js";
import { buildReport, growthOf } from "./report.js";

function table(
  name: string,
  rows: number,
  storedBytes: number,
  frames?: [string | null, number, number][],
): ManifestTable {
  return {
    table: `public.${name}`,
    schema: "public",
    name,
    scope: "direct",
    filter: null,
    object: `public.${name}.ndjson.zst`,
    columns: [],
    rows,
    bytes: rows * 10,
    storedBytes,
    sha256: "",
    ...(frames
      ? {
          frames: frames.map(([tenant, r, length], i) => ({
            tenant,
            offset: i * 100,
            length,
            rows: r,
            bytes: r * 10,
            sha256: "",
          })),
        }
      : {}),
  };
}

function snap(id: string, createdAt: string, scope: Manifest["scope"], tables: ManifestTable[], tenants?: string[]) {
  const m = testManifest(id, createdAt, scope, tenants ?? null);
  m.tables = tables;
  m.rows = tables.reduce((a, t) => a + t.rows, 0);
  m.storedBytes = tables.reduce((a, t) => a + t.storedBytes, 0);
  return m;
}

const manifests = [
  snap("20260101T030000Z-aaaa", "2026-01-01T03:00:00.000Z", "tenants", [
    table("orders", 305, 3050, [
      ["1", 100, 1000],
      ["2", 200, 2000],
      // rows owned by no tenant: in the table's numbers, in no tenant's
      [null, 5, 50],
    ]),
  ]),
  snap("20260111T030000Z-bbbb", "2026-01-11T03:00:00.000Z", "tenants", [
    table("orders", 250, 2600, [
      ["1", 150, 1500],
      ["2", 100, 1100],
    ]),
  ]),
  snap("20260121T030000Z-cccc", "2026-01-21T03:00:00.000Z", "tenant", [table("orders", 40, 400)], ["3"]),
  snap("20260131T030000Z-dddd", "2026-01-31T03:00:00.000Z", "tenants", [
    table("orders", 500, 5000, [
      ["1", 400, 4000],
      ["2", 100, 1000],
    ]),
  ]),
];

describe("buildReport", () => {
  it("follows tenants through frames and tenant snapshots, tables through whole-table snapshots", () => {
    const r = buildReport("p", manifests);
    expect(r.snapshots.map((s) => s.id)).toEqual(manifests.map((m) => m.id));
    expect(r.tenants.map((t) => [t.tenant, t.series.map((p) => p.rows)])).toEqual([
      ["1", [100, 150, 400]],
      ["2", [200, 100, 100]],
      ["3", [40]],
    ]);
    expect(r.tables).toHaveLength(1);
    expect(r.tables[0]!.series.map((p) => p.rows)).toEqual([305, 250, 500]);
    expect(r.largestTenants.map((t) => t.tenant)).toEqual(["1", "2", "3"]);
    expect(r.shrank).toEqual([
      expect.objectContaining({ table: "public.orders", tenant: null, rowsBefore: 305, rowsAfter: 250 }),
      expect.objectContaining({ table: "public.orders", tenant: "2", rowsBefore: 200, rowsAfter: 100 }),
    ]);
  });

  it("computes growth per day and per 30-day month over the span of the points", () => {
    const r = buildReport("p", manifests);
    const one = r.tenants[0]!.growth;
    expect(one).toEqual({
      days: 30,
      rows: 300,
      storedBytes: 3000,
      rowsPerDay: 10,
      storedBytesPerDay: 100,
      rowsPerMonth: 300,
      storedBytesPerMonth: 3000,
    });
    expect(growthOf([]).rowsPerDay).toBeNull();
  });

  it("applies --since and --tenant", () => {
    const r = buildReport("p", manifests, { since: new Date("2026-01-10T00:00:00Z"), tenant: "2" });
    expect(r.snapshots).toHaveLength(3);
    expect(r.tenants.map((t) => t.tenant)).toEqual(["2"]);
    expect(r.tenants[0]!.series.map((p) => p.rows)).toEqual([100, 100]);
  });

  it("stacks every tenant at every snapshot: 0 where a tenants snapshot lacks it, last size between tenant snapshots", () => {
    const stack = tenantStack(buildReport("p", manifests));
    expect(stack.xs).toHaveLength(4);
    expect(stack.series).toEqual([
      { tenant: "1", values: [1000, 1500, 1500, 4000] },
      { tenant: "2", values: [2000, 1100, 1100, 1000] },
      { tenant: "3", values: [0, 0, 400, 0] },
    ]);
  });
});
