/**
 * The write phase of a tenant restore: plan every change, check where the deletes and key
 * updates would reach through referential actions, write, then prove what was written.
 *
 * Confinement, in layers:
 * - every UPDATE and DELETE carries the ownership condition itself, so READ COMMITTED's re-check
 *   of a row changed by a concurrent transaction excludes a row that stopped being the tenant's;
 *   every INSERT re-checks the row's ownership against the live parents;
 * - the plan (rows to delete, update, insert per table) is taken under a SHARE ROW EXCLUSIVE lock
 *   on the restored tables, and each statement's row count must match it;
 * - before writing, every row that references a row to be deleted, or a key value to be changed,
 *   must itself be the tenant's row in a restored table (`checkReach`), else the restore refuses
 *   and names the row; writes run parents first and deletes last, children first, so no
 *   referential action fires at all;
 * - after writing, PostgreSQL's own per-transaction counters (pg_stat_xact_user_tables, which
 *   count the rows changed by cascades and SET NULL actions too) must show exactly the planned
 *   inserts, updates and deletes on restored tables and none anywhere else, and the tenant's live
 *   rows must equal the staged rows.
 * Any mismatch is a RefusedError: the caller rolls back. With `--triggers fire` the user lets
 * triggers write where they like (a stock trigger updating products), so the proof after writing
 * is not made; every check before and during the writes still is.
 */
import type pg from "pg";
import { RefusedError } from "../errors.js";
import type { ForeignKeyInfo, TableInfo } from "../db/catalog.js";
import { quoteIdent, quoteTable } from "../db/quote.js";
import type { Owned } from "./guards.js";
import { truncate } from "./guards.js";
import { analyze } from "./stage.js";
import { parentsFirst } from "./topo-order.js";
import {
  actionName,
  freePrefix,
  keyMatch,
  liveRel,
  rowsIdentical,
  rowText,
  type RestoreMode,
  type Work,
} from "./work.js";

/** What the restore will change in one table. */
export interface TableChanges {
  /** Temporary table of the keys (and referenced columns) of the live rows to delete. */
  doomed: string | undefined;
  /**
   * Keyed tables: the one diff of staging against the tenant's live rows, as a temporary table
   * of the pairs that are not identical: staged columns under their own names, `<prefix>op`
   * (`u` to update, `i` to insert, `k` differing only in columns no UPDATE sets, `d` a doomed
   * live row, whose key and referenced columns are `<prefix>r0`, ...).
   */
  diff: string | undefined;
  /** The name of the diff's op column, quoted. */
  op: string;
  deletes: number;
  updates: number;
  inserts: number;
  /** Rows of this table that ON UPDATE actions will change when restored keys change back. */
  cascadedUpdates: number;
  /**
   * Keyed tables: the tenant's live rows at planning time, from the diff (the staged rows with a
   * live partner, and the doomed ones), so nobody counts them again.
   */
  liveRows?: number | undefined;
  /** What the restore's own INSERT, UPDATE and DELETE on this table reported (row counts). */
  written: { ins: number; upd: number; del: number };
}

export interface ApplyContext {
  client: pg.Client;
  works: readonly Work[];
  allTables: readonly TableInfo[];
  mode: RestoreMode;
  /** Ownership over live tables. */
  owned: Owned;
  tenant: string;
  dryRun: boolean;
  signal: AbortSignal | undefined;
  onStep?: ((table: string, step: string) => void) | undefined;
}

/** Columns an UPDATE sets: written, not key, not GENERATED ALWAYS AS IDENTITY. */
function settable(w: Work) {
  const key = new Set(w.key?.columns ?? []);
  return w.columns.filter((c) => !key.has(c.name) && c.identity !== "a");
}

/** Foreign keys of any table that reference `t`. */
function referencing(allTables: readonly TableInfo[], t: TableInfo): ForeignKeyInfo[] {
  return allTables.flatMap((o) => o.foreignKeys.filter((fk) => fk.refTable === t.id));
}

