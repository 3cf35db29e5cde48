/**
 * One dump run (DESIGN.md principles): every table of every snapshot of the run is read in one
 * REPEATABLE READ READ ONLY transaction with row_security off; `--jobs` workers share it through
 * pg_export_snapshot(). Data objects are written first, each manifest last.
 */
import { pipeline } from "node:stream/promises";
import type pg from "pg";
import { to as copyTo } from "pg-copy-streams";
import { InterruptedError, LockedError, PgsnapError, RefusedError, UsageError } from "../errors.js";
import { readCatalog, type Catalog, type TableInfo } from "../db/catalog.js";
import { connect, connectionError, isConnectionFailure, type ConnectOptions } from "../db/connect.js";
import { columnEncoding, copyColumnExpr, jsonKind } from "../db/encode.js";
import { CopyToNdjson, type JsonKind } from "../format/copy-to-ndjson.js";
import {
  describePlan,
  ownedCondition,
  planTenants,
  tenantKeyJoin,
  type TablePlan,
  type TableRule,
  type TenantPlan,
} from "../db/plan.js";
import { quoteTable } from "../db/quote.js";
import { checkTenantValue } from "../db/tenant-value.js";
import { pinnedSettings } from "../db/session.js";
import { ByteCounter, DigestStream } from "../format/digest.js";
import {
  manifestFormat,
  manifestVersion,
  type FrameEntry,
  type Manifest,
  type ManifestTable,
  type SnapshotScope,
} from "../format/manifest.js";
import { newSnapshotId } from "../format/snapshot-id.js";
import { TenantFrameStream } from "../format/tenant-frames.js";
import { createCompressStream } from "../format/zstd.js";
import { manifestKey, projectPrefix, snapshotPrefix, tableObjectName } from "../storage/keys.js";
import type { Storage } from "../storage/storage.js";
import { selectTables } from "./select-tables.js";
import { toolVersion } from "../version.js";

export interface DumpOptions {
  connection: ConnectOptions;
  storage: Storage;
  /** Project label; defaults to the database name. */
  project?: string | undefined;
  tenantColumn: string;
  rules?: Readonly<Record<string, TableRule>> | undefined;
  /** Scope `tenant`: one snapshot per tenant. */
  tenants?: readonly string[] | undefined;
  /** Scope `tenants`: every tenant in one snapshot, one frame per tenant per table. */
  allTenants?: boolean | undefined;
  tables?: readonly string[] | undefined;
  excludeTables?: readonly string[] | undefined;
  jobs?: number | undefined;
  compressionLevel?: number | undefined;
  signal?: AbortSignal | undefined;
  onProgress?: ((event: DumpProgress) => void) | undefined;
}

export interface DumpProgress {
  snapshot: string;
  table: string;
  rows: number;
  storedBytes: number;
  done: number;
  total: number;
}

export interface TableResult {
  table: string;
  rows: number;
  bytes: number;
  storedBytes: number;
}

/** What `pgsnap dump --json` prints per snapshot (CLI.md). */
export interface SnapshotResult {
  id: string;
  project: string;
  scope: SnapshotScope;
  tenants: string[] | null;
  location: string;
  createdAt: string;
  rows: number;
  storedBytes: number;
  durationMs: number;
  tables: TableResult[];
}

interface SnapshotWork {
  id: string;
  scope: SnapshotScope;
  tenant: string | undefined;
  tables: ManifestTable[];
  createdAt: Date;
}

interface WorkItem {
  snap: SnapshotWork;
  plan: TablePlan;
  framed: boolean;
}

