/** `pgsnap restore`: confirmation, the interactive menu, and the call into the restore engine. */
import { Option, type Command } from "commander";
import { RefusedError, UsageError } from "../../errors.js";
import { restore, type RestoreResult } from "../../restore/restore.js";
import { findSnapshot } from "../../snapshots/list-snapshots.js";
import { listTenants } from "../../db/tenants.js";
import type { CommandContext, ContextFor } from "../context.js";
import { ask, canAsk } from "../prompt.js";
import { list } from "../flags.js";
import { storageOf } from "../targets.js";
import { formatTable } from "../output.js";

interface RestoreFlags {
  tenant?: string;
  tables: string[];
  mode: "replace" | "merge";
  dryRun?: boolean;
  confirm?: boolean;
  all?: boolean;
  triggers: "disable" | "fire";
  allowEmpty?: boolean;
  toOtherDatabase?: boolean;
}

function describe(r: RestoreResult): string {
  const head = `${r.dryRun ? "dry run (rolled back)" : "restored"}: snapshot ${r.snapshot}, ${r.tenant === null ? "all rows" : `tenant ${r.tenant}`}, mode ${r.mode}`;
  return (
    head +
    "\n" +
    formatTable(
      ["TABLE", "DELETE", "INSERT", "UPDATE"],
      r.tables.map((t) => [t.table, t.deleted, t.inserted, t.updated]),
    )
  );
}

/** Adds `restore` to the program. */
export function registerRestore(program: Command, contextFor: ContextFor): void {
  program
    .command("restore")
    .description("restore one tenant (or, with --all, every table) from a snapshot, in one transaction")
    .argument("[snapshot]", "snapshot id or latest")
    .option("--tenant <id>", "the tenant to restore")
    .option("--tables <list>", "only these tables (closed over ON DELETE CASCADE children)", list, [])
    .addOption(
      new Option(
        "--mode <mode>",
        "replace: the tenant's rows become the snapshot's; merge: insert and update, delete nothing",
      )
        .choices(["replace", "merge"])
        .default("replace"),
    )
    .option("--dry-run", "do everything, then roll back and report the numbers")
    .option("--confirm", "do it without asking")
    .option("--all", "restore every row of the snapshot (disaster recovery; needs --confirm)")
    .addOption(
      new Option("--triggers <how>", "disable user triggers during the restore, or let them fire")
        .choices(["disable", "fire"])
        .default("disable"),
    )
    .option("--allow-empty", "go on even when the restore would leave the tenant with none of its current rows")
    .option("--to-other-database", "restore into another database than the snapshot came from (a staging copy)")
    .addHelpText(
      "after",
      "\nExamples:\n  pgsnap restore latest --tenant 42 --dry-run\n  pgsnap restore latest --tenant 42 --confirm\n  pgsnap restore 20260118T030000Z-3f9a --tenant 42 --tables public.orders --mode merge --confirm\n  pgsnap restore                      (on a terminal: pick tenant, tables, confirm)",
    )
    .action(async (ref: string | undefined, flags: RestoreFlags, cmd: Command) => {
      const ctx = contextFor(cmd);
      if (ref === undefined) {
        if (!canAsk() || ctx.out.options.json) {
          throw new UsageError("RESTORE_NO_SNAPSHOT", "restore needs a snapshot id or latest", {
            hint: "pgsnap restore latest --tenant <id> --confirm (the interactive menu needs a terminal)",
          });
        }
        await interactiveRestore(ctx, flags);
        return;
      }
      if (flags.all && flags.tenant !== undefined) {
        throw new UsageError("RESTORE_ALL_AND_TENANT", "--all and --tenant exclude each other", {
          hint: "use --tenant for one tenant, --all for the whole snapshot",
        });
      }
      if (flags.tenant === undefined && !flags.all) {
        throw new UsageError(
          "RESTORE_NO_TENANT",
          "restore needs --tenant <id> (or --all with --confirm for the whole snapshot)",
          {
            hint: "pgsnap restore latest --tenant 42 --confirm",
          },
        );
      }
      if (!flags.dryRun && !flags.confirm) {
        const what = flags.all ? "all" : flags.tenant!;
        if (!canAsk() || flags.all) {
          throw new RefusedError(
            "CONFIRM_REQUIRED",
            `restore of ${flags.all ? "the whole snapshot" : `tenant ${what}`} needs --confirm`,
            {
              hint: `check the numbers with --dry-run first, then add --confirm${flags.all ? "" : " (on a terminal pgsnap asks instead)"}`,
            },
          );
        }
        const answer = await ask(
          `Restore tenant ${what} from ${ref}? This replaces its rows. Type the tenant id to confirm: `,
          ctx.signal,
        );
        if (answer !== what)
          throw new RefusedError("CONFIRM_MISMATCH", "confirmation did not match; nothing was changed", {
            hint: `type exactly ${what}, or pass --confirm`,
          });
      }
      await runRestore(ctx, ref, flags, flags.dryRun === true);
    });
}

