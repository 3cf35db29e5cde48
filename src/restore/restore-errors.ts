import { InterruptedError, LockedError, PgsnapError, RefusedError, UsageError } from "../errors.js";
import type pg from "pg";
import { classifyConnectionError } from "../db/connect.js";

/** Turns what a restore met into the exit classes of CLI.md (the transaction is rolled back by then). */
export function mapRestoreError(
  err: unknown,
  signal?: AbortSignal,
  url?: string,
  clients?: readonly pg.Client[],
): unknown {
  if (signal?.aborted) {
    if (err instanceof InterruptedError) return err;
    return new InterruptedError("restore interrupted before COMMIT; rolled back, nothing was changed", { cause: err });
  }
  // A lost connection first: a COPY cut midway reads as a truncated object otherwise (exit 12).
  const lost = classifyConnectionError(err, { url, clients, during: "the restore" });
  if (lost) return lost;
  if (err instanceof PgsnapError) return err;
  const e = err as { code?: string; message?: string; name?: string; detail?: string; table?: string };
  if (e.name === "AbortError") return new InterruptedError("restore interrupted; rolled back", { cause: err });
  if (e.code === "42501" && /row-level security/i.test(e.message ?? "")) {
    return new RefusedError("RLS_WOULD_FILTER", `restore refused: ${e.message}`, {
      hint: "restore as a role with BYPASSRLS; nothing was changed",
      cause: err,
    });
  }
  if (e.code === "23503" || e.code === "23505" || e.code === "23502" || e.code === "23514") {
    return new RefusedError(
      `CONSTRAINT_${e.code}`,
      `restore refused by the database: ${e.message}${e.detail ? ` (${e.detail})` : ""}`,
      {
        hint: "nothing was changed (rolled back); the snapshot's rows conflict with the current data",
        cause: err,
      },
    );
  }
  if (e.code === "55P03") {
    return new LockedError("LOCK_TIMEOUT", `restore could not lock a table in time: ${e.message}`, {
      hint: "another session holds a conflicting lock; retry later",
      cause: err,
    });
  }
  if (e.code === "42501") {
    return new UsageError("PERMISSION_DENIED", `restore refused by the database: ${e.message}`, {
      hint: "the role needs SELECT, INSERT, UPDATE, DELETE on the restored tables (see sql/roles.sql); nothing was changed",
      cause: err,
    });
  }
  if (typeof e.code === "string" && /^[0-9A-Z]{5}$/.test(e.code) && !e.code.startsWith("XX")) {
    // A trigger, check or other rule of the database said no: not a pgsnap bug.
    return new RefusedError(
      `DATABASE_${e.code}`,
      `the database refused the restore: ${e.message} (SQLSTATE ${e.code})`,
      {
        hint: "rolled back, nothing was changed; fix the cause in the database or restore with other options",
        cause: err,
      },
    );
  }
  return err;
}
