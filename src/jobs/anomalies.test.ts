import { describe, expect, it } from "vitest";
import type { Manifest } from "../format/manifest.js";
import { findAnomalies } from "./anomalies.js";

const manifest = (id: string, tables: Record<string, number>, tenants: string[] | null = null): Manifest =>
  ({
    id,
    scope: tenants ? "tenants" : "full",
    tenants,
    tables: Object.entries(tables).map(([table, rows]) => ({ table, rows })),
  }) as unknown as Manifest;

describe("anomaly checks against the previous snapshot", () => {
  it("flags rows to 0, down by more than half, a gone table and a gone tenant", () => {
    const prev = manifest("p", { "public.a": 100, "public.b": 100, "public.c": 10, "public.d": 0, "public.e": 5 }, [
      "1",
      "2",
    ]);
    const next = manifest("n", { "public.a": 0, "public.b": 49, "public.c": 5, "public.d": 0 }, ["1"]);
    expect(findAnomalies(prev, next)).toEqual([
      "table public.a: rows dropped to 0 (from 100 in p)",
      "table public.b: rows dropped by more than half, 100 → 49 (since p)",
      "table public.e is gone (had 5 rows in p)",
      "tenant 2 disappeared (present in p)",
    ]);
  });
  it("is quiet without a previous snapshot or when the data grew", () => {
    expect(findAnomalies(undefined, manifest("n", { "public.a": 0 }))).toEqual([]);
    expect(findAnomalies(manifest("p", { "public.a": 10 }), manifest("n", { "public.a": 11 }))).toEqual([]);
  });
});
