/** `pgsnap run <job>... | --all`: run jobs once, now (cron, Kubernetes CronJobs, CI). */
import type { Command } from "commander";
import type { RunSummary } from "../../notify/summary.js";
import type { ContextFor } from "../context.js";
import { operationsFor } from "../operations.js";
import { formatBytes, formatTable } from "../output.js";

function describe(summary: RunSummary): string {
  const out: string[] = [];
  for (const run of summary.runs) {
    out.push(`job ${run.job}: ${run.status} (${(run.durationMs / 1000).toFixed(1)} s)`);
    out.push(
      formatTable(
        ["PROJECT", "STATUS", "SNAPSHOTS", "ROWS", "SIZE", "VERIFIED", "PRUNED"],
        run.projects.map((p) => [
          p.project,
          p.skipped ? "skipped (locked)" : p.status,
          p.snapshots.length === 1 ? p.snapshots[0]! : String(p.snapshots.length),
          p.rows,
          formatBytes(p.storedBytes),
          p.verified ? "yes" : "no",
          p.pruned,
        ]),
      )
        .split("\n")
        .map((l) => "  " + l)
        .join("\n"),
    );
    for (const p of run.projects) {
      for (const w of p.warnings) out.push(`  ${p.project}: warning: ${w}`);
      if (p.error) {
        out.push(`  ${p.project}: error (exit ${p.error.exitCode}): ${p.error.message}`);
        if (p.error.hint) out.push(`  ${p.project}: hint: ${p.error.hint}`);
      }
    }
  }
  return out.join("\n");
}

/** Adds `run` to the program. */
export function registerRun(program: Command, contextFor: ContextFor): void {
  program
    .command("run")
    .description("run jobs of the config once, now: dump, verify, compare with the previous snapshot, prune, notify")
    .argument("[jobs...]", "job names (keys of jobs in the config)")
    .option("--all", "run every job")
    .addHelpText(
      "after",
      `
Without a config file, runs the job "default" over DATABASE_URL (PGSNAP_SCOPE, PGSNAP_VERIFY,
PGSNAP_KEEP_*, PGSNAP_SMTP_URL, ...; see README "Run it every night").
Exit: 0 when every project succeeded (warnings included), else the exit code of the first
project that failed, in config order.

Examples:
  pgsnap run nightly
  pgsnap run --all --json
  0 3 * * *  pgsnap run nightly --config /etc/pgsnap.config.json   (crontab)`,
    )
    .action(async (names: string[], opts: { all?: boolean }, cmd: Command) => {
      const { ctx, ops } = await operationsFor(cmd, contextFor);
      const [{ selectJobs }, { runJobs, summaryExitCode }] = await Promise.all([
        import("../../config/operations.js"),
        import("../../jobs/run-job.js"),
      ]);
      const jobs = selectJobs(ops, names, opts.all === true || (names.length === 0 && ops.source === "env"));
      const summary = await runJobs(jobs, ops, {
        signal: ctx.signal,
        onEvent: (e) => {
          const where = `${e.job}${e.project ? `/${e.project}` : ""}`;
          if (e.level === "error" || e.level === "warn") {
            const detail =
              e.event === "project-failed"
                ? (e["error"] as { message: string }).message
                : e.event === "anomaly"
                  ? (e["warnings"] as string[]).join("; ")
                  : ([e["error"], e["reason"]].find((x): x is string => typeof x === "string") ?? "");
            ctx.out.info(`pgsnap: ${where}: ${e.event}${detail ? `: ${detail}` : ""}`);
          } else ctx.out.debug(`pgsnap: ${where}: ${e.event}`);
        },
      });
      ctx.out.result(summary, () => describe(summary));
      ctx.setExitCode(summaryExitCode(summary));
    });
}
