/** `pgsnap list`: complete snapshots, newest first. */
import type { Command } from "commander";
import type { ContextFor } from "../context.js";
import { formatBytes, formatTable } from "../output.js";
import { projectWithoutDb, storageOf } from "../targets.js";

/** Adds `list` to the program. */
export function registerList(program: Command, contextFor: ContextFor): void {
  program
    .command("list")
    .description("list complete snapshots, newest first")
    .addHelpText("after", "\nExamples:\n  pgsnap list\n  pgsnap list --tenant 42 --json")
    .option("--tenant <id>", "only snapshots that contain this tenant")
    .action(async (opts: { tenant?: string }, cmd: Command) => {
      const { config, out, signal } = contextFor(cmd);
      const { listSnapshots } = await import("../../snapshots/list-snapshots.js");
      const storage = storageOf(config);
      try {
        const manifests = await listSnapshots(storage, projectWithoutDb(config), {
          tenant: opts.tenant,
          signal,
          onSkip: (key, err) => out.info(`pgsnap: warning: skipping ${key}: ${err.message}`),
        });
        const snapshots = manifests.map((m) => ({
          id: m.id,
          project: m.project,
          scope: m.scope,
          tenants: m.tenants,
          createdAt: m.createdAt,
          rows: m.rows,
          storedBytes: m.storedBytes,
        }));
        out.result({ snapshots }, () =>
          snapshots.length === 0
            ? `no snapshots in ${storage.location}`
            : formatTable(
                ["ID", "PROJECT", "SCOPE", "TENANTS", "CREATED", "ROWS", "SIZE"],
                snapshots.map((s) => [
                  s.id,
                  s.project,
                  s.scope,
                  s.tenants === null ? "-" : s.tenants.length > 3 ? `${s.tenants.length} tenants` : s.tenants.join(","),
                  s.createdAt,
                  s.rows,
                  formatBytes(s.storedBytes),
                ]),
              ),
        );
      } finally {
        await storage.close();
      }
    });
}
