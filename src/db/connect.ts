import type { Socket } from "node:net";
import type pg from "pg";
import { pgModule } from "./load-pg.js";
import {
  ConnectionError,
  IntegrityError,
  PgsnapError,
  UsageError,
  connectionStringSecrets,
  parseConninfoKeywords,
  redactSecrets,
} from "../errors.js";
import { pinnedSettingsSql } from "./session.js";

/** How to reach the database. `url` may be empty: then libpq's PG* variables apply. */
export interface ConnectOptions {
  url?: string | undefined;
  /** lock_timeout for the session (DESIGN.md: set, never infinite). */
  lockTimeoutMs?: number | undefined;
  applicationName?: string | undefined;
  /**
   * `--io-timeout` (CLI.md): a connection that moves no bytes for this long while pgsnap waits
   * on the server, and whose backend a fresh connection cannot see busy, fails (exit 10).
   * 0 or undefined: off.
   */
  ioTimeoutMs?: number | undefined;
}

/** Where we connect, safe to print (passwords as ***). */
export function describeTarget(url: string | undefined): string {
  return url ? redactSecrets(url, connectionStringSecrets(url)) : "the database of the libpq PG* environment variables";
}

/** Keywords of libpq connection strings (libpq "Parameter Key Words"). */
const libpqKeywords = new Set([
  "host",
  "hostaddr",
  "port",
  "dbname",
  "user",
  "password",
  "passfile",
  "require_auth",
  "channel_binding",
  "connect_timeout",
  "client_encoding",
  "options",
  "application_name",
  "fallback_application_name",
  "keepalives",
  "keepalives_idle",
  "keepalives_interval",
  "keepalives_count",
  "tcp_user_timeout",
  "replication",
  "gssencmode",
  "sslmode",
  "requiressl",
  "sslnegotiation",
  "sslcompression",
  "sslcert",
  "sslkey",
  "sslpassword",
  "sslcertmode",
  "sslrootcert",
  "sslcrl",
  "sslcrldir",
  "sslsni",
  "requirepeer",
  "ssl_min_protocol_version",
  "ssl_max_protocol_version",
  "krbsrvname",
  "gsslib",
  "gssdelegation",
  "service",
  "target_session_attrs",
  "load_balance_hosts",
]);

const urlHint =
  "give --db / DATABASE_URL as a URL, postgres://user@host:port/database (a password goes after user and a colon, percent-encoded: @ as %40), or as libpq keywords: host=... port=... dbname=... user=...; or leave it out and set PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE";

/**
 * The connection string node-postgres gets for `--db`: a postgres:// URL as it is (checked), or a
 * libpq keyword/value string turned into the same URL (node-postgres reads URLs only: it would
 * take `host=db password=x` for a relative URL on host "base"). Empty: libpq's PG* variables.
 * Anything else, a bad port included, is a usage error (exit 2) that prints no password.
 */
