/**
 * Restore of one tenant, or of a whole snapshot (DESIGN.md, "Restore of one tenant"): one
 * transaction holding an advisory lock for (project, tenant); every object is checked (sha256,
 * rows) while it streams into staging; rows of other tenants are never deleted, updated or
 * overwritten; any doubt aborts and rolls back.
 */
import { pipeline } from "node:stream/promises";
import type pg from "pg";
import { from as copyFrom } from "pg-copy-streams";
import {
  ExitCode,
  IntegrityError,
  InterruptedError,
  LockedError,
  PgsnapError,
  RefusedError,
  UsageError,
} from "../errors.js";
import { identityKey, readCatalog, type ColumnInfo, type TableInfo } from "../db/catalog.js";
import { connect, connectionError, isConnectionFailure, type ConnectOptions } from "../db/connect.js";
import { checkTenantValue } from "../db/tenant-value.js";
import {
  ownedByAnyCondition,
  ownedCondition,
  planTenants,
  type RelationOf,
  type TableRule,
  type TenantPlan,
} from "../db/plan.js";
import { quoteIdent, quoteLiteral, quoteTable } from "../db/quote.js";
import { DigestStream } from "../format/digest.js";
import { NdjsonToCopy } from "../format/ndjson-to-copy.js";
import type { Manifest, ManifestTable } from "../format/manifest.js";
import { createDecompressStream } from "../format/zstd.js";
import { checkRowSecurity } from "../dump/dump.js";
import { resolveTableNames } from "../dump/select-tables.js";
import { findSnapshot } from "../snapshots/list-snapshots.js";
import { snapshotPrefix } from "../storage/keys.js";
import type { Storage } from "../storage/storage.js";
import { cyclicForeignKeys, parentsFirst } from "./topo-order.js";

export type RestoreMode = "replace" | "merge";

export interface RestoreOptions {
  connection: ConnectOptions;
  storage: Storage;
  project?: string | undefined;
  /** Snapshot id or `latest`. */
  snapshot: string;
  /** The tenant to restore; undefined with `all` restores every row of the snapshot. */
  tenant?: string | undefined;
  all?: boolean | undefined;
  tables?: readonly string[] | undefined;
  mode?: RestoreMode | undefined;
  dryRun?: boolean | undefined;
  triggers?: "disable" | "fire" | undefined;
  rules?: Readonly<Record<string, TableRule>> | undefined;
  signal?: AbortSignal | undefined;
  onProgress?: ((event: { table: string; step: string }) => void) | undefined;
}

export interface RestoreTableResult {
  table: string;
  deleted: number;
  inserted: number;
  updated: number;
}

/** What `pgsnap restore --json` prints (CLI.md). */
export interface RestoreResult {
  snapshot: string;
  project: string;
  tenant: string | null;
  mode: RestoreMode;
  dryRun: boolean;
  tables: RestoreTableResult[];
}

interface Work {
  live: TableInfo;
  snap: ManifestTable;
  stage: string;
  /** Columns written: in the snapshot, in the live table, not generated. */
  columns: ColumnInfo[];
  result: RestoreTableResult;
}

