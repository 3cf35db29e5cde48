/** `pgsnap plan`: how every table's rows are told apart by tenant. */
import type { Command } from "commander";
import { readCatalog } from "../../db/catalog.js";
import { connect } from "../../db/connect.js";
import { describePlan, planTenants } from "../../db/plan.js";
import type { ContextFor } from "../context.js";
import { formatTable } from "../output.js";

/** Adds `plan` to the program. */
export function registerPlan(program: Command, contextFor: ContextFor): void {
  program
    .command("plan")
    .description("show how every table's rows are told apart by tenant")
    .addHelpText("after", "\nExamples:\n  pgsnap plan --tenant-column store_id\n  pgsnap plan --tenant 42 --json")
    .option("--tenant <id>", "show the filters for this tenant")
    .action(async (opts: { tenant?: string }, cmd: Command) => {
      const { config, out } = contextFor(cmd);
      const client = await connect({ url: config.dbUrl, ioTimeoutMs: config.ioTimeoutMs });
      try {
        const catalog = await readCatalog(client);
        const plan = planTenants(catalog, config.tenantColumn, config.rules);
        const tables = describePlan(plan, opts.tenant);
        out.result({ tenantColumn: config.tenantColumn, tables }, () =>
          formatTable(
            ["TABLE", "SCOPE", "PATH / FILTER"],
            tables.map((t) => [
              t.table,
              t.scope,
              t.scope === "via" ? `${t.path.join(" → ")}  (${t.via})` : (t.filter ?? ""),
            ]),
          ),
        );
      } finally {
        await client.end().catch(() => {});
      }
    });
}
