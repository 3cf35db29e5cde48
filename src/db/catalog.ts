import type pg from "pg";
import { readSql } from "./sql-files.js";

/** One column of a table, its type resolved through domains. */
export interface ColumnInfo {
  name: string;
  num: number;
  /** `format_type` text, usable in a cast: `numeric(12,2)`, `public.mpaa_rating`, `text[]`. */
  type: string;
  typeOid: number;
  /** typname of the base type after domains (`_int4` for int4[]). */
  baseType: string;
  /** typcategory of the base type (A array, N numeric, S string, U user, ...). */
  baseCategory: string;
  /** typtype of the base type: b base, c composite, e enum, r range, m multirange, p pseudo. */
  baseKind: string;
  notNull: boolean;
  generated: boolean;
  identity: "" | "a" | "d";
  /** Has a DEFAULT clause (not a generated column). */
  hasDefault: boolean;
}

/** A unique way to find a row: primary key or unique index without predicate or expressions. */
export interface KeyInfo {
  name: string;
  primary: boolean;
  columns: string[];
}

/** ON DELETE / ON UPDATE action of a foreign key (pg_constraint.confdeltype, confupdtype). */
export type OnDelete = "a" | "r" | "c" | "n" | "d";
export type RefAction = OnDelete;

export interface ForeignKeyInfo {
  name: string;
  /** `schema.name` of the referencing table. */
  table: string;
  columns: string[];
  /** `schema.name` of the referenced table. */
  refTable: string;
  refColumns: string[];
  onDelete: OnDelete;
  onUpdate: RefAction;
  deferrable: boolean;
}

export interface SequenceInfo {
  column: string;
  schema: string;
  name: string;
}

export interface TriggerInfo {
  name: string;
  /** pg_trigger.tgenabled: O (origin), A (always), R (replica). */
  enabled: "O" | "A" | "R";
}

/** A rewrite rule (CREATE RULE) on a table. */
export interface RuleInfo {
  name: string;
  /** pg_rewrite.ev_type: 1 SELECT, 2 UPDATE, 3 INSERT, 4 DELETE. */
  event: "1" | "2" | "3" | "4";
  enabled: "O" | "A" | "R";
  instead: boolean;
}

export interface TableInfo {
  oid: number;
  schema: string;
  name: string;
  /** The table's id in plans, manifests, flags and config keys (see `tableId`). */
  id: string;
  partitioned: boolean;
  /** A plain table that other tables inherit from (INHERITS, not partitions): read it with ONLY. */
  hasInheritors: boolean;
  rlsEnabled: boolean;
  rlsForced: boolean;
  isOwner: boolean;
  columns: ColumnInfo[];
  keys: KeyInfo[];
  /** Foreign keys declared on this table. */
  foreignKeys: ForeignKeyInfo[];
  sequences: SequenceInfo[];
  /** Enabled user triggers. */
  triggers: TriggerInfo[];
  /** Enabled rewrite rules. */
  rules: RuleInfo[];
}

export interface RoleInfo {
  role: string;
  superuser: boolean;
  bypassrls: boolean;
  serverVersionNum: number;
  serverVersion: string;
  database: string;
}

export interface Catalog {
  role: RoleInfo;
  tables: Map<string, TableInfo>;
}

/** An id part that needs no quotes: what PostgreSQL would keep unquoted (keywords aside). */
const PLAIN_PART = /^[a-z_][a-z0-9_$]*$/;