/**
 * Runs one statement that reads the rows of a diff (or doomed) table and finds each live row
 * through the key's unique index: hash and merge joins are off for it alone (SET LOCAL, put back
 * to the session's values right after), so it costs index look-ups for the few changed rows and
 * never a scan of the whole live table (which may hold 100× the tenant's rows). When the
 * statement fails, the rollback of its (sub)transaction undoes the settings.
 */
async function byKeyLookups<R extends pg.QueryResultRow>(client: pg.Client, sql: string): Promise<pg.QueryResult<R>> {
  await client.query("SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off");
  const r = await client.query<R>(sql);
  await client.query("SET LOCAL enable_hashjoin TO DEFAULT; SET LOCAL enable_mergejoin TO DEFAULT");
  return r;
}

/**
 * Plans the changes of every table under the current state (call it after locking). A keyed
 * table is compared with its staging table once: one full join on the key (merge or hash, both
 * sides read once) writes the diff table, and the counts, the doomed rows, the reach check and
 * the writes all read that (small) table instead of joining staging and live again.
 */
export async function planChanges(ctx: ApplyContext): Promise<Map<string, TableChanges>> {
  const out = new Map<string, TableChanges>();
  for (const w of ctx.works) {
    const changes: TableChanges = {
      doomed: undefined,
      diff: undefined,
      op: "",
      deletes: 0,
      updates: 0,
      inserts: 0,
      cascadedUpdates: 0,
      written: { ins: 0, upd: 0, del: 0 },
    };
    if (w.key) await planKeyed(ctx, w, changes);
    else await planKeyless(ctx, w, changes);
    out.set(w.live.id, changes);
  }
  return out;
}

async function planKeyed(ctx: ApplyContext, w: Work, changes: TableChanges): Promise<void> {
  const { client, owned } = ctx;
  const replace = ctx.mode === "replace";
  const prefix = freePrefix(w);
  const mark = quoteIdent(`${prefix}in`);
  const op = quoteIdent(`${prefix}op`);
  const key = w.key!.columns;
  const set = settable(w);
  // The live columns a doomed row must keep: its key and every column a foreign key references.
  const refCols = replace
    ? [...new Set([...key, ...referencing(ctx.allTables, w.live).flatMap((fk) => fk.refColumns)])]
    : [];
  const liveCols = [...new Set([...key, ...w.columns.map((c) => c.name), ...refCols])];
  const match = keyMatch(w, "t", "s")!;
  // A pair that differs in a column the UPDATE does not set (an identity ALWAYS column, a key
  // spelled otherwise under its equality) is `k`: it cannot be made equal, and the proof says so.
  const kind = `CASE WHEN s.${mark} IS NULL THEN 'd' WHEN t.${mark} IS NULL THEN 'i' WHEN ${rowsIdentical("t", "s", set)} THEN 'k' ELSE 'u' END`;
  const diff = `pg_temp.${quoteIdent(`pgsnap_diff_${w.index}`)}`;
  await client.query(
    `CREATE TEMP TABLE ${diff} ON COMMIT DROP AS SELECT` +
      ` ${kind} AS ${op}` +
      w.staged.map((c) => `, s.${quoteIdent(c.name)}`).join("") +
      refCols.map((c, i) => `, t.${quoteIdent(c)} AS ${quoteIdent(`${prefix}r${i}`)}`).join("") +
      ` FROM (SELECT true AS ${mark}, * FROM ${w.stage}) s` +
      ` ${replace ? "FULL" : "LEFT"} JOIN (SELECT true AS ${mark}, ${liveCols.map((c) => `t.${quoteIdent(c)}`).join(", ")}` +
      ` FROM ${liveRel(w.live)} t WHERE ${owned(w.live.id, "t")}) t ON ${match}` +
      ` WHERE s.${mark} IS NULL OR t.${mark} IS NULL OR NOT ${rowsIdentical("t", "s", w.columns)}`,
  );
  await analyze(client, diff, [op, ...key.map((c) => quoteIdent(c))]);
  changes.diff = diff;
  changes.op = op;
  const r = await byKeyLookups<{ u: string; d: string; i: string; new: string }>(
    client,
    `SELECT (SELECT count(*) FROM ${diff} s WHERE s.${op} = 'u') AS u,` +
      ` (SELECT count(*) FROM ${diff} s WHERE s.${op} = 'd') AS d,` +
      ` (SELECT count(*) FROM ${diff} s WHERE s.${op} = 'i') AS new,` +
      ` (SELECT count(*) FROM ${diff} s WHERE s.${op} = 'i' AND ${insertCondition(w, ctx.mode, owned)!}) AS i`,
  );
  changes.updates = Number(r.rows[0]!.u);
  changes.inserts = Number(r.rows[0]!.i);
  // Every staged row is in the diff unless identical to its live partner; 'i' rows have none.
  // The doomed ('d') rows are the rest of the tenant's live rows (replace mode: a full join).
  if (replace) changes.liveRows = w.stagedRows - Number(r.rows[0]!.new) + Number(r.rows[0]!.d);
  if (replace) {
    changes.doomed = `pg_temp.${quoteIdent(`pgsnap_doomed_${w.index}`)}`;
    const d = await client.query(
      `CREATE TEMP TABLE ${changes.doomed} ON COMMIT DROP AS SELECT ${refCols.map((c, i) => `${quoteIdent(`${prefix}r${i}`)} AS ${quoteIdent(c)}`).join(", ")}` +
        ` FROM ${diff} WHERE ${op} = 'd'`,
    );
    changes.deletes = d.rowCount ?? 0;
    await analyze(client, changes.doomed);
  }
}

