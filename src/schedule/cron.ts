/**
 * Cron times of a job (cron-parser 5, with the job's IANA time zone; 5 fields, or 6 with seconds
 * first). Pure: the caller supplies "now", so tests drive it with any instant.
 */
import { CronExpressionParser } from "cron-parser";
import { UsageError } from "../errors.js";

/** The first `n` run times strictly after `from`. */
export function nextRuns(cron: string, timezone: string, from: Date, n: number): Date[] {
  let expr;
  try {
    expr = CronExpressionParser.parse(cron, { tz: timezone, currentDate: from });
  } catch (err) {
    throw new UsageError("CRON_INVALID", `invalid cron "${cron}": ${(err as Error).message}`, {
      hint: "5 fields (minute hour day month weekday), or 6 with seconds first",
    });
  }
  const out: Date[] = [];
  for (let i = 0; i < n; i++) out.push(expr.next().toDate());
  return out;
}

/** The next run time strictly after `from`. */
export function nextRun(cron: string, timezone: string, from: Date): Date {
  return nextRuns(cron, timezone, from, 1)[0]!;
}

/** The latest run time at or before `at` (undefined when none can be found). */
export function previousRun(cron: string, timezone: string, at: Date): Date | undefined {
  try {
    const expr = CronExpressionParser.parse(cron, { tz: timezone, currentDate: new Date(at.getTime() + 1) });
    return expr.prev().toDate();
  } catch {
    return undefined;
  }
}