async function runRestore(
  ctx: CommandContext,
  ref: string,
  flags: RestoreFlags,
  dryRun: boolean,
): Promise<RestoreResult> {
  const { config, out, signal } = ctx;
  const storage = storageOf(config);
  try {
    const result = await restore({
      connection: { url: config.dbUrl, ioTimeoutMs: config.ioTimeoutMs },
      storage,
      project: config.project,
      snapshot: ref,
      tenant: flags.tenant,
      all: flags.all === true,
      tables: flags.tables,
      mode: flags.mode,
      dryRun,
      triggers: flags.triggers,
      allowEmpty: flags.allowEmpty === true,
      toOtherDatabase: flags.toOtherDatabase === true,
      rules: config.rules,
      signal,
      onProgress: (e) => out.progress(`${e.step} ${e.table}`),
    });
    out.progressDone();
    out.result(
      {
        snapshot: result.snapshot,
        tenant: result.tenant,
        mode: result.mode,
        dryRun: result.dryRun,
        tables: result.tables,
        ...(result.notes.length > 0 ? { notes: result.notes } : {}),
      },
      () => describe(result) + result.notes.map((n) => `\nnote: ${n}`).join(""),
    );
    return result;
  } finally {
    await storage.close();
  }
}

/** The menu: pick a tenant (by name when configured), tables, see the dry run, type the id. */
async function interactiveRestore(ctx: CommandContext, flags: RestoreFlags): Promise<void> {
  const { config, out, signal } = ctx;
  const tenants = await listTenants({
    connection: { url: config.dbUrl, ioTimeoutMs: config.ioTimeoutMs },
    tenantColumn: config.tenantColumn,
    rules: config.rules,
    names: config.tenantNames,
  });
  if (tenants.length === 0)
    throw new UsageError("NO_TENANTS", "the database has no tenants to restore", { hint: "check --tenant-column" });
  process.stderr.write(
    formatTable(
      ["#", "TENANT", "NAME", "ROWS"],
      tenants.slice(0, 200).map((t, i) => [i + 1, t.id, t.name ?? "", t.rows]),
    ) + "\n",
  );
  const pick = await ask("Tenant (number or id): ", signal);
  const chosen = tenants[Number(pick) - 1]?.id ?? tenants.find((t) => t.id === pick)?.id;
  if (chosen === undefined) throw new UsageError("MENU_BAD_CHOICE", `no tenant ${pick}`);
  const storage = storageOf(config);
  let snapshotId: string;
  try {
    const m = await findSnapshot(storage, config.project, "latest", { tenant: chosen, signal });
    snapshotId = m.id;
    out.info(`latest snapshot with tenant ${chosen}: ${m.id} (${m.scope}, ${m.createdAt})`);
    const tablesAnswer = await ask(
      `Tables (comma-separated, empty for all of: ${m.tables
        .filter((t) => t.scope !== "global")
        .map((t) => t.table)
        .join(", ")}): `,
      signal,
    );
    flags.tables = list(tablesAnswer);
  } finally {
    await storage.close();
  }
  flags.tenant = chosen;
  const dry = await runRestore({ ...ctx }, snapshotId, flags, true);
  if (dry.tables.every((t) => t.deleted + t.inserted + t.updated === 0)) {
    out.info("nothing to change: the tenant already equals the snapshot");
    return;
  }
  const answer = await ask(`Type the tenant id (${chosen}) to apply these changes: `, signal);
  if (answer !== chosen) throw new RefusedError("CONFIRM_MISMATCH", "confirmation did not match; nothing was changed");
  await runRestore(ctx, snapshotId, flags, false);
}