/** Restores a tenant (or, with `all`, every table) from a snapshot; see the module comment. */
export async function restore(options: RestoreOptions): Promise<RestoreResult> {
  const mode = options.mode ?? "replace";
  const tenant = options.tenant;
  if (tenant === undefined && !options.all) {
    throw new UsageError("RESTORE_NO_TENANT", "restore needs --tenant <id>, or --all for the whole snapshot", {
      hint: "pgsnap restore latest --tenant 42 --confirm",
    });
  }
  const client = await connect(options.connection);
  let inTransaction = false;
  try {
    const database = (await client.query<{ db: string }>("SELECT current_database() AS db")).rows[0]!.db;
    const project = options.project ?? database;
    const manifest = await findSnapshot(options.storage, project, options.snapshot, {
      tenant,
      signal: options.signal,
    });

    if (tenant === undefined && manifest.scope === "tenant") {
      throw new UsageError(
        "RESTORE_ALL_FROM_TENANT",
        `snapshot ${manifest.id} holds only tenant ${(manifest.tenants ?? []).join(", ")}; --all would delete every other tenant's rows`,
        {
          hint: `restore it with --tenant ${manifest.tenants?.[0] ?? "<id>"}`,
        },
      );
    }
    await client.query("BEGIN");
    inTransaction = true;
    await client.query("SET LOCAL row_security = off");
    // A tenant restore holds (project, tenant) exclusively and (project, *all*) shared, so two
    // restores of one tenant, or a whole-snapshot restore and any other, never overlap.
    const locked = await client.query<{ ok: boolean }>(
      tenant === undefined
        ? "SELECT pg_catalog.pg_try_advisory_xact_lock(pg_catalog.hashtext($1), pg_catalog.hashtext('*all*')) AS ok"
        : "SELECT pg_catalog.pg_try_advisory_xact_lock_shared(pg_catalog.hashtext($1), pg_catalog.hashtext('*all*'))" +
            " AND pg_catalog.pg_try_advisory_xact_lock(pg_catalog.hashtext($1), pg_catalog.hashtext($2)) AS ok",
      tenant === undefined ? [`pgsnap:${project}`] : [`pgsnap:${project}`, tenant],
    );
    if (!locked.rows[0]!.ok) {
      throw new LockedError(
        "RESTORE_LOCKED",
        `another restore of ${tenant === undefined ? "this project" : `tenant ${tenant}`} in project ${project} is running`,
        {
          hint: "wait for it to finish, then retry",
        },
      );
    }

    const catalog = await readCatalog(client);
    const plan = planTenants(catalog, manifest.tenantColumn, options.rules);
    if (tenant !== undefined) await checkTenantValue(client, plan, tenant);
    const works = planWork(manifest, plan, tenant, options.tables, mode);
    checkRowSecurity(
      catalog,
      works.map((w) => w.live),
    );
    await client.query(`LOCK TABLE ${works.map((w) => quoteTable(w.live)).join(", ")} IN ROW EXCLUSIVE MODE`);

    const reenable = await disableTriggers(client, works, options.triggers ?? "disable", catalog.role.superuser);

    // A tenant with no rows left in any restored table (wiped, or new in this database) is
    // loaded straight into the live tables: nothing to delete, update or compare, so no staging.
    // Every check still holds, later in the same transaction: a key of another tenant's row
    // fails COPY (unique violation), and every loaded row must then count as the tenant's.
    if (
      tenant !== undefined &&
      manifest.scope !== "full" &&
      (await tenantIsAbsent(client, works, (id, a) => ownedCondition(plan, id, a, tenant)))
    ) {
      const checkCycles = await deferCyclicKeys(client, works, catalog.role.superuser);
      const byId = new Map(works.map((w) => [w.live.id, w]));
      for (const t of parentsFirst(works.map((w) => w.live))) {
        const w = byId.get(t.id)!;
        options.onProgress?.({ table: t.id, step: "load" });
        w.result.inserted = await loadRows(
          client,
          options.storage,
          manifest,
          w,
          tenant,
          quoteTable(w.live),
          options.signal,
        );
      }
      for (const w of works) {
        const owned = await client.query<{ n: string }>(
          `SELECT count(*) AS n FROM ${quoteTable(w.live)} t WHERE ${ownedCondition(plan, w.live.id, "t", tenant)}`,
        );
        const foreign = w.result.inserted - Number(owned.rows[0]!.n);
        if (foreign !== 0) {
          throw new RefusedError(
            "FOREIGN_TENANT_ROW",
            `snapshot ${manifest.id}, table ${w.live.id}: ${foreign} row(s) do not belong to tenant ${tenant} (or their parent row is missing)`,
            {
              hint: "the snapshot was altered or mislabelled; nothing was changed (rolled back). Restore from another snapshot",
            },
          );
        }
      }
      await checkCycles();
      await reenable();
      if (!options.dryRun) for (const w of works) await moveSequences(client, w, quoteTable(w.live));
      await client.query(options.dryRun ? "ROLLBACK" : "COMMIT");
      inTransaction = false;
      const tables = works.map((w) => w.result);
      return { snapshot: manifest.id, project, tenant, mode, dryRun: options.dryRun === true, tables };
    }

    // 1. Stage every table, checking checksums and row counts while streaming.
    for (const w of works) {
      options.onProgress?.({ table: w.live.id, step: "staging" });
      await stageTable(client, options.storage, manifest, w, tenant, options.signal);
    }
    const staged = new Map(works.map((w) => [w.live.id, w.stage]));
    const stagedOrLive: RelationOf = (id) => staged.get(id) ?? quoteTable(plan.tables.get(id)!.table);
    // Without a tenant (--all) the rows at stake are all rows of a full snapshot's tables, or the
    // rows that belong to any tenant in a tenants snapshot (rows owned by no tenant stay).
    const owned = (id: string, alias: string, relationOf?: RelationOf) =>
      tenant !== undefined
        ? ownedCondition(plan, id, alias, tenant, relationOf)
        : manifest.scope === "tenants" && manifest.tables.find((t) => t.table === id)?.scope !== "global"
          ? ownedByAnyCondition(plan, id, alias, relationOf)
          : "true";

    // 2. Every staged row must belong to the tenant (parents checked before children).
    if (tenant !== undefined) {
      for (const w of [...works].sort(
        (a, b) => plan.tables.get(a.live.id)!.depth - plan.tables.get(b.live.id)!.depth,
      )) {
        if (manifest.scope === "full") {
          await client.query(`DELETE FROM ${w.stage} s WHERE NOT (${owned(w.live.id, "s", stagedOrLive)})`);
        } else {
          const bad = await client.query(
            `SELECT pg_catalog.row_to_json(s)::text AS row FROM ${w.stage} s WHERE NOT (${owned(w.live.id, "s", stagedOrLive)}) LIMIT 1`,
          );
          if (bad.rowCount) {
            throw new RefusedError(
              "FOREIGN_TENANT_ROW",
              `snapshot ${manifest.id}, table ${w.live.id}: a row does not belong to tenant ${tenant} (or its parent row is missing): ${truncate(bad.rows[0].row)}`,
              {
                hint: "the snapshot was altered or mislabelled; nothing was changed. Restore from another snapshot",
              },
            );
          }
        }
      }
      // 3. No staged key may hit a row of another tenant.
      for (const w of works) await checkCollisions(client, w, (alias) => owned(w.live.id, alias));
    }

    // 4. Deletes children first, then updates and inserts parents first; keys in a cycle of
    // tables (store ⇄ staff) are checked once all rows are written. If a delete hits a foreign
    // key (a tenant's row was re-pointed, after the snapshot, to a parent the snapshot lacks),
    // the other order is tried: writes first, then deletes. Either order must pass every key.
    const order = parentsFirst(works.map((w) => w.live));
    const checkCycles = await deferCyclicKeys(client, works, catalog.role.superuser);
    const byId = new Map(works.map((w) => [w.live.id, w]));
    const deletes = async () => {
      if (mode !== "replace") return;
      for (const t of [...order].reverse()) {
        options.onProgress?.({ table: t.id, step: "delete" });
        await deleteAbsent(
          client,
          byId.get(t.id)!,
          catalog.tables.values(),
          new Set(byId.keys()),
          owned,
          owned(t.id, "t"),
        );
      }
    };
    const writes = async () => {
      for (const t of order) {
        const w = byId.get(t.id)!;
        options.onProgress?.({ table: t.id, step: "write" });
        await updateChanged(client, w);
        await insertMissing(client, w, mode, (alias) => owned(t.id, alias));
      }
    };
    await client.query("SAVEPOINT pgsnap_writes");
    try {
      await deletes();
      await writes();
    } catch (err) {
      if ((err as { code?: string }).code !== "23503" || mode !== "replace") throw err;
      await client.query("ROLLBACK TO SAVEPOINT pgsnap_writes");
      for (const w of works) Object.assign(w.result, { deleted: 0, inserted: 0, updated: 0 });
      await writes();
      await deletes();
    }
    await checkCycles();
    await reenable();
    // setval is not undone by ROLLBACK: move sequences only when everything else has passed,
    // and never on a dry run.
    if (!options.dryRun) for (const w of works) await moveSequences(client, w);

    if (options.dryRun) await client.query("ROLLBACK");
    else await client.query("COMMIT");
    inTransaction = false;
    return {
      snapshot: manifest.id,
      project,
      tenant: tenant ?? null,
      mode,
      dryRun: options.dryRun === true,
      tables: works.map((w) => w.result),
    };
  } catch (err) {
    if (inTransaction) await client.query("ROLLBACK").catch(() => {});
    throw mapRestoreError(err);
  } finally {
    await client.end().catch(() => {});
  }
}

