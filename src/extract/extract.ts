/**
 * `pgsnap extract`: cut one tenant out of a `tenants` snapshot (copying its frames, each already a
 * complete zstd file) or a `full` snapshot (filtering rows with the plan recorded in the
 * manifest), into a new `tenant` snapshot. No database is touched. Data first, manifest last.
 */
import { Readable, type TransformCallback } from "node:stream";
import { pipeline } from "node:stream/promises";
import { IntegrityError, PgsnapError, UsageError } from "../errors.js";
import { DigestStream, sha256Hex } from "../format/digest.js";
import { ZstdLineFilter, type KeepLine } from "../format/line-filter.js";
import { manifestName, manifestTenant, type Manifest, type ManifestTable } from "../format/manifest.js";
import { RowScanner, TenantMatcher } from "../format/row-scan.js";
import { compressBuffer, createCompressStream } from "../format/zstd.js";
import { findSnapshot, type SnapshotFilter } from "../snapshots/list-snapshots.js";
import { snapshotPrefix } from "../storage/keys.js";
import type { Storage } from "../storage/storage.js";
import type { SnapshotResult } from "../dump/dump.js";
import { freshSnapshotIds, snapshotResult } from "../snapshots/new-snapshot.js";

export interface ExtractOptions {
  storage: Storage;
  /** Where the new snapshot goes (default: `storage`). */
  to?: Storage | undefined;
  project?: string | undefined;
  snapshot: string;
  tenant: string;
  compressionLevel?: number | undefined;
  /** Write the snapshot even when no row belongs to the tenant (default: exit 2). */
  allowEmpty?: boolean | undefined;
  signal?: AbortSignal | undefined;
  /** For `latest`: told which snapshot was chosen and why (see findSnapshot). */
  onChoice?: SnapshotFilter["onChoice"];
}

const EMPTY_FRAME = compressBuffer(Buffer.alloc(0), 3);

