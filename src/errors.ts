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

/** Connection-string keys whose values are secrets (libpq: password, sslpassword). */
const secretKeys = /^(password|sslpassword)$/i;

/**
 * Every secret a connection string holds, in any form libpq accepts: a URL's `user:password@`
 * (also with an unencoded `@`, `/` or `:` inside the password: every reading is returned), URL
 * parameters `?password=` / `&sslpassword=`, and keyword/value strings (`host=h password=secret`,
 * `password='it''s'`, backslash escapes). Each one raw as written and percent-decoded.
 */
export function connectionStringSecrets(conninfo: string | undefined): string[] {
  if (!conninfo) return [];
  const found = new Set<string>();
  const add = (raw: string) => {
    if (!raw) return;
    found.add(raw);
    try {
      found.add(decodeURIComponent(raw));
    } catch {
      /* not percent-encoded */
    }
    try {
      found.add(decodeURIComponent(raw.replace(/\+/g, " ")));
    } catch {
      /* not form-encoded */
    }
  };
  const scheme = /^\s*[a-z][a-z0-9+.-]*:\/\//i.exec(conninfo);
  if (scheme) {
    const rest = conninfo.slice(scheme[0].length);
    // user:password@host — the password ends at some '@': libpq takes the first, WHATWG URL the
    // last; take every candidate so no reading of it is printed.
    const colon = rest.search(/[:@]/);
    if (colon >= 0 && rest[colon] === ":") {
      for (let at = rest.indexOf("@", colon); at >= 0; at = rest.indexOf("@", at + 1)) {
        add(rest.slice(colon + 1, at));
      }
    }
    const q = rest.indexOf("?");
    if (q >= 0) {
      for (const pair of rest.slice(q + 1).split(/[&#]/)) {
        const eq = pair.indexOf("=");
        if (eq > 0 && secretKeys.test(safeDecode(pair.slice(0, eq)))) add(pair.slice(eq + 1));
      }
    }
    return [...found];
  }
  for (const [key, value] of parseConninfoKeywords(conninfo)) {
    if (secretKeys.test(key)) {
      found.add(value);
    }
  }
  // Also the raw spelling (quotes and escapes as typed), e.g. for echoes of the input.
  for (const m of conninfo.matchAll(/\b(?:password|sslpassword)\s*=\s*('(?:[^'\\]|\\.)*'|(?:[^\s'\\]|\\.)+)/gi)) {
    const raw = m[1]!;
    found.add(raw);
    if (raw.startsWith("'")) found.add(raw.slice(1, -1));
  }
  return [...found].filter(Boolean);
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** libpq keyword/value pairs: `key = value`, values bare or single-quoted, `\` escapes. */
export function parseConninfoKeywords(text: string): [string, string][] {
  const out: [string, string][] = [];
  let i = 0;
  const n = text.length;
  const skipSpace = () => {
    while (i < n && /\s/.test(text[i]!)) i++;
  };
  while (i < n) {
    skipSpace();
    const keyStart = i;
    while (i < n && text[i] !== "=" && !/\s/.test(text[i]!)) i++;
    const key = text.slice(keyStart, i);
    skipSpace();
    if (text[i] !== "=") {
      if (i === keyStart) i++;
      continue;
    }
    i++;
    skipSpace();
    let value = "";
    if (text[i] === "'") {
      i++;
      while (i < n && text[i] !== "'") {
        if (text[i] === "\\" && i + 1 < n) i++;
        value += text[i];
        i++;
      }
      i++;
    } else {
      while (i < n && !/\s/.test(text[i]!)) {
        if (text[i] === "\\" && i + 1 < n) i++;
        value += text[i];
        i++;
      }
    }
    if (key) out.push([key, value]);
  }
  return out;
}

/**
 * Redacts `text` for printing: the password of any URL-like `scheme://user:pass@host` (up to
 * the last `@` of the URL), `password=` / `sslpassword=` in keyword/value strings and URL
 * parameters, and every string of `secrets` (also as it appears inside JSON and percent-encoded)
 * become `***`.
 */
export function redactSecrets(text: string, secrets: readonly string[] = []): string {
  let out = text.replace(/([a-z][a-z0-9+.-]*:\/\/[^:/?#@\s"'<>]*:)[^\s"'<>]*@/gi, "$1***@");
  out = out.replace(/([?&](?:password|sslpassword)=)(?:[^&#\s"'<>:]|:(?!\s))*/gi, "$1***");
  out = out.replace(
    /(?<![?&\w])((?:password|sslpassword)\s*=\s*)('(?:[^'\\]|\\.)*'|(?:[^\s'\\&":]|:(?!\s)|\\.)+)/gi,
    "$1***",
  );
  const variants = new Set<string>();
  for (const secret of secrets) {
    if (secret.length < 4) continue;
    variants.add(secret);
    variants.add(JSON.stringify(secret).slice(1, -1));
    variants.add(encodeURIComponent(secret));
  }
  for (const v of [...variants].sort((a, b) => b.length - a.length)) out = out.split(v).join("***");
  return out;
}