/** A table without a usable key: replace mode deletes all the tenant's rows and inserts the staged ones. */
async function planKeyless(ctx: ApplyContext, w: Work, changes: TableChanges): Promise<void> {
  const { client, owned, mode } = ctx;
  const t = liveRel(w.live);
  if (mode === "replace") {
    // The columns other tables reference (a unique key over nullable columns), for the reach check.
    const refCols = [...new Set(referencing(ctx.allTables, w.live).flatMap((fk) => fk.refColumns))];
    const cols = refCols.map((c) => `t.${quoteIdent(c)}`);
    changes.doomed = `pg_temp.${quoteIdent(`pgsnap_doomed_${w.index}`)}`;
    const r = await client.query(
      `CREATE TEMP TABLE ${changes.doomed} ON COMMIT DROP AS SELECT ${cols.length > 0 ? cols.join(", ") : "1 AS pgsnap_dummy"} FROM ${t} t WHERE ${owned(w.live.id, "t")}`,
    );
    changes.deletes = r.rowCount ?? 0;
    await analyze(client, changes.doomed);
  }
  const missing = insertCondition(w, mode, owned);
  const r = await client.query<{ n: string }>(
    `SELECT count(*) AS n FROM ${w.stage} s${missing ? ` WHERE ${missing}` : ""}`,
  );
  changes.inserts = Number(r.rows[0]!.n);
}

/** Which staged rows are inserted: those whose key is not live (keyless: all in replace mode, new ones in merge). */
function insertCondition(w: Work, mode: RestoreMode, owned: Owned): string | undefined {
  const match = keyMatch(w, "t", "s");
  if (match) return `NOT EXISTS (SELECT 1 FROM ${liveRel(w.live)} t WHERE ${match})`;
  if (mode === "replace") return undefined;
  return `NOT EXISTS (SELECT 1 FROM ${liveRel(w.live)} t WHERE ${rowText("t", w.columns)} = ${rowText("s", w.columns)} AND ${owned(w.live.id, "t")})`;
}

/**
 * Refuses when a delete or a key update of the restore would reach a row that is not the
 * tenant's row in a restored table, through any foreign key (a referential action would change
 * it; NO ACTION / RESTRICT would fail). The tenant's own rows in restored tables are rewritten
 * before any delete, so from them nothing fires; counts the ON UPDATE actions that will change
 * them (the proof expects those).
 */