/** Runs one dump; returns one result per snapshot written. */
export async function dump(options: DumpOptions): Promise<SnapshotResult[]> {
  const started = Date.now();
  const level = options.compressionLevel ?? 3;
  if (options.allTenants && options.tenants && options.tenants.length > 0) {
    throw new UsageError("DUMP_SCOPE_CONFLICT", "--all-tenants and --tenant cannot be used together", {
      hint: "use --all-tenants for every tenant in one snapshot, or --tenant for chosen ones",
    });
  }
  const jobs = Math.max(1, Math.floor(options.jobs ?? 1));
  const main = await connect(options.connection);
  const workers: pg.Client[] = [];
  /** Objects written per snapshot whose manifest is not written yet. */
  const written = new Map<string, string[]>();
  const stop = new AbortController();
  const signal = options.signal ? AbortSignal.any([options.signal, stop.signal]) : stop.signal;
  try {
    await main.query("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY");
    await main.query("SET LOCAL row_security = off");
    const catalog = await readCatalog(main);
    const plan = planTenants(catalog, options.tenantColumn, options.rules);
    const project = options.project ?? catalog.role.database;
    const selected = selectTables(catalog, options.tables, options.excludeTables);
    const scope: SnapshotScope = options.allTenants ? "tenants" : options.tenants?.length ? "tenant" : "full";
    const plans = selected.map((t) => plan.tables.get(t.id)!);
    const tenantPlans = plans.filter((p) => p.scope !== "global");
    if (scope !== "full" && tenantPlans.length === 0) {
      throw new UsageError(
        "NO_TENANT_TABLE",
        `no selected table has the tenant column ${options.tenantColumn} or reaches one through foreign keys`,
        {
          hint:
            "set --tenant-column to the column that tells tenants apart, or add custom rules in the config. Plan:\n" +
            describePlan(plan, undefined)
              .map((p) => `  ${p.table}: ${p.scope}`)
              .join("\n"),
        },
      );
    }
    const dumped = scope === "tenant" ? tenantPlans : plans;
    for (const tenant of options.tenants ?? []) await checkTenantValue(main, plan, tenant);
    checkRowSecurity(
      catalog,
      dumped.map((p) => p.table),
    );
    if (dumped.length > 0) {
      // Like pg_dump: hold ACCESS SHARE on every table so none is dropped or rewritten mid-run.
      await main.query(`LOCK TABLE ${dumped.map((p) => quoteTable(p.table)).join(", ")} IN ACCESS SHARE MODE`);
    }
    if (jobs > 1) {
      const snapshotId = (await main.query<{ id: string }>("SELECT pg_export_snapshot() AS id")).rows[0]!.id;
      for (let i = 1; i < jobs; i++) {
        const w = await connect(options.connection);
        workers.push(w);
        await w.query("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY");
        await w.query(`SET TRANSACTION SNAPSHOT '${snapshotId.replace(/'/g, "''")}'`);
        await w.query("SET LOCAL row_security = off");
      }
    }

    const tenantsOfSnaps = scope === "tenant" ? [...options.tenants!] : [undefined];
    const ids = await freshSnapshotIds(options.storage, project, tenantsOfSnaps.length, signal);
    const snaps: SnapshotWork[] = tenantsOfSnaps.map((tenant, i) => ({
      id: ids[i]!,
      scope,
      tenant,
      tables: [],
      createdAt: new Date(),
    }));
    const items: WorkItem[] = [];
    for (const snap of snaps) {
      for (const p of dumped) items.push({ snap, plan: p, framed: scope === "tenants" && p.scope !== "global" });
    }

    let done = 0;
    const queue = [...items];
    const runWorker = async (client: pg.Client) => {
      for (let item = queue.shift(); item; item = queue.shift()) {
        if (signal.aborted) throw options.signal?.aborted ? new InterruptedError() : signal.reason;
        const entry = await dumpTable(client, item, plan, project, options.storage, level, signal);
        const keys = written.get(item.snap.id) ?? [];
        keys.push(snapshotPrefix(project, item.snap.id) + entry.object);
        written.set(item.snap.id, keys);
        item.snap.tables.push(entry);
        done++;
        options.onProgress?.({
          snapshot: item.snap.id,
          table: entry.table,
          rows: entry.rows,
          storedBytes: entry.storedBytes,
          done,
          total: items.length,
        });
      }
    };
    // The first failure stops the other workers; wait for all of them before cleaning up, so no
    // object lands after the cleanup.
    let firstError: { err: unknown } | undefined;
    await Promise.allSettled(
      [main, ...workers].map((c) =>
        runWorker(c).catch((err: unknown) => {
          firstError ??= { err };
          stop.abort(err);
        }),
      ),
    );
    if (firstError) {
      throw options.signal?.aborted
        ? new InterruptedError("dump interrupted", { cause: firstError.err })
        : firstError.err;
    }

    // Manifests last: only now does each snapshot become visible.
    const results: SnapshotResult[] = [];
    for (const snap of snaps) {
      snap.tables.sort((a, b) => (a.table < b.table ? -1 : a.table > b.table ? 1 : 0));
      const finished = new Date();
      const tenants =
        snap.scope === "tenant"
          ? [snap.tenant!]
          : snap.scope === "tenants"
            ? [...new Set(snap.tables.flatMap((t) => (t.frames ?? []).map((f) => f.tenant)))].sort()
            : null;
      const manifest: Manifest = {
        format: manifestFormat,
        version: manifestVersion,
        id: snap.id,
        project,
        scope: snap.scope,
        tenantColumn: options.tenantColumn,
        tenants,
        createdAt: snap.createdAt.toISOString(),
        finishedAt: finished.toISOString(),
        durationMs: finished.getTime() - started,
        tool: { name: "pgsnap", version: toolVersion },
        server: {
          version: catalog.role.serverVersion,
          versionNum: catalog.role.serverVersionNum,
          database: catalog.role.database,
        },
        encoding: { rows: "ndjson", compression: "zstd", level },
        settings: { ...pinnedSettings },
        rows: sum(snap.tables, (t) => t.rows),
        bytes: sum(snap.tables, (t) => t.bytes),
        storedBytes: sum(snap.tables, (t) => t.storedBytes),
        tables: snap.tables,
      };
      // Readable when small; compact when it indexes a frame per tenant per table.
      const text = snap.scope === "tenants" ? JSON.stringify(manifest) : JSON.stringify(manifest, null, 1);
      await options.storage.putBytes(manifestKey(project, snap.id), Buffer.from(text), {
        signal: options.signal,
      });
      written.delete(snap.id);
      results.push(snapshotResult(manifest, options.storage));
    }
    await main.query("COMMIT");
    return results;
  } catch (err) {
    // No manifest was written, so the snapshot is invisible; remove what this run wrote
    // (best effort: a failure here must not hide the real error; prune cleans leftovers).
    const orphans = [...written.values()].flat();
    if (orphans.length > 0) await options.storage.delete(orphans).catch(() => {});
    throw mapDumpError(err);
  } finally {
    await Promise.all([main, ...workers].map((c) => c.end().catch(() => {})));
  }
}

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

