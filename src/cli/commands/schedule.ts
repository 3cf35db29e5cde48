/** `pgsnap schedule`: every job on its cron until SIGTERM or SIGINT (the docker entry point). */
import type { Command } from "commander";
import { UsageError } from "../../errors.js";
import type { HealthServer } from "../../schedule/health-server.js";
import { redactSecrets } from "../../errors.js";
import type { CliGlobals, ContextFor } from "../context.js";
import { intOption } from "../flags.js";
import { operationsFor } from "../operations.js";

function instant(value: string): Date {
  const d = new Date(value);
  if (Number.isNaN(d.getTime()))
    throw new UsageError("USAGE_BAD_TIME", `--now must be an ISO time, got ${value}`, {
      hint: "e.g. --now 2026-01-18T02:59:00Z",
    });
  return d;
}

/** Adds `schedule` to the program. */
export function registerSchedule(program: Command, contextFor: ContextFor): void {
  program
    .command("schedule")
    .description("run every job on its cron until SIGTERM/SIGINT; JSON-lines logs on stdout")
    .option(
      "--health-port <port>",
      "serve GET /healthz and GET /metrics on this port (env PGSNAP_HEALTH_PORT)",
      intOption("--health-port", 0, 65535),
    )
    .option("--next <n>", "print the next n run times of every job as JSON and exit", intOption("--next", 1, 1000))
    .option("--now <time>", "with --next: count from this instant (ISO time)", instant)
    .addHelpText(
      "after",
      `
A job whose previous run is still going skips that tick (logged). Several schedulers on one
config run each job once per tick (an advisory lock on each project's database decides; the
other logs "locked"). Missed ticks while no scheduler ran are not replayed.
Without a config file: DATABASE_URL and PGSNAP_SCHEDULE (cron) are required, see README.

Examples:
  pgsnap schedule --config pgsnap.config.json --health-port 8080
  pgsnap schedule --next 3 --now 2026-01-18T00:00:00Z
  DATABASE_URL=postgres://... PGSNAP_SCHEDULE="0 3 * * *" pgsnap schedule`,
    )
    .action(async (opts: { healthPort?: number; next?: number; now?: Date }, cmd: Command) => {
      const { ctx, ops } = await operationsFor(cmd, contextFor, { requireCron: true, healthPort: opts.healthPort });
      const { nextRuns } = await import("../../schedule/cron.js");
      const jobs = ops.jobs.filter((j) => j.cron !== undefined);
      if (jobs.length === 0)
        throw new UsageError("NO_JOBS", `no jobs with a cron in ${ops.configPath ?? "the environment"}`, {
          hint: 'add "jobs" with a "cron" to the config, or set PGSNAP_SCHEDULE',
        });
      if (opts.next !== undefined || opts.now !== undefined) {
        const from = opts.now ?? new Date();
        const doc = {
          jobs: jobs.map((j) => ({
            job: j.name,
            timezone: j.timezone,
            next: nextRuns(j.cron!, j.timezone, from, opts.next ?? 5).map((d) => d.toISOString()),
          })),
        };
        process.stdout.write(JSON.stringify(doc, null, ctx.out.options.json ? 2 : undefined) + "\n");
        return;
      }
      const [{ pino }, { startHealthServer }, { initialState, runSchedule }] = await Promise.all([
        import("pino"),
        import("../../schedule/health-server.js"),
        import("../../schedule/scheduler.js"),
      ]);
      const g = cmd.optsWithGlobals<CliGlobals>();
      const logger = pino(
        {
          base: null,
          level: g.verbose ? "debug" : g.quiet ? "warn" : "info",
          timestamp: pino.stdTimeFunctions.isoTime,
          formatters: { level: (label) => ({ level: label }) },
        },
        pino.destination({ fd: 1, sync: true }),
      );
      const log = (e: { level: "debug" | "info" | "warn" | "error"; event: string; [k: string]: unknown }) => {
        const { level, ...fields } = e;
        // Errors in events were already redacted; this also covers anything else a message quotes.
        logger[level](JSON.parse(redactSecrets(JSON.stringify(fields), ops.secrets)) as object);
      };
      const startedAt = new Date();
      const state = initialState(ops, startedAt);
      let health: HealthServer | undefined;
      if (ops.healthPort !== undefined) {
        try {
          health = await startHealthServer({
            port: ops.healthPort,
            host: ops.healthHost,
            ops,
            state,
            startedAt,
          });
        } catch (err) {
          throw new UsageError(
            "HEALTH_PORT",
            `cannot serve health checks on ${ops.healthHost}:${ops.healthPort}: ${(err as Error).message}`,
            { hint: "choose another --health-port (or PGSNAP_HEALTH_PORT)" },
          );
        }
        log({ level: "info", event: "health-listening", host: ops.healthHost, port: health.port });
      }
      try {
        await runSchedule({ ops, signal: ctx.signal, log, state });
      } finally {
        await health?.close();
      }
    });
}
