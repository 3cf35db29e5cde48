/**
 * Notifications: one interface, `notify(run)`, with an email and a webhook implementation. A
 * notifier sends when the run's status is in its `on` list, retries with backoff, and gives up
 * within a bounded time. A failure is logged and reported to the caller, never thrown into the
 * job: it does not change the job's result or exit code.
 */
import type { Notifier as NotifierConfig } from "../config/operations.js";
import { PgsnapError, StorageError, UsageError } from "../errors.js";
import { emailNotifier } from "./email.js";
import type { JobRun, RunStatus } from "./summary.js";
import { webhookNotifier } from "./webhook.js";

/** One way of telling someone about a run. */
export interface Notifier {
  readonly name: string;
  /** Sends one message about `run`; throws when it cannot be delivered (after its own timeout). */
  notify(run: JobRun, signal: AbortSignal): Promise<void>;
}

/** Where notification outcomes are reported (schedule writes them as log lines). */
export type NotifyLog = (level: "info" | "warn" | "error", event: string, fields: Record<string, unknown>) => void;

/** The implementation for a configured notifier. */
export function createNotifier(config: NotifierConfig): Notifier {
  return config.type === "email" ? emailNotifier(config) : webhookNotifier(config);
}

const onOf = (status: RunStatus) => (status === "ok" ? "success" : status === "failed" ? "failure" : "warning");

export interface DeliverOptions {
  /** Attempts per notifier (default 4). */
  attempts?: number | undefined;
  /** First pause between attempts, doubled each time (default 1 s). */
  backoffMs?: number | undefined;
  /** Bound on the whole delivery, retries included (default 60 s). */
  timeoutMs?: number | undefined;
  log?: NotifyLog | undefined;
  /** Send whatever the `on` filter says (notify test). */
  force?: boolean | undefined;
}

/** A notification that could not be delivered (exit 11, like an unreachable storage). */
export class NotifyError extends StorageError {
  constructor(message: string, hint?: string) {
    super("NOTIFY_FAILED", message, { hint });
  }
}

/** The message `pgsnap notify test` sends: a run of no projects, status ok. */
export function testRun(now: Date = new Date()): JobRun {
  return { job: "notify-test", status: "ok", startedAt: now.toISOString(), durationMs: 0, projects: [] };
}

/**
 * Sends a test message through each notifier (or only `name`), whatever its `on` filter; throws
 * NotifyError (exit 11) naming every notifier that could not be delivered.
 */
export async function testNotifiers(
  notifiers: readonly NotifierConfig[],
  name: string | undefined,
  options: DeliverOptions = {},
): Promise<{ notifier: string; type: string; delivered: boolean; error: string | null }[]> {
  const chosen = name === undefined ? notifiers : notifiers.filter((n) => n.name === name);
  if (chosen.length === 0)
    throw new UsageError(
      "NOTIFIER_UNKNOWN",
      name === undefined ? "no notifiers are configured" : `no notifier "${name}"`,
      { hint: `notifiers: ${notifiers.map((n) => n.name).join(", ") || 'none (add "notify" to the config)'}` },
    );
  const run = testRun();
  const results = await Promise.all(
    chosen.map(async (n) => {
      const err = await deliver(createNotifier(n), n.on, run, { ...options, force: true });
      return { notifier: n.name, type: n.type, delivered: err === undefined, error: err?.message ?? null };
    }),
  );
  return results;
}

const pause = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener(
      "abort",
      () => {
        clearTimeout(t);
        resolve();
      },
      { once: true },
    );
  });

/**
 * Delivers `run` through one notifier with retries; resolves with the last error when it gave
 * up (undefined when delivered or filtered out).
 */
export async function deliver(
  notifier: Notifier,
  on: readonly string[],
  run: JobRun,
  options: DeliverOptions = {},
): Promise<Error | undefined> {
  if (!options.force && !on.includes(onOf(run.status))) return undefined;
  const attempts = options.attempts ?? 4;
  const deadline = AbortSignal.timeout(options.timeoutMs ?? 60_000);
  let last: Error | undefined;
  for (let i = 1; i <= attempts && !deadline.aborted; i++) {
    try {
      await notifier.notify(run, deadline);
      options.log?.("info", "notified", { notifier: notifier.name, status: run.status, attempt: i });
      return undefined;
    } catch (err) {
      last = err instanceof Error ? err : new Error(String(err));
      const message = last instanceof PgsnapError || !deadline.aborted ? last.message : "timed out";
      options.log?.("warn", "notify-retry", { notifier: notifier.name, attempt: i, error: message });
      if (i < attempts) await pause((options.backoffMs ?? 1000) * 2 ** (i - 1), deadline);
    }
  }
  options.log?.("error", "notify-failed", { notifier: notifier.name, error: last?.message ?? "timed out" });
  return last ?? new Error("timed out");
}

/** Sends `run` through every notifier concurrently; never throws. */
export async function notifyRun(
  run: JobRun,
  notifiers: readonly NotifierConfig[],
  options: DeliverOptions = {},
): Promise<void> {
  await Promise.all(notifiers.map((n) => deliver(createNotifier(n), n.on, run, options).catch(() => undefined)));
}
