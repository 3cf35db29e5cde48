/**
 * The operations view of the config (CLI.md, "Operations"): every project resolved to what a
 * backup needs, every job with its projects, every notifier. Built from the config file, or,
 * without one, from the environment alone (one project, one job named `default`: the
 * container's usual setup). `run`, `schedule`, `config check`, `notify test` and `doctor` read
 * this, never the raw file.
 */
import { UsageError } from "../errors.js";
import type { TableRule } from "../db/plan.js";
import type { S3Settings } from "../storage/storage.js";
import { configPathOf, type GlobalFlags } from "./config.js";
import { checkConfig, configError, loadConfigFile } from "./load.js";
import type { ConfigFile, ConfigProblem, Env, JobConfig, NotifierConfig, NotifyOn, ProjectConfig } from "./schema.js";
import { s3Settings, urlSecrets } from "./secrets.js";

/** Everything needed to back up one project. */
export interface ProjectTarget {
  name: string;
  /** Connection URL; undefined only for a one-project file without db (then libpq PG* applies). */
  dbUrl: string | undefined;
  storageUrl: string;
  s3: S3Settings | undefined;
  tenantColumn: string;
  rules: Record<string, TableRule>;
  tenantNames: ProjectConfig["tenantNames"];
}

/** What a job dumps. */
export type JobScope = "all-tenants" | "full" | { tenants: string[] };

/** Retention of a job (as `pgsnap prune`). */
export interface JobRetention {
  keepLast?: number | undefined;
  keepDaily?: number | undefined;
  keepWeekly?: number | undefined;
  keepMonthly?: number | undefined;
}

/** One job, its defaults filled in. */
export interface JobDefinition {
  name: string;
  /** undefined only for the env-built `default` job without PGSNAP_SCHEDULE (run, not schedule). */
  cron: string | undefined;
  timezone: string;
  /** Project names, in config order. */
  projects: string[];
  scope: JobScope;
  verify: "none" | "checksums" | "restore-test";
  retention: JobRetention | undefined;
  notify: string[];
}

/** One notifier with its name and `on` filter resolved. */
export type Notifier = NotifierConfig & { name: string; on: NotifyOn[] };

/** The resolved operations config. */
export interface Operations {
  /** Where it came from: a file, or the environment alone. */
  source: "file" | "env";
  configPath: string | undefined;
  projects: ProjectTarget[];
  jobs: JobDefinition[];
  notifiers: Notifier[];
  /** Port of the health server (`--health-port`, PGSNAP_HEALTH_PORT). */
  healthPort: number | undefined;
  /** Address it binds (PGSNAP_HEALTH_HOST, default 0.0.0.0 so container probes reach it). */
  healthHost: string;
  /** Strings that must never be printed. */
  secrets: string[];
}

export interface OperationsFlags extends GlobalFlags {
  healthPort?: number | undefined;
}

export interface LoadOperationsOptions {
  /** `schedule` needs a cron: without a file, PGSNAP_SCHEDULE is required. */
  requireCron?: boolean | undefined;
}

const defaultOn: NotifyOn[] = ["failure", "warning"];
const list = (v: string | undefined) =>
  (v ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);

/** Where each env-built key comes from, so a problem names the variable, not a path. */
const envNames: [RegExp, string][] = [
  [/^jobs\.default\.cron/, "PGSNAP_SCHEDULE"],
  [/^jobs\.default\.timezone/, "PGSNAP_TIMEZONE"],
  [/^jobs\.default\.scope/, "PGSNAP_SCOPE"],
  [/^jobs\.default\.verify/, "PGSNAP_VERIFY"],
  [/^jobs\.default\.retention\.keepLast/, "PGSNAP_KEEP_LAST"],
  [/^jobs\.default\.retention\.keepDaily/, "PGSNAP_KEEP_DAILY"],
  [/^jobs\.default\.retention\.keepWeekly/, "PGSNAP_KEEP_WEEKLY"],
  [/^jobs\.default\.retention\.keepMonthly/, "PGSNAP_KEEP_MONTHLY"],
  [/^notify\.email\.smtp/, "PGSNAP_SMTP_URL"],
  [/^notify\.email\.from/, "PGSNAP_MAIL_FROM"],
  [/^notify\.email\.to/, "PGSNAP_MAIL_TO"],
  [/^notify\.\w+\.on/, "PGSNAP_NOTIFY_ON"],
  [/^notify\.webhook\.url/, "PGSNAP_WEBHOOK_URL"],
  [/^notify\.webhook\.secret/, "PGSNAP_WEBHOOK_SECRET"],
  [/^projects\.[^.]+\.tenantColumn/, "PGSNAP_TENANT_COLUMN"],
  [/^projects\.[^.]+\.storage/, "PGSNAP_STORAGE"],
  [/^projects\.[^.]+\.db/, "DATABASE_URL"],
];

