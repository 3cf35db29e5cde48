/**
 * `pgsnap doctor`: tells before the first night whether a backup (and a restore) would work.
 * Every check yields findings (`ok`, `warning`, `error`); an `error` carries the exit code the
 * real run would fail with, and the first one decides doctor's exit code (CLI.md). Nothing here
 * writes to the database; the storage check writes, reads and deletes one probe object.
 */
import { randomBytes } from "node:crypto";
import type pg from "pg";
import { ExitCode, PgsnapError } from "../errors.js";
import { identityKey, readCatalog, type Catalog, type TableInfo } from "../db/catalog.js";
import { connect, describeTarget, type ConnectOptions } from "../db/connect.js";
import { planTenants, type TableRule, type TenantPlan } from "../db/plan.js";
import { quoteIdent, quoteTable } from "../db/quote.js";
import { readSql } from "../db/sql-files.js";
import { projectPrefix } from "../storage/keys.js";
import type { Storage } from "../storage/storage.js";

export type CheckStatus = "ok" | "warning" | "error";

/** One finding (CLI.md, `doctor` JSON). */
export interface DoctorCheck {
  check: string;
  status: CheckStatus;
  /** What it is about: a table, a role, a storage location; null for the run as a whole. */
  object: string | null;
  message: string;
  hint: string | null;
  /** The exit code a real run would fail with; only on errors. */
  exitCode?: number | undefined;
  /** The project checked (with `--project all` several are). */
  project?: string | undefined;
}

export interface DoctorOptions {
  connection: ConnectOptions;
  /** The storage to probe; undefined skips the storage check. */
  storage?: Storage | undefined;
  /** Project label (storage prefix of the probe); defaults to the database name. */
  project?: string | undefined;
  tenantColumn: string;
  rules?: Readonly<Record<string, TableRule>> | undefined;
  signal?: AbortSignal | undefined;
}

const ok = (check: string, object: string | null, message: string): DoctorCheck => ({
  check,
  status: "ok",
  object,
  message,
  hint: null,
});
const warning = (check: string, object: string | null, message: string, hint: string | null): DoctorCheck => ({
  check,
  status: "warning",
  object,
  message,
  hint,
});
const error = (
  check: string,
  object: string | null,
  message: string,
  hint: string | null,
  exitCode: number,
): DoctorCheck => ({ check, status: "error", object, message, hint, exitCode });

/** The finding for an error thrown by a step (its code, message and hint). */
function fromError(check: string, object: string | null, err: unknown): DoctorCheck {
  if (err instanceof PgsnapError) return error(check, object, err.message, err.hint ?? null, err.exitCode);
  return error(check, object, (err as Error)?.message ?? String(err), null, ExitCode.internal);
}

/** Exit code of a doctor run: 0 when nothing blocks a backup, else the first error's. */
export function doctorExitCode(checks: readonly DoctorCheck[]): number {
  return checks.find((c) => c.status === "error")?.exitCode ?? ExitCode.ok;
}

/** Runs every database and storage check for one project. */
export async function doctor(options: DoctorOptions): Promise<DoctorCheck[]> {
  const checks: DoctorCheck[] = [];
  let client: pg.Client | undefined;
  let project = options.project;
  try {
    client = await connect(options.connection);
  } catch (err) {
    checks.push(fromError("connection", describeTarget(options.connection.url), err));
  }
  if (client) {
    try {
      const catalog = await readCatalog(client);
      project ??= catalog.role.database;
      checks.push(
        ok(
          "connection",
          describeTarget(options.connection.url),
          `connected as ${catalog.role.role} to database ${catalog.role.database}: PostgreSQL ${catalog.role.serverVersion}`,
        ),
      );
      checks.push(...(await databaseChecks(client, catalog, options)));
    } catch (err) {
      checks.push(fromError("database", null, err));
    } finally {
      await client.end().catch(() => {});
    }
  }
  if (options.storage) checks.push(await storageCheck(options.storage, project ?? "pgsnap", options.signal));
  return checks;
}

