/** A minimal valid manifest for tests of code that only reads manifests (list, prune). */
import type { Manifest } from "../../src/format/manifest.js";

export function testManifest(
  id: string,
  createdAt: string,
  scope: Manifest["scope"] = "full",
  tenants: string[] | null = null,
): Manifest {
  return {
    format: "pgsnap-snapshot",
    version: 1,
    id,
    project: "p",
    scope,
    tenantColumn: "user_id",
    tenants,
    createdAt,
    finishedAt: createdAt,
    durationMs: 1,
    tool: { name: "pgsnap", version: "0" },
    server: { version: "15", versionNum: 150000, database: "p" },
    encoding: { rows: "ndjson", compression: "zstd", level: 3 },
    settings: {},
    // Not empty: `latest` skips snapshots without rows.
    rows: 1,
    bytes: 0,
    storedBytes: 0,
    tables: [],
  };
}