/** Decides the tables of the restore and checks the snapshot against the live schema. */
function planWork(
  manifest: Manifest,
  plan: TenantPlan,
  tenant: string | undefined,
  only: readonly string[] | undefined,
  mode: RestoreMode,
): Work[] {
  const liveTables = { tables: new Map([...plan.tables].map(([id, p]) => [id, p.table])) };
  let snapTables = manifest.tables.filter((t) => tenant === undefined || t.scope !== "global");
  if (only && only.length > 0) {
    const wanted = new Set(resolveTableNames(liveTables, only).map((t) => t.id));
    for (const id of wanted) {
      if (!snapTables.some((t) => t.table === id)) {
        throw new UsageError(
          "RESTORE_TABLE_NOT_IN_SNAPSHOT",
          `table ${id} is not in snapshot ${manifest.id}${tenant !== undefined ? " as a tenant table" : ""}`,
          {
            hint: `see \`pgsnap inspect ${manifest.id}\``,
          },
        );
      }
    }
    // Close the set over foreign keys whose delete would reach rows outside it.
    if (mode === "replace") {
      for (let changed = true; changed;) {
        changed = false;
        for (const p of plan.tables.values()) {
          if (wanted.has(p.table.id)) continue;
          const fk = p.table.foreignKeys.find(
            (f) => wanted.has(f.refTable) && (f.onDelete === "c" || f.onDelete === "n" || f.onDelete === "d"),
          );
          if (!fk) continue;
          if (snapTables.some((t) => t.table === p.table.id)) {
            wanted.add(p.table.id);
            changed = true;
          } else if (tenant === undefined || p.scope !== "global") {
            throw new RefusedError(
              "RESTORE_SET_NOT_CLOSED",
              `restoring ${fk.refTable} could change rows of ${p.table.id} (foreign key ${fk.name} ON DELETE ${fk.onDelete === "c" ? "CASCADE" : "SET NULL/DEFAULT"}), which the snapshot does not hold`,
              {
                hint: `add ${p.table.id} to the snapshot, or restore without --tables`,
              },
            );
          }
        }
      }
    }
    snapTables = snapTables.filter((t) => wanted.has(t.table));
  }
  if (snapTables.length === 0) {
    throw new UsageError(
      "RESTORE_NOTHING",
      `snapshot ${manifest.id} holds no table to restore${tenant !== undefined ? ` for tenant ${tenant}` : ""}`,
      {
        hint: `see \`pgsnap inspect ${manifest.id}\``,
      },
    );
  }
  const drift: string[] = [];
  const works: Work[] = [];
  snapTables.forEach((snap, i) => {
    const live = plan.tables.get(snap.table)?.table;
    if (!live) {
      drift.push(`table ${snap.table} is in the snapshot but not in the database`);
      return;
    }
    if (tenant !== undefined && plan.tables.get(snap.table)!.scope === "global") {
      drift.push(`table ${snap.table} was a tenant table (${snap.scope}) but the database plan makes it global`);
      return;
    }
    const liveCols = new Map(live.columns.map((c) => [c.name, c]));
    const snapCols = new Set(snap.columns.map((c) => c.name));
    for (const c of snap.columns) {
      const lc = liveCols.get(c.name);
      if (!lc) drift.push(`${snap.table}.${c.name} (${c.type}) is in the snapshot but not in the database`);
      else if (lc.type !== c.type && !lc.generated)
        drift.push(`${snap.table}.${c.name} is ${c.type} in the snapshot but ${lc.type} in the database`);
    }
    for (const lc of live.columns) {
      if (!snapCols.has(lc.name) && lc.notNull && !lc.generated && lc.identity === "") {
        // A NOT NULL column the snapshot lacks: fine only when it has a default; COPY can't tell, so refuse.
        drift.push(`${snap.table}.${lc.name} (${lc.type} NOT NULL) is in the database but not in the snapshot`);
      }
    }
    works.push({
      live,
      snap,
      stage: `pg_temp.${quoteIdent(`pgsnap_stage_${i}`)}`,
      columns: live.columns.filter((c) => snapCols.has(c.name) && !c.generated),
      result: { table: snap.table, deleted: 0, inserted: 0, updated: 0 },
    });
  });
  if (drift.length > 0) {
    throw new RefusedError(
      "SCHEMA_DRIFT",
      `the snapshot ${manifest.id} does not match the database:\n  ${drift.join("\n  ")}`,
      {
        hint: "migrate the database to the snapshot's schema (or back), or restore only unaffected tables with --tables",
      },
    );
  }
  return works;
}