/** Extracts one tenant into a new snapshot; returns it as `dump` would. */
export async function extract(options: ExtractOptions): Promise<SnapshotResult> {
  const started = Date.now();
  const source = await findSnapshot(options.storage, options.project, options.snapshot, {
    tenant: options.tenant,
    scopes: ["full", "tenants"],
    signal: options.signal,
    onChoice: options.onChoice,
  });
  const to = options.to ?? options.storage;
  // The id in the canonical spelling of the snapshot's tenant type (upper-case uuid, `1.0`).
  const tenant = manifestTenant(source, options.tenant);
  const keyType = source.tenantType ?? undefined;
  if (source.scope === "tenant") {
    throw new UsageError("EXTRACT_FROM_TENANT", `snapshot ${source.id} is already a tenant snapshot`, {
      hint: "extract works from full and tenants snapshots",
    });
  }
  const id = (await freshSnapshotIds(to, source.project, 1, options.signal))[0]!;
  const srcPrefix = snapshotPrefix(source.project, source.id);
  const dstPrefix = snapshotPrefix(source.project, id);
  const tables: ManifestTable[] = [];
  const tenantTables = source.tables.filter((t) => t.scope !== "global");
  if (tenantTables.length === 0) {
    throw new UsageError(
      "EXTRACT_NO_TENANT_TABLES",
      `snapshot ${source.id} has no tenant tables (it was dumped with tenant column ${source.tenantColumn})`,
      {
        hint: "dump with the right --tenant-column, then extract",
      },
    );
  }
  const get = async (t: ManifestTable, range?: { offset: number; length: number }) => {
    try {
      return await options.storage.get(srcPrefix + t.object, range, { signal: options.signal });
    } catch (err) {
      if (err instanceof PgsnapError && err.code === "STORAGE_NOT_FOUND") {
        throw new IntegrityError("OBJECT_MISSING", `snapshot ${source.id}: object ${t.object} is missing`, {
          hint: "the snapshot is damaged; run `pgsnap verify`",
          cause: err,
        });
      }
      throw err;
    }
  };

  if (source.scope === "tenants") {
    for (const t of tenantTables) {
      const frame = t.frames?.find((f) => f.tenant === tenant);
      if (frame) {
        const digest = new VerifiedDigest(
          frame.sha256,
          (actual) =>
            new IntegrityError(
              "CHECKSUM_MISMATCH",
              `snapshot ${source.id}: frame of tenant ${tenant} in ${t.object} has sha256 ${actual}, the manifest says ${frame.sha256}`,
              {
                hint: "the snapshot is damaged; run `pgsnap verify`",
              },
            ),
        );
        const body = await get(t, { offset: frame.offset, length: frame.length });
        let put: { size: number };
        try {
          [, put] = await Promise.all([
            pipeline(body, digest, { signal: options.signal }),
            to.put(dstPrefix + t.object, digest, { signal: options.signal }),
          ]);
        } catch (err) {
          throw digest.mismatch ?? err;
        }
        tables.push(tenantEntry(t, tenant, frame.rows, frame.bytes, put.size, frame.sha256));
      } else {
        const put = await to.put(dstPrefix + t.object, Readable.from([EMPTY_FRAME]), { signal: options.signal });
        tables.push(tenantEntry(t, tenant, 0, 0, put.size, sha256Hex(EMPTY_FRAME)));
      }
    }
  } else {
    // Full snapshot: parents before children, remembering the keys of kept parent rows that
    // children refer to.
    const byId = new Map(tenantTables.map((t) => [t.table, t]));
    const depth = (t: ManifestTable): number => {
      if (!t.owner) {
        throw new UsageError(
          "EXTRACT_NEEDS_DATABASE",
          `table ${t.table} of snapshot ${source.id} uses a ${t.scope} filter that only the database can evaluate`,
          {
            hint: "dump with --all-tenants to extract tenants without a database, or use `pgsnap dump --tenant`",
          },
        );
      }
      if ("column" in t.owner) return 0;
      const parent = byId.get(t.owner.refTable);
      if (!parent) {
        throw new UsageError(
          "EXTRACT_PARENT_MISSING",
          `table ${t.table} finds its tenant through ${t.owner.refTable}, which snapshot ${source.id} does not hold`,
          {
            hint: "extract from a snapshot that holds the whole chain of parent tables",
          },
        );
      }
      return depth(parent) + 1;
    };
    const ordered = [...tenantTables].sort((a, b) => depth(a) - depth(b));
    const wantedKeys = new Map<string, Set<string>>(); // "<table>|<cols>" → kept raw key tuples
    for (const t of ordered) {
      for (const child of tenantTables) {
        if (child.owner && "fk" in child.owner && child.owner.refTable === t.table) {
          wantedKeys.set(`${t.table}|${child.owner.refColumns.join(",")}`, new Set());
        }
      }
    }
    for (const t of ordered) {
      const owner = t.owner!;
      const collect = [...wantedKeys.entries()]
        .filter(([k]) => k.startsWith(t.table + "|"))
        .map(([k, set]) => ({
          cols: k
            .slice(t.table.length + 1)
            .split(",")
            .map((c) => JSON.stringify(c)),
          set,
        }));
      let keep: KeepLine;
      if ("column" in owner) {
        const scanner = new RowScanner([JSON.stringify(owner.column)]);
        const matcher = new TenantMatcher(tenant, keyType);
        keep = (buf, start, end) => {
          const at = scanner.locate(buf, start, end);
          if (at >= 0) return matcher.matches(buf, at, scanner.valueEnd);
          return matcher.matchesRaw(scanner.values(buf.subarray(start, end))[0]);
        };
      } else {
        const parentKeys = wantedKeys.get(`${owner.refTable}|${owner.refColumns.join(",")}`)!;
        const scanner = new RowScanner(owner.columns.map((c) => JSON.stringify(c)));
        keep = (buf, start, end) => {
          const vals = scanner.values(buf.subarray(start, end));
          return !vals.some((v) => v === undefined || v === "null") && parentKeys.has(vals.join("\u0000"));
        };
      }
      const collectors = collect.map((c) => ({ scanner: new RowScanner(c.cols), set: c.set }));
      // zstd's own XXH64 per frame is skipped: the object's sha256 is checked (VerifiedDigest),
      // and a mismatch fails the pipeline before the new object is complete.
      const filter = new ZstdLineFilter(
        collectors.length === 0
          ? keep
          : (buf, start, end) => {
              if (!keep(buf, start, end)) return false;
              const line = buf.subarray(start, end);
              for (const c of collectors) c.set.add(c.scanner.values(line).join("\u0000"));
              return true;
            },
        { verifyChecksum: false },
      );
      const srcDigest = new VerifiedDigest(
        t.sha256,
        (actual) =>
          new IntegrityError(
            "CHECKSUM_MISMATCH",
            `snapshot ${source.id}: object ${t.object} has sha256 ${actual}, the manifest says ${t.sha256}`,
            {
              hint: "the snapshot is damaged; run `pgsnap verify`",
            },
          ),
      );
      const dstDigest = new DigestStream();
      const body = await get(t);
      let put: { size: number };
      try {
        [, put] = await Promise.all([
          pipeline(body, srcDigest, filter, createCompressStream(options.compressionLevel ?? 3), dstDigest, {
            signal: options.signal,
          }),
          to.put(dstPrefix + t.object, dstDigest, { signal: options.signal }),
        ]);
      } catch (err) {
        throw srcDigest.mismatch ?? err;
      }
      tables.push(tenantEntry(t, tenant, filter.rows, filter.bytes, put.size, dstDigest.sha256));
    }
    tables.sort((a, b) => (a.table < b.table ? -1 : 1));
  }

  const total = tables.reduce((a, t) => a + t.rows, 0);
  if (total === 0 && !options.allowEmpty) {
    await to.delete(tables.map((t) => dstPrefix + t.object)).catch(() => {});
    throw new UsageError(
      "TENANT_EMPTY",
      `snapshot ${source.id} holds no row of tenant ${JSON.stringify(options.tenant)}${tenant !== options.tenant ? ` (${tenant})` : ""}`,
      {
        hint: "check the tenant id (`pgsnap tenants`, `pgsnap inspect`); pass --allow-empty to write an empty snapshot anyway",
      },
    );
  }

  const finished = new Date();
  const manifest: Manifest = {
    ...source,
    id,
    scope: "tenant",
    tenants: [tenant],
    createdAt: source.createdAt,
    finishedAt: finished.toISOString(),
    durationMs: finished.getTime() - started,
    extractedFrom: source.id,
    rows: tables.reduce((a, t) => a + t.rows, 0),
    bytes: tables.reduce((a, t) => a + t.bytes, 0),
    storedBytes: tables.reduce((a, t) => a + t.storedBytes, 0),
    tables,
  };
  await to.putBytes(dstPrefix + manifestName, Buffer.from(JSON.stringify(manifest, null, 1)), {
    signal: options.signal,
  });
  return snapshotResult(manifest, to);
}

/**
 * A DigestStream that fails at the end of its input when the bytes' sha256 is not `expected`, so
 * a pipeline through it never completes its output from damaged input (the error is also kept in
 * `mismatch`, whichever stage of the pipeline reports first).
 */
class VerifiedDigest extends DigestStream {
  mismatch: Error | undefined;

  constructor(
    private readonly expected: string,
    private readonly error: (actual: string) => Error,
  ) {
    super();
  }

  override _flush(done: TransformCallback): void {
    super._flush((err) => {
      if (!err && this.sha256 !== this.expected) this.mismatch = this.error(this.sha256);
      done(err ?? this.mismatch);
    });
  }
}

function tenantEntry(
  t: ManifestTable,
  tenant: string,
  rows: number,
  bytes: number,
  storedBytes: number,
  sha256: string,
): ManifestTable {
  const { frames: _frames, ...rest } = t;
  return {
    ...rest,
    filter: `${t.filter ?? "tenant"} (extracted: tenant ${JSON.stringify(tenant)})`,
    rows,
    bytes,
    storedBytes,
    sha256,
  };
}
