/** `pgsnap tenants`: every tenant with its row count and display name. */
import type { Command } from "commander";
import type { ContextFor } from "../context.js";
import { formatTable } from "../output.js";

/** Adds `tenants` to the program. */
export function registerTenants(program: Command, contextFor: ContextFor): void {
  program
    .command("tenants")
    .description("every tenant with its row count and display name")
    .addHelpText("after", "\nExamples:\n  pgsnap tenants --tenant-column store_id\n  pgsnap tenants --json")
    .action(async (_opts: unknown, cmd: Command) => {
      const { config, out } = contextFor(cmd);
      const { listTenants } = await import("../../db/tenants.js");
      const tenants = await listTenants({
        connection: { url: config.dbUrl, ioTimeoutMs: config.ioTimeoutMs },
        tenantColumn: config.tenantColumn,
        rules: config.rules,
        names: config.tenantNames,
      });
      out.result({ tenants }, () =>
        formatTable(
          ["TENANT", "NAME", "ROWS"],
          tenants.map((t) => [t.id, t.name ?? "", t.rows]),
        ),
      );
    });
}
