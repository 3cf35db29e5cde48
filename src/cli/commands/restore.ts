/** `pgsnap restore`: confirmation, the interactive menu, and the call into the restore engine. */
import { Option, type Command } from "commander";
import { RefusedError, UsageError } from "../../errors.js";
import type { RestoreResult } from "../../restore/restore.js";
import type { TenantInfo } from "../../db/tenants.js";
import type { CommandContext, ContextFor } from "../context.js";
import { ask, canAsk } from "../prompt.js";
import { list } from "../flags.js";
import { storageOf } from "../targets.js";
import { countOf, formatTable } from "../output.js";

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
        await confirmAndRestore(ctx, ref, flags);
        return;
      }
      await runRestore(ctx, ref, flags, flags.dryRun === true);
    });
}

async function runRestore(
  ctx: CommandContext,
  ref: string,
  flags: RestoreFlags,
  dryRun: boolean,
  print = true,
): Promise<RestoreResult> {
  const { config, out, signal } = ctx;
  // Loaded here, not at registration: other commands never pay for it (issue 14).
  const { restore } = await import("../../restore/restore.js");
  const storage = storageOf(config);
  const view = out.progressView();
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
      onChoice: (c) => out.info(`pgsnap: ${c.reason}`),
      onProgress: (e) => {
        view.update(e);
        // With -v, every step is a line on stderr (also in a pipe): `staging public.orders`.
        if (!("phase" in e)) out.debug(`${e.step} ${e.table}`);
      },
    });
    view.stop();
    if (!print) return result;
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
    view.stop();
    await storage.close();
  }
}

/** `3 hours ago` */
export function formatAge(fromIso: string, now: Date = new Date()): string {
  const s = Math.max(0, Math.round((now.getTime() - Date.parse(fromIso)) / 1000));
  const unit = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"} ago`;
  if (s < 60) return unit(s, "second");
  if (s < 3600) return unit(Math.floor(s / 60), "minute");
  if (s < 86_400) return unit(Math.floor(s / 3600), "hour");
  return unit(Math.floor(s / 86_400), "day");
}

/**
 * On a terminal: runs the restore as a dry run first, shows what it would change (snapshot id,
 * time and age; tenant id and name; per table the rows to delete, insert and update), asks for
 * the tenant id, and only then restores for real.
 */
async function confirmAndRestore(
  ctx: CommandContext,
  ref: string,
  flags: RestoreFlags,
  name?: string | null,
): Promise<void> {
  const { config, out, signal } = ctx;
  const tenant = flags.tenant!;
  const dry = await runRestore(ctx, ref, flags, true, false);
  const [{ findSnapshot }, { tenantName }] = await Promise.all([
    import("../../snapshots/list-snapshots.js"),
    import("../../db/tenants.js"),
  ]);
  const storage = storageOf(config);
  let createdAt: string;
  let scope: string;
  try {
    const m = await findSnapshot(storage, dry.project, dry.snapshot, { signal });
    createdAt = m.createdAt;
    scope = m.scope;
  } finally {
    await storage.close();
  }
  const display =
    name !== undefined
      ? name
      : await tenantName(
          {
            connection: { url: config.dbUrl, ioTimeoutMs: config.ioTimeoutMs },
            tenantColumn: config.tenantColumn,
            rules: config.rules,
            names: config.tenantNames,
          },
          tenant,
        ).catch(() => null);
  const total = (f: (t: RestoreResult["tables"][number]) => number) => dry.tables.reduce((a, t) => a + f(t), 0);
  const [del, ins, upd] = [total((t) => t.deleted), total((t) => t.inserted), total((t) => t.updated)];
  process.stderr.write(
    [
      `Restore tenant ${tenant}${display ? ` (${display})` : ""} of project ${dry.project}`,
      `from snapshot ${dry.snapshot} (${scope}), taken ${createdAt}, ${formatAge(createdAt)}`,
      `mode ${dry.mode}${flags.tables.length ? `, tables ${flags.tables.join(", ")}` : ""}. A dry run (rolled back) found:`,
      formatTable(
        ["TABLE", "DELETE", "INSERT", "UPDATE"],
        dry.tables.map((t) => [t.table, t.deleted, t.inserted, t.updated]),
      ),
      `in all: delete ${countOf(del, "row")}, insert ${countOf(ins, "row")}, update ${countOf(upd, "row")}; other tenants are not touched.`,
      "",
    ].join("\n"),
  );
  if (del + ins + upd === 0) {
    out.info("nothing to change: the tenant already equals the snapshot");
    return;
  }
  const answer = await ask("Type the tenant id to confirm: ", signal);
  if (answer !== tenant)
    throw new RefusedError("CONFIRM_MISMATCH", "confirmation did not match; nothing was changed", {
      hint: `type exactly ${tenant}, or pass --confirm`,
    });
  // The same snapshot the dry run used, even when `latest` has moved on since.
  await runRestore(ctx, dry.snapshot, flags, false);
}

