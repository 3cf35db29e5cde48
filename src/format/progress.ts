/**
 * The progress event that dump and restore emit while rows stream, and that the CLI's renderer
 * (src/cli/progress-view.ts) draws as live bars on a TTY. Pure data: emitters call
 * `onProgress(event)` as often as they like (the renderer throttles itself); every count is
 * cumulative for its table, so a lost or repeated event never skews the numbers.
 */

/** Which operation a progress event belongs to. */
export type ProgressPhase = "dump" | "restore" | "verify";

/** One table's progress, as seen by one worker. */
export interface ProgressEvent {
  phase: ProgressPhase;
  /** `schema.name` of the table being read or written. */
  table: string;
  /** Which parallel worker (0-based) moves this table; restore and single-job dumps use 0. */
  worker: number;
  /** Rows of this table done so far. */
  rows: number;
  /** Bytes of this table done so far (uncompressed NDJSON). */
  bytes: number;
  /** Expected rows of this table: the planner's estimate on dump, the manifest's count on restore. */
  totalRows?: number | undefined;
  /** Expected bytes of this table (the manifest's on restore; unknown on dump). */
  totalBytes?: number | undefined;
  /** True on the table's last event (its counts are final). */
  finished: boolean;
  /** Tables of the whole run finished so far, and how many there are. */
  tablesDone: number;
  tablesTotal: number;
  /** Expected rows of the whole run, when every table's expectation is known. */
  runTotalRows?: number | undefined;
  /** A step name shown next to the table (restore: `staging`, `checking`, `applying`). */
  step?: string | undefined;
}

/** Sums `totalRows` over tables, or undefined when any is unknown. */
export function sumKnown(values: readonly (number | undefined)[]): number | undefined {
  let total = 0;
  for (const v of values) {
    if (v === undefined) return undefined;
    total += v;
  }
  return total;
}

/**
 * For logs instead of a terminal (the scheduler): passes on a table's first event, its last
 * (`finished`), and in between at most one event per table every `intervalMs`, so a long dump
 * logs a line now and then rather than four a second. `now` is injectable for tests.
 */
export function throttleProgress<E extends ProgressEvent>(
  emit: (event: E) => void,
  intervalMs = 30_000,
  now: () => number = Date.now,
): (event: E) => void {
  const last = new Map<string, number>();
  return (event) => {
    const key = `${event.worker}\u0000${event.table}`;
    const t = now();
    const previous = last.get(key);
    if (event.finished) {
      last.delete(key);
      emit(event);
    } else if (previous === undefined || t - previous >= intervalMs) {
      last.set(key, t);
      emit(event);
    }
  };
}
