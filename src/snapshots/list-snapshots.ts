/** Finding complete snapshots in storage: a snapshot exists exactly when its manifest does. */
import { IntegrityError, UsageError } from "../errors.js";
import {
  manifestHasTenant,
  manifestName,
  parseManifest,
  type Manifest,
  type SnapshotScope,
} from "../format/manifest.js";
import { isSnapshotId, parseSnapshotTime } from "../format/snapshot-id.js";
import { projectPrefix } from "../storage/keys.js";
import type { Storage } from "../storage/storage.js";

export interface SnapshotFilter {
  /** Only snapshots holding this tenant. */
  tenant?: string | undefined;
  /** Only snapshots of these scopes. */
  scopes?: readonly SnapshotScope[] | undefined;
  signal?: AbortSignal | undefined;
  /** Told about each manifest that cannot be read (it is left out of the list). */
  onSkip?: ((key: string, err: IntegrityError) => void) | undefined;
}

/** Keys of every manifest under the project (or the whole storage). */
async function manifestKeys(storage: Storage, project: string | undefined, signal?: AbortSignal): Promise<string[]> {
  const prefix = project === undefined ? "" : projectPrefix(project);
  return (await storage.list(prefix, { signal }))
    .map((o) => o.key)
    .filter((k) => {
      const parts = k.split("/");
      return parts.length === 3 && parts[2] === manifestName && isSnapshotId(parts[1]!);
    });
}

/** Every complete snapshot (of one project, or all), newest first. */
export async function listSnapshots(
  storage: Storage,
  project: string | undefined,
  options: SnapshotFilter = {},
): Promise<Manifest[]> {
  const keys = await manifestKeys(storage, project, options.signal);
  const manifests: Manifest[] = [];
  for (const key of keys) {
    try {
      manifests.push(parseManifest(await storage.getBytes(key, { signal: options.signal }), key));
    } catch (err) {
      // One damaged (or newer-format) manifest must not hide every other snapshot.
      if (!(err instanceof IntegrityError)) throw err;
      options.onSkip?.(key, err);
    }
  }
  const tenant = options.tenant;
  return manifests
    .filter((m) => tenant === undefined || manifestHasTenant(m, tenant))
    .filter((m) => options.scopes === undefined || options.scopes.includes(m.scope))
    .sort(newestFirst);
}

/**
 * The newest matching snapshot, reading manifests newest id first and stopping as soon as no
 * older id can hold newer data: a snapshot's data time (createdAt) is at most its id's time plus
 * the second the id truncates (extracted snapshots carry their source's, older, data time). So
 * `latest` reads a few manifests, not every one of the project.
 */
async function findLatest(
  storage: Storage,
  project: string | undefined,
  options: SnapshotFilter,
): Promise<Manifest | undefined> {
  const keys = (await manifestKeys(storage, project, options.signal)).sort((a, b) =>
    idOf(a) < idOf(b) ? 1 : idOf(a) > idOf(b) ? -1 : 0,
  );
  let best: Manifest | undefined;
  for (const key of keys) {
    const idTime = parseSnapshotTime(idOf(key))?.getTime() ?? Number.POSITIVE_INFINITY;
    if (best !== undefined && idTime + 1000 < Date.parse(best.createdAt)) break;
    let m: Manifest;
    try {
      m = parseManifest(await storage.getBytes(key, { signal: options.signal }), key);
    } catch (err) {
      if (!(err instanceof IntegrityError)) throw err;
      options.onSkip?.(key, err);
      continue;
    }
    if (options.tenant !== undefined && !manifestHasTenant(m, options.tenant)) continue;
    if (options.scopes !== undefined && !options.scopes.includes(m.scope)) continue;
    if (best === undefined || newestFirst(m, best) < 0) best = m;
  }
  return best;
}

function idOf(key: string): string {
  return key.split("/")[1] ?? "";
}

/** Newest data first: by the time the snapshot's data was read, then by id. */
export function newestFirst(a: Manifest, b: Manifest): number {
  if (a.createdAt !== b.createdAt) return a.createdAt < b.createdAt ? 1 : -1;
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}

/**
 * Resolves `latest` or an id to a manifest. `latest` is the newest complete snapshot of the
 * project containing `tenant` (when given).
 */
export async function findSnapshot(
  storage: Storage,
  project: string | undefined,
  ref: string,
  options: SnapshotFilter = {},
): Promise<Manifest> {
  if (ref === "latest") {
    const m = await findLatest(storage, project, options);
    if (!m) {
      throw new UsageError(
        "SNAPSHOT_NONE",
        `no complete snapshot${project ? ` of project ${project}` : ""}${options.tenant !== undefined ? ` contains tenant ${options.tenant}` : ""} in ${storage.location}`,
        { hint: "run `pgsnap dump` first, or check --storage and --project" },
      );
    }
    return m;
  }
  if (!isSnapshotId(ref)) {
    throw new UsageError("SNAPSHOT_ID_INVALID", `${ref} is not a snapshot id`, {
      hint: "use an id from `pgsnap list` (like 20260118T030000Z-3f9a) or `latest`",
    });
  }
  const key = (await manifestKeys(storage, project, options.signal)).find((k) => k.split("/")[1] === ref);
  // Read the named manifest itself: a damaged one is an integrity error, not "not found".
  const m = key === undefined ? undefined : parseManifest(await storage.getBytes(key, { signal: options.signal }), key);
  if (!m) {
    throw new UsageError(
      "SNAPSHOT_NOT_FOUND",
      `snapshot ${ref} not found${project ? ` in project ${project}` : ""} at ${storage.location}`,
      {
        hint: "see `pgsnap list`; a snapshot without manifest is incomplete and cannot be used",
      },
    );
  }
  if (options.tenant !== undefined && !manifestHasTenant(m, options.tenant)) {
    throw new UsageError("SNAPSHOT_LACKS_TENANT", `snapshot ${ref} does not contain tenant ${options.tenant}`, {
      hint: `see \`pgsnap list --tenant ${options.tenant}\``,
    });
  }
  return m;
}
