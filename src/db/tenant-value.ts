import type pg from "pg";
import { UsageError } from "../errors.js";
import type { TenantPlan } from "./plan.js";

/**
 * Checks that `tenant` is a valid value of every tenant column's type (`abc` for an integer
 * column), so a typo is a usage error (exit 2) before anything runs, not a failed query.
 */
export async function checkTenantValue(client: pg.Client, plan: TenantPlan, tenant: string): Promise<void> {
  const types = new Set<string>();
  for (const p of plan.tables.values()) if (p.scope === "direct" && p.column) types.add(p.column.type);
  for (const type of types) {
    try {
      await client.query("SAVEPOINT pgsnap_tenant_value");
      await client.query(`SELECT $1::${type}`, [tenant]);
      await client.query("RELEASE SAVEPOINT pgsnap_tenant_value");
    } catch (err) {
      const code = (err as { code?: string }).code ?? "";
      if (!code.startsWith("22")) throw err;
      await client.query("ROLLBACK TO SAVEPOINT pgsnap_tenant_value");
      throw new UsageError(
        "TENANT_INVALID",
        `tenant ${JSON.stringify(tenant)} is not a valid ${type} (tenant column ${plan.tenantColumn}): ${(err as Error).message}`,
        {
          hint: "give the tenant id exactly as the tenant column stores it (see `pgsnap tenants`)",
          cause: err,
        },
      );
    }
  }
}
