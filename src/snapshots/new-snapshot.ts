/**
 * What every command that writes a snapshot needs without a database: fresh ids and the CLI's
 * JSON view of the manifest. Used by dump and by `extract`/`inspect`; here, apart from
 * src/dump/dump.ts, so that commands that never connect do not load dump's database and COPY
 * modules (~70 ms CPU of extract's start, measured, issue 14).
 */
import type { SnapshotResult } from "../dump/dump.js";
import type { Manifest } from "../format/manifest.js";
import { newSnapshotId } from "../format/snapshot-id.js";
import { projectPrefix, snapshotPrefix } from "../storage/keys.js";
import type { Storage } from "../storage/storage.js";

/**
 * `n` snapshot ids that no other snapshot of this run or of the storage uses: ids carry only
 * 16 random bits per second, so many tenants dumped in one second would otherwise collide and
 * overwrite each other's objects. One LIST per second of ids (the ids' common prefix).
 */
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
