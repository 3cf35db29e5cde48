/** `pgsnap plan`: how every table's rows are told apart by tenant. */
import type { Command } from "commander";
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
      const [{ readCatalog }, { classifyConnectionError, connect }, { describePlan, planTenants }] = await Promise.all([
        import("../../db/catalog.js"),
        import("../../db/connect.js"),
        import("../../db/plan.js"),
      ]);
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
      } catch (err) {
        throw classifyConnectionError(err, { url: config.dbUrl, clients: [client], during: "pgsnap plan" }) ?? err;
      } finally {
        await client.end().catch(() => {});
      }
    });
}
