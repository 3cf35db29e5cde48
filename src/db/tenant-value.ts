/**
 * Tenant identity (issue: "equal but differently spelled"): the tenant column's own equality
 * decides who a row belongs to, so `1.0` = `1.00` (numeric), `ABC` = `abc` (citext), and an
 * upper-case uuid names the same tenant as its lower-case print. Every path canonicalises a
 * tenant id once, through the column's type, and compares canonical forms only: the id a user
 * types (`canonicalTenant`), the key of every frame of a tenants snapshot (`canonicalKeySql`),
 * and, without a database, `canonicalTenantText` (src/format/tenant-id.ts) with the type
 * recorded in the manifest.
 */
import type pg from "pg";
import { UsageError } from "../errors.js";
import type { ColumnInfo } from "./catalog.js";
import type { TenantPlan } from "./plan.js";
import { quoteLiteral } from "./quote.js";

/** The tenant column that decides the tenant's type: that of the first direct table by id. */
export function tenantKeyColumn(plan: TenantPlan): ColumnInfo | undefined {
  for (const p of plan.tables.values()) if (p.scope === "direct" && p.column) return p.column;
  return undefined;
}

/**
 * SQL giving the canonical text of `expr`, a value of `column`'s type: equal values (under the
 * type's `=`) give one text, different values different texts.
 */
export function canonicalKeySql(expr: string, column: Pick<ColumnInfo, "baseType"> | undefined): string {
  switch (column?.baseType ?? "") {
    case "numeric":
      return `pg_catalog.trim_scale(${expr})::pg_catalog.text`;
    case "citext":
      return `pg_catalog.lower((${expr})::pg_catalog.text)`;
    case "float4":
    case "float8":
      // -0 = 0
      return `(CASE WHEN (${expr}) = 0 THEN '0' ELSE (${expr})::pg_catalog.text END)`;
    default:
      return `(${expr})::pg_catalog.text`;
  }
}

/**
 * Checks that `tenant` is a valid value of every tenant column's type (`abc` for an integer
 * column), so a typo is a usage error (exit 2) before anything runs, and returns its canonical
 * spelling in the type of the plan's tenant column.
 */
export async function canonicalTenant(client: pg.Client, plan: TenantPlan, tenant: string): Promise<string> {
  const types = new Map<string, ColumnInfo>();
  for (const p of plan.tables.values()) if (p.scope === "direct" && p.column) types.set(p.column.type, p.column);
  const key = tenantKeyColumn(plan);
  let canonical = tenant;
  for (const [type, column] of types) {
    // No SQL literal holds a NUL (and no bind parameter either: Postgres refuses it as 22021).
    if (tenant.includes("\u0000")) throw invalidTenant(tenant, type, plan, "it contains a NUL character", undefined);
    try {
      // One round trip per type (issue 14, the fixed cost): a literal rather than a bind
      // parameter, which would need the extended protocol and one statement per message. Both
      // go through the type's input function. When the cast fails, nothing after it runs.
      const [, r] = (await client.query(
        [
          "SAVEPOINT pgsnap_tenant_value",
          `SELECT ${canonicalKeySql(`${quoteLiteral(tenant)}::${type}`, column)} AS v`,
          "RELEASE SAVEPOINT pgsnap_tenant_value",
        ].join("; "),
      )) as unknown as pg.QueryResult<{ v: string }>[];
      // By type: `types` keeps one column per type, not necessarily the key column itself.
      if (type === key?.type) canonical = r!.rows[0]!.v;
    } catch (err) {
      const code = (err as { code?: string }).code ?? "";
      if (!code.startsWith("22")) throw err;
      await client.query("ROLLBACK TO SAVEPOINT pgsnap_tenant_value");
      throw invalidTenant(tenant, type, plan, (err as Error).message, err);
    }
  }
  return canonical;
}

function invalidTenant(tenant: string, type: string, plan: TenantPlan, why: string, cause: unknown): UsageError {
  return new UsageError(
    "TENANT_INVALID",
    `tenant ${JSON.stringify(tenant)} is not a valid ${type} (tenant column ${plan.tenantColumn}): ${why}`,
    { hint: "give the tenant id exactly as the tenant column stores it (see `pgsnap tenants`)", cause },
  );
}
