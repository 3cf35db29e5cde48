/**
 * Restore of one tenant, or of a whole snapshot (DESIGN.md, "Restore of one tenant"): one
 * transaction holding an advisory lock for (project, tenant), then in order
 *   plan the work (work.ts) → stage and check (stage.ts, guards.ts) → lock, plan the changes and
 *   check their reach (apply.ts) → write → prove → sequences (sequences.ts) → COMMIT.
 * Rows of other tenants are never deleted, updated or overwritten; any doubt, and any signal
 * before COMMIT, rolls back.
 */
import type pg from "pg";
import { LockedError, RefusedError, UsageError } from "../errors.js";
import { readCatalog } from "../db/catalog.js";
import { connect, type ConnectOptions } from "../db/connect.js";
import { ownedByAnyCondition, ownedCondition, planTenants, type RelationOf, type TableRule } from "../db/plan.js";
import { quoteTable } from "../db/quote.js";
import { checkRowSecurity } from "../db/row-security.js";
import { readSourceIdentity } from "../db/source-identity.js";
import { canonicalTenant } from "../db/tenant-value.js";
import type { Manifest } from "../format/manifest.js";
import type { ProgressEvent } from "../format/progress.js";
import { findSnapshot, type LatestChoice } from "../snapshots/list-snapshots.js";
import type { Storage } from "../storage/storage.js";
import { applyChanges, checkReach, planChanges, proveChanges, readXactCounts, type ApplyContext } from "./apply.js";
import {
  checkCollisions,
  checkRules,
  checkSourceDatabase,
  checkStagedOwnership,
  checkTriggers,
  type Owned,
} from "./guards.js";
import { mapRestoreError } from "./restore-errors.js";
import { moveSequences } from "./sequences.js";
import { deferCyclicKeys, disableTriggersAndRules, lockForWrites } from "./session-tables.js";
import { loadRows, stageTable, type RowsProgress } from "./stage.js";
import { parentsFirst } from "./topo-order.js";
import { liveRel, planWork, rowText, type RestoreMode, type RestoreTableResult, type Work } from "./work.js";

export type { RestoreMode, RestoreTableResult } from "./work.js";

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
  /** Go on when the restore would leave the tenant with none of its current rows. */
  allowEmpty?: boolean | undefined;
  /** Restore into another database than the snapshot came from, on purpose. */
  toOtherDatabase?: boolean | undefined;
  rules?: Readonly<Record<string, TableRule>> | undefined;
  signal?: AbortSignal | undefined;
  /** Hears which snapshot `latest` chose and why others were skipped. */
  onChoice?: ((choice: LatestChoice) => void) | undefined;
  /** Rows and bytes per table while staging or loading (ProgressEvent), and step names. */
  onProgress?: ((event: ProgressEvent | { table: string; step: string }) => void) | undefined;
}

/** What `pgsnap restore --json` prints (CLI.md). */
export interface RestoreResult {
  snapshot: string;
  project: string;
  tenant: string | null;
  mode: RestoreMode;
  dryRun: boolean;
  tables: RestoreTableResult[];
  /** Schema differences the restore mapped (a column added since the dump gets its default). */
  notes: string[];
}

