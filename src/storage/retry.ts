/**
 * Retries with exponential backoff, for any backend (the role of restic's
 * internal/backend/retry): a backend says which failures are worth another try and how to name
 * the final one; this module owns the attempts, the backoff and the AbortSignal.
 */
import { setTimeout as sleep } from "node:timers/promises";

/** How often and how patiently to retry. */
export interface RetryPolicy {
  /** Attempts, the first included (default 5). */
  maxAttempts: number;
  /** Backoff before the second attempt in ms, doubled per attempt, with jitter (default 250). */
  baseDelayMs: number;
  /** Upper bound of one backoff in ms (default 20,000). */
  maxDelayMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { maxAttempts: 5, baseDelayMs: 250, maxDelayMs: 20_000 };

export interface RetryHooks<C> {
  /** Fresh per-attempt state handed to `attempt` (e.g. what the transport saw). */
  context: () => C;
  /** The error to judge and report: the thrown one, or a better one the context holds. */
  explain?: ((caught: unknown, context: C) => unknown) | ((caught: unknown, context: C) => Promise<unknown>);
  /** True when another attempt may succeed. */
  retryable: (err: unknown, context: C) => boolean;
  /** The error to throw when giving up (`attempts` made so far). */
  giveUp: (err: unknown, attempts: number) => Error;
  /** The error to throw when `signal` aborted. */
  interrupted: (cause: unknown) => Error;
}

/**
 * Runs `attempt` until it resolves, fails with an error `retryable` refuses, the attempts run
 * out, or `signal` aborts (also during a backoff).
 */
export async function withRetry<T, C>(
  policy: RetryPolicy,
  signal: AbortSignal | undefined,
  hooks: RetryHooks<C>,
  attempt: (context: C) => Promise<T>,
): Promise<T> {
  for (let n = 1; ; n += 1) {
    if (isAborted(signal)) throw hooks.interrupted(signal?.reason);
    const context = hooks.context();
    try {
      return await attempt(context);
    } catch (caught) {
      const err = hooks.explain === undefined ? caught : await hooks.explain(caught, context);
      if (isAborted(signal)) throw hooks.interrupted(err);
      if (n >= policy.maxAttempts || !hooks.retryable(err, context)) throw hooks.giveUp(err, n);
      const delay = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (n - 1)) * (0.5 + Math.random() / 2);
      try {
        await sleep(delay, undefined, { signal });
      } catch (abortErr) {
        throw hooks.interrupted(abortErr);
      }
    }
  }
}

/** A function, so that TypeScript does not narrow `aborted` across awaits. */
export function isAborted(signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true;
}