export async function checkReach(ctx: ApplyContext, plan: Map<string, TableChanges>): Promise<void> {
  const { client, works, owned } = ctx;
  const restored = new Map(works.map((w) => [w.live.id, w]));
  const tables = new Map(ctx.allTables.map((t) => [t.id, t]));
  for (const w of works) {
    const changes = plan.get(w.live.id)!;
    for (const fk of referencing(ctx.allTables, w.live)) {
      const child = tables.get(fk.table)!;
      const exempt = restored.has(child.id) ? owned(child.id, "c") : "false";
      const on = fk.columns.map((c, i) => `c.${quoteIdent(c)} = x.${quoteIdent(fk.refColumns[i]!)}`).join(" AND ");
      const describe = describeRow(child, fk);
      if (changes.doomed && changes.deletes > 0) {
        const hit = await client.query<{ n: string; row: string | null }>(
          `SELECT count(*) AS n, min(${describe}) AS row FROM ${liveRel(child)} c JOIN ${changes.doomed} x ON ${on} WHERE NOT (${exempt})`,
        );
        refuseReach(hit.rows[0]!, w, child, fk, "delete", ctx.tenant, restored.has(child.id));
      }
      // Key updates: a referenced column outside the matching key may change back.
      const keyCols = new Set(w.key?.columns ?? []);
      if (!w.key || fk.refColumns.every((c) => keyCols.has(c))) continue;
      if (!fk.refColumns.every((c) => w.columns.some((col) => col.name === c))) continue;
      // Only rows of the diff marked for update can change a column.
      const changed =
        `SELECT ${fk.refColumns.map((c) => `t.${quoteIdent(c)}`).join(", ")} FROM ${liveRel(w.live)} t JOIN ${changes.diff!} s ON ${keyMatch(w, "t", "s")!}` +
        ` WHERE s.${changes.op} = 'u' AND ${owned(w.live.id, "t")} AND ROW(${fk.refColumns.map((c) => `t.${quoteIdent(c)}`).join(", ")}) IS DISTINCT FROM ROW(${fk.refColumns.map((c) => `s.${quoteIdent(c)}`).join(", ")})`;
      const hit = await client.query<{ n: string; row: string | null }>(
        `SELECT count(*) AS n, min(${describe}) AS row FROM ${liveRel(child)} c JOIN (${changed}) x ON ${on} WHERE NOT (${exempt})`,
      );
      refuseReach(hit.rows[0]!, w, child, fk, "key update", ctx.tenant, restored.has(child.id));
      if (fk.onUpdate === "c" || fk.onUpdate === "n" || fk.onUpdate === "d") {
        const own = await client.query<{ n: string }>(
          `SELECT count(*) AS n FROM ${liveRel(child)} c JOIN (${changed}) x ON ${on} WHERE ${exempt}`,
        );
        plan.get(child.id)!.cascadedUpdates += Number(own.rows[0]!.n);
      }
    }
  }
}

/** Text naming a referencing row: its key (or the foreign key's columns) and its tenant column when it has one. */
function describeRow(child: TableInfo, fk: ForeignKeyInfo): string {
  const key = child.keys.find((k) => k.primary) ?? child.keys[0];
  const cols = key ? key.columns : fk.columns;
  return `ROW(${cols.map((c) => `c.${quoteIdent(c)}`).join(", ")})::pg_catalog.text`;
}

