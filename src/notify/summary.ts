/**
 * The run summary: the one plain object `pgsnap run --json` prints and the email and the webhook
 * render (CLI.md, "Operations"). It never holds row data or a secret.
 */

/** Outcome of one job or one project. */
export type RunStatus = "ok" | "warning" | "failed";

/** An error as the summary shows it (CLI.md exit codes). */
export interface RunError {
  code: string;
  message: string;
  hint: string | null;
  exitCode: number;
}

/** One project of one job run. */
export interface ProjectRun {
  project: string;
  status: RunStatus;
  /** Ids of the snapshots written by this run. */
  snapshots: string[];
  rows: number;
  storedBytes: number;
  /** True when every new snapshot verified (checksums, and the restore test when asked). */
  verified: boolean;
  /** Snapshots removed by retention. */
  pruned: number;
  /** Why the run looks wrong against the previous snapshot of its series. */
  warnings: string[];
  error: RunError | null;
  /** The job's scope (`all-tenants`, `full`, `tenants`). */
  scope: string;
  /** Tenants in the new snapshots (null for a full dump). */
  tenants: number | null;
  /** What was verified: `none`, `checksums`, `restore-test`. */
  verify: string;
  durationMs: number;
  /** Set when another scheduler ran this (job, project) for this tick: nothing was done. */
  skipped?: "locked" | undefined;
}

/** One job run over its projects. */
export interface JobRun {
  job: string;
  status: RunStatus;
  startedAt: string;
  durationMs: number;
  projects: ProjectRun[];
}

/** What `pgsnap run` prints. */
export interface RunSummary {
  runs: JobRun[];
}

/** Worst status of a list: failed > warning > ok. */
export function worstStatus(statuses: readonly RunStatus[]): RunStatus {
  if (statuses.includes("failed")) return "failed";
  if (statuses.includes("warning")) return "warning";
  return "ok";
}

/** `12.3 MB` style sizes. */
export function formatSize(n: number): string {
  const units = ["B", "kB", "MB", "GB", "TB"];
  let v = n;
  let u = 0;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return `${u === 0 ? v : v.toFixed(1)} ${units[u]}`;
}

/** One line naming the job, its status and each project's (chat webhooks show it). */
export function summaryLine(run: JobRun): string {
  const parts = run.projects.map((p) =>
    p.status === "failed"
      ? `${p.project} FAILED (exit ${p.error?.exitCode ?? 1}: ${p.error?.message.split("\n")[0] ?? "error"})`
      : p.status === "warning"
        ? `${p.project} WARNING (${p.warnings.length} warning${p.warnings.length === 1 ? "" : "s"}: ${p.warnings[0] ?? ""})`
        : `${p.project} ok (${p.rows} rows, ${formatSize(p.storedBytes)})`,
  );
  return `pgsnap job ${run.job}: ${run.status}${parts.length ? ` — ${parts.join("; ")}` : ""}`;
}