export function connectionStringOf(conninfo: string | undefined): string | undefined {
  if (conninfo === undefined || conninfo.trim() === "") return undefined;
  const shown = describeTarget(conninfo);
  if (/^\s*[a-z][a-z0-9+.-]*:\/\//i.test(conninfo)) {
    if (!/^\s*postgres(ql)?:\/\//i.test(conninfo)) {
      throw new UsageError("DB_URL_INVALID", `--db ${shown} is not a PostgreSQL URL (postgres:// or postgresql://)`, {
        hint: urlHint,
      });
    }
    try {
      new URL(conninfo.trim());
    } catch {
      throw new UsageError("DB_URL_INVALID", `--db ${shown} is not a valid URL (a bad port, host or character)`, {
        hint: urlHint,
      });
    }
    return conninfo.trim();
  }
  if (!/^\s*[A-Za-z_]+\s*=/.test(conninfo)) {
    throw new UsageError(
      "DB_URL_INVALID",
      `--db ${shown} is neither a postgres:// URL nor a libpq keyword/value string`,
      { hint: urlHint },
    );
  }
  const pairs = parseConninfoKeywords(conninfo);
  const unknown = pairs.filter(([k]) => !libpqKeywords.has(k)).map(([k]) => k);
  if (unknown.length > 0) {
    // Values are not echoed: a misspelt "password" keyword would print its secret.
    throw new UsageError(
      "DB_URL_INVALID",
      `--db (keywords ${pairs.map(([k]) => k).join(", ")}): unknown connection keyword(s) ${unknown.join(", ")}`,
      { hint: urlHint },
    );
  }
  const params = new URLSearchParams();
  let database = "";
  for (const [key, value] of pairs) {
    if (key === "dbname") database = value;
    else if (key === "hostaddr") {
      if (!pairs.some(([k]) => k === "host")) params.set("host", value);
    } else params.set(key, value);
  }
  const port = params.get("port");
  if (port !== null && !/^\d{1,5}$/.test(port)) {
    throw new UsageError("DB_URL_INVALID", `--db ${shown}: port must be a number from 1 to 65535`, { hint: urlHint });
  }
  if (port !== null && (Number(port) < 1 || Number(port) > 65535)) {
    throw new UsageError("DB_URL_INVALID", `--db ${shown}: port must be a number from 1 to 65535`, { hint: urlHint });
  }
  const query = params.toString();
  return `postgresql:///${encodeURIComponent(database)}${query ? `?${query}` : ""}`;
}

/** Socket errors that mean the server cannot be reached or the connection died. */
const socketCodes = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EAI_FAIL",
  "EAI_NONAME",
  "EHOSTUNREACH",
  "EHOSTDOWN",
  "ENETUNREACH",
  "ENETDOWN",
  "ENETRESET",
  "ERR_SOCKET_CLOSED",
  "ERR_SOCKET_CONNECTION_TIMEOUT",
  "ERR_STREAM_WRITE_AFTER_END",
]);

/** SQLSTATEs of a login the server refused or a session it ended (class 08: connection exception). */
const connectionSqlstates = new Set([
  "28P01", // invalid_password
  "28000", // invalid_authorization_specification
  "3D000", // invalid_catalog_name
  "53300", // too_many_connections
  "57P01", // admin_shutdown (pg_terminate_backend, smart/fast shutdown)
  "57P02", // crash_shutdown
  "57P03", // cannot_connect_now
  "57P05", // idle_session_timeout
]);

/** What node-postgres says when the socket closed under a client (pg/lib/client.js). */
const lostMessages =
  /^(Connection terminated( unexpectedly)?|Connection terminated due to connection timeout|timeout expired|Client has encountered a connection error and is not queryable|Query read timeout)$/;

/** The error itself, its causes and the members of an AggregateError, nearest first (bounded). */
function* errorChain(err: unknown): Generator<unknown> {
  const seen = new Set<unknown>();
  const queue: unknown[] = [err];
  while (queue.length > 0 && seen.size < 16) {
    const e = queue.shift();
    if (e === null || e === undefined || seen.has(e)) continue;
    seen.add(e);
    yield e;
    if (typeof e === "object") {
      const { cause, errors } = e as { cause?: unknown; errors?: unknown };
      if (cause !== undefined) queue.push(cause);
      if (Array.isArray(errors)) queue.push(...(errors as unknown[]));
    }
  }
}

function isLostConnectionError(e: unknown): boolean {
  if (e instanceof ConnectionError) return true;
  const { code, message } = (e ?? {}) as { code?: unknown; message?: unknown };
  if (typeof code === "string") {
    if (socketCodes.has(code) || connectionSqlstates.has(code)) return true;
    if (/^08[0-9A-Z]{3}$/.test(code)) return true; // class 08: connection exception
  }
  return typeof message === "string" && lostMessages.test(message);
}

/**
 * Is this error a failure to reach or log into the server, or a connection that died (reset,
 * broken pipe, timeout, the server or an administrator ending the session, a COPY TO or COPY
 * FROM stream cut midway, the io-timeout below)? Looks through `cause` chains and AggregateError.
 */
export function isConnectionFailure(err: unknown): boolean {
  for (const e of errorChain(err)) if (isLostConnectionError(e)) return true;
  return false;
}