/** Streams one table's rows (or one tenant frame) into a staging table, checking sha256 and rows. */
async function stageTable(
  client: pg.Client,
  storage: Storage,
  manifest: Manifest,
  w: Work,
  tenant: string | undefined,
  signal: AbortSignal | undefined,
): Promise<void> {
  // A typed copy of the live columns (no constraints but domains): COPY's input functions
  // convert the text, exactly like the casts of a dump's ::text columns in reverse.
  const cols = w.columns.map((c) => quoteIdent(c.name)).join(", ");
  await client.query(
    `CREATE TEMP TABLE ${w.stage} ON COMMIT DROP AS SELECT ${cols || "1 AS pgsnap_dummy"} FROM ${quoteTable(w.live)} WITH NO DATA`,
  );
  await loadRows(client, storage, manifest, w, tenant, w.stage, signal);
  await client.query(`ANALYZE ${w.stage}`);
}

/**
 * Streams a table's rows (or the tenant's frame) from storage into `target` with COPY, checking
 * the object's sha256 and row count against the manifest. Returns the rows loaded.
 */
async function loadRows(
  client: pg.Client,
  storage: Storage,
  manifest: Manifest,
  w: Work,
  tenant: string | undefined,
  target: string,
  signal: AbortSignal | undefined,
): Promise<number> {
  const cols = w.columns.map((c) => quoteIdent(c.name)).join(", ");
  const key = snapshotPrefix(manifest.project, manifest.id) + w.snap.object;
  let expect: { sha256: string; rows: number; range?: { offset: number; length: number } } | undefined;
  if (w.snap.frames) {
    if (tenant === undefined) expect = { sha256: w.snap.sha256, rows: w.snap.rows };
    else {
      const frame = w.snap.frames.find((f) => f.tenant === tenant);
      if (frame)
        expect = { sha256: frame.sha256, rows: frame.rows, range: { offset: frame.offset, length: frame.length } };
    }
  } else expect = { sha256: w.snap.sha256, rows: w.snap.rows };

  if (expect && expect.rows > 0 && w.columns.length > 0) {
    let source;
    try {
      source = await storage.get(key, expect.range, { signal });
    } catch (err) {
      if (err instanceof PgsnapError && err.code === "STORAGE_NOT_FOUND") {
        throw new IntegrityError("OBJECT_MISSING", `snapshot ${manifest.id}: object ${w.snap.object} is missing`, {
          hint: "the snapshot is damaged; run `pgsnap verify` and restore from another snapshot",
          cause: err,
        });
      }
      throw err;
    }
    const digest = new DigestStream();
    const transcoder = new NdjsonToCopy({ columns: w.columns.map((c) => c.name) });
    const sink = client.query(copyFrom(`COPY ${target} (${cols}) FROM STDIN`));
    try {
      await pipeline(source, digest, createDecompressStream(), transcoder, sink, { signal });
    } catch (err) {
      // The rows' values passed their types' input functions when they were dumped, so a
      // failure here is the object's fault; but a constraint (SQLSTATE class 23: a key of
      // another tenant's row, a missing parent, a stricter domain) is the database refusing.
      const code = (err as { code?: unknown }).code;
      if (
        (err instanceof PgsnapError && err.exitCode !== ExitCode.integrity) ||
        (err as { name?: string }).name === "AbortError" ||
        (typeof code === "string" && code.startsWith("23"))
      )
        throw err;
      throw new IntegrityError(
        "OBJECT_CORRUPT",
        `snapshot ${manifest.id}: object ${w.snap.object} cannot be read: ${(err as Error).message}`,
        {
          hint: "the object is truncated or corrupted; run `pgsnap verify` and restore from another snapshot",
          cause: err,
        },
      );
    }
    if (digest.sha256 !== expect.sha256) {
      throw new IntegrityError(
        "CHECKSUM_MISMATCH",
        `snapshot ${manifest.id}: object ${w.snap.object}${expect.range ? ` (tenant ${tenant} frame)` : ""} has sha256 ${digest.sha256}, the manifest says ${expect.sha256}`,
        {
          hint: "the object was changed or damaged; nothing was restored. Use another snapshot",
        },
      );
    }
    if (sink.rowCount !== expect.rows) {
      throw new IntegrityError(
        "ROW_COUNT_MISMATCH",
        `snapshot ${manifest.id}: object ${w.snap.object} holds ${sink.rowCount} rows, the manifest says ${expect.rows}`,
        {
          hint: "the snapshot is damaged; nothing was restored. Use another snapshot",
        },
      );
    }
    return sink.rowCount;
  }
  return 0;
}