async function databaseChecks(client: pg.Client, catalog: Catalog, options: DoctorOptions): Promise<DoctorCheck[]> {
  const out: DoctorCheck[] = [];
  const role = catalog.role;
  const tables = [...catalog.tables.values()];
  out.push(
    ok(
      "role",
      role.role,
      `role ${role.role}: ${role.superuser ? "superuser" : "not superuser"}, ${role.bypassrls || role.superuser ? "bypasses" : "does not bypass"} row-level security`,
    ),
  );

  // SELECT on every table: a dump reads every row of every table it covers.
  const privileges = await client.query<{ table_oid: string; can_select: boolean }>(readSql("doctor/privileges.sql"), [
    tables.map((t) => t.oid),
  ]);
  const denied = new Set(privileges.rows.filter((r) => !r.can_select).map((r) => Number(r.table_oid)));
  for (const t of tables.filter((t) => denied.has(t.oid))) {
    out.push(
      error(
        "select-privilege",
        t.id,
        `role ${role.role} may not SELECT ${t.id}; a dump would fail`,
        `GRANT SELECT ON ${quoteTable(t)} TO ${quoteIdent(role.role)}; (see sql/roles.sql), or leave it out with --exclude-tables`,
        ExitCode.usage,
      ),
    );
  }
  if (denied.size === 0)
    out.push(ok("select-privilege", null, `role ${role.role} may read all ${tables.length} tables`));

  // Row-level security: the dump runs with row_security = off, which fails rather than filter.
  const rls = tables.filter((t) => t.rlsEnabled);
  const filtered = role.superuser || role.bypassrls ? [] : rls.filter((t) => !t.isOwner || t.rlsForced);
  for (const t of filtered) {
    out.push(
      error(
        "row-level-security",
        t.id,
        `row-level security is enabled on ${t.id} and role ${role.role} does not bypass it; a dump would refuse (no row may be silently left out)`,
        `ALTER ROLE ${quoteIdent(role.role)} BYPASSRLS; (or connect as Supabase's postgres user), or leave ${t.id} out with --exclude-tables`,
        ExitCode.refused,
      ),
    );
  }
  if (filtered.length === 0)
    out.push(
      ok(
        "row-level-security",
        null,
        rls.length === 0
          ? "no table has row-level security"
          : `${rls.length} table(s) with row-level security; the role bypasses it`,
      ),
    );

  let plan: TenantPlan;
  try {
    plan = planTenants(catalog, options.tenantColumn, options.rules);
  } catch (err) {
    out.push(fromError("tenant-plan", null, err));
    return out;
  }
  const plans = [...plan.tables.values()];
  const tenantPlans = plans.filter((p) => p.scope !== "global");
  if (tenantPlans.length === 0) {
    out.push(
      warning(
        "tenant-plan",
        null,
        `no table has the tenant column ${options.tenantColumn} or reaches one through foreign keys; only full dumps are possible`,
        "set --tenant-column (or tenantColumn in the config) to the column that tells tenants apart",
      ),
    );
  } else {
    const by = (s: string) => plans.filter((p) => p.scope === s).length;
    out.push(
      ok(
        "tenant-plan",
        null,
        `tenant column ${options.tenantColumn}: ${by("direct")} direct, ${by("via")} via foreign keys, ${by("custom")} custom, ${by("global")} global table(s)`,
      ),
    );
  }

  // Indexes: a per-tenant dump filters each table by the tenant column (direct) or by the foreign
  // key to its parent (via); without an index each tenant costs a full scan of the table.
  const indexes = new Map<number, (string | null)[][]>();
  for (const r of (await client.query<{ table_oid: string; columns: (string | null)[] }>(readSql("doctor/indexes.sql")))
    .rows) {
    const list = indexes.get(Number(r.table_oid)) ?? [];
    list.push(r.columns);
    indexes.set(Number(r.table_oid), list);
  }
  const hasIndexOn = (t: TableInfo, cols: readonly string[]) =>
    (indexes.get(t.oid) ?? []).some((ix) => cols.every((c, i) => ix[i] === c));
  let missing = 0;
  for (const p of tenantPlans) {
    if (p.scope === "direct" && p.column && !hasIndexOn(p.table, [p.column.name])) {
      missing++;
      out.push(
        warning(
          "tenant-index",
          p.table.id,
          `${p.table.id} has no index on its tenant column ${p.column.name}: every tenant dump or restore scans the whole table`,
          `CREATE INDEX CONCURRENTLY ON ${quoteTable(p.table)} (${quoteIdent(p.column.name)});`,
        ),
      );
    }
    if (p.scope === "via" && p.fk && !hasIndexOn(p.table, p.fk.columns)) {
      missing++;
      out.push(
        warning(
          "fk-index",
          p.table.id,
          `${p.table.id} reaches its tenant through foreign key ${p.fk.name} (${p.fk.columns.join(", ")} → ${p.fk.refTable}) without an index on ${p.fk.columns.join(", ")}: every tenant dump or restore scans the whole table`,
          `CREATE INDEX CONCURRENTLY ON ${quoteTable(p.table)} (${p.fk.columns.map(quoteIdent).join(", ")});`,
        ),
      );
    }
  }
  if (missing === 0 && tenantPlans.length > 0)
    out.push(ok("tenant-index", null, "every tenant filter and foreign-key path can use an index"));

  // Tables without a key: restore can only match whole rows.
  for (const p of tenantPlans.filter((p) => identityKey(p.table) === undefined)) {
    out.push(
      warning(
        "primary-key",
        p.table.id,
        `${p.table.id} has no primary key (nor a unique key of NOT NULL columns): restore matches whole rows, so a changed row is deleted and inserted again, and duplicates cannot be told apart`,
        `add a primary key: ALTER TABLE ${quoteTable(p.table)} ADD PRIMARY KEY (...);`,
      ),
    );
  }

  // Triggers and rules fire on restore's writes.
  const mayDisable = (t: TableInfo) => role.superuser || t.isOwner;
  for (const p of tenantPlans.filter((p) => p.table.triggers.length > 0)) {
    const names = p.table.triggers.map((t) => t.name).join(", ");
    out.push(
      warning(
        "triggers",
        p.table.id,
        mayDisable(p.table)
          ? `${p.table.id} has user trigger(s) ${names}; restore disables them while it writes (the role owns the table)`
          : `${p.table.id} has user trigger(s) ${names} that role ${role.role} may not disable; a restore refuses unless --triggers fire`,
        mayDisable(p.table)
          ? "check that nothing depends on these triggers firing for restored rows (audit, stock, webhooks)"
          : "restore as the table's owner, or pass --triggers fire if firing them again is safe",
      ),
    );
  }
  const rulesByTable = new Map<TableInfo, string[]>();
  for (const p of tenantPlans)
    if (p.table.rules.length > 0)
      rulesByTable.set(
        p.table,
        p.table.rules.map((r) => r.name),
      );
  for (const [t, names] of rulesByTable) {
    out.push(
      warning(
        "rules",
        t.id,
        `${t.id} has rewrite rule(s) ${names.join(", ")}: restore's deletes, updates and inserts go through them`,
        "check what the rules do to restored rows; restore with --dry-run first",
      ),
    );
  }

  out.push(await poolerCheck(client, options.connection.url));
  return out;
}

