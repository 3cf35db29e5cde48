/**
 * The tenant planner (DESIGN.md, "Tenant scope"): for every table, how its rows are told apart
 * by tenant. A `via` table names ONE foreign key to a parent table and belongs to a tenant
 * exactly when its parent row does, so ownership is defined hop by hop and the same rule serves
 * dump, tenant checks on restore, and extraction.
 */
import { UsageError } from "../errors.js";
import { resolveTableName, type Catalog, type ColumnInfo, type ForeignKeyInfo, type TableInfo } from "./catalog.js";
import { quoteIdent, quoteLiteral, relationSql } from "./quote.js";
import { canonicalKeySql } from "./tenant-value.js";

export type TableScope = "direct" | "via" | "custom" | "global";

/** A per-table rule from config (`tables` in a project). */
export interface TableRule {
  /** SQL condition over alias `t`, with `:tenant` standing for the quoted tenant value. */
  filter?: string | undefined;
  /** SQL expression over alias `t` giving the row's tenant (needed for --all-tenants). */
  key?: string | undefined;
  /** Name of the foreign key to follow (a via table whose parent is ambiguous). */
  via?: string | undefined;
  /** Force the table to be global (shared, dumped only in full). */
  global?: boolean | undefined;
}

export interface TablePlan {
  table: TableInfo;
  scope: TableScope;
  /** direct: the tenant column. */
  column?: ColumnInfo | undefined;
  /** via: the foreign key from this table to its parent. */
  fk?: ForeignKeyInfo | undefined;
  /** custom: the configured rule. */
  rule?: TableRule | undefined;
  /** Hops to a direct or custom table (0 for those, -1 for global). */
  depth: number;
}

export interface TenantPlan {
  tenantColumn: string;
  tables: Map<string, TablePlan>;
}

/** Builds the plan for every table of the catalog. */
export function planTenants(
  catalog: Catalog,
  tenantColumn: string,
  configRules: Readonly<Record<string, TableRule>> = {},
): TenantPlan {
  const plans = new Map<string, TablePlan>();
  const rules = rulesByTableId(catalog, configRules);
  for (const t of catalog.tables.values()) {
    const rule = rules[t.id];
    if (rule?.global) plans.set(t.id, { table: t, scope: "global", depth: -1 });
    else if (rule?.filter) plans.set(t.id, { table: t, scope: "custom", rule, depth: 0 });
    else {
      const column = t.columns.find((c) => c.name === tenantColumn);
      if (column && !rule?.via) plans.set(t.id, { table: t, scope: "direct", column, depth: 0 });
    }
  }
  // Breadth-first from owned tables over foreign keys, child → parent. A table at depth d picks
  // a parent at depth d-1: a configured `via`, else an ON DELETE CASCADE key (the child lives and
  // dies with that parent: it is owned by it), then NOT NULL keys, then by name.
  let frontier = [...plans.values()].filter((p) => p.depth === 0);
  for (let depth = 1; frontier.length > 0; depth++) {
    const next: TablePlan[] = [];
    for (const t of catalog.tables.values()) {
      if (plans.has(t.id)) continue;
      const rule = rules[t.id];
      const candidates = t.foreignKeys
        .filter((fk) => fk.refTable !== t.id && plans.get(fk.refTable)?.depth === depth - 1)
        .filter((fk) => !rule?.via || fk.name === rule.via)
        .sort(
          (a, b) =>
            cascadeRank(a) - cascadeRank(b) ||
            notNullRank(t, a) - notNullRank(t, b) ||
            (a.name < b.name ? -1 : a.name > b.name ? 1 : 0),
        );
      const fk = candidates[0];
      if (!fk) continue;
      const p: TablePlan = { table: t, scope: "via", fk, depth };
      plans.set(t.id, p);
      next.push(p);
    }
    frontier = next;
  }
  for (const t of catalog.tables.values()) {
    if (plans.has(t.id)) continue;
    const via = rules[t.id]?.via;
    if (via && !t.foreignKeys.some((fk) => fk.name === via)) {
      throw new UsageError("CONFIG_UNKNOWN_FK", `config for ${t.id}: foreign key ${via} does not exist`, {
        hint: "name a foreign key of the table as \\d shows it",
      });
    }
    plans.set(t.id, { table: t, scope: "global", depth: -1 });
  }
  return { tenantColumn, tables: new Map([...plans].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) };
}