function refuseReach(
  hit: { n: string; row: string | null },
  w: Work,
  child: TableInfo,
  fk: ForeignKeyInfo,
  what: "delete" | "key update",
  tenant: string,
  childRestored: boolean,
): void {
  const n = Number(hit.n);
  if (n === 0) return;
  const action = what === "delete" ? fk.onDelete : fk.onUpdate;
  const effect =
    action === "c"
      ? what === "delete"
        ? "delete"
        : "change"
      : action === "n" || action === "d"
        ? `set ${fk.columns.join(", ")} to ${action === "n" ? "NULL" : "its default"} in`
        : "fail on";
  throw new RefusedError(
    "RESTORE_WOULD_REACH_OTHERS",
    `restoring tenant ${tenant}: the ${what} of rows of ${w.live.id} would ${effect} ${n} row(s) of ${child.id} that are not tenant ${tenant}'s restored rows (foreign key ${fk.name} ON ${what === "delete" ? "DELETE" : "UPDATE"} ${actionName(action)}), e.g. the row with key ${truncate(hit.row)}`,
    {
      // Restoring the child table too helps only when this restore leaves it out (--tables).
      hint: childRestored
        ? `nothing was changed. Those rows of ${child.id} belong to another tenant or to no tenant: re-point or remove them by hand`
        : "nothing was changed. Those rows belong to another tenant, to no tenant, or to a table this restore does not write: " +
          `re-point or remove them by hand, or restore ${child.id} too (restore without --tables)`,
    },
  );
}

/** Per-table counters of the rows this transaction inserted, updated and deleted (partitions summed into their root). */
export type XactCounts = Map<number, { ins: number; upd: number; del: number }>;

/** Reads pg_stat_xact_user_tables; undefined when track_counts is off (no proof possible). */
export async function readXactCounts(client: pg.Client): Promise<XactCounts | undefined> {
  const on = await client.query<{ v: string }>("SELECT pg_catalog.current_setting('track_counts') AS v");
  if (on.rows[0]!.v !== "on") return undefined;
  const r = await client.query<{ oid: string; ins: string; upd: string; del: string }>(
    `SELECT coalesce(pg_catalog.pg_partition_root(relid), relid)::int8 AS oid,
            sum(n_tup_ins)::int8 AS ins, sum(n_tup_upd)::int8 AS upd, sum(n_tup_del)::int8 AS del
       FROM pg_catalog.pg_stat_xact_user_tables
      WHERE schemaname !~ '^pg_(toast_)?temp_'
      GROUP BY 1`,
  );
  return new Map(r.rows.map((x) => [Number(x.oid), { ins: Number(x.ins), upd: Number(x.upd), del: Number(x.del) }]));
}

/**
 * Runs the writes: parents first, update then insert; then deletes, children first. If that
 * order fails on a key (a secondary unique value that a row to be deleted still holds), the
 * other order is tried from a savepoint: deletes first. Either way the counts must match the plan.
 * Returns the transaction's row counters as they were just before the writes that stand (taken
 * again after a rollback to the savepoint: rows written by the abandoned order stay counted).
 */
export async function applyChanges(
  ctx: ApplyContext,
  plan: Map<string, TableChanges>,
): Promise<XactCounts | undefined> {
  const { client } = ctx;
  const order = parentsFirst(ctx.works.map((w) => w.live));
  const byId = new Map(ctx.works.map((w) => [w.live.id, w]));
  const writes = async () => {
    for (const t of order) {
      const w = byId.get(t.id)!;
      ctx.onStep?.(t.id, "write");
      // A keyless table is replaced whole: its tenant rows go before the staged ones come in.
      if (!w.key) await deleteDoomed(ctx, w, plan.get(t.id)!);
      await updateChanged(ctx, w, plan.get(t.id)!);
      await insertMissing(ctx, w, plan.get(t.id)!);
    }
  };
  const deletes = async () => {
    for (const t of [...order].reverse()) {
      const w = byId.get(t.id)!;
      if (w.key) await deleteDoomed(ctx, w, plan.get(t.id)!);
    }
  };
  let before = await readXactCounts(client);
  await client.query("SAVEPOINT pgsnap_writes");
  try {
    await writes();
    await deletes();
  } catch (err) {
    const code = (err as { code?: string }).code;
    if ((code !== "23505" && code !== "23503") || ctx.mode !== "replace") throw err;
    await client.query("ROLLBACK TO SAVEPOINT pgsnap_writes");
    for (const w of ctx.works) Object.assign(w.result, { deleted: 0, inserted: 0, updated: 0 });
    for (const c of plan.values()) c.written = { ins: 0, upd: 0, del: 0 };
    before = await readXactCounts(client);
    await deletes();
    await writes();
  }
  return before;
}

