/**
 * `pgsnap schedule`: every job on its cron until the signal aborts. Modelled on graphile-worker's
 * cron (ticks from an injectable clock, a lock so several workers run a tick once, graceful then
 * forced shutdown). Each job waits for its next tick; a tick whose previous run is still going is
 * skipped (logged). Several schedulers on one config run a job once per tick: the advisory lock
 * on each project's database decides (src/jobs/job-lock.ts), the loser logs `locked`.
 *
 * Missed ticks are not replayed: a scheduler that was down at 03:00 runs the job at its next
 * tick after it starts, not at once.
 *
 * On abort nothing new starts; the running runs see the same signal (a dump removes the objects
 * it wrote, so no partial snapshot appears); `runSchedule` resolves once they settled, or after
 * `shutdownTimeoutMs` at the latest.
 */
import type { JobDefinition, Operations } from "../config/operations.js";
import { runJob, type RunEvent, type RunJobOptions } from "../jobs/run-job.js";
import type { JobRun, RunStatus } from "../notify/summary.js";
import { systemClock, type Clock } from "./clock.js";
import { nextRun, previousRun } from "./cron.js";

/** What the health server and metrics read. */
export interface JobState {
  job: string;
  nextRun: Date | undefined;
  lastRun: Date | undefined;
  lastStatus: RunStatus | "skipped" | undefined;
  /** Last time a tick was handled successfully (here, or by another scheduler holding the lock). */
  lastSuccess: Date | undefined;
  running: boolean;
  projects: Map<string, { lastSuccess: Date | undefined; status: RunStatus | undefined; rows: number; bytes: number }>;
}

export interface ScheduleOptions {
  ops: Operations;
  signal: AbortSignal;
  clock?: Clock | undefined;
  log?: ((event: RunEvent | { level: RunEvent["level"]; event: string; [k: string]: unknown }) => void) | undefined;
  /** Runs one job for one tick (default: runJob); tests inject a slow one. */
  run?: ((job: JobDefinition, ops: Operations, options: RunJobOptions) => Promise<JobRun>) | undefined;
  /** Upper bound on waiting for running jobs after the signal (default 25 s). */
  shutdownTimeoutMs?: number | undefined;
  /** Told about each job state change (health server). */
  state?: Map<string, JobState> | undefined;
}

/** Fresh state for every job with a cron. */
export function initialState(ops: Operations, now: Date): Map<string, JobState> {
  const state = new Map<string, JobState>();
  for (const job of ops.jobs) {
    state.set(job.name, {
      job: job.name,
      nextRun: job.cron ? nextRun(job.cron, job.timezone, now) : undefined,
      lastRun: undefined,
      lastStatus: undefined,
      lastSuccess: undefined,
      running: false,
      projects: new Map(job.projects.map((p) => [p, { lastSuccess: undefined, status: undefined, rows: 0, bytes: 0 }])),
    });
  }
  return state;
}

/** Runs every job on its cron until `signal` aborts; resolves after the running jobs settled. */
export async function runSchedule(options: ScheduleOptions): Promise<void> {
  const { ops, signal } = options;
  const clock = options.clock ?? systemClock;
  const log = options.log ?? (() => {});
  const run = options.run ?? runJob;
  const state = options.state ?? initialState(ops, clock.now());
  if (state.size === 0) for (const [k, v] of initialState(ops, clock.now())) state.set(k, v);
  const running = new Map<string, Promise<void>>();

  const loop = async (job: JobDefinition) => {
    const st = state.get(job.name)!;
    let after = clock.now();
    while (!signal.aborted) {
      const tick = nextRun(job.cron!, job.timezone, after);
      st.nextRun = tick;
      log({ level: "debug", event: "next-run", job: job.name, nextRun: tick.toISOString() });
      await clock.sleepUntil(tick, signal);
      if (signal.aborted) break;
      // Count from the tick, not from now: a late wake-up does not skip the tick it woke for,
      // and ticks missed while asleep are not replayed (the next one is after now).
      after = new Date(Math.max(tick.getTime(), clock.now().getTime()));
      if (running.has(job.name)) {
        log({ level: "warn", event: "skipped-overlap", job: job.name, tick: tick.toISOString() });
        continue;
      }
      st.running = true;
      st.lastRun = tick;
      const p = run(job, ops, { signal, tick, onEvent: log, now: () => clock.now() })
        .then((result) => {
          const ran = result.projects.filter((x) => x.skipped === undefined);
          st.lastStatus = ran.length === 0 ? "skipped" : result.status;
          if (ran.length === 0 || result.status !== "failed") st.lastSuccess = clock.now();
          for (const pr of result.projects) {
            const ps = st.projects.get(pr.project);
            if (!ps || pr.skipped) continue;
            ps.status = pr.status;
            if (pr.status !== "failed") {
              ps.lastSuccess = clock.now();
              ps.rows = pr.rows;
              ps.bytes = pr.storedBytes;
            }
          }
        })
        .catch((err: unknown) => {
          st.lastStatus = "failed";
          log({ level: "error", event: "job-crashed", job: job.name, error: String((err as Error)?.message ?? err) });
        })
        .finally(() => {
          st.running = false;
          running.delete(job.name);
          log({ level: "debug", event: "tick-done", job: job.name, tick: tick.toISOString(), status: st.lastStatus });
        });
      running.set(job.name, p);
    }
  };

  const jobs = ops.jobs.filter((j) => j.cron !== undefined);
  log({
    level: "info",
    event: "schedule-start",
    jobs: jobs.map((j) => ({ job: j.name, cron: j.cron, timezone: j.timezone, nextRun: state.get(j.name)?.nextRun })),
  });
  await Promise.all(jobs.map(loop));
  // Stopping: nothing new starts; wait for the runs that got the signal.
  if (running.size > 0) {
    log({ level: "info", event: "shutdown-wait", jobs: [...running.keys()] });
    const limit = options.shutdownTimeoutMs ?? 25_000;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      Promise.allSettled([...running.values()]).then(() => false),
      new Promise<boolean>((r) => (timer = setTimeout(() => r(true), limit))),
    ]);
    clearTimeout(timer);
    if (timedOut) log({ level: "error", event: "shutdown-timeout", jobs: [...running.keys()] });
  }
  log({ level: "info", event: "schedule-stop" });
}

/**
 * Is the job healthy at `now`? Not when its last run failed, nor when its last success (or the
 * start of the scheduler) is older than one and a half cron intervals plus a minute.
 */
export function jobHealthy(job: JobDefinition, st: JobState, startedAt: Date, now: Date): boolean {
  if (st.lastStatus === "failed") return false;
  if (!job.cron) return true;
  const next = nextRun(job.cron, job.timezone, now);
  const prev = previousRun(job.cron, job.timezone, now);
  const interval = prev ? next.getTime() - prev.getTime() : 24 * 3_600_000;
  const since = (st.lastSuccess ?? startedAt).getTime();
  return now.getTime() - since <= interval * 1.5 + 60_000;
}