/**
 * A transaction pooler (pgbouncer pool_mode=transaction, Supabase's port 6543) hands each
 * transaction to any server connection: session settings and exported snapshots are lost.
 */
async function poolerCheck(client: pg.Client, url: string | undefined): Promise<DoctorCheck> {
  const pids = new Set<number>();
  for (let i = 0; i < 3; i++) {
    pids.add((await client.query<{ pid: number }>("SELECT pg_catalog.pg_backend_pid() AS pid")).rows[0]!.pid);
  }
  if (pids.size > 1) {
    return error(
      "pooler",
      describeTarget(url),
      "the connection goes through a transaction pooler: consecutive statements ran on different server sessions, so pinned settings and the dump's shared snapshot would be lost",
      "connect directly or through a session pooler (Supabase: the direct connection or port 5432 of the pooler)",
      ExitCode.connection,
    );
  }
  let port: string | undefined;
  try {
    port = url ? new URL(url).port : undefined;
  } catch {
    port = undefined;
  }
  if (port === "6543") {
    return warning(
      "pooler",
      describeTarget(url),
      "port 6543 is Supabase's transaction pooler: session state is lost between transactions",
      "use the direct connection or the session pooler (port 5432)",
    );
  }
  return ok("pooler", null, "one server session for the whole connection (no transaction pooler)");
}

/** Writes, reads back and deletes one probe object under the project's prefix. */
export async function storageCheck(storage: Storage, project: string, signal?: AbortSignal): Promise<DoctorCheck> {
  const key = `${projectPrefix(project)}.pgsnap-doctor-${randomBytes(6).toString("hex")}`;
  const body = Buffer.from(`pgsnap doctor probe ${new Date().toISOString()}\n`);
  try {
    await storage.putBytes(key, body, { signal });
    const back = await storage.getBytes(key, { signal });
    await storage.delete([key], { signal });
    if (!back.equals(body)) {
      return error(
        "storage",
        storage.location,
        `storage ${storage.location} returned other bytes than were written to ${key}`,
        "check the storage backend (a proxy or gateway altering objects?)",
        ExitCode.storage,
      );
    }
    if (await storage.stat(key, { signal })) {
      return error(
        "storage",
        storage.location,
        `storage ${storage.location} still lists ${key} after deleting it; prune could not free space`,
        "check the role's delete permission on the bucket or directory",
        ExitCode.storage,
      );
    }
    return ok("storage", storage.location, `storage ${storage.location} is writable, readable and deletable`);
  } catch (err) {
    await storage.delete([key]).catch(() => {});
    return fromError("storage", storage.location, err);
  }
}