/**
 * Config rules keyed by table id: each key is read as a table name (`schema.table`, parts
 * double-quoted where `pgsnap plan` quotes them) and must name exactly one table.
 */
function rulesByTableId(catalog: Catalog, rules: Readonly<Record<string, TableRule>>): Record<string, TableRule> {
  const out: Record<string, TableRule> = {};
  for (const [key, rule] of Object.entries(rules)) {
    // Config keys are qualified: `schema.table`.
    const found = key.includes(".") ? resolveTableName(catalog.tables.values(), key) : [];
    if (found.length !== 1) {
      throw new UsageError(
        "CONFIG_UNKNOWN_TABLE",
        found.length > 1
          ? `config key ${key} names several tables: ${found.map((t) => t.id).join(", ")}`
          : `config names table ${key}, which does not exist`,
        { hint: 'use schema.table names exactly as `pgsnap plan` prints them (e.g. public.orders, x."a.b")' },
      );
    }
    const id = found[0]!.id;
    if (out[id])
      throw new UsageError("CONFIG_DUPLICATE_TABLE", `config names table ${id} twice`, {
        hint: "keep one rule per table",
      });
    out[id] = rule;
  }
  return out;
}

function cascadeRank(fk: ForeignKeyInfo): number {
  return fk.onDelete === "c" ? 0 : 1;
}

function notNullRank(t: TableInfo, fk: ForeignKeyInfo): number {
  return fk.columns.every((c) => t.columns.find((col) => col.name === c)?.notNull) ? 0 : 1;
}

/** Is a table's data split by tenant? */
export function isTenantTable(p: TablePlan): boolean {
  return p.scope !== "global";
}

/** `(a, b)` or `a` for a list of qualified columns. */
function tuple(alias: string, cols: readonly string[]): string {
  const items = cols.map((c) => `${alias}.${quoteIdent(c)}`);
  return items.length === 1 ? items[0]! : `(${items.join(", ")})`;
}

/** Where rows of a table are read from: the live table, or a staging table on restore. */
export type RelationOf = (tableId: string) => string;
/** Live tables, each read on its own (`ONLY` for a table with inheritance children). */
export const liveRelation =
  (plan: TenantPlan): RelationOf =>
  (id) =>
    relationSql(mustPlan(plan, id).table);

function mustPlan(plan: TenantPlan, id: string): TablePlan {
  const p = plan.tables.get(id);
  if (!p) throw new Error(`no plan for table ${id}`);
  return p;
}

/** The tenant value as a SQL literal of the tenant column's type. */
export function tenantLiteral(tenant: string, column: ColumnInfo): string {
  return `${quoteLiteral(tenant)}::${column.type}`;
}

/**
 * A SQL condition true when the row `alias` of table `id` belongs to `tenant`. Parents are read
 * from `relationOf` (live tables on dump, staging tables for parents being restored).
 */
export function ownedCondition(
  plan: TenantPlan,
  id: string,
  alias: string,
  tenant: string,
  relationOf: RelationOf = liveRelation(plan),
): string {
  return ownership(plan, id, alias, relationOf, (p, a) => {
    if (p.scope === "direct") return `${a}.${quoteIdent(p.column!.name)} = ${tenantLiteral(tenant, p.column!)}`;
    // A function, not a replacement string: `$&`, `$$`, `$'` in a tenant id stay literal.
    const literal = quoteLiteral(tenant);
    const filter = p.rule!.filter!.replace(/:tenant\b/g, () => literal);
    // The rule is written over alias t; under another alias, t is bound to that row.
    return a === "t" ? `(${filter})` : `(SELECT (${filter}) FROM (SELECT ${a}.*) AS t)`;
  });
}

/**
 * A SQL condition true when the row `alias` of table `id` belongs to some tenant (its tenant
 * key is not NULL along its ownership path): the rows a `tenants` snapshot holds.
 */
export function ownedByAnyCondition(
  plan: TenantPlan,
  id: string,
  alias: string,
  relationOf: RelationOf = liveRelation(plan),
): string {
  return ownership(plan, id, alias, relationOf, (p, a) => {
    if (p.scope === "direct") return `${a}.${quoteIdent(p.column!.name)} IS NOT NULL`;
    return p.rule?.key ? `(SELECT (${p.rule.key}) IS NOT NULL FROM (SELECT ${a}.*) AS t)` : "true";
  });
}

