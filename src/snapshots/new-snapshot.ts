/**
 * What every command that writes a snapshot needs without a database: fresh ids and the CLI's
 * JSON view of the manifest. The same as dump's `freshSnapshotIds` / `snapshotResult`
 * (src/dump/dump.ts), here so that `extract`, which never connects, does not load dump's
 * database and COPY modules (~70 ms CPU of its start, measured, issue 14).
 */
import type { SnapshotResult } from "../dump/dump.js";
import type { Manifest } from "../format/manifest.js";
import { newSnapshotId } from "../format/snapshot-id.js";
import { projectPrefix, snapshotPrefix } from "../storage/keys.js";
import type { Storage } from "../storage/storage.js";

/** `n` new snapshot ids that no snapshot of `project` in `storage` has yet. */
export async function freshSnapshotIds(
  storage: Storage,
  project: string,
  n: number,
  signal?: AbortSignal,
): Promise<string[]> {
  const ids = new Set<string>();
  const taken = new Map<string, Set<string>>();
  while (ids.size < n) {
    const id = newSnapshotId();
    const second = id.slice(0, id.indexOf("-") + 1);
    let seen = taken.get(second);
    if (seen === undefined) {
      const existing = await storage.list(projectPrefix(project) + second, { signal });
      seen = new Set(existing.map((o) => o.key.split("/")[1]!));
      taken.set(second, seen);
    }
    if (!seen.has(id)) ids.add(id);
  }
  return [...ids];
}

/** The CLI's JSON view of a manifest. */
export function snapshotResult(m: Manifest, storage: Storage): SnapshotResult {
  return {
    id: m.id,
    project: m.project,
    scope: m.scope,
    tenants: m.tenants,
    location: `${storage.location.replace(/\/$/, "")}/${snapshotPrefix(m.project, m.id)}`,
    createdAt: m.createdAt,
    rows: m.rows,
    storedBytes: m.storedBytes,
    durationMs: m.durationMs,
    tables: m.tables.map((t) => ({ table: t.table, rows: t.rows, bytes: t.bytes, storedBytes: t.storedBytes })),
  };
}
