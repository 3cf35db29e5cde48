/** `pgsnap doctor [--project P | all]`: would a backup and a restore work? (CLI.md) */
import type { Command } from "commander";
import { resolveConfig } from "../../config/config.js";
import { doctor, doctorExitCode, type DoctorCheck } from "../../doctor/doctor.js";
import { UsageError } from "../../errors.js";
import { openStorage } from "../../storage/open-storage.js";
import type { Storage } from "../../storage/storage.js";
import type { CliGlobals, CommandContext } from "../main.js";
import { ExitWith } from "../output.js";

/** Adds `doctor` to the program. */
export function registerDoctor(program: Command, contextFor: (cmd: Command) => CommandContext): void {
  program
    .command("doctor")
    .description(
      "check that backups and restores will work: connection, role, privileges, RLS, indexes, keys, triggers, rules, pooler, storage",
    )
    .addHelpText(
      "after",
      `
Exit code: 0 when nothing blocks a backup (warnings are listed), else the exit code the backup
would fail with (3 RLS, 10 database, 11 storage, ...).

Examples:
  pgsnap doctor --db postgres://backup@db.example.com/app --storage s3://backups/app
  pgsnap doctor --project all --config pgsnap.config.json
  pgsnap doctor --json`,
    )
    .action(async (_opts: unknown, cmd: Command) => {
      const ctx = contextFor(cmd);
      const globals = cmd.optsWithGlobals<CliGlobals>();
      const all = globals.project === "all";
      const names = all ? Object.keys(ctx.config.file?.projects ?? {}) : [ctx.config.project];
      if (all && names.length === 0) {
        throw new UsageError("DOCTOR_NO_PROJECTS", "--project all needs a config file with projects", {
          hint: "pass --config pgsnap.config.json, or check one project with --project <name>",
        });
      }
      const checks: DoctorCheck[] = [];
      for (const name of names) {
        const config = all ? resolveConfig({ ...globals, project: name }) : ctx.config;
        let storage: Storage | undefined;
        const found: DoctorCheck[] = [];
        try {
          storage = openStorage(config.storageUrl, config.s3);
        } catch (err) {
          const e = err as UsageError;
          found.push({
            check: "storage",
            status: "error",
            object: config.storageUrl,
            message: e.message,
            hint: e.hint ?? null,
            exitCode: e.exitCode ?? 1,
          });
        }
        try {
          found.push(
            ...(await doctor({
              connection: { url: config.dbUrl },
              storage,
              project: config.project,
              tenantColumn: config.tenantColumn,
              rules: config.rules,
              signal: ctx.signal,
            })),
          );
        } finally {
          await storage?.close();
        }
        checks.push(...found.map((c) => (all ? { project: name, ...c } : c)));
      }
      const exitCode = doctorExitCode(checks);
      ctx.out.result({ ok: exitCode === 0, exitCode, checks }, () => describeChecks(checks, exitCode));
      if (exitCode !== 0) throw new ExitWith(exitCode);
    });
}

function describeChecks(checks: readonly DoctorCheck[], exitCode: number): string {
  const lines: string[] = [];
  let project: string | undefined;
  for (const c of checks) {
    if (c.project !== undefined && c.project !== project) {
      project = c.project;
      lines.push(`project ${project}`);
    }
    lines.push(`${c.status.padEnd(8)} ${c.check.padEnd(18)} ${c.message}`);
    if (c.hint && c.status !== "ok") lines.push(`${" ".repeat(27)}hint: ${c.hint}`);
  }
  const errors = checks.filter((c) => c.status === "error").length;
  const warnings = checks.filter((c) => c.status === "warning").length;
  lines.push(
    "",
    errors === 0
      ? `nothing blocks a backup (${warnings} warning${warnings === 1 ? "" : "s"})`
      : `${errors} problem${errors === 1 ? "" : "s"} block a backup (exit ${exitCode}), ${warnings} warning${warnings === 1 ? "" : "s"}`,
  );
  return lines.join("\n");
}
