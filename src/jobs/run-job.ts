/**
 * One job over its projects (`pgsnap run`, and every tick of `pgsnap schedule`). Per project, in
 * config order: dump (the job's scope) → verify (checksums, or the restore drill) → anomaly
 * checks against the previous snapshot of the same series → retention, only once the new
 * snapshot verified (prune never removes the newest verified one). A project that fails is
 * recorded with its error and exit code; the next project still runs. Notifications follow the
 * job; a notification that fails is logged and never changes the result.
 */
import type { JobDefinition, Notifier, Operations, ProjectTarget } from "../config/operations.js";
import { dump, type DumpProgress, type SnapshotResult } from "../dump/dump.js";
import { ExitCode, InterruptedError, LockedError, PgsnapError, redactSecrets } from "../errors.js";
import type { Manifest, SnapshotScope } from "../format/manifest.js";
import { throttleProgress } from "../format/progress.js";
import { notifyRun, type NotifyLog } from "../notify/notify.js";
import { worstStatus, type JobRun, type ProjectRun, type RunError, type RunSummary } from "../notify/summary.js";
import { prune } from "../prune/prune.js";
import { findSnapshot, listSnapshots } from "../snapshots/list-snapshots.js";
import { openStorage } from "../storage/open-storage.js";
import type { Storage } from "../storage/storage.js";
import { restoreTest } from "../verify/restore-test.js";
import { assertVerified, markVerified, verifySnapshot } from "../verify/verify.js";
import { findAnomalies } from "./anomalies.js";
import { acquireJobLock } from "./job-lock.js";

/** A structured log event of a run (schedule writes them as JSON lines). */
export interface RunEvent {
  level: "debug" | "info" | "warn" | "error";
  event: string;
  job: string;
  project?: string | undefined;
  [field: string]: unknown;
}

export interface RunJobOptions {
  /** Aborting stops the running step (a dump removes its objects) and starts nothing new. */
  signal?: AbortSignal | undefined;
  /** The cron tick this run is for: several schedulers then run it once (see job-lock.ts). */
  tick?: Date | undefined;
  /** Without a tick, a held lock fails the project with exit 13; with one, it is skipped. */
  onEvent?: ((event: RunEvent) => void) | undefined;
  /** Send the job's notifications (default true). */
  notify?: boolean | undefined;
  /** Bound on the time spent on all notifications of one job (default 60 s). */
  notifyTimeoutMs?: number | undefined;
  now?: (() => Date) | undefined;
}

const scopeOf = (job: JobDefinition): SnapshotScope =>
  job.scope === "all-tenants" ? "tenants" : job.scope === "full" ? "full" : "tenant";

const scopeLabel = (job: JobDefinition): string => (typeof job.scope === "string" ? job.scope : "tenants");

/** The summary's form of an error (messages and hints with secrets shown as ***). */
export function runError(err: unknown, secrets: readonly string[] = []): RunError {
  if (err instanceof PgsnapError)
    return {
      code: err.code,
      message: redactSecrets(err.message, secrets),
      hint: err.hint === undefined ? null : redactSecrets(err.hint, secrets),
      exitCode: err.exitCode,
    };
  const e = err as Error;
  return {
    code: "INTERNAL",
    message: redactSecrets(`internal error (a bug, please report it): ${e?.message ?? String(err)}`, secrets),
    hint: null,
    exitCode: ExitCode.internal,
  };
}

/** The newest snapshot of the series a new snapshot belongs to (undefined for the first). */
async function previousOf(
  storage: Storage,
  project: string,
  result: SnapshotResult,
  signal: AbortSignal | undefined,
): Promise<Manifest | undefined> {
  const all = await listSnapshots(storage, project, {
    scopes: [result.scope],
    tenant: result.scope === "tenant" ? (result.tenants?.[0] ?? undefined) : undefined,
    signal,
  });
  return all.find((m) => m.id !== result.id && m.createdAt <= result.createdAt);
}

