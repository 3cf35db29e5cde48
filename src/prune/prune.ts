/**
 * `pgsnap prune`: grandfather-father-son retention, counted per series: project × scope (full,
 * tenants) × tenant (for tenant snapshots). The newest snapshot that verified is always kept in
 * every series (a verified snapshot of another series never stands in for it). A snapshot is
 * removed manifest first (it disappears at once), data after; data of runs that never wrote a
 * manifest, temp files and empty directories are removed once older than a safe age.
 * `--dry-run` computes the same result and removes nothing.
 */
import { UsageError } from "../errors.js";
import { manifestName, type Manifest, type SnapshotScope } from "../format/manifest.js";
import { isSnapshotId, parseSnapshotTime } from "../format/snapshot-id.js";
import { listSnapshots } from "../snapshots/list-snapshots.js";
import { projectPrefix, snapshotPrefix, verifiedMarker } from "../storage/keys.js";
import type { Storage } from "../storage/storage.js";

export interface RetentionPolicy {
  keepLast?: number | undefined;
  keepDaily?: number | undefined;
  keepWeekly?: number | undefined;
  keepMonthly?: number | undefined;
}

export interface PruneOptions extends RetentionPolicy {
  storage: Storage;
  project?: string | undefined;
  dryRun?: boolean | undefined;
  /** Data of runs without manifest older than this is removed (default 24 h). */
  orphanAgeMs?: number | undefined;
  now?: Date | undefined;
  signal?: AbortSignal | undefined;
  /** Only series of these scopes are pruned (a job prunes its own series; default all). */
  scopes?: readonly SnapshotScope[] | undefined;
}

export interface PruneResult {
  dryRun: boolean;
  kept: { id: string; project: string; scope: string; reasons: string[] }[];
  deleted: { id: string; project: string; scope: string }[];
  orphans: string[];
  incompleteUploads: number;
}

/** Which snapshots of one series (newest first) a policy keeps, with the reasons. */
export function applyPolicy(series: readonly Manifest[], policy: RetentionPolicy): Map<string, string[]> {
  const keep = new Map<string, string[]>();
  const add = (id: string, why: string) => keep.set(id, [...(keep.get(id) ?? []), why]);
  series.slice(0, policy.keepLast ?? 0).forEach((m) => add(m.id, "last"));
  const bucket = (name: string, n: number | undefined, key: (d: Date) => string) => {
    if (!n) return;
    const seen = new Set<string>();
    for (const m of series) {
      const k = key(new Date(m.createdAt));
      if (seen.has(k)) continue;
      seen.add(k);
      if (seen.size > n) break;
      add(m.id, name);
    }
  };
  bucket("daily", policy.keepDaily, (d) => d.toISOString().slice(0, 10));
  bucket("weekly", policy.keepWeekly, isoWeek);
  bucket("monthly", policy.keepMonthly, (d) => d.toISOString().slice(0, 7));
  return keep;
}

function isoWeek(d: Date): string {
  const t = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()));
  const day = t.getUTCDay() || 7;
  t.setUTCDate(t.getUTCDate() + 4 - day);
  const yearStart = new Date(Date.UTC(t.getUTCFullYear(), 0, 1));
  const week = Math.ceil(((t.getTime() - yearStart.getTime()) / 86_400_000 + 1) / 7);
  return `${t.getUTCFullYear()}-W${week}`;
}

function seriesKey(m: Manifest): string {
  return `${m.project}\u0000${m.scope}\u0000${m.scope === "tenant" ? (m.tenants ?? []).join(",") : ""}`;
}

/** Applies a retention policy to a storage (see the module comment for the rules). */
export async function prune(options: PruneOptions): Promise<PruneResult> {
  const policy = {
    keepLast: options.keepLast,
    keepDaily: options.keepDaily,
    keepWeekly: options.keepWeekly,
    keepMonthly: options.keepMonthly,
  };
  if (!Object.values(policy).some((v) => v !== undefined && v > 0)) {
    throw new UsageError(
      "PRUNE_NO_POLICY",
      "prune needs at least one of --keep-last, --keep-daily, --keep-weekly, --keep-monthly",
      {
        hint: "e.g. pgsnap prune --keep-daily 7 --keep-weekly 4 --keep-monthly 12 --dry-run",
      },
    );
  }
  const { storage, signal } = options;
  const all = await listSnapshots(storage, options.project, { signal });
  const manifests = options.scopes ? all.filter((m) => options.scopes!.includes(m.scope)) : all;
  const prefix = options.project === undefined ? "" : projectPrefix(options.project);
  const objects = await storage.list(prefix, { signal });
  const verified = new Set(
    objects.filter((o) => o.key.endsWith("/" + verifiedMarker)).map((o) => o.key.split("/")[1]!),
  );

  const result: PruneResult = {
    dryRun: options.dryRun === true,
    kept: [],
    deleted: [],
    orphans: [],
    incompleteUploads: 0,
  };
  const series = new Map<string, Manifest[]>();
  for (const m of manifests) series.set(seriesKey(m), [...(series.get(seriesKey(m)) ?? []), m]);
  const doomed: Manifest[] = [];
  for (const list of series.values()) {
    const keep = applyPolicy(list, policy);
    // Lists are newest first: the first verified one is the series' newest verified snapshot.
    const newestVerified = list.find((m) => verified.has(m.id))?.id;
    for (const m of list) {
      const reasons = keep.get(m.id) ?? [];
      if (newestVerified === m.id) reasons.push("newest verified");
      if (reasons.length > 0) result.kept.push({ id: m.id, project: m.project, scope: m.scope, reasons });
      else doomed.push(m);
    }
  }
  // Manifests first (the snapshot vanishes atomically), data after.
  for (const m of doomed) {
    result.deleted.push({ id: m.id, project: m.project, scope: m.scope });
    if (options.dryRun) continue;
    const p = snapshotPrefix(m.project, m.id);
    await storage.delete([p + manifestName], { signal });
    const rest = (await storage.list(p, { signal })).map((o) => o.key);
    await storage.delete(rest, { signal });
  }

  // Runs that never wrote a manifest: remove their data once it is old enough.
  const now = (options.now ?? new Date()).getTime();
  const orphanAge = options.orphanAgeMs ?? 24 * 3_600_000;
  const complete = new Set(all.map((m) => snapshotPrefix(m.project, m.id)));
  const orphanPrefixes = new Map<string, number>();
  for (const o of objects) {
    const parts = o.key.split("/");
    if (parts.length !== 3 || !isSnapshotId(parts[1]!)) continue;
    const p = `${parts[0]}/${parts[1]}/`;
    if (complete.has(p) || doomed.some((m) => snapshotPrefix(m.project, m.id) === p)) continue;
    const started = parseSnapshotTime(parts[1]!)?.getTime() ?? o.lastModified.getTime();
    orphanPrefixes.set(p, Math.max(orphanPrefixes.get(p) ?? 0, started, o.lastModified.getTime()));
  }
  for (const [p, newest] of orphanPrefixes) {
    if (now - newest < orphanAge) continue;
    result.orphans.push(p);
    if (!options.dryRun)
      await storage.delete(
        (await storage.list(p, { signal })).map((o) => o.key),
        { signal },
      );
  }
  result.incompleteUploads = await storage.cleanupIncomplete(prefix, orphanAge, { signal, dryRun: options.dryRun });
  return result;
}