/** Does the tenant own no row in any of the tables? */
async function tenantIsAbsent(
  client: pg.Client,
  works: Work[],
  owned: (id: string, alias: string) => string,
): Promise<boolean> {
  for (const w of works) {
    const r = await client.query<{ any: boolean }>(
      `SELECT EXISTS (SELECT 1 FROM ${quoteTable(w.live)} t WHERE ${owned(w.live.id, "t")}) AS any`,
    );
    if (r.rows[0]!.any) return false;
  }
  return true;
}

/** Refuses when a staged key equals the key of a live row that is not the tenant's. */
async function checkCollisions(client: pg.Client, w: Work, owned: (alias: string) => string): Promise<void> {
  const colNames = new Set(w.columns.map((c) => c.name));
  for (const key of w.live.keys) {
    if (!key.columns.every((c) => colNames.has(c))) continue;
    const on = key.columns.map((c) => `t.${quoteIdent(c)} = s.${quoteIdent(c)}`).join(" AND ");
    // An aggregate, not LIMIT 1: with LIMIT the planner trusts stale statistics (say, right
    // after the tenant's rows were deleted) and may pick a nested loop over both tables.
    const hit = await client.query<{ k: string | null }>(
      `SELECT min(${key.columns.map((c) => `s.${quoteIdent(c)}::text`).join(" || ', ' || ")}) AS k FROM ${w.stage} s JOIN ${quoteTable(w.live)} t ON ${on} WHERE NOT (${owned("t")})`,
    );
    if (hit.rows[0]?.k != null) {
      throw new RefusedError(
        "KEY_COLLISION",
        `table ${w.live.id}: key ${key.name} (${key.columns.join(", ")}) = (${String(hit.rows[0].k)}) of a snapshot row belongs to a row of another tenant`,
        {
          hint: "nothing was changed; the other tenant's row was never touched. Resolve the conflicting row by hand, then retry",
        },
      );
    }
  }
}