/** One part of a table id: as is when plain, else double-quoted with `"` doubled. */
function idPart(part: string): string {
  return PLAIN_PART.test(part) ? part : '"' + part.replace(/"/g, '""') + '"';
}

/**
 * The id of a table in plans, manifests, `--tables` and config keys: `schema.name`, each part
 * double-quoted when it is not a plain lower-case identifier (`public.orders`,
 * `x."a.b"`, `"x.a".b`, `public."Orders"`). Distinct tables always get distinct ids, and
 * `parseTableRef` reads an id back into exactly its parts.
 */
export function tableId(schema: string, name: string): string {
  return `${idPart(schema)}.${idPart(name)}`;
}

/** A table named in a flag or config key: `name`, or `schema.name`; parts may be double-quoted. */
export interface TableRef {
  schema: string | undefined;
  name: string;
  /** Which parts were written without quotes (matched case-insensitively as a fallback). */
  plain: { schema: boolean; name: boolean };
}

/**
 * Parses `a.b`, `"x.a".b`, `x."a.b"`, `"We""ird"` or a bare `name` the way PostgreSQL reads a
 * qualified name (without case folding of unquoted parts: an unquoted part names exactly what
 * is written, see `findTable`). Returns undefined when the text is not such a name.
 */
export function parseTableRef(text: string): TableRef | undefined {
  const parts: { value: string; plain: boolean }[] = [];
  let i = 0;
  const s = text.trim();
  for (;;) {
    if (s[i] === '"') {
      let value = "";
      i++;
      for (;;) {
        if (i >= s.length) return undefined;
        if (s[i] === '"') {
          if (s[i + 1] === '"') {
            value += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        value += s[i];
        i++;
      }
      if (value === "") return undefined;
      parts.push({ value, plain: false });
    } else {
      const start = i;
      while (i < s.length && s[i] !== "." && s[i] !== '"') i++;
      const value = s.slice(start, i);
      if (value === "" || /\s/.test(value)) return undefined;
      parts.push({ value, plain: true });
    }
    if (i === s.length) break;
    if (s[i] !== ".") return undefined;
    i++;
  }
  if (parts.length === 1)
    return { schema: undefined, name: parts[0]!.value, plain: { schema: true, name: parts[0]!.plain } };
  if (parts.length === 2) {
    return {
      schema: parts[0]!.value,
      name: parts[1]!.value,
      plain: { schema: parts[0]!.plain, name: parts[1]!.plain },
    };
  }
  return undefined;
}

/**
 * The tables a name from a flag or config key names (see parseTableRef and findTables). A name
 * that does not parse, or names nothing, may still be an old-style unquoted id
 * (`App Data.Tenant Data`, as pgsnap printed ids before they were quoted): it then names the
 * tables whose `schema.name`, joined as is, equals it, so existing configs keep working; the
 * caller refuses when that is more than one.
 */
export function resolveTableName(tables: Iterable<TableInfo>, text: string): TableInfo[] {
  const all = [...tables];
  const ref = parseTableRef(text);
  const found = ref ? findTables(all, ref) : [];
  if (found.length > 0) return found;
  const name = text.trim();
  return all.filter((t) => `${t.schema}.${t.name}` === name);
}

/**
 * The tables a parsed reference names: exact parts first; an unquoted part that matches nothing
 * exactly is then compared case-insensitively (so `public.Orders` finds `public.orders`). A
 * reference without schema matches the name in every schema.
 */
export function findTables(tables: Iterable<TableInfo>, ref: TableRef): TableInfo[] {
  const all = [...tables];
  const match = (exact: boolean) =>
    all.filter(
      (t) =>
        (ref.schema === undefined ||
          t.schema === ref.schema ||
          (!exact && ref.plain.schema && t.schema.toLowerCase() === ref.schema.toLowerCase())) &&
        (t.name === ref.name || (!exact && ref.plain.name && t.name.toLowerCase() === ref.name.toLowerCase())),
    );
  const exact = match(true);
  return exact.length > 0 ? exact : match(false);
}

/** The catalog queries (sql/catalog/), in one message; parseCatalog reads their results by name. */
const catalogFiles = [
  "role.sql",
  "tables.sql",
  "columns.sql",
  "keys.sql",
  "foreign-keys.sql",
  "sequences.sql",
  "triggers.sql",
  "rules.sql",
] as const;

/**
 * Runs parameterless `statements` as one simple-protocol message: one round trip, one result
 * per statement, in order. The server runs them one after the other exactly as if sent apart
 * (each statement that needs a snapshot takes it when it starts, after the previous one ended);
 * the first failure ends the message and is thrown.
 */
async function queryBatch(client: pg.Client, statements: readonly string[]): Promise<pg.QueryResult[]> {
  // `\n;\n`: a statement ending in a line comment cannot swallow the separator.
  const text = statements.map((s) => s.trim().replace(/;$/, "")).join("\n;\n");
  const r = (await client.query(text)) as unknown as pg.QueryResult | pg.QueryResult[];
  const results = Array.isArray(r) ? r : [r];
  if (results.length !== statements.length) {
    throw new Error(`${statements.length} statements gave ${results.length} results`);
  }
  return results;
}

/** Reads the catalog in one round trip (run it inside the dump's snapshot). */
export async function readCatalog(client: pg.Client): Promise<Catalog> {
  const results = await queryBatch(
    client,
    catalogFiles.map((f) => readSql(`catalog/${f}`)),
  );
  return parseCatalog(new Map(catalogFiles.map((f, i) => [f, results[i]!])));
}

/** The catalog and the physical storage of every table, read by one message (readCatalogAndStorage). */
export interface CatalogRead {
  catalog: Catalog;
  /**
   * The physical storage of these tables (their partitions included) as `oid:relfilenode` pairs,
   * from the same read. A TRUNCATE or a rewrite (ALTER COLUMN TYPE, VACUUM FULL, CLUSTER)
   * changes a relfilenode, so two equal fingerprints mean no table was swapped for a new file.
   */
  storageFingerprint(tableOids: ReadonlySet<number>): string;
}

/**
 * Reads the catalog and the tables' relfilenodes in one round trip. `before` are statements
 * that take no snapshot (BEGIN, COMMIT, SET LOCAL, LOCK TABLE) sent first in the same message,
 * so a dump opens its transaction, locks its tables and reads the catalog inside the snapshot
 * at the cost of one round trip; when one of them fails, nothing after it ran.
 */
export async function readCatalogAndStorage(client: pg.Client, before: readonly string[] = []): Promise<CatalogRead> {
  const results = await queryBatch(client, [
    ...before,
    ...catalogFiles.map((f) => readSql(`catalog/${f}`)),
    readSql("catalog/relfilenodes.sql"),
  ]);
  const byFile = new Map(catalogFiles.map((f, i) => [f, results[before.length + i]!]));
  const files = results[results.length - 1]!.rows as StorageRow[];
  return {
    catalog: parseCatalog(byFile),
    storageFingerprint: (tableOids) => storageFingerprintOf(files, tableOids),
  };
}

function parseCatalog(results: ReadonlyMap<(typeof catalogFiles)[number], pg.QueryResult>): Catalog {
  const q = <R extends pg.QueryResultRow>(file: (typeof catalogFiles)[number]) => results.get(file)!.rows as R[];

  const roleRow = q<{
    role: string;
    superuser: boolean;
    bypassrls: boolean;
    server_version_num: number;
    server_version: string;
    database: string;
  }>("role.sql")[0];
  if (!roleRow) throw new Error("role.sql returned no row for current_user");
  const role: RoleInfo = {
    role: roleRow.role,
    superuser: roleRow.superuser,
    bypassrls: roleRow.bypassrls,
    serverVersionNum: roleRow.server_version_num,
    serverVersion: roleRow.server_version,
    database: roleRow.database,
  };

  const byOid = new Map<number, TableInfo>();
  const tables = new Map<string, TableInfo>();
  for (const r of q<{
    oid: string;
    schema: string;
    name: string;
    kind: string;
    rls_enabled: boolean;
    rls_forced: boolean;
    is_owner: boolean;
    has_inheritors: boolean;
  }>("tables.sql")) {
    const t: TableInfo = {
      oid: Number(r.oid),
      schema: r.schema,
      name: r.name,
      id: tableId(r.schema, r.name),
      partitioned: r.kind === "p",
      hasInheritors: r.kind === "r" && r.has_inheritors,
      rlsEnabled: r.rls_enabled,
      rlsForced: r.rls_forced,
      isOwner: r.is_owner,
      columns: [],
      keys: [],
      foreignKeys: [],
      sequences: [],
      triggers: [],
      rules: [],
    };
    byOid.set(t.oid, t);
    if (tables.has(t.id)) throw new Error(`two tables have the id ${t.id}`);
    tables.set(t.id, t);
  }

  for (const r of q<{
    table_oid: string;
    name: string;
    num: number;
    type: string;
    type_oid: string;
    base_type: string;
    base_category: string;
    base_kind: string;
    not_null: boolean;
    generated: string;
    identity: string;
    has_default: boolean;
  }>("columns.sql")) {
    byOid.get(Number(r.table_oid))?.columns.push({
      name: r.name,
      num: r.num,
      type: r.type,
      typeOid: Number(r.type_oid),
      baseType: r.base_type,
      baseCategory: r.base_category,
      baseKind: r.base_kind,
      notNull: r.not_null,
      generated: r.generated !== "",
      identity: r.identity === "a" || r.identity === "d" ? r.identity : "",
      hasDefault: r.has_default,
    });
  }

  for (const r of q<{ table_oid: string; name: string; is_primary: boolean; columns: string[] }>("keys.sql")) {
    byOid.get(Number(r.table_oid))?.keys.push({ name: r.name, primary: r.is_primary, columns: r.columns });
  }

  for (const r of q<{
    name: string;
    table_oid: string;
    columns: string[];
    ref_table_oid: string;
    ref_columns: string[];
    on_delete: string;
    on_update: string;
    deferrable: boolean;
  }>("foreign-keys.sql")) {
    const t = byOid.get(Number(r.table_oid));
    const ref = byOid.get(Number(r.ref_table_oid));
    if (!t || !ref) continue;
    t.foreignKeys.push({
      name: r.name,
      table: t.id,
      columns: r.columns,
      refTable: ref.id,
      refColumns: r.ref_columns,
      onDelete: r.on_delete as OnDelete,
      onUpdate: r.on_update as RefAction,
      deferrable: r.deferrable,
    });
  }

  for (const r of q<{ table_oid: string; column_name: string; schema: string; name: string }>("sequences.sql")) {
    byOid.get(Number(r.table_oid))?.sequences.push({ column: r.column_name, schema: r.schema, name: r.name });
  }

  for (const r of q<{ table_oid: string; name: string; enabled: string }>("triggers.sql")) {
    byOid.get(Number(r.table_oid))?.triggers.push({ name: r.name, enabled: r.enabled as TriggerInfo["enabled"] });
  }

  for (const r of q<{ table_oid: string; name: string; event: string; enabled: string; instead: boolean }>(
    "rules.sql",
  )) {
    byOid.get(Number(r.table_oid))?.rules.push({
      name: r.name,
      event: r.event as RuleInfo["event"],
      enabled: r.enabled as RuleInfo["enabled"],
      instead: r.instead,
    });
  }

  return { role, tables };
}

/** The key that identifies a row for restore: the primary key, else a unique key of NOT NULL columns. */
export function identityKey(t: TableInfo): KeyInfo | undefined {
  const pk = t.keys.find((k) => k.primary);
  if (pk) return pk;
  return t.keys.find((k) => k.columns.every((c) => t.columns.find((col) => col.name === c)?.notNull === true));
}

/** Foreign keys of other tables (within `tables`) that reference `t`. */
export function referencingKeys(tables: Iterable<TableInfo>, t: TableInfo): ForeignKeyInfo[] {
  const out: ForeignKeyInfo[] = [];
  for (const other of tables) for (const fk of other.foreignKeys) if (fk.refTable === t.id) out.push(fk);
  return out;
}

/** A row of relfilenodes.sql. */
interface StorageRow {
  root: string;
  oid: string;
  relfilenode: string;
}

function storageFingerprintOf(rows: readonly StorageRow[], tableOids: ReadonlySet<number>): string {
  return rows
    .filter((r) => tableOids.has(Number(r.root)))
    .map((r) => `${r.oid}:${r.relfilenode}`)
    .join(",");
}
