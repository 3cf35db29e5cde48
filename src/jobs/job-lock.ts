/**
 * One run per (job, project) at a time, and one per cron tick across several schedulers: a
 * session advisory lock on the project's own database (pgsnap keeps no state of its own, so
 * the target database decides), plus a small record of the last tick run, kept in the storage
 * next to the snapshots, read and written while the lock is held.
 */
import type pg from "pg";
import { connect, type ConnectOptions } from "../db/connect.js";
import { keySegment, projectPrefix } from "../storage/keys.js";
import type { Storage } from "../storage/storage.js";

/** A held lock; `release` ends its session (idempotent). */
export interface JobLock {
  release(): Promise<void>;
}

/** Why the lock was not taken. */
export type LockRefusal = "held" | "tick-done";

/** Storage key of the last-tick record of a job of a project (not a snapshot: list ignores it). */
export function tickRecordKey(project: string, job: string): string {
  return `${projectPrefix(project)}_jobs/${keySegment(job)}.json`;
}

/**
 * Takes the lock of (job, project) on the project's database without waiting. With `tick`, also
 * refuses when that tick (or a later one) already ran, and records it as running. Connection
 * failures throw ConnectionError (exit 10).
 */
export async function acquireJobLock(options: {
  connection: ConnectOptions;
  job: string;
  project: string;
  storage: Storage;
  tick?: Date | undefined;
  signal?: AbortSignal | undefined;
}): Promise<JobLock | LockRefusal> {
  const client: pg.Client = await connect({ ...options.connection, applicationName: "pgsnap job lock" });
  let released = false;
  const release = async () => {
    if (released) return;
    released = true;
    // Ending the session releases its advisory locks.
    await client.end().catch(() => {});
  };
  try {
    const { rows } = await client.query<{ ok: boolean }>(
      "SELECT pg_catalog.pg_try_advisory_lock(pg_catalog.hashtext($1), pg_catalog.hashtext($2)) AS ok",
      [`pgsnap job ${options.job}`, options.project],
    );
    if (!rows[0]?.ok) {
      await release();
      return "held";
    }
    if (options.tick) {
      const key = tickRecordKey(options.project, options.job);
      const tick = options.tick.toISOString();
      const info = await options.storage.stat(key, { signal: options.signal });
      if (info) {
        const last = JSON.parse((await options.storage.getBytes(key, { signal: options.signal })).toString()) as {
          tick?: string;
        };
        if (last.tick !== undefined && last.tick >= tick) {
          await release();
          return "tick-done";
        }
      }
      await options.storage.putBytes(key, Buffer.from(JSON.stringify({ job: options.job, tick })), {
        signal: options.signal,
      });
    }
    return { release };
  } catch (err) {
    await release();
    throw err;
  }
}