/** Finds the tenant an answer names: its number in the list, its id, or a unique part of its name. */
export function pickTenant(tenants: readonly TenantInfo[], answer: string): { tenant?: TenantInfo; problem?: string } {
  const a = answer.trim();
  if (a === "") return { problem: "type a number, a tenant id or part of a name" };
  // A number in the range of the list is the # column (as the prompt says); else an id.
  if (/^\d+$/.test(a) && Number(a) >= 1 && Number(a) <= tenants.length) return { tenant: tenants[Number(a) - 1] };
  const byId = tenants.find((t) => t.id === a);
  if (byId) return { tenant: byId };
  const needle = a.toLowerCase();
  const hits = tenants.filter((t) => t.name?.toLowerCase().includes(needle));
  if (hits.length === 1) return { tenant: hits[0] };
  if (hits.length > 1)
    return {
      problem: `${hits.length} tenants match "${a}": ${hits
        .slice(0, 8)
        .map((t) => `${t.id} (${t.name})`)
        .join(", ")}${hits.length > 8 ? ", ..." : ""}; type more of the name, or the number`,
    };
  return { problem: `no tenant matches "${a}"` };
}

const maxAttempts = 5;

/** The menu: pick a tenant (by number, id or part of its name), tables, see the dry run, type the id. */
async function interactiveRestore(ctx: CommandContext, flags: RestoreFlags): Promise<void> {
  const { config, signal } = ctx;
  const [{ findSnapshot }, { listTenants }] = await Promise.all([
    import("../../snapshots/list-snapshots.js"),
    import("../../db/tenants.js"),
  ]);
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
  let chosen: TenantInfo | undefined;
  for (let attempt = 1; !chosen; attempt++) {
    const picked = pickTenant(tenants, await ask("Tenant (number, id or part of its name): ", signal));
    chosen = picked.tenant;
    if (!chosen) {
      if (attempt >= maxAttempts) throw new UsageError("MENU_BAD_CHOICE", picked.problem ?? "no tenant chosen");
      process.stderr.write(`${picked.problem}; try again.\n`);
    }
  }
  const storage = storageOf(config);
  let snapshotId: string;
  try {
    const m = await findSnapshot(storage, config.project, "latest", { tenant: chosen.id, signal });
    snapshotId = m.id;
    process.stderr.write(
      `tenant ${chosen.id}${chosen.name ? ` (${chosen.name})` : ""}: latest snapshot ${m.id} (${m.scope}, ${m.createdAt}, ${formatAge(m.createdAt)})\n`,
    );
    const names = m.tables.filter((t) => t.scope !== "global").map((t) => t.table);
    for (let attempt = 1; ; attempt++) {
      const tables = list(await ask(`Tables (comma-separated, empty for all of: ${names.join(", ")}): `, signal));
      const unknown = tables.filter((t) => !names.includes(t) && !names.includes(`public.${t}`));
      if (unknown.length === 0) {
        flags.tables = tables.map((t) => (names.includes(t) ? t : `public.${t}`));
        break;
      }
      const problem = `not a tenant table of the snapshot: ${unknown.join(", ")}`;
      if (attempt >= maxAttempts) throw new UsageError("MENU_BAD_TABLES", problem);
      process.stderr.write(`${problem}; try again.\n`);
    }
  } finally {
    await storage.close();
  }
  flags.tenant = chosen.id;
  await confirmAndRestore(ctx, snapshotId, flags, chosen.name);
}
