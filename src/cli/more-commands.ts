/** `pgsnap tenants` (and further commands of CLI.md). */
import type { Command } from "commander";
import { listTenants } from "../db/tenants.js";
import { UsageError } from "../errors.js";
import { extract } from "../extract/extract.js";
import { prune } from "../prune/prune.js";
import { openStorage } from "../storage/open-storage.js";
import { restoreTest } from "../verify/restore-test.js";
import { assertVerified, markVerified, verifySnapshot } from "../verify/verify.js";
import { extraCommands, projectWithoutDb, storageOf } from "./commands.js";
import { formatTable } from "./output.js";

extraCommands.push((program, contextFor) => {
  program
    .command("tenants")
    .description("every tenant with its row count and display name")
    .addHelpText("after", "\nExamples:\n  pgsnap tenants --tenant-column store_id\n  pgsnap tenants --json")
    .action(async (_opts: unknown, cmd: Command) => {
      const { config, out } = contextFor(cmd);
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
});

extraCommands.push((program, contextFor) => {
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
      const storage = storageOf(config);
      const to = opts.to ? openStorage(opts.to, config.s3) : undefined;
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
            `snapshot ${snapshot.id} (tenant ${opts.tenant}): ${snapshot.tables.length} tables, ${snapshot.rows} rows → ${snapshot.location}`,
        );
      } finally {
        await storage.close();
        await to?.close();
      }
    });

  program
    .command("verify")
    .description("check every object of a snapshot: sha256, full decompression, row counts; optionally a test restore")
    .argument("<snapshot>", "snapshot id or latest")
    .option("--restore-test", "also load every table into scratch tables of --db and compare (rolled back)")
    .addHelpText(
      "after",
      "\nExamples:\n  pgsnap verify latest\n  pgsnap verify latest --restore-test --db $DATABASE_URL",
    )
    .action(async (ref: string, opts: { restoreTest?: boolean }, cmd: Command) => {
      const { config, out, signal } = contextFor(cmd);
      const storage = storageOf(config);
      try {
        const { manifest, result } = await verifySnapshot({
          storage,
          project: projectWithoutDb(config),
          snapshot: ref,
          signal,
          onProgress: (t) => out.progress(`verifying ${t}`),
          onChoice: (c) => out.info(`pgsnap: ${c.reason}`),
        });
        if (opts.restoreTest && result.ok) {
          result.restoreTest = await restoreTest(
            { url: config.dbUrl, ioTimeoutMs: config.ioTimeoutMs },
            storage,
            manifest,
            signal,
          );
          result.ok = result.restoreTest.ok;
        }
        out.progressDone();
        if (result.ok) await markVerified(storage, manifest, opts.restoreTest === true);
        assertVerified(result);
        out.result(
          result,
          () =>
            `snapshot ${result.snapshot}: ${result.objects.length} objects, ${result.objects.reduce((a, o) => a + o.rows, 0)} rows verified` +
            (result.restoreTest ? `; restore test passed on ${result.restoreTest.tables.length} tables` : ""),
        );
      } finally {
        await storage.close();
      }
    });

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
});