/** Clients whose connection died, with the first error that said so. */
const lostClients = new WeakMap<pg.Client, unknown>();

/** The error that killed `client`'s connection, or undefined while it is alive. */
export function connectionLoss(client: pg.Client): unknown {
  return lostClients.get(client);
}

/**
 * The one classifier for errors met while a run uses database connections (dump, restore,
 * verify): the ConnectionError (exit 10) that `err` stands for, or undefined when the
 * connection is not to blame. Call it before any other mapping: a COPY cut midway surfaces as a
 * truncated row (IntegrityError), a premature close or a "not queryable" client, which would
 * otherwise read as a corrupt snapshot or a bug. `clients` are the run's connections: when one
 * of them died, an IntegrityError or an unknown error met meanwhile is that loss. `during`
 * names the work ("the dump", "the restore") for the message.
 */
export function classifyConnectionError(
  err: unknown,
  options: { url?: string | undefined; clients?: readonly pg.Client[]; during?: string } = {},
): ConnectionError | undefined {
  for (const e of errorChain(err)) if (e instanceof ConnectionError) return e;
  // A storage error (even one caused by a reset S3 socket), a refusal, a usage error or an
  // interruption stays what it is.
  if (err instanceof PgsnapError && !(err instanceof IntegrityError)) return undefined;
  const during = options.during ?? "the run";
  const lost = options.clients?.find((c) => lostClients.has(c));
  if (isConnectionFailure(err)) {
    // A bare socket error (ECONNRESET, EPIPE...) may come from the storage's socket: with the
    // run's clients known, it is the database's only when one of them died.
    if (options.clients === undefined || lost !== undefined || isDatabaseSideFailure(err)) {
      return connectionError(err, options.url, during);
    }
    return undefined;
  }
  if (lost !== undefined) {
    const loss = lostClients.get(lost);
    return loss instanceof ConnectionError ? loss : connectionError(loss, options.url, during);
  }
  return undefined;
}

/** Failures only node-postgres or the server report (SQLSTATE, pg's own messages), never a storage socket. */
function isDatabaseSideFailure(err: unknown): boolean {
  for (const e of errorChain(err)) {
    const { code, message } = (e ?? {}) as { code?: unknown; message?: unknown };
    if (typeof code === "string" && (connectionSqlstates.has(code) || /^08[0-9A-Z]{3}$/.test(code))) return true;
    if (typeof message === "string" && lostMessages.test(message)) return true;
  }
  return false;
}

/**
 * Wraps a failure of an open connection (it died during `during`) as ConnectionError (exit 10)
 * with every password shown as ***. connect() reports failures to connect itself, so whatever
 * reaches this from elsewhere happened mid-run.
 */
export function connectionError(err: unknown, url: string | undefined, during = "the run"): ConnectionError {
  if (err instanceof ConnectionError) return err;
  const e = (err ?? {}) as { code?: string; message?: string };
  const reason = redactSecrets(e.message || String(err), connectionStringSecrets(url));
  const code = e.code;
  let hint =
    "the server closed or cut the connection (restart, failover, pg_terminate_backend, a proxy or the network); nothing half-done was kept, run it again";
  if (code === "57P01" || code === "57P02" || code === "57P03") {
    hint = `the server ended the session (SQLSTATE ${code}: shutdown or pg_terminate_backend); nothing half-done was kept, run it again once the server is back`;
  }
  const what = url ? `the connection to ${describeTarget(url)}` : "the database connection";
  return new ConnectionError("CONNECTION_LOST", `${what} was lost during ${during}: ${reason}`, { hint, cause: err });
}

