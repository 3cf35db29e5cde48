/**
 * Planning a restore: which tables it writes, and how each snapshot table maps onto the live
 * one (columns, drift that a default or a cast maps, the ownership path at dump time).
 */
import { RefusedError, UsageError } from "../errors.js";
import { identityKey, type ColumnInfo, type KeyInfo, type TableInfo } from "../db/catalog.js";
import type { TenantPlan } from "../db/plan.js";
import { quoteIdent, quoteTable } from "../db/quote.js";
import { resolveTableNames } from "../db/select-tables.js";
import type { Manifest, ManifestTable } from "../format/manifest.js";

export type RestoreMode = "replace" | "merge";

export interface RestoreTableResult {
  table: string;
  deleted: number;
  inserted: number;
  updated: number;
}

/** One table of a restore. */
export interface Work {
  live: TableInfo;
  snap: ManifestTable;
  /** The temporary staging table (`pg_temp."pgsnap_stage_<i>"`). */
  stage: string;
  /** Its index, for other per-table temporary tables. */
  index: number;
  /** Columns staged: in the snapshot and in the live table (generated ones too, to check ownership). */
  staged: ColumnInfo[];
  /** Columns written to the live table: staged and not generated. */
  columns: ColumnInfo[];
  /** The key that matches staged rows with live rows, when all its columns are staged. */
  key: KeyInfo | undefined;
  /** Live columns the snapshot lacks whose default draws from a sequence (identity, nextval). */
  sequenceDefaults: string[];
  /** Schema differences that the restore maps (reported, not refused). */
  notes: string[];
  /** Column type changes since the dump: a value that does not fit is a refusal, not corruption. */
  typeDrift: string[];
  /** Rows in the staging table (set by staging; rows of other tenants dropped from a full snapshot's are not counted). */
  stagedRows: number;
  result: RestoreTableResult;
}

/** The live table as a statement's target: ONLY, so inheritance children are never touched. */
export function liveRel(t: TableInfo): string {
  return t.partitioned ? quoteTable(t) : `ONLY ${quoteTable(t)}`;
}

/** `a.k1 = b.k1 AND ...` over the work's key, or undefined for a table without a usable key. */
export function keyMatch(w: Work, a: string, b: string): string | undefined {
  if (!w.key) return undefined;
  return w.key.columns.map((c) => `${a}.${quoteIdent(c)} = ${b}.${quoteIdent(c)}`).join(" AND ");
}

/** `ROW(a.c1, a.c2, ...)::text` over `cols`: explicit columns, so no alias can be shadowed by a column name. */
export function rowText(alias: string, cols: readonly ColumnInfo[]): string {
  return `ROW(${cols.map((c) => `${alias}.${quoteIdent(c.name)}`).join(", ")})::pg_catalog.text`;
}

/**
 * Base types whose `=` holds only between values with the same text (and binary) form, so a
 * column-by-column `IS NOT DISTINCT FROM` is an identity test: integers, booleans, dates and
 * times, uuid, bytea, and the string types compared under the "C" collation (byte equality;
 * never a case-insensitive one). Arrays of them too (array equality also compares dimensions
 * and lower bounds). Not here on purpose: numeric (1.0 = 1.00), float (-0 = 0), jsonb, json,
 * interval ('1 day' = '24 hours'), bpchar, citext, ranges, composites, timetz, inet.
 */
const EQUAL_IS_IDENTICAL = new Set([
  "int2",
  "int4",
  "int8",
  "oid",
  "bool",
  "date",
  "time",
  "timestamp",
  "timestamptz",
  "uuid",
  "bytea",
  "money",
  "char",
]);
const BYTEWISE_UNDER_C = new Set(["text", "varchar", "name"]);

/**
 * A condition true when the rows `a` and `b` hold identical values in `cols`: `IS NOT DISTINCT
 * FROM` column by column where equality is identity (cheap: no row is built), and one
 * `pg_catalog.record_image_eq(ROW(...), ROW(...))` over the other columns (binary identity, the
 * comparison `REFRESH MATERIALIZED VIEW CONCURRENTLY` uses). Neither calls two different values
 * equal (`1.0` vs `1.00`, `-0` vs `0`, jsonb `1.0` vs `1`), and neither costs text output,
 * unlike {@link rowText}; at worst two images of one value differ, which only rewrites a row
 * with itself. Both sides must have the same column types (staging tables are typed copies of
 * the live columns).
 */
export function rowsIdentical(a: string, b: string, cols: readonly ColumnInfo[]): string {
  const parts: string[] = [];
  const rest: ColumnInfo[] = [];
  for (const c of cols) {
    const element = c.baseType.startsWith("_") ? c.baseType.slice(1) : c.baseType;
    const col = quoteIdent(c.name);
    if (c.baseKind === "e" || EQUAL_IS_IDENTICAL.has(element))
      parts.push(`${a}.${col} IS NOT DISTINCT FROM ${b}.${col}`);
    else if (BYTEWISE_UNDER_C.has(element)) {
      parts.push(`${a}.${col} COLLATE pg_catalog."C" IS NOT DISTINCT FROM ${b}.${col} COLLATE pg_catalog."C"`);
    } else rest.push(c);
  }
  if (rest.length > 0) {
    const row = (alias: string) => `ROW(${rest.map((c) => `${alias}.${quoteIdent(c.name)}`).join(", ")})`;
    parts.push(`pg_catalog.record_image_eq(${row(a)}, ${row(b)})`);
  }
  return parts.length === 0 ? "true" : `(${parts.join(" AND ")})`;
}

