/** `pgsnap dump`: full, one tenant per snapshot, or all tenants in one pass. */
import { Option, type Command } from "commander";
import type { ContextFor } from "../context.js";
import { collect, intOption, list } from "../flags.js";
import { countOf, formatBytes } from "../output.js";
import { storageOf } from "../targets.js";

/**
 * zstd levels `--compression-level` accepts: the bounds of src/format/zstd.ts, repeated here so
 * that registering the command does not load the zstd binding (src/cli/commands/dump.test.ts
 * checks that they agree).
 */
export const COMPRESSION_LEVELS = { min: 1, max: 19 } as const;

/** Adds `dump` to the program. */
export function registerDump(program: Command, contextFor: ContextFor): void {
  program
    .command("dump")
    .description(
      "dump every table (full), one tenant per snapshot (--tenant), or all tenants in one pass (--all-tenants)",
    )
    .option("--tenant <id>", "dump this tenant (repeatable; one snapshot each)", collect, [])
    .option("--all-tenants", "one snapshot holding every tenant, one zstd frame per tenant per table")
    .option("--tables <list>", "only these tables (comma-separated schema.table)", list, [])
    .option("--exclude-tables <list>", "leave these tables out", list, [])
    .option("--allow-empty", "write a --tenant snapshot even when no row belongs to the tenant")
    .addOption(
      new Option("--jobs <n>", "parallel workers sharing one snapshot")
        .argParser(intOption("--jobs", 1, 64))
        .default(1),
    )
    .addOption(
      new Option("--compression-level <n>", "zstd level")
        .argParser(intOption("--compression-level", COMPRESSION_LEVELS.min, COMPRESSION_LEVELS.max))
        .default(3),
    )
    .addHelpText(
      "after",
      "\nExamples:\n  pgsnap dump\n  pgsnap dump --tenant 42 --tenant 43\n  pgsnap dump --all-tenants --jobs 2 --storage s3://backups/prod",
    )
    .action(
      async (
        opts: {
          tenant: string[];
          allTenants?: boolean;
          allowEmpty?: boolean;
          tables: string[];
          excludeTables: string[];
          jobs: number;
          compressionLevel: number;
        },
        cmd: Command,
      ) => {
        const { config, out, signal } = contextFor(cmd);
        // Loaded here, not at registration: other commands never pay for it (issue 14).
        const { dump } = await import("../../dump/dump.js");
        const storage = storageOf(config);
        const view = out.progressView();
        try {
          const results = await dump({
            connection: { url: config.dbUrl, ioTimeoutMs: config.ioTimeoutMs },
            storage,
            project: config.project,
            tenantColumn: config.tenantColumn,
            rules: config.rules,
            tenants: opts.tenant,
            allTenants: opts.allTenants === true,
            allowEmpty: opts.allowEmpty === true,
            tables: opts.tables,
            excludeTables: opts.excludeTables,
            jobs: opts.jobs,
            compressionLevel: opts.compressionLevel,
            signal,
            onProgress: (e) => view.update(e),
          });
          view.stop();
          out.result({ snapshots: results }, () =>
            results
              .map(
                (r) =>
                  `snapshot ${r.id} (${r.scope}${r.tenants && r.scope === "tenant" ? ` ${r.tenants.join(",")}` : ""}): ${countOf(r.tables.length, "table")}, ${countOf(r.rows, "row")}, ${formatBytes(r.storedBytes)} in ${(r.durationMs / 1000).toFixed(1)} s → ${r.location}`,
              )
              .join("\n"),
          );
        } finally {
          view.stop();
          await storage.close();
        }
      },
    );
}
