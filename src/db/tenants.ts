/** Tenant discovery: every tenant id with its row count and a display name. */
import { UsageError } from "../errors.js";
import type { TenantNames } from "../config/config.js";
import { readCatalog, resolveTableName, type TableInfo } from "./catalog.js";
import { classifyConnectionError, connect, type ConnectOptions } from "./connect.js";
import { planTenants, tenantKeyJoin, type TableRule } from "./plan.js";
import { tenantKeyColumn } from "./tenant-value.js";
import { canonicalTenantText } from "../format/tenant-id.js";
import { quoteIdent, relationSql } from "./quote.js";

export interface TenantInfo {
  id: string;
  name: string | null;
  rows: number;
}

export interface ListTenantsOptions {
  connection: ConnectOptions;
  tenantColumn: string;
  rules?: Readonly<Record<string, TableRule>> | undefined;
  names?: TenantNames | undefined;
}

/**
 * Every tenant that owns at least one row, with its rows summed over all tenant tables (via
 * tables counted through their owner), read in one REPEATABLE READ snapshot.
 */
export async function listTenants(options: ListTenantsOptions): Promise<TenantInfo[]> {
  const client = await connect(options.connection);
  try {
    await client.query("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY");
    await client.query("SET LOCAL row_security = off");
    const catalog = await readCatalog(client);
    const plan = planTenants(catalog, options.tenantColumn, options.rules);
    const tenantTables = [...plan.tables.values()].filter((p) => p.scope !== "global");
    if (tenantTables.length === 0) {
      throw new UsageError("NO_TENANT_TABLE", `no table has the tenant column ${options.tenantColumn}`, {
        hint: "set --tenant-column (or PGSNAP_TENANT_COLUMN) to the column that tells tenants apart",
      });
    }
    const parts = tenantTables.map((p) => {
      // Grouped by the key's canonical text, so `1.0` and `1` (or citext `A` and `a`) are one tenant.
      const { joins, key, canonicalKey } = tenantKeyJoin(plan, p.table.id, "t");
      return `SELECT ${canonicalKey} AS k, count(*) AS n FROM ${relationSql(p.table)} t${joins} WHERE ${key} IS NOT NULL GROUP BY 1`;
    });
    const counts = await client.query<{ k: string; n: string }>(
      `SELECT k, sum(n)::int8 AS n FROM (${parts.join(" UNION ALL ")}) x GROUP BY k`,
    );
    const names = await readNames(client, options.names, [...catalog.tables.values()], options.tenantColumn);
    await client.query("COMMIT");
    const keyType = tenantKeyColumn(plan)?.baseType;
    const named = new Map([...names].map(([id, name]) => [canonicalTenantText(keyType, id), name]));
    const out = counts.rows.map((r) => ({ id: r.k, name: named.get(r.k) ?? null, rows: Number(r.n) }));
    return out.sort((a, b) => compareIds(a.id, b.id));
  } catch (err) {
    throw (
      classifyConnectionError(err, { url: options.connection.url, clients: [client], during: "pgsnap tenants" }) ?? err
    );
  } finally {
    await client.end().catch(() => {});
  }
}

/** Numbers in numeric order, then strings. */
export function compareIds(a: string, b: string): number {
  const na = /^-?\d+$/.test(a) ? BigInt(a) : undefined;
  const nb = /^-?\d+$/.test(b) ? BigInt(b) : undefined;
  if (na !== undefined && nb !== undefined) return na < nb ? -1 : na > nb ? 1 : 0;
  if (na !== undefined) return -1;
  if (nb !== undefined) return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Display names: the configured query or table, else a table whose primary key is the tenant
 * column and which has a `name` column (e.g. companies(user_id, name)).
 */
async function readNames(
  client: import("pg").Client,
  config: TenantNames | undefined,
  tables: TableInfo[],
  tenantColumn: string,
): Promise<Map<string, string>> {
  let sql: string | undefined;
  if (config?.query) sql = `SELECT (id)::text AS id, (name)::text AS name FROM (${config.query}) q(id, name)`;
  else if (config?.table) {
    const found = resolveTableName(tables, config.table);
    const t = found.length === 1 ? found[0] : undefined;
    if (!t) throw new UsageError("CONFIG_UNKNOWN_TABLE", `tenantNames.table ${config.table} does not exist`);
    sql = `SELECT ${quoteIdent(config.id ?? tenantColumn)}::text AS id, ${quoteIdent(config.name ?? "name")}::text AS name FROM ${relationSql(t)}`;
  } else {
    const t = tables.find(
      (x) =>
        x.keys.some((k) => k.primary && k.columns.length === 1 && k.columns[0] === tenantColumn) &&
        x.columns.some((c) => c.name === "name"),
    );
    if (t) sql = `SELECT ${quoteIdent(tenantColumn)}::text AS id, "name"::text AS name FROM ${relationSql(t)}`;
  }
  if (!sql) return new Map();
  const res = await client.query<{ id: string; name: string | null }>(sql).catch((err: unknown) => {
    const code = (err as { code?: unknown }).code;
    if (config && typeof code === "string" && /^(42(?!501)|22|21|0A)/.test(code)) {
      throw new UsageError(
        "TENANT_NAMES_INVALID",
        `the tenantNames query of the config failed: ${(err as Error).message} (SQLSTATE ${code})`,
        {
          hint: "fix tenantNames in the config (query, or table / id / name) and try it in psql",
          cause: err,
        },
      );
    }
    throw err;
  });
  return new Map(res.rows.filter((r) => r.name !== null).map((r) => [r.id, r.name!]));
}

/** The display name of one tenant (as `listTenants` finds names), without counting any rows. */
export async function tenantName(options: ListTenantsOptions, tenant: string): Promise<string | null> {
  const client = await connect(options.connection);
  try {
    const catalog = await readCatalog(client);
    const names = await readNames(client, options.names, [...catalog.tables.values()], options.tenantColumn);
    return names.get(tenant) ?? null;
  } finally {
    await client.end().catch(() => {});
  }
}
