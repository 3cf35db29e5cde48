/**
 * Errors and the exit-code table of CLI.md. Library code throws these; only cli/main.ts prints
 * them and sets the exit code. The message says what failed on which object; the hint says what
 * to do next.
 */

/** Exit codes, exactly as published in CLI.md. */
export const ExitCode = {
  ok: 0,
  internal: 1,
  usage: 2,
  refused: 3,
  connection: 10,
  storage: 11,
  integrity: 12,
  locked: 13,
  interrupted: 130,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export interface PgsnapErrorOptions {
  hint?: string | undefined;
  cause?: unknown;
}

/** Base of every expected error: a stable `code`, an `exitCode`, and a `hint`. */
export class PgsnapError extends Error {
  override readonly name: string = "PgsnapError";
  readonly hint: string | undefined;
  constructor(
    readonly code: string,
    readonly exitCode: ExitCode,
    message: string,
    options: PgsnapErrorOptions = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.hint = options.hint;
  }
}

/** Exit 2: bad flags, bad config, a table that does not exist, no tenant table. */
export class UsageError extends PgsnapError {
  override readonly name = "UsageError";
  constructor(code: string, message: string, options?: PgsnapErrorOptions) {
    super(code, ExitCode.usage, message, options);
  }
}

/** Exit 3: refused for safety (no --confirm, RLS, foreign tenant rows, collisions, drift, triggers). */
export class RefusedError extends PgsnapError {
  override readonly name = "RefusedError";
  constructor(code: string, message: string, options?: PgsnapErrorOptions) {
    super(code, ExitCode.refused, message, options);
  }
}

/** Exit 10: cannot connect or authenticate to PostgreSQL. */
export class ConnectionError extends PgsnapError {
  override readonly name = "ConnectionError";
  constructor(code: string, message: string, options?: PgsnapErrorOptions) {
    super(code, ExitCode.connection, message, options);
  }
}

/** Exit 11: storage failed (bucket missing, access denied, disk full, I/O). */
export class StorageError extends PgsnapError {
  override readonly name = "StorageError";
  constructor(code: string, message: string, options?: PgsnapErrorOptions) {
    super(code, ExitCode.storage, message, options);
  }
}

/** Exit 12: checksum, row count, truncated object, unknown manifest version. */
export class IntegrityError extends PgsnapError {
  override readonly name = "IntegrityError";
  constructor(code: string, message: string, options?: PgsnapErrorOptions) {
    super(code, ExitCode.integrity, message, options);
  }
}

/** Exit 13: another run holds the lock. */
export class LockedError extends PgsnapError {
  override readonly name = "LockedError";
  constructor(code: string, message: string, options?: PgsnapErrorOptions) {
    super(code, ExitCode.locked, message, options);
  }
}

/** Exit 130: interrupted by a signal or an AbortSignal. */
export class InterruptedError extends PgsnapError {
  override readonly name = "InterruptedError";
  constructor(message = "interrupted", options?: PgsnapErrorOptions) {
    super("INTERRUPTED", ExitCode.interrupted, message, options);
  }
}

/** Replaces the password of any URL-like `scheme://user:pass@host` in `text` with `***`. */
export function redactSecrets(text: string, secrets: readonly string[] = []): string {
  let out = text.replace(/([a-z][a-z0-9+.-]*:\/\/[^:/?#@\s]*:)([^@\s]*)@/gi, "$1***@");
  for (const secret of secrets) {
    if (secret.length >= 4) out = out.split(secret).join("***");
  }
  return out;
}