/**
 * The shared shape of both conditions: a `via` row belongs where its parent row (found through
 * its foreign key in `relationOf`) belongs; `owner` decides for `direct` and `custom` rows;
 * global rows belong to no tenant.
 */
function ownership(
  plan: TenantPlan,
  id: string,
  alias: string,
  relationOf: RelationOf,
  owner: (p: TablePlan, alias: string) => string,
): string {
  const p = mustPlan(plan, id);
  switch (p.scope) {
    case "direct":
    case "custom":
      return owner(p, alias);
    case "via": {
      const fk = p.fk!;
      const parentAlias = `p${p.depth}`;
      return (
        `${tuple(alias, fk.columns)} IN (SELECT ${fk.refColumns.map((c) => `${parentAlias}.${quoteIdent(c)}`).join(", ")}` +
        ` FROM ${relationOf(fk.refTable)} ${parentAlias}` +
        ` WHERE ${ownership(plan, fk.refTable, parentAlias, relationOf, owner)})`
      );
    }
    case "global":
      return "false";
  }
}

/**
 * FROM-clause joins and the tenant key expression for reading a tenant table ordered by tenant
 * (scope `tenants`). Joins follow the via chain on the parents' referenced unique keys, so they
 * never multiply rows; a row whose chain is broken (NULL foreign key) belongs to no tenant.
 * With `outer`, the joins are LEFT JOINs: such rows are kept, with a NULL key.
 */
export function tenantKeyJoin(
  plan: TenantPlan,
  id: string,
  alias: string,
  options: { outer?: boolean } = {},
): { joins: string; key: string; canonicalKey: string } {
  let joins = "";
  let cur = mustPlan(plan, id);
  let curAlias = alias;
  while (cur.scope === "via") {
    const fk = cur.fk!;
    const parent = mustPlan(plan, fk.refTable);
    const parentAlias = `k${parent.depth}`;
    const on = fk.columns
      .map((c, i) => `${parentAlias}.${quoteIdent(fk.refColumns[i]!)} = ${curAlias}.${quoteIdent(c)}`)
      .join(" AND ");
    joins += ` ${options.outer ? "LEFT JOIN" : "JOIN"} ${relationSql(parent.table)} ${parentAlias} ON ${on}`;
    cur = parent;
    curAlias = parentAlias;
  }
  if (cur.scope === "direct") {
    const key = `${curAlias}.${quoteIdent(cur.column!.name)}`;
    return { joins, key, canonicalKey: canonicalKeySql(key, cur.column) };
  }
  if (cur.scope === "custom") {
    const key = cur.rule?.key;
    if (!key) {
      throw new UsageError(
        "CONFIG_CUSTOM_KEY_MISSING",
        `table ${cur.table.id} has a custom filter but no key expression`,
        {
          hint: `add "key" (an SQL expression over alias t giving the tenant) to the rule of ${cur.table.id} to dump all tenants in one pass`,
        },
      );
    }
    joins += ` CROSS JOIN LATERAL (SELECT (${key}) AS k FROM (SELECT ${curAlias}.*) AS t) ck`;
    return { joins, key: "ck.k", canonicalKey: canonicalKeySql("ck.k", undefined) };
  }
  throw new Error(`table ${id} is global: it has no tenant key`);
}

/** The plan as `pgsnap plan` prints it: one filter per table, for one tenant or as a template. */
export function describePlan(
  plan: TenantPlan,
  tenant: string | undefined,
): { table: string; scope: TableScope; filter: string | null; via: string | null; path: string[] }[] {
  return [...plan.tables.values()].map((p) => ({
    table: p.table.id,
    scope: p.scope,
    filter: p.scope === "global" ? null : ownedCondition(plan, p.table.id, "t", tenant ?? ":tenant"),
    via: p.fk ? p.fk.name : null,
    path: pathOf(plan, p),
  }));
}

function pathOf(plan: TenantPlan, p: TablePlan): string[] {
  const out = [p.table.id];
  let cur = p;
  while (cur.scope === "via") {
    cur = mustPlan(plan, cur.fk!.refTable);
    out.push(cur.table.id);
  }
  return out;
}