function keyMatch(w: Work, a: string, b: string): string | undefined {
  const key = identityKey(w.live);
  if (!key || !key.columns.every((c) => w.columns.some((col) => col.name === c))) return undefined;
  return key.columns.map((c) => `${a}.${quoteIdent(c)} = ${b}.${quoteIdent(c)}`).join(" AND ");
}

/** Deletes the tenant's live rows that the snapshot does not have, after checking no other row depends on them. */
async function deleteAbsent(
  client: pg.Client,
  w: Work,
  allTables: Iterable<TableInfo>,
  restored: Set<string>,
  owned: (id: string, alias: string) => string,
  ownedT: string,
): Promise<void> {
  const match = keyMatch(w, "t", "s");
  const doomed = `${ownedT}${match ? ` AND NOT EXISTS (SELECT 1 FROM ${w.stage} s WHERE ${match})` : ""}`;
  for (const other of allTables) {
    for (const fk of other.foreignKeys) {
      if (fk.refTable !== w.live.id) continue;
      // Rows of the tenant in a restored table are handled by the restore itself.
      const exempt = restored.has(other.id) ? ` AND NOT (${owned(other.id, "c")})` : "";
      const sql =
        `SELECT 1 FROM ${quoteTable(other)} c WHERE (${fk.columns.map((x) => `c.${quoteIdent(x)}`).join(", ")}) IN ` +
        `(SELECT ${fk.refColumns.map((x) => `t.${quoteIdent(x)}`).join(", ")} FROM ${quoteTable(w.live)} t WHERE ${doomed})${exempt} LIMIT 1`;
      if ((await client.query(sql)).rowCount) {
        throw new RefusedError(
          "DELETE_WOULD_TOUCH_OTHERS",
          `restore would delete rows of ${w.live.id} that rows of ${other.id} still reference (foreign key ${fk.name})`,
          {
            hint: restored.has(other.id)
              ? "those rows belong to another tenant or to no tenant; nothing was changed"
              : `nothing was changed; add ${other.id} to --tables or restore without --tables`,
          },
        );
      }
    }
  }
  const res = await client.query(`DELETE FROM ${quoteTable(w.live)} t WHERE ${doomed}`);
  w.result.deleted = res.rowCount ?? 0;
}

