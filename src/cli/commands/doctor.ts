/** `pgsnap doctor [--project P | all]`: would a backup and a restore work? (CLI.md) */
import type { Command } from "commander";
import type { Operations } from "../../config/operations.js";
import type { DoctorCheck } from "../../doctor/doctor.js";
import { UsageError } from "../../errors.js";
import { openStorage } from "../../storage/open-storage.js";
import type { Storage } from "../../storage/storage.js";
import type { CliGlobals, ContextFor } from "../context.js";
import { countOf, ExitWith } from "../output.js";

interface Target {
  name: string | undefined;
  dbUrl: string | undefined;
  storageUrl: string;
  s3: Parameters<typeof openStorage>[1];
  tenantColumn: string;
  rules: Record<string, import("../../db/plan.js").TableRule>;
}

/** Adds `doctor` to the program. */
export function registerDoctor(program: Command, contextFor: ContextFor): void {
  program
    .command("doctor")
    .description(
      "check that backups and restores will work: connection, role, privileges, RLS, indexes, keys, triggers, rules, pooler, storage, SMTP, next runs",
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
      const globals = cmd.optsWithGlobals<CliGlobals>();
      const all = globals.project === "all";
      const ctx = contextFor(cmd, { projectRequired: false });
      const [{ loadOperations }, { doctor, doctorExitCode }, { nextRunChecks, smtpChecks }] = await Promise.all([
        import("../../config/operations.js"),
        import("../../doctor/doctor.js"),
        import("../../doctor/operations-checks.js"),
      ]);
      // The operations view (jobs, notifiers, every project) when a config or the environment has one.
      let ops: Operations | undefined;
      try {
        ops = loadOperations(all ? { ...globals, project: undefined } : globals);
      } catch (err) {
        if (all) throw err;
      }
      const targets: Target[] = all
        ? (ops?.projects ?? []).map((p) => ({ ...p }))
        : [{ ...ctx.config, name: ctx.config.project }];
      if (all && targets.length === 0) {
        throw new UsageError("DOCTOR_NO_PROJECTS", "--project all needs a config file with projects", {
          hint: "pass --config pgsnap.config.json, or check one project with --project <name>",
        });
      }
      const checks: DoctorCheck[] = [];
      for (const t of targets) {
        let storage: Storage | undefined;
        const found: DoctorCheck[] = [];
        try {
          storage = openStorage(t.storageUrl, t.s3);
        } catch (err) {
          const e = err as UsageError;
          found.push({
            check: "storage",
            status: "error",
            object: t.storageUrl,
            message: e.message,
            hint: e.hint ?? null,
            exitCode: e.exitCode ?? 1,
          });
        }
        try {
          found.push(
            ...(await doctor({
              connection: { url: t.dbUrl, ioTimeoutMs: ctx.config.ioTimeoutMs },
              storage,
              project: t.name,
              tenantColumn: t.tenantColumn,
              rules: t.rules,
              signal: ctx.signal,
            })),
          );
        } finally {
          await storage?.close();
        }
        checks.push(...found.map((c) => (all ? { project: t.name, ...c } : c)));
      }
      if (ops) {
        const names = new Set(targets.map((t) => t.name));
        const jobs = ops.jobs.filter((j) => all || j.projects.some((p) => names.has(p)));
        const notifiers = new Set(jobs.flatMap((j) => j.notify));
        checks.push(
          ...(await smtpChecks(
            ops.notifiers
              .filter((n) => n.type === "email" && (all || notifiers.has(n.name)))
              .map((n) => ({ name: n.name, smtp: (n as { smtp: string }).smtp })),
          )),
          ...nextRunChecks(jobs),
        );
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
      ? `nothing blocks a backup (${countOf(warnings, "warning")})`
      : `${countOf(errors, "problem")} block a backup (exit ${exitCode}), ${countOf(warnings, "warning")}`,
  );
  return lines.join("\n");
}