/** Restores a tenant (or, with `all`, every table) from a snapshot; see the module comment. */
export async function restore(options: RestoreOptions): Promise<RestoreResult> {
  const mode = options.mode ?? "replace";
  const signal = options.signal;
  if (options.tenant === undefined && !options.all) {
    throw new UsageError("RESTORE_NO_TENANT", "restore needs --tenant <id>, or --all for the whole snapshot", {
      hint: "pgsnap restore latest --tenant 42 --confirm",
    });
  }
  signal?.throwIfAborted();
  const client = await connect(options.connection);
  // A signal before COMMIT cuts the connection: the server rolls the transaction back (it
  // notices a vanished client within client_connection_check_interval even mid-statement).
  const cut = () => (client as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy();
  signal?.addEventListener("abort", cut, { once: true });
  let inTransaction = false;
  try {
    await client.query("BEGIN");
    inTransaction = true;
    await client.query("SET LOCAL row_security = off");
    await watchForVanishedClient(client);
    const live = await readSourceIdentity(client);
    const project = options.project ?? live.database;
    const manifest = await findSnapshot(options.storage, project, options.snapshot, {
      tenant: options.tenant,
      tables: options.tables,
      onChoice: options.onChoice,
      signal,
    });
    if (options.tenant === undefined && manifest.scope === "tenant") {
      throw new UsageError(
        "RESTORE_ALL_FROM_TENANT",
        `snapshot ${manifest.id} holds only tenant ${(manifest.tenants ?? []).join(", ")}; --all would delete every other tenant's rows`,
        { hint: `restore it with --tenant ${manifest.tenants?.[0] ?? "<id>"}` },
      );
    }
    checkSourceDatabase(manifest, live, options.toOtherDatabase === true);
    await takeAdvisoryLock(client, project, options.tenant);

    const catalog = await readCatalog(client);
    const plan = planTenants(catalog, manifest.tenantColumn, options.rules);
    // The tenant in its canonical spelling under the key column's equality, once, for every path.
    const tenant = options.tenant === undefined ? undefined : await canonicalTenant(client, plan, options.tenant);
    const works = planWork(manifest, plan, tenant, options.tables, mode);
    checkRowSecurity(
      catalog,
      works.map((w) => w.live),
    );
    checkTriggers(works, options.triggers ?? "disable", catalog.role.superuser);
    checkRules(works, catalog.role.superuser);
    // ROW EXCLUSIVE: no DDL meanwhile; other sessions keep reading and writing.
    await client.query(`LOCK TABLE ${works.map((w) => quoteTable(w.live)).join(", ")} IN ROW EXCLUSIVE MODE`);
    signal?.throwIfAborted();

    const owned: Owned =
      tenant !== undefined
        ? (id, alias) => ownedCondition(plan, id, alias, tenant)
        : (id, alias) =>
            // A complete tenants snapshot (allRows) holds the rows of no tenant too: it replaces all rows.
            manifest.scope === "tenants" &&
            !manifest.allRows &&
            manifest.tables.find((t) => t.table === id)?.scope !== "global"
              ? ownedByAnyCondition(plan, id, alias)
              : "true";
    const ctx: ApplyContext = {
      client,
      works,
      allTables: [...catalog.tables.values()],
      mode,
      owned,
      tenant: tenant ?? "(all)",
      dryRun: options.dryRun === true,
      signal,
      onStep: (table, step) => options.onProgress?.({ table, step }),
    };
    let tablesDone = 0;
    const rowsProgress =
      (w: Work, step: string): RowsProgress =>
      (rows, bytes, totalRows, finished) => {
        if (finished) tablesDone++;
        options.onProgress?.({
          phase: "restore",
          table: w.live.id,
          worker: 0,
          rows,
          bytes,
          totalRows,
          finished,
          tablesDone,
          tablesTotal: works.length,
          step,
        });
      };
    const result = (): RestoreResult => ({
      snapshot: manifest.id,
      project,
      tenant: tenant ?? null,
      mode,
      dryRun: options.dryRun === true,
      tables: works.map((w) => w.result),
      notes: works.flatMap((w) => w.notes),
    });
    const finish = async (sequencesFrom: (w: Work) => string) => {
      signal?.throwIfAborted();
      // setval is not undone by ROLLBACK: sequences move only once everything else has passed
      // (deferred constraints included), and never on a dry run.
      if (!options.dryRun) for (const w of works) await moveSequences(client, w, sequencesFrom(w));
      signal?.throwIfAborted();
      await client.query(options.dryRun ? "ROLLBACK" : "COMMIT");
      inTransaction = false;
    };

    // A tenant with no rows left in any restored table (wiped, or new in this database) is
    // loaded straight into the live tables: nothing to delete, update or compare, so no staging.
    // The checks still hold, in the same transaction: a key of another tenant's row fails COPY
    // (unique violation), every loaded row must then count as the tenant's, and nothing else moved.
    if (tenant !== undefined && manifest.scope !== "full" && (await tenantIsAbsent(client, works, owned))) {
      await lockForWrites(client, works);
      const enable = await disableTriggersAndRules(client, works, options.triggers ?? "disable");
      const checkDeferred = await deferCyclicKeys(client, works, catalog.role.superuser);
      const before = await readXactCounts(client);
      for (const t of parentsFirst(works.map((w) => w.live))) {
        const w = works.find((x) => x.live.id === t.id)!;
        signal?.throwIfAborted();
        options.onProgress?.({ table: t.id, step: "load" });
        w.result.inserted = await loadRows(
          client,
          options.storage,
          manifest,
          w,
          tenant,
          quoteTable(w.live),
          signal,
          w.columns,
          rowsProgress(w, "load"),
        );
      }
      await proveBulkLoad(client, works, owned, tenant, options.triggers === "fire" ? undefined : before);
      await checkDeferred();
      await enable();
      await finish((w) => liveRel(w.live));
      return result();
    }

    // 1. Stage every table, checking checksums and row counts while streaming.
    for (const w of works) {
      signal?.throwIfAborted();
      options.onProgress?.({ table: w.live.id, step: "staging" });
      await stageTable(client, options.storage, manifest, w, tenant, signal, rowsProgress(w, "staging"));
    }
    // 2. Every staged row must belong to the tenant; no staged key may hit another tenant's row.
    options.onProgress?.({ table: "*", step: "checks" });
    if (tenant !== undefined) {
      const staged = new Map(works.map((w) => [w.live.id, w.stage]));
      const stagedOrLive: RelationOf = (id) => staged.get(id) ?? quoteTable(plan.tables.get(id)!.table);
      await checkStagedOwnership(
        client,
        manifest,
        works,
        (id) => plan.tables.get(id)!.depth,
        (id, alias) => ownedCondition(plan, id, alias, tenant, stagedOrLive),
        tenant,
      );
    }
    for (const w of works) {
      signal?.throwIfAborted();
      await checkCollisions(client, w, owned, tenant);
    }

    // 3. The write phase, under SHARE ROW EXCLUSIVE: plan, reach, write, prove.
    signal?.throwIfAborted();
    await lockForWrites(client, works);
    const enable = await disableTriggersAndRules(client, works, options.triggers ?? "disable");
    const checkDeferred = await deferCyclicKeys(client, works, catalog.role.superuser);
    const changes = await planChanges(ctx);
    if (tenant !== undefined && mode === "replace" && !options.allowEmpty) {
      await refuseEmptying(client, works, changes, owned, tenant, manifest);
    }
    await checkReach(ctx, changes);
    const before = await applyChanges(ctx, changes);
    signal?.throwIfAborted();
    options.onProgress?.({ table: "*", step: "prove" });
    if (options.triggers !== "fire") await proveChanges(ctx, changes, before);
    await checkDeferred();
    await enable();
    await finish((w) => w.stage);
    return result();
  } catch (err) {
    // After a signal the connection is cut: the server rolls back by itself.
    if (inTransaction && !signal?.aborted) await client.query("ROLLBACK").catch(() => {});
    throw mapRestoreError(err, signal, options.connection.url, [client]);
  } finally {
    signal?.removeEventListener("abort", cut);
    await client.end().catch(() => {});
  }
}

/**
 * Takes the restore's advisory locks: a tenant restore holds (project, tenant) exclusively and
 * (project, *all*) shared, so two restores of one tenant, or a whole-snapshot restore and any
 * other, never overlap. A held lock is exit 13, naming the session that holds it.
 */
async function takeAdvisoryLock(client: pg.Client, project: string, tenant: string | undefined): Promise<void> {
  const key = `pgsnap:${project}`;
  const locked = await client.query<{ ok: boolean }>(
    tenant === undefined
      ? "SELECT pg_catalog.pg_try_advisory_xact_lock(pg_catalog.hashtext($1), pg_catalog.hashtext('*all*')) AS ok"
      : "SELECT pg_catalog.pg_try_advisory_xact_lock_shared(pg_catalog.hashtext($1), pg_catalog.hashtext('*all*'))" +
          " AND pg_catalog.pg_try_advisory_xact_lock(pg_catalog.hashtext($1), pg_catalog.hashtext($2)) AS ok",
    tenant === undefined ? [key] : [key, tenant],
  );
  if (locked.rows[0]!.ok) return;
  const holder = await client.query<{ pid: number; state: string; since: string | null; app: string }>(
    `SELECT a.pid, a.state, a.xact_start::text AS since, a.application_name AS app
       FROM pg_catalog.pg_locks l JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid
      WHERE l.locktype = 'advisory' AND l.granted AND l.pid <> pg_catalog.pg_backend_pid()
        AND l.classid::int4 = pg_catalog.hashtext($1) LIMIT 1`,
    [key],
  );
  const h = holder.rows[0];
  throw new LockedError(
    "RESTORE_LOCKED",
    `another restore of ${tenant === undefined ? "this project" : `tenant ${tenant}`} in project ${project} is running` +
      (h ? ` (server process ${h.pid}, ${h.state}, transaction since ${h.since ?? "?"})` : ""),
    {
      hint: h
        ? `wait for it to finish, then retry. If its client is gone, the server ends it within seconds; to stop it now: SELECT pg_cancel_backend(${h.pid})`
        : "wait for it to finish, then retry",
    },
  );
}

/** Lets the server notice a vanished client mid-statement (PostgreSQL 14+), so a killed restore releases its locks. */
async function watchForVanishedClient(client: pg.Client): Promise<void> {
  const v = await client.query<{ n: number }>("SELECT current_setting('server_version_num')::int AS n");
  if (v.rows[0]!.n >= 140000) await client.query("SET LOCAL client_connection_check_interval = '1s'");
}

/** Does the tenant own no row in any of the tables? */
async function tenantIsAbsent(client: pg.Client, works: readonly Work[], owned: Owned): Promise<boolean> {
  for (const w of works) {
    const r = await client.query<{ any: boolean }>(
      `SELECT EXISTS (SELECT 1 FROM ${liveRel(w.live)} t WHERE ${owned(w.live.id, "t")}) AS any`,
    );
    if (r.rows[0]!.any) return false;
  }
  return true;
}

/** After a bulk load: every loaded row is the tenant's, and no other table changed. */
async function proveBulkLoad(
  client: pg.Client,
  works: readonly Work[],
  owned: Owned,
  tenant: string,
  before: Awaited<ReturnType<typeof readXactCounts>>,
): Promise<void> {
  for (const w of works) {
    const r = await client.query<{ n: string }>(
      `SELECT count(*) AS n FROM ${liveRel(w.live)} t WHERE ${owned(w.live.id, "t")}`,
    );
    const foreign = w.result.inserted - Number(r.rows[0]!.n);
    if (foreign !== 0) {
      throw new RefusedError(
        "FOREIGN_TENANT_ROW",
        `table ${w.live.id}: ${foreign} loaded row(s) do not belong to tenant ${tenant} (or their parent row is missing)`,
        {
          hint: "the snapshot was altered or mislabelled; nothing was changed (rolled back). Restore from another snapshot",
        },
      );
    }
  }
  const after = before ? await readXactCounts(client) : undefined;
  if (!before || !after) return;
  const restored = new Map(works.map((w) => [w.live.oid, w]));
  for (const [oid, a] of after) {
    const b = before.get(oid) ?? { ins: 0, upd: 0, del: 0 };
    const w = restored.get(oid);
    const ins = a.ins - b.ins;
    const other = a.upd - b.upd + (a.del - b.del);
    if (w ? ins === w.result.inserted && other === 0 : ins + other === 0) continue;
    throw new RefusedError(
      "RESTORE_TOUCHED_OTHERS",
      `restoring tenant ${tenant} changed rows outside the load (table oid ${oid}: ${ins} inserted, ${other} updated or deleted)`,
      { hint: "a rule, trigger or referential action reached other rows; nothing was changed (rolled back)" },
    );
  }
}

/**
 * Refuses a restore that would leave the tenant with none of its current rows (the snapshot
 * holds none of them: a wrong or empty snapshot, a mistyped tenant), unless --allow-empty.
 */
async function refuseEmptying(
  client: pg.Client,
  works: readonly Work[],
  changes: Awaited<ReturnType<typeof planChanges>>,
  owned: Owned,
  tenant: string,
  manifest: Manifest,
): Promise<void> {
  let current = 0;
  let deleted = 0;
  for (const w of works) {
    const known = changes.get(w.live.id)!.liveRows;
    if (known !== undefined) current += known;
    else {
      const r = await client.query<{ n: string }>(
        `SELECT count(*) AS n FROM ${liveRel(w.live)} t WHERE ${owned(w.live.id, "t")}`,
      );
      current += Number(r.rows[0]!.n);
    }
    deleted += changes.get(w.live.id)!.deletes;
    // A keyless table's rows are all replaced; the same rows coming back are kept rows.
    if (!w.key) {
      const same = await client.query<{ n: string }>(
        `SELECT count(*) AS n FROM ${w.stage} s WHERE EXISTS (SELECT 1 FROM ${liveRel(w.live)} t WHERE ${owned(w.live.id, "t")} AND ${rowText("t", w.columns)} = ${rowText("s", w.columns)})`,
      );
      deleted -= Math.min(Number(same.rows[0]!.n), changes.get(w.live.id)!.deletes);
    }
  }
  if (current > 0 && deleted >= current) {
    throw new RefusedError(
      "RESTORE_WOULD_EMPTY",
      `snapshot ${manifest.id} holds none of tenant ${tenant}'s ${current} current row(s): the restore would delete them all`,
      {
        hint: "check the tenant id and the snapshot (`pgsnap list --tenant`, `pgsnap inspect`); pass --allow-empty if replacing every row is what you want",
      },
    );
  }
}