function expectRows(w: Work, step: string, actual: number, planned: number, exact: boolean): void {
  if (exact ? actual === planned : actual <= planned) return;
  throw new RefusedError(
    "RESTORE_COUNT_MISMATCH",
    `table ${w.live.id}: the ${step} changed ${actual} row(s), the plan said ${planned}`,
    {
      hint: "the tenant's rows changed while the restore ran (a concurrent writer), or a rule or action interfered; nothing was changed (rolled back). Retry",
    },
  );
}

async function deleteDoomed(ctx: ApplyContext, w: Work, changes: TableChanges): Promise<void> {
  if (!changes.doomed || changes.deletes === 0) return;
  ctx.signal?.throwIfAborted();
  ctx.onStep?.(w.live.id, "delete");
  const match = keyMatch(w, "t", "d");
  const res = await (match ? byKeyLookups : (c: pg.Client, sql: string) => c.query(sql))(
    ctx.client,
    match
      ? `DELETE FROM ${liveRel(w.live)} t USING ${changes.doomed} d WHERE ${match} AND ${ctx.owned(w.live.id, "t")}`
      : `DELETE FROM ${liveRel(w.live)} t WHERE ${ctx.owned(w.live.id, "t")}`,
  );
  // Fewer, never more: a cycle's ON DELETE CASCADE may have removed some already (the proof counts them).
  expectRows(w, "delete", res.rowCount ?? 0, changes.deletes, !match);
  w.result.deleted = changes.deletes;
  changes.written.del = res.rowCount ?? 0;
}

async function updateChanged(ctx: ApplyContext, w: Work, changes: TableChanges): Promise<void> {
  const match = keyMatch(w, "t", "s");
  const set = settable(w);
  if (!match || set.length === 0 || changes.updates === 0) return;
  ctx.signal?.throwIfAborted();
  // From the diff's rows marked for update; the ownership and the difference are checked again on the live row.
  const res = await byKeyLookups(
    ctx.client,
    `UPDATE ${liveRel(w.live)} t SET ${set.map((c) => `${quoteIdent(c.name)} = s.${quoteIdent(c.name)}`).join(", ")} FROM ${changes.diff!} s` +
      ` WHERE s.${changes.op} = 'u' AND ${match} AND ${ctx.owned(w.live.id, "t")} AND NOT ${rowsIdentical("t", "s", set)}`,
  );
  // ON UPDATE CASCADE from a restored parent may have rewritten some rows already.
  expectRows(w, "update", res.rowCount ?? 0, changes.updates, changes.cascadedUpdates === 0);
  w.result.updated = res.rowCount ?? 0;
  changes.written.upd = res.rowCount ?? 0;
}

async function insertMissing(ctx: ApplyContext, w: Work, changes: TableChanges): Promise<void> {
  if (w.columns.length === 0 || changes.inserts === 0) return;
  // On a dry run, an insert that would draw sequence values (a column the snapshot lacks, with
  // an identity or nextval default) is only counted: nextval is not undone by ROLLBACK.
  if (ctx.dryRun && w.sequenceDefaults.length > 0) {
    w.result.inserted = changes.inserts;
    return;
  }
  ctx.signal?.throwIfAborted();
  const cols = w.columns.map((c) => quoteIdent(c.name)).join(", ");
  const overriding = w.columns.some((c) => c.identity !== "") ? " OVERRIDING SYSTEM VALUE" : "";
  const missing = insertCondition(w, ctx.mode, ctx.owned);
  // The row's ownership is checked again against the live parents (inserted just before).
  // A keyed table inserts the diff's rows marked for insert, a keyless one every staged row.
  const from = changes.diff ? `${changes.diff} s WHERE s.${changes.op} = 'i' AND ` : `${w.stage} s WHERE `;
  const res = await (changes.diff ? byKeyLookups : (c: pg.Client, sql: string) => c.query(sql))(
    ctx.client,
    `INSERT INTO ${quoteTable(w.live)} (${cols})${overriding} SELECT ${w.columns.map((c) => `s.${quoteIdent(c.name)}`).join(", ")} FROM ${from}` +
      `${missing ? `${missing} AND ` : ""}${ctx.owned(w.live.id, "s")}`,
  );
  expectRows(w, "insert", res.rowCount ?? 0, changes.inserts, true);
  w.result.inserted = res.rowCount ?? 0;
  changes.written.ins = res.rowCount ?? 0;
}