/** Updates the live rows whose key is staged and whose values differ. */
async function updateChanged(client: pg.Client, w: Work): Promise<void> {
  const match = keyMatch(w, "t", "s");
  if (!match) return;
  const key = new Set(identityKey(w.live)!.columns);
  const settable = w.columns.filter((c) => !key.has(c.name) && c.identity !== "a");
  if (settable.length === 0) return;
  const set = settable.map((c) => `${quoteIdent(c.name)} = s.${quoteIdent(c.name)}`).join(", ");
  const tRow = settable.map((c) => `t.${quoteIdent(c.name)}`).join(", ");
  const sRow = settable.map((c) => `s.${quoteIdent(c.name)}`).join(", ");
  const res = await client.query(
    `UPDATE ${quoteTable(w.live)} t SET ${set} FROM ${w.stage} s WHERE ${match} AND ROW(${tRow})::text IS DISTINCT FROM ROW(${sRow})::text`,
  );
  w.result.updated = res.rowCount ?? 0;
}

/**
 * Inserts the staged rows whose key is not live. A table without a key: in replace mode the
 * tenant's rows were all deleted, so every staged row goes in; in merge mode the rows whose
 * whole text is not among the tenant's live rows.
 */
async function insertMissing(
  client: pg.Client,
  w: Work,
  mode: RestoreMode,
  owned: (alias: string) => string,
): Promise<void> {
  if (w.columns.length === 0) return;
  const cols = w.columns.map((c) => quoteIdent(c.name)).join(", ");
  const rowOf = (alias: string) => `ROW(${w.columns.map((c) => `${alias}.${quoteIdent(c.name)}`).join(", ")})::text`;
  const match =
    keyMatch(w, "t", "s") ?? (mode === "merge" ? `${rowOf("t")} = ${rowOf("s")} AND ${owned("t")}` : undefined);
  const overriding = w.columns.some((c) => c.identity !== "") ? " OVERRIDING SYSTEM VALUE" : "";
  const res = await client.query(
    `INSERT INTO ${quoteTable(w.live)} (${cols})${overriding} SELECT ${w.columns.map((c) => `s.${quoteIdent(c.name)}`).join(", ")} FROM ${w.stage} s` +
      (match ? ` WHERE NOT EXISTS (SELECT 1 FROM ${quoteTable(w.live)} t WHERE ${match})` : ""),
  );
  w.result.inserted = res.rowCount ?? 0;
}

/** Moves the table's sequences up to the largest restored value; never down (other tenants share them). */
async function moveSequences(client: pg.Client, w: Work, from: string = w.stage): Promise<void> {
  for (const seq of w.live.sequences) {
    const col = w.live.columns.find((c) => c.name === seq.column);
    if (!col || !["int2", "int4", "int8"].includes(col.baseType)) continue;
    const seqName = `${quoteIdent(seq.schema)}.${quoteIdent(seq.name)}`;
    await client.query(
      `SELECT pg_catalog.setval(${quoteLiteral(seqName)}::pg_catalog.regclass, m) FROM (SELECT max(${quoteIdent(seq.column)})::int8 AS m FROM ${from}) x, ${seqName} q ` +
        `WHERE x.m IS NOT NULL AND x.m > CASE WHEN q.is_called THEN q.last_value ELSE q.last_value - 1 END`,
    );
  }
}

/**
 * Keeps user triggers (audit, stock, webhooks) from firing during the restore by disabling them
 * inside the transaction (foreign keys stay enforced). Returns the re-enabling step.
 */
async function disableTriggers(
  client: pg.Client,
  works: Work[],
  mode: "disable" | "fire",
  superuser: boolean,
): Promise<() => Promise<void>> {
  const withTriggers = works.filter((w) => w.live.triggers.length > 0);
  if (mode === "fire" || withTriggers.length === 0) return async () => {};
  const notOwned = withTriggers.filter((w) => !w.live.isOwner && !superuser);
  if (notOwned.length > 0) {
    throw new RefusedError(
      "TRIGGERS_WOULD_FIRE",
      `tables ${notOwned.map((w) => w.live.id).join(", ")} have user triggers (${notOwned.flatMap((w) => w.live.triggers.map((t) => t.name)).join(", ")}) that this role may not disable`,
      {
        hint: "restore as the tables' owner, or pass --triggers fire if firing them again is safe",
      },
    );
  }
  for (const w of withTriggers) {
    for (const t of w.live.triggers)
      await client.query(`ALTER TABLE ${quoteTable(w.live)} DISABLE TRIGGER ${quoteIdent(t.name)}`);
  }
  return async () => {
    for (const w of withTriggers) {
      for (const t of w.live.triggers) {
        const how = t.enabled === "A" ? "ENABLE ALWAYS" : t.enabled === "R" ? "ENABLE REPLICA" : "ENABLE";
        await client.query(`ALTER TABLE ${quoteTable(w.live)} ${how} TRIGGER ${quoteIdent(t.name)}`);
      }
    }
  };
}