/** A column-name prefix no staged column of the work starts with (for columns the restore adds). */
export function freePrefix(w: Work): string {
  let prefix = "pgsnap_";
  while (w.live.columns.some((c) => c.name.startsWith(prefix))) prefix += "_";
  return prefix;
}

/** Decides the tables of the restore and checks the snapshot against the live schema and plan. */
export function planWork(
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
          { hint: `see \`pgsnap inspect ${manifest.id}\`` },
        );
      }
    }
    // Close the set over foreign keys whose referential actions would reach rows outside it.
    if (mode === "replace") {
      for (let changed = true; changed;) {
        changed = false;
        for (const p of plan.tables.values()) {
          if (wanted.has(p.table.id)) continue;
          const fk = p.table.foreignKeys.find(
            (f) => wanted.has(f.refTable) && (isAction(f.onDelete) || isAction(f.onUpdate)),
          );
          if (!fk) continue;
          if (snapTables.some((t) => t.table === p.table.id)) {
            wanted.add(p.table.id);
            changed = true;
          } else if (tenant === undefined || p.scope !== "global") {
            throw new RefusedError(
              "RESTORE_SET_NOT_CLOSED",
              `restoring ${fk.refTable} could change rows of ${p.table.id} (foreign key ${fk.name} ON DELETE ${actionName(fk.onDelete)} ON UPDATE ${actionName(fk.onUpdate)}), which the snapshot does not hold`,
              { hint: `add ${p.table.id} to the snapshot, or restore without --tables` },
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
      { hint: `see \`pgsnap inspect ${manifest.id}\`` },
    );
  }
  const drift: string[] = [];
  const works: Work[] = [];
  snapTables.forEach((snap, i) => {
    const p = plan.tables.get(snap.table);
    const live = p?.table;
    if (!p || !live) {
      drift.push(`table ${snap.table} is in the snapshot but not in the database`);
      return;
    }
    if (tenant !== undefined) {
      const pathDrift = ownerDrift(snap, plan);
      if (pathDrift) drift.push(pathDrift);
    }
    const liveCols = new Map(live.columns.map((c) => [c.name, c]));
    const snapCols = new Set(snap.columns.map((c) => c.name));
    const notes: string[] = [];
    const typeDrift: string[] = [];
    for (const c of snap.columns) {
      const lc = liveCols.get(c.name);
      if (!lc) drift.push(`${snap.table}.${c.name} (${c.type}) is in the snapshot but not in the database`);
      else if (lc.type !== c.type && !lc.generated) {
        typeDrift.push(`${snap.table}.${c.name} is ${c.type} in the snapshot but ${lc.type} in the database`);
      }
    }
    const sequenceDefaults: string[] = [];
    for (const lc of live.columns) {
      if (snapCols.has(lc.name) || lc.generated) continue;
      const fromSequence = lc.identity !== "" || live.sequences.some((s) => s.column === lc.name);
      if (fromSequence) sequenceDefaults.push(lc.name);
      if (lc.hasDefault || lc.identity !== "") {
        notes.push(`${snap.table}.${lc.name} is not in the snapshot: restored rows get its default`);
      } else if (lc.notNull) {
        drift.push(
          `${snap.table}.${lc.name} (${lc.type} NOT NULL, no default) is in the database but not in the snapshot`,
        );
      } else notes.push(`${snap.table}.${lc.name} is not in the snapshot: restored rows get NULL`);
    }
    const staged = live.columns.filter((c) => snapCols.has(c.name));
    const key = identityKey(live);
    works.push({
      live,
      snap,
      stage: `pg_temp.${quoteIdent(`pgsnap_stage_${i}`)}`,
      index: i,
      staged,
      columns: staged.filter((c) => !c.generated),
      key: key && key.columns.every((c) => snapCols.has(c)) ? key : undefined,
      sequenceDefaults,
      notes: [...notes, ...typeDrift.map((d) => `${d}: values are converted`)],
      typeDrift,
      stagedRows: 0,
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

/**
 * Has the table's ownership path changed since the dump (another foreign key chosen, a tenant
 * column added or dropped)? The snapshot's rows were assigned to tenants by the old path; the
 * live plan would judge the live rows by the new one, so the two must agree.
 */
function ownerDrift(snap: ManifestTable, plan: TenantPlan): string | undefined {
  const p = plan.tables.get(snap.table)!;
  const was = snap.owner
    ? "column" in snap.owner
      ? `direct (column ${snap.owner.column})`
      : `via ${snap.owner.fk} → ${snap.owner.refTable}`
    : snap.scope;
  const now =
    p.scope === "direct"
      ? `direct (column ${p.column!.name})`
      : p.scope === "via"
        ? `via ${p.fk!.name} → ${p.fk!.refTable}`
        : p.scope;
  if (!snap.owner && snap.scope === p.scope) return undefined;
  if (was === now) return undefined;
  return `table ${snap.table} belonged to tenants ${was} at the dump, but the live plan says ${now}`;
}

function isAction(a: string): boolean {
  return a === "c" || a === "n" || a === "d";
}

/** SQL name of a referential action letter. */
export function actionName(a: string): string {
  switch (a) {
    case "c":
      return "CASCADE";
    case "n":
      return "SET NULL";
    case "d":
      return "SET DEFAULT";
    case "r":
      return "RESTRICT";
    default:
      return "NO ACTION";
  }
}