function sum<T>(items: readonly T[], f: (x: T) => number): number {
  return items.reduce((a, x) => a + f(x), 0);
}

/** Refuses before anything is written when RLS would filter rows (never a short backup). */
export function checkRowSecurity(catalog: Catalog, tables: readonly TableInfo[]): void {
  if (catalog.role.superuser || catalog.role.bypassrls) return;
  const filtered = tables.filter((t) => t.rlsEnabled && (!t.isOwner || t.rlsForced));
  if (filtered.length > 0) {
    const names = filtered.map((t) => t.id).join(", ");
    throw new RefusedError(
      "RLS_WOULD_FILTER",
      `row-level security is enabled on ${names} and role ${catalog.role.role} does not bypass it`,
      {
        hint: `connect as a role with BYPASSRLS (ALTER ROLE ${catalog.role.role} BYPASSRLS, or Supabase's postgres user) so no row of ${names} is silently left out, or leave ${names} out with --exclude-tables`,
      },
    );
  }
}

/**
 * Builds the query whose plain COPY text holds a table's rows (and, when framed, the tenant key
 * as the first field, rows grouped by tenant), and the JSON shape of its columns.
 */
export function tableQuery(
  plan: TenantPlan,
  p: TablePlan,
  tenant: string | undefined,
  framed: boolean,
): { sql: string; filter: string | null; columns: { name: string; kind: JsonKind }[] } {
  const columns = p.table.columns.map((c) => ({ name: c.name, kind: jsonKind(c) }));
  const cols = p.table.columns.map((c) => copyColumnExpr(c, "t")).join(", ");
  const from = `${quoteTable(p.table)} t`;
  if (framed) {
    const { joins, key } = tenantKeyJoin(plan, p.table.id, "t");
    const sql = `SELECT (${key})::pg_catalog.text, ${cols} FROM ${from}${joins} WHERE ${key} IS NOT NULL ORDER BY ${key}`;
    return { sql, filter: `${key} IS NOT NULL${joins ? ` (via${joins})` : ""}`, columns };
  }
  if (tenant === undefined) return { sql: `SELECT ${cols} FROM ${from}`, filter: null, columns };
  const filter = ownedCondition(plan, p.table.id, "t", tenant);
  return { sql: `SELECT ${cols} FROM ${from} WHERE ${filter}`, filter, columns };
}