function envNumber(env: Env, name: string, problems: ConfigProblem[]): number | undefined {
  const v = env[name];
  if (v === undefined || v === "") return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) {
    problems.push({ path: name, message: `must be a whole number, got "${v}"` });
    return undefined;
  }
  return n;
}

/** The job `default` from PGSNAP_SCHEDULE, PGSNAP_SCOPE, ... (undefined cron when unset). */
function envJob(env: Env, problems: ConfigProblem[]): Record<string, unknown> {
  const retention = {
    keepLast: envNumber(env, "PGSNAP_KEEP_LAST", problems),
    keepDaily: envNumber(env, "PGSNAP_KEEP_DAILY", problems),
    keepWeekly: envNumber(env, "PGSNAP_KEEP_WEEKLY", problems),
    keepMonthly: envNumber(env, "PGSNAP_KEEP_MONTHLY", problems),
  };
  const job: Record<string, unknown> = { cron: env["PGSNAP_SCHEDULE"] ?? "0 3 * * *", projects: "*" };
  if (env["PGSNAP_TIMEZONE"]) job["timezone"] = env["PGSNAP_TIMEZONE"];
  if (env["PGSNAP_SCOPE"]) job["scope"] = env["PGSNAP_SCOPE"];
  if (env["PGSNAP_VERIFY"]) job["verify"] = env["PGSNAP_VERIFY"];
  if (Object.values(retention).some((v) => v !== undefined))
    job["retention"] = Object.fromEntries(Object.entries(retention).filter(([, v]) => v !== undefined));
  return job;
}

/** Notifiers from PGSNAP_SMTP_URL / PGSNAP_MAIL_* and PGSNAP_WEBHOOK_URL. */
function envNotifiers(env: Env): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const on = env["PGSNAP_NOTIFY_ON"] ? { on: list(env["PGSNAP_NOTIFY_ON"]) } : {};
  if (env["PGSNAP_SMTP_URL"])
    out["email"] = {
      type: "email",
      smtp: "${PGSNAP_SMTP_URL}",
      from: env["PGSNAP_MAIL_FROM"] ?? "pgsnap@localhost",
      to: list(env["PGSNAP_MAIL_TO"]),
      ...on,
    };
  if (env["PGSNAP_WEBHOOK_URL"])
    out["webhook"] = {
      type: "webhook",
      url: "${PGSNAP_WEBHOOK_URL}",
      ...(env["PGSNAP_WEBHOOK_SECRET"] ? { secret: "${PGSNAP_WEBHOOK_SECRET}" } : {}),
      ...on,
    };
  return out;
}

