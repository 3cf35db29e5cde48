/** `pgsnap tenants` (and further commands of CLI.md). */
import type { Command } from "commander";
import { listTenants } from "../db/tenants.js";
import { extraCommands } from "./commands.js";
import { formatTable } from "./output.js";

extraCommands.push((program, contextFor) => {
  program
    .command("tenants")
    .description("every tenant with its row count and display name")
    .addHelpText("after", "\nExamples:\n  pgsnap tenants --tenant-column store_id\n  pgsnap tenants --json")
    .action(async (_opts: unknown, cmd: Command) => {
      const { config, out } = contextFor(cmd);
      const tenants = await listTenants({
        connection: { url: config.dbUrl },
        tenantColumn: config.tenantColumn,
        rules: config.rules,
        names: config.tenantNames,
      });
      out.result({ tenants }, () =>
        formatTable(["TENANT", "NAME", "ROWS"], tenants.map((t) => [t.id, t.name ?? "", t.rows])),
      );
    });
});
