import pg from "pg";
import { ConnectionError, redactSecrets } from "../errors.js";
import { pinnedSettingsSql } from "./session.js";

/** How to reach the database. `url` may be empty: then libpq's PG* variables apply. */
export interface ConnectOptions {
  url?: string | undefined;
  /** lock_timeout for the session (DESIGN.md: set, never infinite). */
  lockTimeoutMs?: number | undefined;
  applicationName?: string | undefined;
}

/** Where we connect, safe to print (passwords as ***). */
export function describeTarget(url: string | undefined): string {
  return url ? redactSecrets(url) : "the database of the libpq PG* environment variables";
}

const connectionCodes = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ECONNRESET",
  "28P01", // invalid_password
  "28000", // invalid_authorization_specification
  "3D000", // invalid_catalog_name
  "57P03", // cannot_connect_now
  "53300", // too_many_connections
]);

/** Wraps a connection failure as ConnectionError (exit 10) with the password shown as ***. */
export function connectionError(err: unknown, url: string | undefined): ConnectionError {
  const e = err as { code?: string; message?: string };
  const target = describeTarget(url);
  const reason = redactSecrets(e.message ?? String(err), passwordOf(url));
  let hint = "check --db / DATABASE_URL (host, port, user, password, database) and that the server is up";
  if (e.code === "28P01" || e.code === "28000") hint = "check the user name and password in --db / DATABASE_URL";
  if (e.code === "3D000") hint = "check the database name in --db / DATABASE_URL";
  return new ConnectionError(`CONNECT_${e.code ?? "FAILED"}`, `cannot connect to ${target}: ${reason}`, {
    hint,
    cause: err,
  });
}

function passwordOf(url: string | undefined): string[] {
  if (!url) return [];
  try {
    const p = decodeURIComponent(new URL(url).password);
    return p ? [p] : [];
  } catch {
    return [];
  }
}

/** Is this error a failure to reach or log into the server? */
export function isConnectionFailure(err: unknown): boolean {
  const code = (err as { code?: string }).code;
  return code !== undefined && connectionCodes.has(code);
}

/**
 * Opens one client with the pinned session settings applied. The caller ends it.
 * Fails with ConnectionError (exit 10) when the server cannot be reached or refuses the login.
 */
export async function connect(options: ConnectOptions): Promise<pg.Client> {
  const client = new pg.Client({
    ...(options.url ? { connectionString: options.url } : {}),
    application_name: options.applicationName ?? "pgsnap",
    connectionTimeoutMillis: 15_000,
    keepAlive: true,
  });
  // An idle client whose socket dies emits 'error'; without a listener Node would crash.
  client.on("error", () => {});
  try {
    await client.connect();
  } catch (err) {
    await client.end().catch(() => {});
    throw connectionError(err, options.url);
  }
  await client.query(pinnedSettingsSql(options.lockTimeoutMs ?? 30_000));
  return client;
}