/** Wraps a failure to connect or log in as ConnectionError (exit 10), every password as ***. */
export function connectFailure(err: unknown, url: string | undefined): ConnectionError {
  if (err instanceof ConnectionError) return err;
  const e = (err ?? {}) as { code?: string; message?: string };
  const target = describeTarget(url);
  const reason = redactSecrets(e.message || String(err), connectionStringSecrets(url));
  const code = e.code;
  let hint = "check --db / DATABASE_URL (host, port, user, password, database) and that the server is up";
  if (code === "28P01" || code === "28000") hint = "check the user name and password in --db / DATABASE_URL";
  if (code === "3D000") hint = "check the database name in --db / DATABASE_URL";
  if (code === "ENOTFOUND" || code === "EAI_AGAIN" || code === "EAI_NONAME" || code === "EAI_FAIL") {
    hint = "the host name in --db / DATABASE_URL does not resolve; check it (and the DNS of this machine)";
  }
  if (code === "53300") hint = "the server has no free connection slots; retry later or raise max_connections";
  return new ConnectionError(`CONNECT_${code ?? "FAILED"}`, `cannot connect to ${target}: ${reason}`, {
    hint,
    cause: err,
  });
}

/** How long TCP waits on a silent connection before its first keepalive probe. */
const keepAliveInitialDelayMs = 30_000;
const connectTimeoutMs = 15_000;

/**
 * Opens one client with the pinned session settings applied. The caller ends it.
 * Fails with ConnectionError (exit 10) when the server cannot be reached or refuses the login.
 * TCP keepalives are on; with `ioTimeoutMs` the connection is watched (see `watchIo`).
 */
export async function connect(options: ConnectOptions): Promise<pg.Client> {
  const io = options.ioTimeoutMs && options.ioTimeoutMs > 0 ? options.ioTimeoutMs : 0;
  const connectionString = connectionStringOf(options.url);
  const client = new pgModule.Client({
    ...(connectionString ? { connectionString } : {}),
    application_name: options.applicationName ?? "pgsnap",
    connectionTimeoutMillis: io > 0 ? Math.min(io, connectTimeoutMs) : connectTimeoutMs,
    keepAlive: true,
    keepAliveInitialDelayMillis: keepAliveInitialDelayMs,
  });
  // An idle client whose socket dies emits 'error'; without a listener Node would crash. The
  // first such error is kept: it explains whatever fails next on this client.
  client.on("error", (err) => {
    if (!lostClients.has(client)) lostClients.set(client, err);
  });
  client.on("end", () => {
    if (!lostClients.has(client) && !(client as unknown as { _ending?: boolean })._ending) {
      lostClients.set(client, new Error("Connection terminated unexpectedly"));
    }
  });
  try {
    await client.connect();
    if (io > 0) watchIo(client, options, io);
    await client.query(pinnedSettingsSql(options.lockTimeoutMs ?? 30_000));
  } catch (err) {
    await client.end().catch(() => {});
    throw connectFailure(err, options.url);
  }
  return client;
}

/** node-postgres internals read by the watchdog (pg 8: client.js, connection.js). */
interface PgInternals {
  connection: { stream: Socket };
  processID: number | null;
  _activeQuery: unknown;
  _queryQueue: unknown[];
  _ending?: boolean;
}

/**
 * The io-timeout watchdog. The socket's idle timer fires after `ioTimeoutMs` with no byte read
 * or written. Idle is only suspicious while pgsnap waits on the server: not between queries, and
 * not while pgsnap itself holds back (bytes the server sent wait unread in the socket: a slow
 * storage applying backpressure). Then a fresh connection, itself bounded by the timeout, asks
 * pg_stat_activity about this backend: `active` and not waiting on the client is a busy server
 * (a long sort before the first COPY byte, a long INSERT ... SELECT), so the timer starts again.
 * A probe that cannot connect or answer, a backend that is gone, idle while a query is pending,
 * or blocked sending to / reading from a client that is not there, is a stall: the socket is
 * destroyed with a ConnectionError, which fails every query of the client (exit 10).
 */
