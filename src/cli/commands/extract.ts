/** `pgsnap extract`: cut one tenant out of a snapshot into a new tenant snapshot. */
import type { Command } from "commander";
import { openStorage } from "../../storage/open-storage.js";
import type { ContextFor } from "../context.js";
import { countOf } from "../output.js";
import { projectWithoutDb, s3Of, storageOf } from "../targets.js";

/** Adds `extract` to the program. */
export function registerExtract(program: Command, contextFor: ContextFor): void {
  program
    .command("extract")
    .description("cut one tenant out of a full or tenants snapshot into a new tenant snapshot (no database needed)")
    .argument("<snapshot>", "snapshot id or latest")
    .requiredOption("--tenant <id>", "the tenant to extract")
    .option("--to <storage>", "where to write the new snapshot (default: --storage)")
    .option("--allow-empty", "write the snapshot even when no row belongs to the tenant (default: exit 2)")
    .addHelpText(
      "after",
      "\nExamples:\n  pgsnap extract latest --tenant 42\n  pgsnap extract 20260118T030000Z-3f9a --tenant 42 --to ./handover",
    )
    .action(async (ref: string, opts: { tenant: string; to?: string; allowEmpty?: boolean }, cmd: Command) => {
      const { config, out, signal } = contextFor(cmd);
      const { extract } = await import("../../extract/extract.js");
      const storage = storageOf(config);
      const to = opts.to ? openStorage(opts.to, s3Of(config)) : undefined;
      try {
        const snapshot = await extract({
          storage,
          to,
          project: projectWithoutDb(config),
          snapshot: ref,
          tenant: opts.tenant,
          allowEmpty: opts.allowEmpty,
          signal,
          onChoice: (c) => out.info(`pgsnap: ${c.reason}`),
        });
        out.result(
          { snapshots: [snapshot] },
          () =>
            `snapshot ${snapshot.id} (tenant ${opts.tenant}): ${countOf(snapshot.tables.length, "table")}, ${countOf(snapshot.rows, "row")} → ${snapshot.location}`,
        );
      } finally {
        await storage.close();
        await to?.close();
      }
    });
}
