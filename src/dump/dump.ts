/**
 * One dump run (DESIGN.md principles): every table of every snapshot of the run is read in one
 * REPEATABLE READ READ ONLY transaction with row_security off; `--jobs` workers share it through
 * pg_export_snapshot(). The tables are locked before that snapshot is taken (see openSnapshot).
 * Data objects are written first, each manifest last.
 */
import { pipeline } from "node:stream/promises";
import type pg from "pg";
import { ConnectionError, InterruptedError, LockedError, PgsnapError, RefusedError, UsageError } from "../errors.js";
import { readCatalogAndStorage, type Catalog, type TableInfo } from "../db/catalog.js";
import { classifyConnectionError, connect, type ConnectOptions } from "../db/connect.js";
import { copyOut } from "../db/copy-out.js";
import { columnEncoding, copyColumnExpr, jsonKind } from "../db/encode.js";
import type { JsonKind } from "../format/copy-to-ndjson.js";
import {
  describePlan,
  ownedCondition,
  planTenants,
  tenantKeyJoin,
  type TablePlan,
  type TableRule,
  type TenantPlan,
} from "../db/plan.js";
import { quoteTable, relationSql } from "../db/quote.js";
import { readRowEstimates } from "../db/row-estimates.js";
import { canonicalTenant, tenantKeyColumn } from "../db/tenant-value.js";
import { readSourceIdentity } from "../db/source-identity.js";
import { pinnedSettings } from "../db/session.js";
import {
  manifestFormat,
  manifestVersion,
  type FrameEntry,
  type Manifest,
  type ManifestTable,
  type SnapshotScope,
} from "../format/manifest.js";
import { sumKnown, type ProgressEvent } from "../format/progress.js";
import { manifestKey, snapshotPrefix, tableObjectName } from "../storage/keys.js";
import type { Storage } from "../storage/storage.js";
import { selectTables } from "../db/select-tables.js";
import { checkRowSecurity } from "../db/row-security.js";
import { toolVersion } from "../version.js";
import { freshSnapshotIds, snapshotResult } from "../snapshots/new-snapshot.js";
import { encodeStages } from "./encode-stages.js";

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
  /** Write a `tenant` snapshot even when no row belongs to the tenant (else a usage error). */
  allowEmpty?: boolean | undefined;
  signal?: AbortSignal | undefined;
  onProgress?: ((event: DumpProgress) => void) | undefined;
}

/**
 * Progress of one table of a dump: emitted every ~250 ms while its rows stream and once when it
 * is finished (`finished`); `done` / `total` count finished tables, as `tablesDone` / `tablesTotal`.
 */
export interface DumpProgress extends ProgressEvent {
  phase: "dump";
  snapshot: string;
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
  /** Name of the table's data object in the snapshot. */
  object: string;
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
    const { catalog, plan, project, scope, dumped, tenants: canonicalTenants } = await openSnapshot(main, options);
    const source = await readSourceIdentity(main);
    if (scope === "tenant" && !options.allowEmpty) {
      for (const tenant of canonicalTenants) await checkTenantHasRows(main, plan, dumped, tenant);
    }
    const objects = objectNames(dumped.map((p) => p.table));
    // An all-tenants pass reads every row of every table in tenant order: a sort does that in
    // bounded time, while an index scan in key order over rows that arrive interleaved fetches the
    // heap at random (measured by hand on the bench table, cached: about 2× the sort; from disk
    // every fetch is a random read), and the planner picked it. Tenant snapshots keep theirs.
    // The sort gets at least 16 MB of work_mem per process (a lower setting is raised for this
    // transaction only): with PostgreSQL's default 4 MB it merges more runs from disk; the first
    // row of the bench table's sort came ~12 % sooner (min 1.50 vs 1.70 s, 6 interleaved EXPLAIN
    // ANALYZE runs each; 64 MB was slower than both).
    const sessionSql =
      scope === "tenants"
        ? "SET LOCAL enable_indexscan = off; SELECT pg_catalog.set_config('work_mem', '16MB', true) " +
          "WHERE pg_catalog.pg_size_bytes(pg_catalog.current_setting('work_mem')) < 16777216"
        : undefined;
    if (sessionSql) await main.query(sessionSql);
    if (jobs > 1) {
      const snapshotId = (await main.query<{ id: string }>("SELECT pg_export_snapshot() AS id")).rows[0]!.id;
      for (let i = 1; i < jobs; i++) {
        const w = await connect(options.connection);
        workers.push(w);
        await w.query("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY");
        await w.query(`SET TRANSACTION SNAPSHOT '${snapshotId.replace(/'/g, "''")}'`);
        await w.query("SET LOCAL row_security = off");
        if (sessionSql) await w.query(sessionSql);
      }
    }

