/**
 * The snapshot manifest (DESIGN.md, "Snapshot format (v1)"): written last, the only thing that
 * makes a snapshot visible, and the record every object is checked against.
 */
import { IntegrityError } from "../errors.js";
import { canonicalTenantText } from "./tenant-id.js";

export const manifestFormat = "pgsnap-snapshot";
export const manifestVersion = 1;
export const manifestName = "manifest.json";

export type SnapshotScope = "full" | "tenant" | "tenants";

/**
 * One zstd frame of a `tenants` data file: the rows of one tenant, or, with `tenant: null`, the
 * rows owned by no tenant (a NULL tenant key, a NULL foreign key on a via table, or a chain
 * broken further up). A table has at most one `null` frame and it is its last one. Such rows
 * are in no tenant's restore; `restore --all` restores them with the rest (see `allRows`).
 */
export interface FrameEntry {
  tenant: string | null;
  offset: number;
  length: number;
  rows: number;
  bytes: number;
  sha256: string;
}

export interface ManifestColumn {
  name: string;
  type: string;
  encoding: "native" | "text" | "money";
  generated?: boolean;
  identity?: "a" | "d";
}

export interface ManifestTable {
  table: string;
  schema: string;
  name: string;
  scope: "direct" | "via" | "custom" | "global";
  /** The exact WHERE condition (alias t) that selected the rows, null when all rows. */
  filter: string | null;
  /**
   * How a row of this table finds its tenant (the plan at dump time): the tenant column of a
   * `direct` table, or the foreign key of a `via` table to its parent. Lets `extract` cut one
   * tenant out of a full snapshot without a database.
   */
  owner?: { column: string } | { fk: string; columns: string[]; refTable: string; refColumns: string[] };
  object: string;
  columns: ManifestColumn[];
  rows: number;
  bytes: number;
  storedBytes: number;
  sha256: string;
  frames?: FrameEntry[];
}

export interface Manifest {
  format: typeof manifestFormat;
  version: number;
  id: string;
  project: string;
  scope: SnapshotScope;
  tenantColumn: string;
  /**
   * Base type (pg typname) of the tenant column; tenant ids in `tenants` and in frames are
   * canonical under its equality (src/format/tenant-id.ts). Absent in older snapshots.
   */
  tenantType?: string | null;
  /** The tenants of a `tenant` or `tenants` snapshot (never null entries); null for `full`. */
  tenants: string[] | null;
  /**
   * Set on `tenants` snapshots that hold every row of every dumped table: each tenant's rows in
   * its frame, rows owned by no tenant in a `tenant: null` frame, global tables whole. Such a
   * snapshot is a complete backup, restorable with `restore --all` like a `full` one. Older
   * `tenants` snapshots (without it) lack the rows owned by no tenant.
   */
  allRows?: true;
  /**
   * Set when `--tables` / `--exclude-tables` left tables out: the snapshot is not a backup of the
   * whole database (or tenant), and `latest` skips it unless a request names only tables it has.
   */
  partial?: true;
  createdAt: string;
  finishedAt: string;
  durationMs: number;
  /** For a snapshot made by `extract`: the id of the snapshot it was cut from. */
  extractedFrom?: string;
  tool: { name: "pgsnap"; version: string };
  server: { version: string; versionNum: number; database: string };
  /** The database the rows came from; a restore elsewhere needs --to-other-database. */
  source?: { database: string; systemIdentifier: string | null };
  /** Data files: one JSON object per row and line (see src/db/encode.ts), zstd-compressed. */
  encoding: { rows: "ndjson"; compression: "zstd"; level: number };
  settings: Record<string, string>;
  rows: number;
  bytes: number;
  storedBytes: number;
  tables: ManifestTable[];
}

/** Parses and checks a manifest; unknown formats or versions are integrity errors (exit 12). */
export function parseManifest(data: Buffer | string, where: string): Manifest {
  let m: unknown;
  try {
    m = JSON.parse(data.toString());
  } catch (err) {
    throw new IntegrityError("MANIFEST_CORRUPT", `manifest ${where} is not valid JSON`, {
      hint: "the snapshot is damaged; use another snapshot (pgsnap list)",
      cause: err,
    });
  }
  const obj = m as Partial<Manifest>;
  if (obj.format !== manifestFormat) {
    throw new IntegrityError("MANIFEST_UNKNOWN_FORMAT", `manifest ${where} is not a pgsnap manifest`, {
      hint: "point --storage at a pgsnap storage location",
    });
  }
  if (obj.version !== manifestVersion) {
    throw new IntegrityError(
      "MANIFEST_UNKNOWN_VERSION",
      `manifest ${where} has format version ${String(obj.version)}; this pgsnap reads version ${manifestVersion}`,
      { hint: "use the pgsnap version that wrote this snapshot, or a newer one" },
    );
  }
  if (!Array.isArray(obj.tables) || typeof obj.id !== "string" || typeof obj.scope !== "string") {
    throw new IntegrityError("MANIFEST_CORRUPT", `manifest ${where} lacks tables, id or scope`, {
      hint: "the snapshot is damaged; use another snapshot (pgsnap list)",
    });
  }
  return obj as Manifest;
}

/** The tenant id in the canonical spelling of this snapshot's tenant type. */
export function manifestTenant(m: Manifest, tenant: string): string {
  return canonicalTenantText(m.tenantType ?? undefined, tenant);
}

/** Does the snapshot hold rows of `tenant` (compared in canonical spelling)? */
export function manifestHasTenant(m: Manifest, tenant: string): boolean {
  if (m.scope === "full") return true;
  const id = manifestTenant(m, tenant);
  if (m.scope === "tenant") return m.tenants?.includes(id) ?? false;
  return m.tables.some((t) => t.frames?.some((f) => f.tenant === id));
}

/** The frame of `tenant` in a table of a tenants snapshot, if it has one. */
export function frameOf(m: Manifest, t: ManifestTable, tenant: string): FrameEntry | undefined {
  const id = manifestTenant(m, tenant);
  return t.frames?.find((f) => f.tenant === id);
}