/** The database name of a URL, for the default project label. */
function databaseName(url: string): string | undefined {
  try {
    const name = decodeURIComponent(new URL(url).pathname.replace(/^\//, ""));
    return name || undefined;
  } catch {
    return undefined;
  }
}

/**
 * Loads the operations config: the file (--config, PGSNAP_CONFIG, ./pgsnap.config.json), or the
 * environment alone. Every problem is reported at once (exit 2), naming key paths or variables.
 */
export function loadOperations(
  flags: OperationsFlags,
  env: Env = process.env,
  options: LoadOperationsOptions = {},
): Operations {
  const configPath = configPathOf(flags, env);
  if (configPath !== undefined) return fromFile(configPath, loadConfigFile(configPath, env), flags, env, options);
  return fromEnv(flags, env, options);
}

function fromEnv(flags: OperationsFlags, env: Env, options: LoadOperationsOptions): Operations {
  const problems: ConfigProblem[] = [];
  const dbUrl = flags.db ?? env["DATABASE_URL"];
  if (!dbUrl)
    problems.push({
      path: "DATABASE_URL",
      message: "is not set (without a config file, run and schedule back up the database DATABASE_URL names)",
    });
  if (options.requireCron && !env["PGSNAP_SCHEDULE"])
    problems.push({ path: "PGSNAP_SCHEDULE", message: 'is not set (the cron of the job, e.g. "0 3 * * *")' });
  // A scheduler has no default storage: in a container ./backups is the container's own
  // throwaway file system, so every backup would vanish with it.
  if (options.requireCron && !(flags.storage ?? env["PGSNAP_STORAGE"]))
    problems.push({
      path: "PGSNAP_STORAGE",
      message: "is not set (where the scheduler writes snapshots: s3://bucket/prefix, or a directory on a volume)",
    });
  const project = flags.project ?? env["PGSNAP_PROJECT"] ?? (dbUrl ? databaseName(dbUrl) : undefined) ?? "default";
  const raw = {
    projects: { [project]: envProject(flags, env) },
    jobs: { default: envJob(env, problems) },
    notify: envNotifiers(env),
  };
  const checked = checkConfig(raw, envWithFlags(flags, env));
  for (const p of checked.problems) problems.push({ path: envName(p.path), message: p.message });
  if (problems.length > 0 || !checked.ok)
    throw configError(
      "from the environment (no config file)",
      problems,
      "set the named variables (README: Run it every night)",
    );
  const ops = fromFile(undefined, checked.config, { healthPort: flags.healthPort }, env, options);
  if (!env["PGSNAP_SCHEDULE"]) ops.jobs[0]!.cron = undefined;
  return { ...ops, source: "env" };
}

/** The variable an env-built key path comes from (the path itself when none). */
function envName(path: string): string {
  const p = path.replace(/^projects\.[^.]+\./, "projects.x.");
  return envNames.find(([re]) => re.test(p))?.[1] ?? path;
}

/** Flags that stand in for variables in the env-built config. */
function envWithFlags(flags: OperationsFlags, env: Env): Env {
  return {
    ...env,
    PGSNAP_FLAG_DB: flags.db ?? env["DATABASE_URL"],
    PGSNAP_FLAG_STORAGE: flags.storage ?? env["PGSNAP_STORAGE"],
    PGSNAP_FLAG_TENANT_COLUMN: flags.tenantColumn ?? env["PGSNAP_TENANT_COLUMN"],
  };
}

/**
 * The env-built project. Values are `${VAR}` references, so secrets are read from the
 * environment by the schema (never "written literally") and problems name the variable.
 */
function envProject(flags: OperationsFlags, env: Env): Record<string, string> {
  const e = envWithFlags(flags, env);
  return {
    ...(e["PGSNAP_FLAG_DB"] ? { db: "${PGSNAP_FLAG_DB}" } : {}),
    ...(e["PGSNAP_FLAG_STORAGE"] ? { storage: "${PGSNAP_FLAG_STORAGE}" } : {}),
    ...(e["PGSNAP_FLAG_TENANT_COLUMN"] ? { tenantColumn: "${PGSNAP_FLAG_TENANT_COLUMN}" } : {}),
  };
}

function fromFile(
  configPath: string | undefined,
  file: ConfigFile,
  flags: OperationsFlags,
  env: Env,
  options: LoadOperationsOptions,
): Operations {
  const names = Object.keys(file.projects ?? {});
  const { s3, secrets } = s3Settings(env, file);
  const one = names.length === 1;
  const projects: ProjectTarget[] = names.map((name) => {
    const p = file.projects![name]!;
    // With several projects each names its own db: DATABASE_URL must not point them all at one.
    const dbUrl = one ? (flags.db ?? env["DATABASE_URL"] ?? p.db) : p.db;
    secrets.push(...urlSecrets(dbUrl));
    return {
      name,
      dbUrl,
      storageUrl: flags.storage ?? env["PGSNAP_STORAGE"] ?? p.storage ?? file.storage ?? "./backups",
      s3,
      tenantColumn:
        flags.tenantColumn ?? env["PGSNAP_TENANT_COLUMN"] ?? p.tenantColumn ?? file.tenantColumn ?? "user_id",
      rules: p.tables ?? {},
      tenantNames: p.tenantNames,
    };
  });
  let jobEntries = Object.entries(file.jobs ?? {});
  const problems: ConfigProblem[] = [];
  if (jobEntries.length === 0 && configPath !== undefined) {
    // A file of projects only: the job comes from the environment (PGSNAP_SCHEDULE, ...).
    if (options.requireCron && !env["PGSNAP_SCHEDULE"])
      problems.push({ path: "jobs", message: "no jobs in the file (and PGSNAP_SCHEDULE is not set)" });
    const r = checkConfig({ projects: { _: {} }, jobs: { default: envJob(env, problems) } }, env);
    if (r.ok) jobEntries = Object.entries(r.config.jobs ?? {});
    else problems.push(...r.problems.map((p) => ({ ...p, path: envName(p.path) })));
  }
  if (problems.length > 0) throw configError(configPath ?? "from the environment", problems);
  const jobs: JobDefinition[] = jobEntries.map(([name, j]: [string, JobConfig]) => ({
    name,
    cron: j.cron,
    timezone: j.timezone ?? "UTC",
    projects: j.projects === undefined || j.projects === "*" ? names : j.projects,
    scope: j.scope ?? "all-tenants",
    verify: j.verify ?? "checksums",
    retention: j.retention,
    notify: j.notify ?? [],
  }));
  let notifyEntries = Object.entries(file.notify ?? {});
  if (notifyEntries.length === 0 && configPath !== undefined) {
    const r = checkConfig({ notify: envNotifiers(env) }, env);
    if (!r.ok)
      throw configError(
        "from the environment",
        r.problems.map((p) => ({ ...p, path: envName(p.path) })),
      );
    notifyEntries = Object.entries(r.config.notify ?? {});
  }
  const notifiers: Notifier[] = notifyEntries.map(([name, n]) => ({ ...n, name, on: n.on ?? defaultOn }));
  // A job without a notify list reports to every notifier (the env-built setup has no list).
  if (configPath === undefined || Object.keys(file.jobs ?? {}).length === 0)
    for (const j of jobs) if (j.notify.length === 0) j.notify = notifiers.map((n) => n.name);
  for (const n of notifiers) {
    if (n.type === "email") secrets.push(...urlSecrets(n.smtp));
    else if (n.secret) secrets.push(n.secret);
  }
  const portText = flags.healthPort !== undefined ? String(flags.healthPort) : env["PGSNAP_HEALTH_PORT"];
  let healthPort: number | undefined;
  if (portText !== undefined && portText !== "") {
    healthPort = Number(portText);
    if (!Number.isInteger(healthPort) || healthPort < 0 || healthPort > 65535)
      throw new UsageError("CONFIG_INVALID", `PGSNAP_HEALTH_PORT must be a port number, got "${portText}"`);
  }
  const healthHost = env["PGSNAP_HEALTH_HOST"] || "0.0.0.0";
  return { source: "file", configPath, projects, jobs, notifiers, healthPort, healthHost, secrets };
}

/** The jobs named (or all with `all`), refusing unknown names (exit 2). */
export function selectJobs(ops: Operations, names: readonly string[], all: boolean): JobDefinition[] {
  if (all) {
    if (ops.jobs.length === 0)
      throw new UsageError("NO_JOBS", `no jobs in ${ops.configPath ?? "the environment"}`, {
        hint: 'add "jobs" to the config (README: Run it every night)',
      });
    return ops.jobs;
  }
  if (names.length === 0)
    throw new UsageError("RUN_NO_JOB", "name the jobs to run, or pass --all", {
      hint: `jobs: ${ops.jobs.map((j) => j.name).join(", ") || "none"}`,
    });
  const unknown = names.filter((n) => !ops.jobs.some((j) => j.name === n));
  if (unknown.length > 0)
    throw new UsageError("JOB_UNKNOWN", `no job ${unknown.map((n) => `"${n}"`).join(", ")}`, {
      hint: `jobs: ${ops.jobs.map((j) => j.name).join(", ") || "none"}`,
    });
  return names.map((n) => ops.jobs.find((j) => j.name === n)!);
}
