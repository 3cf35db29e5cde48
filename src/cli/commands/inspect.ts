/** `pgsnap inspect`: a snapshot's manifest. */
import type { Command } from "commander";
import type { ContextFor } from "../context.js";
import { formatBytes, formatTable } from "../output.js";
import { projectWithoutDb, storageOf } from "../targets.js";

/** Adds `inspect` to the program. */
export function registerInspect(program: Command, contextFor: ContextFor): void {
  program
    .command("inspect")
    .description("show a snapshot's manifest")
    .addHelpText("after", "\nExamples:\n  pgsnap inspect latest\n  pgsnap inspect 20260118T030000Z-3f9a --json")
    .argument("<snapshot>", "snapshot id or latest")
    .action(async (ref: string, _opts: unknown, cmd: Command) => {
      const { config, out, signal } = contextFor(cmd);
      const [{ snapshotResult }, { findSnapshot }] = await Promise.all([
        import("../../snapshots/new-snapshot.js"),
        import("../../snapshots/list-snapshots.js"),
      ]);
      const storage = storageOf(config);
      try {
        const m = await findSnapshot(storage, projectWithoutDb(config), ref, {
          signal,
          onChoice: (c) => out.info(`pgsnap: ${c.reason}`),
        });
        out.result(m, () => {
          const r = snapshotResult(m, storage);
          return [
            `snapshot ${m.id}  project ${m.project}  scope ${m.scope}${m.tenants ? `  tenants ${m.tenants.length > 5 ? `${m.tenants.length}` : m.tenants.join(",")}` : ""}`,
            `created ${m.createdAt}  server ${m.server.version}  pgsnap ${m.tool.version}  format v${m.version}`,
            `location ${r.location}`,
            "",
            formatTable(
              ["TABLE", "SCOPE", "ROWS", "BYTES", "STORED", "FRAMES"],
              m.tables.map((t) => [
                t.table,
                t.scope,
                t.rows,
                formatBytes(t.bytes),
                formatBytes(t.storedBytes),
                t.frames ? t.frames.length : "-",
              ]),
            ),
          ].join("\n");
        });
      } finally {
        await storage.close();
      }
    });
}