function watchIo(client: pg.Client, options: ConnectOptions, ioTimeoutMs: number): void {
  const pgc = client as unknown as PgInternals;
  const socket = pgc.connection.stream;
  let probing = false;
  const arm = () => socket.setTimeout(ioTimeoutMs);
  socket.on("timeout", () => {
    if (probing || socket.destroyed) return;
    probing = true;
    void (async () => {
      try {
        const stall = await findStall(pgc, socket, options, ioTimeoutMs);
        if (stall === undefined || socket.destroyed) return;
        const seconds = ioTimeoutMs / 1000;
        socket.destroy(
          new ConnectionError(
            "DB_IO_TIMEOUT",
            `the connection to ${describeTarget(options.url)} moved no bytes for ${seconds} s (--io-timeout): ${stall}`,
            {
              hint: "check the network, proxy or pooler between pgsnap and PostgreSQL; if the server is just slow, raise --io-timeout / PGSNAP_IO_TIMEOUT (0 turns it off)",
            },
          ),
        );
      } finally {
        probing = false;
        if (!socket.destroyed) arm();
      }
    })();
  });
  arm();
}

/** Why the idle connection counts as stalled, or undefined when it does not. */
async function findStall(
  pgc: PgInternals,
  socket: Socket,
  options: ConnectOptions,
  ioTimeoutMs: number,
): Promise<string | undefined> {
  const active = pgc._activeQuery;
  if (!active && pgc._queryQueue.length === 0) return undefined; // nothing awaited from the server
  if (socket.readableLength > 0) return undefined; // pgsnap is the slow side (backpressure)
  const before = [socket.bytesRead, socket.bytesWritten];
  const state = await probeBackend(pgc.processID, options, ioTimeoutMs);
  if (socket.bytesRead !== before[0] || socket.bytesWritten !== before[1]) return undefined; // moving again
  if (state.kind === "unknown") return undefined;
  if (state.kind === "unreachable") return `a fresh connection could not reach the server either (${state.reason})`;
  if (state.kind === "gone") return "its server process is gone";
  const { row } = state;
  // NULL: the probe may not see this session (another role, a pooler): it cannot tell.
  if (row.state === null) return undefined;
  if (row.state !== "active") return `the server is ${row.state} while pgsnap waits for an answer`;
  if (row.wait_event === "ClientWrite") return "the server is blocked sending to pgsnap";
  if (row.wait_event === "ClientRead") {
    // COPY FROM STDIN still being fed and nothing queued: the server waits on pgsnap's own source.
    const feeding = active as { writableEnded?: unknown } | null;
    const copyIn = typeof feeding?.writableEnded === "boolean" && !feeding.writableEnded;
    if (copyIn && socket.writableLength === 0) return undefined;
    return "the server is waiting for bytes pgsnap sent";
  }
  return undefined; // busy: a sort, I/O, a lock, pg_sleep...
}

type ProbeResult =
  | { kind: "row"; row: { state: string | null; wait_event: string | null } }
  | { kind: "gone" }
  | { kind: "unreachable"; reason: string }
  | { kind: "unknown" };

/** Asks pg_stat_activity about backend `pid` over a fresh connection bounded by the timeout. */
async function probeBackend(pid: number | null, options: ConnectOptions, ioTimeoutMs: number): Promise<ProbeResult> {
  if (pid === null) return { kind: "unknown" };
  const connectionString = connectionStringOf(options.url);
  const probe = new pgModule.Client({
    ...(connectionString ? { connectionString } : {}),
    application_name: "pgsnap-io-probe",
    connectionTimeoutMillis: ioTimeoutMs,
    query_timeout: ioTimeoutMs,
  });
  probe.on("error", () => {});
  try {
    await probe.connect();
    const r = await probe.query<{ state: string | null; wait_event: string | null }>(
      "SELECT state, wait_event FROM pg_catalog.pg_stat_activity WHERE pid = $1",
      [pid],
    );
    const row = r.rows[0];
    return row ? { kind: "row", row } : { kind: "gone" };
  } catch (err) {
    // The server answered (too many connections, a login refused): it is reachable, so this
    // says nothing about the watched connection.
    const code = (err as { code?: unknown }).code;
    if (typeof code === "string" && /^[0-9A-Z]{5}$/.test(code)) return { kind: "unknown" };
    return { kind: "unreachable", reason: (err as Error).message || String(err) };
  } finally {
    void probe.end().catch(() => {});
  }
}