async function dumpTable(
  client: pg.Client,
  item: WorkItem,
  plan: TenantPlan,
  project: string,
  storage: Storage,
  level: number,
  signal: AbortSignal | undefined,
): Promise<ManifestTable> {
  const t = item.plan.table;
  const object = tableObjectName(t.schema, t.name);
  const key = snapshotPrefix(project, item.snap.id) + object;
  const { sql, filter, columns } = tableQuery(plan, item.plan, item.snap.tenant, item.framed);
  const source = client.query(copyTo(`COPY (${sql}) TO STDOUT`));
  // Framed: runs of one tenant's rows between records, so the framer never parses a row again.
  const json = new CopyToNdjson({ columns, tenantKeyFirst: item.framed, groupRecords: item.framed });
  // Uncompressed size only: hashing the raw bytes too would cost ~0.5 s per GB for nothing.
  const raw = new ByteCounter();
  const stored = new DigestStream();
  const framer = item.framed ? new TenantFrameStream({ level, input: "group-records" }) : undefined;
  const encoder = framer ?? createCompressStream(level);
  const [, put] = await Promise.all([
    pipeline(source, json, raw, encoder, stored, { signal }),
    storage.put(key, stored, { signal }),
  ]);
  const frames: FrameEntry[] | undefined = framer?.frames.map((f) => ({
    tenant: tenantIdOf(f.key),
    offset: f.offset,
    length: f.length,
    rows: f.rows,
    bytes: f.bytes,
    sha256: f.sha256,
  }));
  return entry(put.size);

  function entry(size: number): ManifestTable {
    const rows = source.rowCount;
    if (json.rows !== rows) throw new Error(`table ${t.id}: COPY sent ${rows} rows, ${json.rows} were encoded`);
    if (frames && sum(frames, (f) => f.rows) !== rows) {
      throw new Error(`table ${t.id}: frames hold ${sum(frames, (f) => f.rows)} rows, COPY sent ${rows}`);
    }
    return {
      table: t.id,
      schema: t.schema,
      name: t.name,
      scope: item.plan.scope,
      filter,
      ...ownerOf(item.plan),
      object,
      columns: t.columns.map((c) => ({
        name: c.name,
        type: c.type,
        encoding: columnEncoding(c),
        ...(c.generated ? { generated: true } : {}),
        ...(c.identity ? { identity: c.identity } : {}),
      })),
      rows,
      bytes: item.framed ? sum(frames!, (f) => f.bytes) : raw.bytes,
      storedBytes: size,
      sha256: stored.sha256,
      ...(frames ? { frames } : {}),
    };
  }
}

function ownerOf(p: TablePlan): Pick<ManifestTable, "owner"> {
  if (p.scope === "direct") return { owner: { column: p.column!.name } };
  if (p.scope === "via") {
    const fk = p.fk!;
    return { owner: { fk: fk.name, columns: fk.columns, refTable: fk.refTable, refColumns: fk.refColumns } };
  }
  return {};
}

/** A frame's tenant key as Postgres printed it (`to_json`): JSON strings unwrapped, numbers kept verbatim. */
export function tenantIdOf(keyJson: string): string {
  return keyJson.startsWith('"') ? (JSON.parse(keyJson) as string) : keyJson;
}

/** Turns database errors met while dumping into the exit classes of CLI.md. */
function mapDumpError(err: unknown): unknown {
  if (err instanceof PgsnapError) return err;
  const e = err as { code?: string; message?: string; name?: string };
  if (e.name === "AbortError") return new InterruptedError("dump interrupted", { cause: err });
  if (e.code === "42501" && /row-level security/i.test(e.message ?? "")) {
    return new RefusedError("RLS_WOULD_FILTER", `dump refused: ${e.message}`, {
      hint: "connect as a role with BYPASSRLS so no row is silently left out",
      cause: err,
    });
  }
  if (isConnectionFailure(err)) return connectionError(err, undefined);
  if (e.code === "42501") {
    return new UsageError("PERMISSION_DENIED", `dump refused by the database: ${e.message}`, {
      hint: "the role needs SELECT on every dumped table (see sql/roles.sql), or leave the table out with --exclude-tables",
      cause: err,
    });
  }
  if (e.code === "55P03") {
    return new LockedError("LOCK_TIMEOUT", `dump could not lock a table in time: ${e.message}`, {
      hint: "another session holds an exclusive lock (DDL, VACUUM FULL); retry later",
      cause: err,
    });
  }
  return err;
}