/**
 * After writing: PostgreSQL's counters of this transaction must show exactly the planned changes
 * on restored tables and none on any other table (a cascade, SET NULL or rule anywhere shows up
 * there), and the tenant's live rows must now equal the staged rows.
 */
export async function proveChanges(
  ctx: ApplyContext,
  plan: Map<string, TableChanges>,
  before: XactCounts | undefined,
): Promise<void> {
  const { client, works } = ctx;
  const after = before ? await readXactCounts(client) : undefined;
  // Restored tables whose every row change in this transaction came from the restore's own statements.
  const onlyOwnWrites = new Set<string>();
  if (before && after) {
    const restored = new Map(works.map((w) => [w.live.oid, w]));
    const names = new Map(ctx.allTables.map((t) => [t.oid, t.id]));
    for (const w of works) {
      const c = plan.get(w.live.id)!;
      if (!after.has(w.live.oid) && c.written.ins + c.written.upd + c.written.del === 0) onlyOwnWrites.add(w.live.id);
    }
    for (const [oid, a] of after) {
      const b = before.get(oid) ?? { ins: 0, upd: 0, del: 0 };
      const d = { ins: a.ins - b.ins, upd: a.upd - b.upd, del: a.del - b.del };
      const w = restored.get(oid);
      if (!w) {
        if (d.ins === 0 && d.upd === 0 && d.del === 0) continue;
        throw new RefusedError(
          "RESTORE_TOUCHED_OTHERS",
          `restoring tenant ${ctx.tenant} changed table ${names.get(oid) ?? `oid ${oid}`}, which it does not restore (${d.ins} inserted, ${d.upd} updated, ${d.del} deleted)`,
          {
            hint: "a referential action, rule or trigger reached other rows; nothing was changed (rolled back). Check the foreign keys into the restored tables",
          },
        );
      }
      const c = plan.get(w.live.id)!;
      const inserted = ctx.dryRun && w.sequenceDefaults.length > 0 ? 0 : c.inserts;
      // A partitioned table counts a row moved to another partition as a delete and an insert.
      const moved = w.live.partitioned ? Math.max(0, d.ins - inserted) : 0;
      const ok =
        d.ins === inserted + moved &&
        d.del === c.deletes + moved &&
        d.upd + moved === w.result.updated + c.cascadedUpdates;
      if (!ok) {
        throw new RefusedError(
          "RESTORE_TOUCHED_OTHERS",
          `restoring tenant ${ctx.tenant}: table ${w.live.id} shows ${d.ins} inserted, ${d.upd} updated, ${d.del} deleted rows; the plan was ${inserted}, ${w.result.updated + c.cascadedUpdates}, ${c.deletes}`,
          {
            hint: "rows outside the plan were changed (a referential action, rule or trigger, or a concurrent writer); nothing was changed (rolled back)",
          },
        );
      }
      const own = c.written;
      if (!w.live.partitioned && d.ins === own.ins && d.upd === own.upd && d.del === own.del) {
        onlyOwnWrites.add(w.live.id);
      }
    }
  }
  for (const w of works) {
    if (ctx.dryRun && w.sequenceDefaults.length > 0) continue;
    await proveTenantRows(ctx, w, plan.get(w.live.id)!, onlyOwnWrites.has(w.live.id));
  }
}

