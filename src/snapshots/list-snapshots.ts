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
  /**
   * For `latest`: the tables the request needs (ids or names as `--tables` takes them). Without
   * it the request needs every table, so a partial (`--tables`) snapshot cannot serve it.
   */
  tables?: readonly string[] | undefined;
  /** For `latest`: told which snapshot was chosen and why the ones read before it were skipped. */
  onChoice?: ((choice: LatestChoice) => void) | undefined;
  /** Only snapshots of these scopes. */
  scopes?: readonly SnapshotScope[] | undefined;
  signal?: AbortSignal | undefined;
  /** Told about each manifest that cannot be read (it is left out of the list). */
  onSkip?: ((key: string, err: IntegrityError) => void) | undefined;
}

/** Which snapshot `latest` chose, and why newer ones could not serve the request. */
export interface LatestChoice {
  id: string;
  /** One line for a user: what was chosen and why (printed on stderr by the CLI). */
  reason: string;
  skipped: { id: string; reason: string }[];
}

/** Why a snapshot cannot serve a `latest` request, or undefined when it can. */
export function unservableReason(m: Manifest, filter: SnapshotFilter): string | undefined {
  if (filter.scopes !== undefined && !filter.scopes.includes(m.scope)) return `its scope is ${m.scope}`;
  if (filter.tenant !== undefined && !manifestHasTenant(m, filter.tenant)) {
    return `it does not hold tenant ${filter.tenant}`;
  }
  const wanted = (filter.tables ?? []).filter((t) => t.trim() !== "");
  if (wanted.length === 0 && m.partial) return "it is a partial dump (--tables/--exclude-tables)";
  const missing = wanted.filter((name) => !manifestTableMatches(m, name));
  if (missing.length > 0) return `it lacks table${missing.length > 1 ? "s" : ""} ${missing.join(", ")}`;
  if (m.rows === 0) return "it holds no rows";
  return undefined;
}

/** Does the snapshot hold the table named `name` (an id, `schema.table`, or a bare name)? */
function manifestTableMatches(m: Manifest, name: string): boolean {
  const n = name.trim();
  return m.tables.some((t) => t.table === n || `${t.schema}.${t.name}` === n || t.name === n);
}

/** What a request for `latest` asks for, in words. */
function describeRequest(project: string | undefined, filter: SnapshotFilter): string {
  const parts = [project ? `of project ${project}` : ""];
  if (filter.tenant !== undefined) parts.push(`holding tenant ${filter.tenant}`);
  const wanted = (filter.tables ?? []).filter((t) => t.trim() !== "");
  parts.push(wanted.length > 0 ? `with table${wanted.length > 1 ? "s" : ""} ${wanted.join(", ")}` : "with every table");
  if (filter.scopes !== undefined) parts.push(`of scope ${filter.scopes.join(" or ")}`);
  return parts.filter(Boolean).join(", ");
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

/** A snapshot `latest` read and passed over; `createdAt` when its manifest could be read. */
interface SkippedSnapshot {
  id: string;
  createdAt?: string | undefined;
  reason: string;
}

/**
 * The newest snapshot that can serve the request (unservableReason), reading manifests newest id
 * first and stopping as soon as no older id can hold newer data: a snapshot's data time
 * (createdAt) is at most its id's time plus the second the id truncates (extracted snapshots
 * carry their source's, older, data time). So `latest` reads a few manifests, not every one of
 * the project. Every manifest read and not chosen is reported with its reason.
 */
async function findLatest(
  storage: Storage,
  project: string | undefined,
  options: SnapshotFilter,
): Promise<{ manifest: Manifest | undefined; skipped: SkippedSnapshot[] }> {
  const keys = (await manifestKeys(storage, project, options.signal)).sort((a, b) =>
    idOf(a) < idOf(b) ? 1 : idOf(a) > idOf(b) ? -1 : 0,
  );
  let best: Manifest | undefined;
  const skipped: SkippedSnapshot[] = [];
  const passed: Manifest[] = [];
  for (const key of keys) {
    const idTime = parseSnapshotTime(idOf(key))?.getTime() ?? Number.POSITIVE_INFINITY;
    if (best !== undefined && idTime + 1000 < Date.parse(best.createdAt)) break;
    let m: Manifest;
    try {
      m = parseManifest(await storage.getBytes(key, { signal: options.signal }), key);
    } catch (err) {
      if (!(err instanceof IntegrityError)) throw err;
      options.onSkip?.(key, err);
      skipped.push({ id: idOf(key), reason: `its manifest cannot be read: ${err.message}` });
      continue;
    }
    const why = unservableReason(m, options);
    if (why !== undefined) {
      skipped.push({ id: m.id, createdAt: m.createdAt, reason: why });
      continue;
    }
    passed.push(m);
    if (best === undefined || newestFirst(m, best) < 0) best = m;
  }
  for (const m of passed) {
    if (m !== best) {
      skipped.push({
        id: m.id,
        createdAt: m.createdAt,
        reason: `a snapshot with newer data (${best!.id}) serves the request`,
      });
    }
  }
  return { manifest: best, skipped };
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
 * project that can serve the request: holding `tenant` (when given) and every table of
 * `tables` (else not partial), with rows (see unservableReason); `onChoice` hears why.
 */
export async function findSnapshot(
  storage: Storage,
  project: string | undefined,
  ref: string,
  options: SnapshotFilter = {},
): Promise<Manifest> {
  if (ref === "latest") {
    const { manifest: m, skipped } = await findLatest(storage, project, options);
    const request = describeRequest(project, options);
    if (!m) {
      const why = skipped
        .slice(0, 5)
        .map((s) => `${s.id}: ${s.reason}`)
        .join("; ");
      throw new UsageError(
        "SNAPSHOT_NONE",
        `no complete snapshot ${request} in ${storage.location}${why ? ` (skipped ${why})` : ""}`,
        { hint: "run `pgsnap dump` first (a whole dump, without --tables), or check --storage and --project" },
      );
    }
    // Newer as `latest` orders (newestFirst): by data time, and by id only within the same instant
    // (ids carry whole seconds and a random suffix, so two snapshots of one second are not ordered
    // by id). A manifest that could not be read has no data time: its id decides.
    const newer = skipped.filter((s) =>
      s.createdAt === undefined || s.createdAt === m.createdAt ? s.id > m.id : s.createdAt > m.createdAt,
    );
    options.onChoice?.({
      id: m.id,
      reason:
        `latest is ${m.id} (${m.scope}, data of ${m.createdAt}): the newest snapshot ${request}` +
        (newer.length > 0 ? `; skipped newer ${newer.map((s) => `${s.id} (${s.reason})`).join(", ")}` : ""),
      skipped: skipped.map(({ id, reason }) => ({ id, reason })),
    });
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
