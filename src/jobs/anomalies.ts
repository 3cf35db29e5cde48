/**
 * Does a new snapshot look wrong against the previous snapshot of its series? A table whose rows
 * dropped to 0 or by more than half, a table that is gone, a tenant that disappeared: each is a
 * warning (the backup itself succeeded; a person should look).
 */
import type { Manifest } from "../format/manifest.js";

/** Warnings for `next` compared with `previous` (same project and scope), empty when it looks fine. */
export function findAnomalies(previous: Manifest | undefined, next: Manifest): string[] {
  if (!previous) return [];
  const warnings: string[] = [];
  const now = new Map(next.tables.map((t) => [t.table, t]));
  for (const before of previous.tables) {
    const after = now.get(before.table);
    if (!after) {
      warnings.push(`table ${before.table} is gone (had ${before.rows} rows in ${previous.id})`);
      continue;
    }
    if (before.rows === 0) continue;
    if (after.rows === 0)
      warnings.push(`table ${before.table}: rows dropped to 0 (from ${before.rows} in ${previous.id})`);
    else if (after.rows * 2 < before.rows)
      warnings.push(
        `table ${before.table}: rows dropped by more than half, ${before.rows} → ${after.rows} (since ${previous.id})`,
      );
  }
  if (previous.scope === "tenants" && next.scope === "tenants") {
    const present = new Set(next.tenants ?? []);
    const gone = (previous.tenants ?? []).filter((t) => !present.has(t));
    for (const t of gone.slice(0, 20)) warnings.push(`tenant ${t} disappeared (present in ${previous.id})`);
    if (gone.length > 20) warnings.push(`… and ${gone.length - 20} more tenants disappeared`);
  }
  return warnings;
}