/**
 * The tenant's live rows of a restored table are exactly the staged rows (replace) or include
 * them (merge): as many live rows of the tenant as staged rows (replace), and every staged row
 * identical to the tenant's live row of its key.
 *
 * When the counters show that the restore's own statements made every row change of a keyed
 * table, the staged rows the diff found identical (neither `u` nor `i`) are untouched since: the
 * diff was taken under the SHARE ROW EXCLUSIVE lock (no other session writes these tables), and
 * the UPDATE, INSERT and DELETE reach only keys of the diff. Then the diff's rows are compared
 * again (a join of the few written rows) and the tenant's live rows counted. Otherwise (a
 * cascade or SET NULL into the table, a partitioned table, no counters) every row is compared.
 */
async function proveTenantRows(
  ctx: ApplyContext,
  w: Work,
  changes: TableChanges,
  onlyOwnWrites: boolean,
): Promise<void> {
  const t = liveRel(w.live);
  const owned = ctx.owned(w.live.id, "t");
  let r;
  if (w.key && changes.diff && onlyOwnWrites) {
    const written = `s.${changes.op} IN ('u', 'i', 'k')`;
    const live = await ctx.client.query<{ n: string }>(`SELECT count(*) AS n FROM ${t} t WHERE ${owned}`);
    const same = await byKeyLookups<{ n: string }>(
      ctx.client,
      `SELECT ${w.stagedRows}::int8 - (SELECT count(*) FROM ${changes.diff} s WHERE ${written})` +
        ` + (SELECT count(*) FROM ${changes.diff} s JOIN ${t} t ON ${keyMatch(w, "t", "s")!}` +
        ` WHERE ${written} AND ${owned} AND ${rowsIdentical("t", "s", w.columns)}) AS n`,
    );
    r = { rows: [{ live: live.rows[0]!.n, same: same.rows[0]!.n, staged: String(w.stagedRows) }] };
  } else if (w.key) {
    // One full join on the key, each side read once: staged rows, the tenant's live rows, and
    // the pairs whose written columns are identical.
    const mark = quoteIdent(`${freePrefix(w)}in`);
    const cols = [...new Set([...w.key.columns, ...w.columns.map((c) => c.name)])].map((c) => quoteIdent(c));
    r = await ctx.client.query<{ live: string; same: string; staged: string }>(
      `SELECT count(s.${mark}) AS staged, count(t.${mark}) AS live,` +
        ` count(*) FILTER (WHERE s.${mark} AND t.${mark} AND ${rowsIdentical("t", "s", w.columns)}) AS same` +
        ` FROM (SELECT true AS ${mark}, ${cols.join(", ")} FROM ${w.stage}) s` +
        ` FULL JOIN (SELECT true AS ${mark}, ${cols.map((c) => `t.${c}`).join(", ")} FROM ${t} t WHERE ${owned}) t ON ${keyMatch(w, "t", "s")!}`,
    );
  } else {
    const same = `${rowText("t", w.columns)} = ${rowText("s", w.columns)}`;
    r = await ctx.client.query<{ live: string; same: string; staged: string }>(
      `SELECT (SELECT count(*) FROM ${t} t WHERE ${owned}) AS live, (SELECT count(*) FROM ${w.stage}) AS staged,` +
        ` (SELECT count(*) FROM ${w.stage} s WHERE EXISTS (SELECT 1 FROM ${t} t WHERE ${owned} AND ${same})) AS same`,
    );
  }
  const staged = Number(r.rows[0]!.staged);
  const live = Number(r.rows[0]!.live);
  const same = Number(r.rows[0]!.same);
  const ok = same === staged && (ctx.mode === "merge" || live === staged);
  if (!ok) {
    throw new RefusedError(
      "RESTORE_NOT_EXACT",
      `restoring tenant ${ctx.tenant}: after writing, table ${w.live.id} holds ${live} row(s) of the tenant, ${same} of the snapshot's ${staged} as they were`,
      {
        hint: "a concurrent writer, a rule or a trigger changed the rows, or a row was re-assigned to another tenant meanwhile; nothing was changed (rolled back). Retry",
      },
    );
  }
}
