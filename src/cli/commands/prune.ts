/** `pgsnap prune`: retention by a grandfather-father-son policy. */
import type { Command } from "commander";
import { UsageError } from "../../errors.js";
import type { ContextFor } from "../context.js";
import { projectWithoutDb, storageOf } from "../targets.js";

/** Adds `prune` to the program. */
export function registerPrune(program: Command, contextFor: ContextFor): void {
  const count = (name: string) => (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0)
      throw new UsageError("USAGE_BAD_NUMBER", `${name} must be a whole number, got ${v}`);
    return n;
  };
  program
    .command("prune")
    .description("delete old snapshots by a grandfather-father-son policy; never the newest verified one")
    .option("--keep-last <n>", "keep the n newest snapshots of each series", count("--keep-last"))
    .option("--keep-daily <n>", "keep the newest snapshot of each of the last n days", count("--keep-daily"))
    .option("--keep-weekly <n>", "... of each of the last n weeks", count("--keep-weekly"))
    .option("--keep-monthly <n>", "... of each of the last n months", count("--keep-monthly"))
    .option("--dry-run", "show what would be deleted, delete nothing")
    .option(
      "--orphan-age <hours>",
      "remove data of runs that never finished once older than this (default 24)",
      (v: string) => {
        const n = Number(v);
        if (!Number.isFinite(n) || n < 0)
          throw new UsageError("USAGE_BAD_NUMBER", `--orphan-age must be a number of hours, got ${v}`);
        return n;
      },
    )
    .addHelpText(
      "after",
      "\nA series is one project and scope (full, tenants, or one tenant).\nExamples:\n  pgsnap prune --keep-daily 7 --keep-weekly 4 --keep-monthly 12 --dry-run",
    )
    .action(
      async (
        opts: {
          keepLast?: number;
          keepDaily?: number;
          keepWeekly?: number;
          keepMonthly?: number;
          dryRun?: boolean;
          orphanAge?: number;
        },
        cmd: Command,
      ) => {
        const { config, out, signal } = contextFor(cmd);
        const { prune } = await import("../../prune/prune.js");
        const storage = storageOf(config);
        try {
          const { orphanAge, ...policy } = opts;
          const result = await prune({
            storage,
            project: projectWithoutDb(config),
            ...policy,
            orphanAgeMs: orphanAge === undefined ? undefined : orphanAge * 3_600_000,
            signal,
          });
          out.result(result, () =>
            [
              `${result.dryRun ? "would delete" : "deleted"} ${result.deleted.length} snapshot(s), kept ${result.kept.length}`,
              ...result.deleted.map((d) => `  - ${d.project}/${d.id} (${d.scope})`),
              ...(result.orphans.length
                ? [`${result.dryRun ? "would remove" : "removed"} data of ${result.orphans.length} incomplete run(s)`]
                : []),
            ].join("\n"),
          );
        } finally {
          await storage.close();
        }
      },
    );
}