async function runProject(
  job: JobDefinition,
  target: ProjectTarget,
  ops: Operations,
  options: RunJobOptions,
): Promise<ProjectRun> {
  const started = Date.now();
  const { signal } = options;
  const emit = (level: RunEvent["level"], event: string, fields: Record<string, unknown> = {}) =>
    options.onEvent?.({ level, event, job: job.name, project: target.name, ...fields });
  const run: ProjectRun = {
    project: target.name,
    status: "ok",
    snapshots: [],
    rows: 0,
    storedBytes: 0,
    verified: false,
    pruned: 0,
    warnings: [],
    error: null,
    scope: scopeLabel(job),
    tenants: null,
    verify: job.verify,
    durationMs: 0,
  };
  const storage = openStorage(target.storageUrl, target.s3);
  const connection = { url: target.dbUrl };
  let lock: Awaited<ReturnType<typeof acquireJobLock>> | undefined;
  try {
    if (signal?.aborted) throw new InterruptedError("not started: shutting down");
    lock = await acquireJobLock({
      connection,
      job: job.name,
      project: target.name,
      storage,
      tick: options.tick,
      signal,
    });
    if (lock === "held" || lock === "tick-done") {
      const why = lock === "held" ? "another run holds the lock" : "another scheduler already ran this tick";
      if (options.tick) {
        emit("info", "locked", { reason: why });
        run.skipped = "locked";
        return run;
      }
      throw new LockedError("JOB_LOCKED", `job ${job.name} of project ${target.name}: ${why}`, {
        hint: "wait for the other run to finish (pgsnap schedule or another pgsnap run)",
      });
    }
    emit("info", "dump-start", { scope: run.scope });
    const previous = new Map<string, Manifest | undefined>();
    const results = await dump({
      connection,
      storage,
      project: target.name,
      tenantColumn: target.tenantColumn,
      rules: target.rules,
      tenants: typeof job.scope === "object" ? job.scope.tenants : undefined,
      allTenants: job.scope === "all-tenants",
      signal,
      // dump reports every 250 ms while a table streams: log its first and last event and one
      // per table every 30 s in between.
      onProgress: throttleProgress<DumpProgress>(
        (e) =>
          emit("debug", e.finished ? "table-done" : "table-progress", {
            snapshot: e.snapshot,
            table: e.table,
            rows: e.rows,
            bytes: e.bytes,
            ...(e.totalRows !== undefined ? { estimatedRows: e.totalRows } : {}),
            done: e.done,
            total: e.total,
          }),
        30_000,
      ),
    });
    for (const r of results) {
      run.snapshots.push(r.id);
      run.rows += r.rows;
      run.storedBytes += r.storedBytes;
      if (r.tenants !== null) run.tenants = (run.tenants ?? 0) + r.tenants.length;
      previous.set(r.id, await previousOf(storage, target.name, r, signal));
    }
    emit("info", "dump-done", { snapshots: run.snapshots, rows: run.rows, storedBytes: run.storedBytes });

    const manifests: Manifest[] = [];
    for (const id of run.snapshots) {
      if (job.verify === "none") {
        manifests.push(await findSnapshot(storage, target.name, id, { signal }));
        continue;
      }
      const { manifest, result } = await verifySnapshot({ storage, project: target.name, snapshot: id, signal });
      manifests.push(manifest);
      if (job.verify === "restore-test" && result.ok) {
        result.restoreTest = await restoreTest(connection, storage, manifest, signal);
        result.ok = result.restoreTest.ok;
      }
      assertVerified(result);
      await markVerified(storage, manifest, job.verify === "restore-test");
    }
    run.verified = job.verify !== "none";
    if (run.verified) emit("info", "verified", { snapshots: run.snapshots, verify: job.verify });

    for (const m of manifests) run.warnings.push(...findAnomalies(previous.get(m.id), m));
    if (run.warnings.length > 0) {
      run.status = "warning";
      emit("warn", "anomaly", { warnings: run.warnings });
    }

    if (job.retention && Object.values(job.retention).some((v) => v !== undefined && v > 0)) {
      if (!run.verified) {
        emit("warn", "retention-skipped", { reason: "the job does not verify its snapshots (verify: none)" });
      } else {
        const pruned = await prune({
          storage,
          project: target.name,
          ...job.retention,
          scopes: [scopeOf(job)],
          now: options.now?.(),
          signal,
        });
        run.pruned = pruned.deleted.length;
        emit("info", "pruned", { deleted: pruned.deleted.map((d) => d.id) });
      }
    }
  } catch (err) {
    const e = signal?.aborted && !(err instanceof PgsnapError) ? new InterruptedError() : err;
    run.status = "failed";
    run.error = runError(e, ops.secrets);
    emit("error", "project-failed", { error: run.error });
  } finally {
    if (lock !== undefined && typeof lock === "object") await lock.release();
    await storage.close().catch(() => {});
    run.durationMs = Date.now() - started;
  }
  return run;
}

/** Runs one job over its projects, then sends its notifications. */
export async function runJob(job: JobDefinition, ops: Operations, options: RunJobOptions = {}): Promise<JobRun> {
  const now = options.now ?? (() => new Date());
  const startedAt = now();
  const t0 = Date.now();
  options.onEvent?.({ level: "info", event: "job-start", job: job.name, projects: job.projects });
  const projects: ProjectRun[] = [];
  for (const name of job.projects) {
    const target = ops.projects.find((p) => p.name === name);
    if (!target) continue; // the config check makes this impossible
    projects.push(await runProject(job, target, ops, options));
  }
  const ran = projects.filter((p) => p.skipped === undefined);
  const run: JobRun = {
    job: job.name,
    status: worstStatus(ran.map((p) => p.status)),
    startedAt: startedAt.toISOString(),
    durationMs: Date.now() - t0,
    projects,
  };
  options.onEvent?.({
    level: run.status === "failed" ? "error" : run.status === "warning" ? "warn" : "info",
    event: "job-done",
    job: job.name,
    status: run.status,
    durationMs: run.durationMs,
  });
  if (options.signal?.aborted) {
    // Stopped by a shutdown: the next run will report; a restart is not worth an alarm.
    options.onEvent?.({ level: "info", event: "notify-skipped", job: job.name, reason: "interrupted" });
  } else if (options.notify !== false && ran.length > 0) {
    const notifiers: Notifier[] = ops.notifiers.filter((n) => job.notify.includes(n.name));
    const log: NotifyLog = (level, event, fields) => options.onEvent?.({ level, event, job: job.name, ...fields });
    await notifyRun(run, notifiers, { log, timeoutMs: options.notifyTimeoutMs });
  }
  return run;
}

/** Runs jobs one after the other; the summary CLI.md prints. */
export async function runJobs(
  jobs: readonly JobDefinition[],
  ops: Operations,
  options: RunJobOptions = {},
): Promise<RunSummary> {
  const runs: JobRun[] = [];
  for (const job of jobs) runs.push(await runJob(job, ops, options));
  return { runs };
}

/** Exit code of a summary: 0 unless a project failed, then the first failure's (config order). */
export function summaryExitCode(summary: RunSummary): number {
  for (const run of summary.runs) for (const p of run.projects) if (p.error) return p.error.exitCode;
  return ExitCode.ok;
}