/**
 * Defers the foreign keys that close a cycle among the restored tables, so rows can be written
 * in any order; the returned step checks them (SET CONSTRAINTS ... IMMEDIATE) and puts back keys
 * that were not deferrable. Altering a key needs the table's owner; without it the keys stay as
 * they are (a restore that needs them deferred then fails and rolls back).
 */
async function deferCyclicKeys(client: pg.Client, works: Work[], superuser: boolean): Promise<() => Promise<void>> {
  const tables = new Map(works.map((w) => [w.live.id, w.live]));
  const keys = cyclicForeignKeys([...tables.values()]);
  const altered: { table: TableInfo; name: string }[] = [];
  const deferred: string[] = [];
  for (const fk of keys) {
    const table = tables.get(fk.table)!;
    const name = `${quoteIdent(table.schema)}.${quoteIdent(fk.name)}`;
    if (!fk.deferrable) {
      if (!table.isOwner && !superuser) continue;
      await client.query(
        `ALTER TABLE ${quoteTable(table)} ALTER CONSTRAINT ${quoteIdent(fk.name)} DEFERRABLE INITIALLY IMMEDIATE`,
      );
      altered.push({ table, name: fk.name });
    }
    await client.query(`SET CONSTRAINTS ${name} DEFERRED`);
    deferred.push(name);
  }
  return async () => {
    if (deferred.length > 0) await client.query(`SET CONSTRAINTS ${deferred.join(", ")} IMMEDIATE`);
    for (const a of altered) {
      await client.query(`ALTER TABLE ${quoteTable(a.table)} ALTER CONSTRAINT ${quoteIdent(a.name)} NOT DEFERRABLE`);
    }
  };
}

function truncate(s: unknown, n = 200): string {
  const text = String(s);
  return text.length > n ? text.slice(0, n) + "…" : text;
}

function mapRestoreError(err: unknown): unknown {
  if (err instanceof PgsnapError) return err;
  const e = err as { code?: string; message?: string; name?: string; detail?: string; table?: string };
  if (e.name === "AbortError") return new InterruptedError("restore interrupted; rolled back", { cause: err });
  if (e.code === "42501" && /row-level security/i.test(e.message ?? "")) {
    return new RefusedError("RLS_WOULD_FILTER", `restore refused: ${e.message}`, {
      hint: "restore as a role with BYPASSRLS; nothing was changed",
      cause: err,
    });
  }
  if (e.code === "23503" || e.code === "23505" || e.code === "23502" || e.code === "23514") {
    return new RefusedError(
      `CONSTRAINT_${e.code}`,
      `restore refused by the database: ${e.message}${e.detail ? ` (${e.detail})` : ""}`,
      {
        hint: "nothing was changed (rolled back); the snapshot's rows conflict with the current data",
        cause: err,
      },
    );
  }
  if (e.code === "55P03") {
    return new LockedError("LOCK_TIMEOUT", `restore could not lock a table in time: ${e.message}`, {
      hint: "another session holds a conflicting lock; retry later",
      cause: err,
    });
  }
  if (isConnectionFailure(err)) return connectionError(err, undefined);
  if (e.code === "42501") {
    return new UsageError("PERMISSION_DENIED", `restore refused by the database: ${e.message}`, {
      hint: "the role needs SELECT, INSERT, UPDATE, DELETE on the restored tables (see sql/roles.sql); nothing was changed",
      cause: err,
    });
  }
  if (typeof e.code === "string" && /^[0-9A-Z]{5}$/.test(e.code) && !e.code.startsWith("XX")) {
    // A trigger, check or other rule of the database said no: not a pgsnap bug.
    return new RefusedError(
      `DATABASE_${e.code}`,
      `the database refused the restore: ${e.message} (SQLSTATE ${e.code})`,
      {
        hint: "rolled back, nothing was changed; fix the cause in the database or restore with other options",
        cause: err,
      },
    );
  }
  return err;
}