    const tenantsOfSnaps = scope === "tenant" ? [...new Set(canonicalTenants)] : [undefined];
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
      for (const p of dumped) {
        items.push({
          snap,
          plan: p,
          framed: scope === "tenants" && p.scope !== "global",
          object: objects.get(p.table.id)!,
        });
      }
    }

    let done = 0;
    const queue = [...items];
    // Estimates only for progress (ETA); a tenant's share of a table is unknown, so none there.
    const estimates =
      options.onProgress && scope !== "tenant"
        ? await readRowEstimates(
            main,
            dumped.map((p) => p.table.oid),
          )
        : new Map<number, number>();
    const runTotalRows = sumKnown(items.map((i) => estimates.get(i.plan.table.oid)));
    const runWorker = async (client: pg.Client, worker: number) => {
      for (let item = queue.shift(); item; item = queue.shift()) {
        if (signal.aborted) throw options.signal?.aborted ? new InterruptedError() : signal.reason;
        const current = item;
        const report = (rows: number, bytes: number, storedBytes: number, finished: boolean) =>
          options.onProgress?.({
            phase: "dump",
            snapshot: current.snap.id,
            table: current.plan.table.id,
            worker,
            rows,
            bytes,
            storedBytes,
            totalRows: estimates.get(current.plan.table.oid),
            finished,
            done,
            total: items.length,
            tablesDone: done,
            tablesTotal: items.length,
            runTotalRows,
          });
        const entry = await dumpTable(client, item, plan, project, options.storage, level, signal, report);
        const keys = written.get(item.snap.id) ?? [];
        keys.push(snapshotPrefix(project, item.snap.id) + entry.object);
        written.set(item.snap.id, keys);
        item.snap.tables.push(entry);
        done++;
        report(entry.rows, entry.bytes, entry.storedBytes, true);
      }
    };
    // The first failure stops the other workers; wait for all of them before cleaning up, so no
    // object lands after the cleanup.
    let firstError: { err: unknown } | undefined;
    await Promise.allSettled(
      [main, ...workers].map((c, worker) =>
        runWorker(c, worker).catch((err: unknown) => {
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
            ? [
                ...new Set(
                  snap.tables.flatMap((t) => (t.frames ?? []).flatMap((f) => (f.tenant === null ? [] : [f.tenant]))),
                ),
              ].sort()
            : null;
      const manifest: Manifest = {
        format: manifestFormat,
        version: manifestVersion,
        id: snap.id,
        project,
        scope: snap.scope,
        tenantColumn: options.tenantColumn,
        tenantType: tenantKeyColumn(plan)?.baseType ?? null,
        tenants,
        ...(snap.scope === "tenants" ? { allRows: true } : {}),
        ...(options.tables?.length || options.excludeTables?.length ? { partial: true } : {}),
        createdAt: snap.createdAt.toISOString(),
        finishedAt: finished.toISOString(),
        durationMs: finished.getTime() - started,
        tool: { name: "pgsnap", version: toolVersion },
        server: {
          version: catalog.role.serverVersion,
          versionNum: catalog.role.serverVersionNum,
          database: catalog.role.database,
        },
        source,
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
    throw mapDumpError(err, options.connection.url, [main, ...workers]);
  } finally {
    await Promise.all([main, ...workers].map((c) => c.end().catch(() => {})));
  }
}

interface OpenedSnapshot {
  catalog: Catalog;
  plan: TenantPlan;
  project: string;
  scope: SnapshotScope;
  /** The tables this run reads, in catalog order. */
  dumped: TablePlan[];
  /** `--tenant` ids in their canonical spelling (`1.0` = `1`, citext case, uuid case), in order. */
  tenants: string[];
}

/** How often the catalog is read again when DDL changed it while the dump was locking its tables. */
const SNAPSHOT_ATTEMPTS = 3;

/**
 * Opens the dump's snapshot with every table it reads already locked, so no TRUNCATE or table
 * rewrite (ALTER COLUMN TYPE, VACUUM FULL, CLUSTER: not MVCC-safe, an older snapshot would see
 * the table empty) can commit between the snapshot and the reads, as it can in pg_dump:
 * 1. read the catalog and plan in a transaction of their own;
 * 2. `BEGIN ISOLATION LEVEL REPEATABLE READ`, `LOCK TABLE ... IN ACCESS SHARE MODE` (LOCK takes
 *    no snapshot; lock_timeout bounds the wait);
 * 3. read the catalog again: the first query that takes the transaction's snapshot, after every
 *    lock was granted, so any DDL that committed before sees it committed and none commits after;
 * 4. compare both reads (tables, columns, keys, relfilenodes): a difference means DDL committed
 *    in between, so the locks may cover the wrong tables; start over, at most SNAPSHOT_ATTEMPTS
 *    times, then fail (exit 13) without writing anything.
 * Leaves the REPEATABLE READ transaction open on `client`. Steps 2 and 3 are one message (one
 * round trip, readCatalogAndStorage), as is step 1 with its BEGIN (issue 14: the fixed cost).
 */
async function openSnapshot(client: pg.Client, options: DumpOptions): Promise<OpenedSnapshot> {
  for (let attempt = 1; ; attempt++) {
    const first = await readCatalogAndStorage(client, ["BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY"]);
    const catalog = first.catalog;
    const opened = planDump(catalog, options);
    const oids = new Set(opened.dumped.map((p) => p.table.oid));
    const files = first.storageFingerprint(oids);
    // Each tenant id in its canonical spelling; a query, so here and not after the LOCK.
    for (const tenant of options.tenants ?? []) opened.tenants.push(await canonicalTenant(client, opened.plan, tenant));
    checkRowSecurity(
      catalog,
      opened.dumped.map((p) => p.table),
    );
    let again;
    try {
      again = await readCatalogAndStorage(client, [
        "COMMIT",
        "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY",
        "SET LOCAL row_security = off",
        ...(opened.dumped.length > 0
          ? [`LOCK TABLE ${opened.dumped.map((p) => quoteTable(p.table)).join(", ")} IN ACCESS SHARE MODE`]
          : []),
      ]);
    } catch (err) {
      // A table dropped (or renamed) since the catalog read (only LOCK names tables): read it again.
      if ((err as { code?: string }).code !== "42P01") throw err;
      await client.query("ROLLBACK");
      if (attempt >= SNAPSHOT_ATTEMPTS) throw ddlRace(attempt, err);
      continue;
    }
    if (again.storageFingerprint(oids) === files && catalogFingerprint(again.catalog) === catalogFingerprint(catalog))
      return opened;
    await client.query("ROLLBACK");
    if (attempt >= SNAPSHOT_ATTEMPTS) throw ddlRace(attempt, undefined);
  }
}

function ddlRace(attempts: number, cause: unknown): LockedError {
  return new LockedError(
    "DUMP_DDL_RACE",
    `the schema kept changing while the dump locked its tables (${attempts} attempts): tables were created, dropped, altered, truncated or rewritten`,
    { hint: "retry once the migration or maintenance job has finished; nothing was written", cause },
  );
}

/** The catalog as compared between the two reads of openSnapshot (the role is left out). */
function catalogFingerprint(catalog: Catalog): string {
  return JSON.stringify([...catalog.tables.values()]);
}

/** The plan of one dump: scope, project, and the tables it reads. Throws usage errors. */
function planDump(catalog: Catalog, options: DumpOptions): OpenedSnapshot {
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
  return { catalog, plan, project, scope, dumped: scope === "tenant" ? tenantPlans : plans, tenants: [] };
}

/**
 * Refuses (exit 2) a tenant snapshot that would hold no row: a typo in the tenant id must not
 * look like a good, empty backup. Runs inside the snapshot, before anything is written.
 */
async function checkTenantHasRows(
  client: pg.Client,
  plan: TenantPlan,
  dumped: readonly TablePlan[],
  tenant: string,
): Promise<void> {
  // Owners first: a via row belongs only where its parent row does.
  for (const p of [...dumped].sort((a, b) => a.depth - b.depth)) {
    const sql = `SELECT EXISTS (SELECT 1 FROM ${relationSql(p.table)} t WHERE ${ownedCondition(plan, p.table.id, "t", tenant)}) AS any`;
    let any: boolean;
    try {
      any = (await client.query<{ any: boolean }>(sql)).rows[0]!.any;
    } catch (err) {
      throw customFilterError(err, plan, p.table.id, false);
    }
    if (any) return;
  }
  throw new UsageError(
    "TENANT_EMPTY",
    `no row of the dumped tables belongs to tenant ${JSON.stringify(tenant)} (tenant column ${plan.tenantColumn}); no snapshot was written`,
    {
      hint: "check the id against `pgsnap tenants`; to write an empty snapshot on purpose, add --allow-empty",
    },
  );
}

/**
 * The data object name of every dumped table, checked unique: table ids are unique by
 * construction (quoted parts, see tableId) and object names escape both parts; names that
 * differ only in letter case get hashed names so they stay apart on case-insensitive file
 * systems. A clash left after that is a bug, and fails the dump before anything is written.
 */
export function objectNames(tables: readonly TableInfo[]): Map<string, string> {
  const byCase = new Map<string, number>();
  for (const t of tables) {
    const lower = tableObjectName(t.schema, t.name).toLowerCase();
    byCase.set(lower, (byCase.get(lower) ?? 0) + 1);
  }
  const out = new Map<string, string>();
  const seen = new Map<string, string>();
  for (const t of tables) {
    const plain = tableObjectName(t.schema, t.name);
    const name = byCase.get(plain.toLowerCase())! > 1 ? tableObjectName(t.schema, t.name, { hashed: true }) : plain;
    if (out.has(t.id)) throw new Error(`two dumped tables have the id ${t.id}`);
    const other = seen.get(name.toLowerCase());
    if (other !== undefined) throw new Error(`tables ${other} and ${t.id} map to one object name ${name}`);
    seen.set(name.toLowerCase(), t.id);
    out.set(t.id, name);
  }
  return out;
}

function sum<T>(items: readonly T[], f: (x: T) => number): number {
  return items.reduce((a, x) => a + f(x), 0);
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
  const from = `${relationSql(p.table)} t`;
  if (framed) {
    // Every row, grouped by tenant: outer joins keep rows whose chain is broken (NULL foreign
    // key) and the tenant key is NULL for them and for a NULL tenant column; NULLs sort last.
    // Ordered by the key's own type (equal keys are adjacent), framed by its canonical text:
    // the frame key is `k<canonical tenant>`, or `n` for the rows owned by no tenant (tenantOfFrame).
    const { joins, key, canonicalKey } = tenantKeyJoin(plan, p.table.id, "t", { outer: true });
    const frameKey = `CASE WHEN ${key} IS NULL THEN 'n' ELSE 'k' OPERATOR(pg_catalog.||) ${canonicalKey} END`;
    const sql = `SELECT ${frameKey}, ${cols} FROM ${from}${joins} ORDER BY ${key}`;
    return { sql, filter: null, columns };
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
  onTick?: (rows: number, bytes: number, storedBytes: number, finished: boolean) => void,
): Promise<ManifestTable> {
  const t = item.plan.table;
  const object = item.object;
  const key = snapshotPrefix(project, item.snap.id) + object;
  const { sql, filter, columns } = tableQuery(plan, item.plan, item.snap.tenant, item.framed);
  const source = client.query(copyOut(`COPY (${sql}) TO STDOUT`));
  const encoder = encodeStages({ columns, framed: item.framed, level });
  const stored = encoder.transforms[encoder.transforms.length - 1]!;
  const ticker =
    onTick && setInterval(() => onTick(encoder.rows(), encoder.bytes(), encoder.storedBytes(), false), 250);
  onTick?.(0, 0, 0, false);
  const [, put] = await Promise.all([
    pipeline([source, ...encoder.transforms], { signal }).catch((err: unknown) => {
      throw customFilterError(err, plan, item.plan.table.id, item.framed);
    }),
    storage.put(key, stored, { signal }),
  ]).finally(() => clearInterval(ticker));
  const encoded = encoder.result();
  const frames: FrameEntry[] | undefined = encoded.frames?.map((f) => ({
    tenant: tenantOfFrame(f.key),
    offset: f.offset,
    length: f.length,
    rows: f.rows,
    bytes: f.bytes,
    sha256: f.sha256,
  }));
  return entry(put.size);

  function entry(size: number): ManifestTable {
    const rows = source.rowCount;
    if (encoded.rows !== rows) throw new Error(`table ${t.id}: COPY sent ${rows} rows, ${encoded.rows} were encoded`);
    if (encoded.storedBytes !== size) {
      throw new Error(`table ${t.id}: ${encoded.storedBytes} bytes were encoded, the storage took ${size}`);
    }
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
      bytes: encoded.bytes,
      storedBytes: size,
      sha256: encoded.sha256,
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

/** The tenant of a frame key written by tableQuery: `n` is no tenant (null), `k<id>` tenant `<id>`. */
export function tenantOfFrame(frameKey: string): string | null {
  const text = tenantIdOf(frameKey);
  return text === "n" ? null : text.slice(1);
}

/** A frame's tenant key as Postgres printed it (`to_json`): JSON strings unwrapped, numbers kept verbatim. */
export function tenantIdOf(keyJson: string): string {
  return keyJson.startsWith('"') ? (JSON.parse(keyJson) as string) : keyJson;
}

/**
 * The custom rule (config `tables.<t>.filter`, or `key` for an all-tenants pass) that the rows
 * of a table are selected by: its own, or the one at the end of its foreign-key path.
 */
function customRuleOf(plan: TenantPlan, id: string): { table: string; rule: TableRule } | undefined {
  let p = plan.tables.get(id);
  for (let hops = 0; p && p.scope === "via" && hops <= plan.tables.size; hops++) p = plan.tables.get(p.fk!.refTable);
  return p?.scope === "custom" && p.rule ? { table: p.table.id, rule: p.rule } : undefined;
}

/** SQLSTATE classes of a query the user wrote that is wrong: syntax/names (42), data (22), cardinality (21), unsupported (0A). */
const userSqlError = /^(42(?!501)|22|21|0A)[0-9A-Z]{3}$/;

/**
 * A COPY that failed because a configured filter is wrong (a typo, a missing column, a cast of
 * the tenant that fails) is the user's error: exit 2 naming the table and the filter.
 */
function customFilterError(err: unknown, plan: TenantPlan, tableId: string, framed: boolean): unknown {
  const code = (err as { code?: unknown }).code;
  if (typeof code !== "string" || !userSqlError.test(code)) return err;
  const custom = customRuleOf(plan, tableId);
  if (!custom) return err;
  const expr = framed ? custom.rule.key : custom.rule.filter;
  const what = framed ? "key" : "filter";
  const through = custom.table === tableId ? "" : ` (table ${tableId} is filtered through it)`;
  return new UsageError(
    "CUSTOM_FILTER_INVALID",
    `the custom ${what} of table ${custom.table} failed${through}: ${(err as Error).message} (SQLSTATE ${code}); ${what}: ${expr ?? "(none)"}`,
    {
      hint: `fix tables."${custom.table}".${what} in the config; check it with \`pgsnap plan --tenant <id>\` and by running it in psql`,
      cause: err,
    },
  );
}

/**
 * Turns errors met while dumping into the exit classes of CLI.md. A lost connection comes first
 * (a COPY cut midway surfaces as a truncated row or a premature close, not as what it is); then
 * the database's own refusals, none of which is a pgsnap bug. Only what is left is exit 1.
 */
function mapDumpError(err: unknown, url: string | undefined, clients: readonly pg.Client[]): unknown {
  if (err instanceof InterruptedError) return err;
  const e = err as { code?: string; message?: string; name?: string };
  if (e.name === "AbortError") return new InterruptedError("dump interrupted", { cause: err });
  const lost = classifyConnectionError(err, { url, clients, during: "the dump" });
  if (lost) return lost;
  if (err instanceof PgsnapError) return err;
  if (e.code === "42501" && /row-level security/i.test(e.message ?? "")) {
    return new RefusedError("RLS_WOULD_FILTER", `dump refused: ${e.message}`, {
      hint: "connect as a role with BYPASSRLS so no row is silently left out",
      cause: err,
    });
  }
  if (e.code === "42501") {
    return new UsageError("PERMISSION_DENIED", `dump refused by the database: ${e.message}`, {
      hint: "the role needs SELECT on every dumped table (see sql/roles.sql), or leave the table out with --exclude-tables",
      cause: err,
    });
  }
  if (e.code === "55P03" || e.code === "40P01") {
    return new LockedError("LOCK_TIMEOUT", `dump could not lock a table in time: ${e.message}`, {
      hint: "another session holds an exclusive lock (DDL, VACUUM FULL); retry later",
      cause: err,
    });
  }
  const serverSide: Record<string, string> = {
    "57014":
      "a session cancelled the dump's query (pg_cancel_backend, or a statement_timeout forced on the server); nothing was kept, run it again",
    "40001":
      "the server aborted the dump's snapshot (on a standby: a conflict with recovery; set hot_standby_feedback = on or raise max_standby_streaming_delay); nothing was kept, run it again",
    "53": "the server ran out of resources (disk for temporary files, memory, connection slots); nothing was kept, free them and run it again",
    "58": "the server met a system error (I/O); check its log; nothing was kept",
  };
  const hint = e.code ? (serverSide[e.code] ?? serverSide[e.code.slice(0, 2)]) : undefined;
  if (hint) {
    return new ConnectionError(
      `DATABASE_${e.code}`,
      `the database stopped the dump: ${e.message} (SQLSTATE ${e.code})`,
      {
        hint,
        cause: err,
      },
    );
  }
  return err;
}
