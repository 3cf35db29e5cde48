/**
 * Configuration: file → environment → flags (later wins). Only this module reads process.env.
 * Config errors are collected and reported together, unknown keys included.
 */
import { existsSync, readFileSync } from "node:fs";
import { connectionStringSecrets, UsageError } from "../errors.js";
import type { TableRule } from "../db/plan.js";
import type { S3Settings } from "../storage/storage.js";

/** How tenants get a display name in `pgsnap tenants` and the restore menu. */
export interface TenantNames {
  /** SQL returning (id, name) rows. */
  query?: string;
  /** Or a table and its id / name columns. */
  table?: string;
  id?: string;
  name?: string;
}

export interface ProjectConfig {
  db?: string;
  tenantColumn?: string;
  tables?: Record<string, TableRule>;
  tenantNames?: TenantNames;
  storage?: string;
  schedule?: unknown;
  retention?: unknown;
  notify?: unknown;
}

export interface ConfigFile {
  storage?: string;
  s3?: { endpoint?: string; region?: string; partSize?: number; pathStyle?: boolean };
  tenantColumn?: string;
  projects?: Record<string, ProjectConfig>;
  schedule?: unknown;
  notify?: unknown;
  retention?: unknown;
}

/** Global flags as commander gives them. */
export interface GlobalFlags {
  db?: string | undefined;
  storage?: string | undefined;
  config?: string | undefined;
  project?: string | undefined;
  tenantColumn?: string | undefined;
  /** `--io-timeout <seconds>` as typed. */
  ioTimeout?: string | undefined;
}

/** Everything a command needs to reach the database and the storage, resolved. */
export interface ResolvedConfig {
  dbUrl: string | undefined;
  storageUrl: string;
  s3: S3Settings | undefined;
  /** Project label; undefined → the database name. */
  project: string | undefined;
  tenantColumn: string;
  rules: Record<string, TableRule>;
  tenantNames: TenantNames | undefined;
  configPath: string | undefined;
  file: ConfigFile | undefined;
  /** Strings that must never be printed (passwords, secret keys). */
  secrets: string[];
  /** `--io-timeout` / PGSNAP_IO_TIMEOUT in ms (default 300 s); 0 = off. For database and storage connections. */
  ioTimeoutMs: number;
}

type Env = Readonly<Record<string, string | undefined>>;

const topKeys = new Set(["storage", "s3", "tenantColumn", "projects", "schedule", "notify", "retention", "$schema"]);
const projectKeys = new Set([
  "db",
  "tenantColumn",
  "tables",
  "tenantNames",
  "storage",
  "schedule",
  "retention",
  "notify",
]);
const ruleKeys = new Set(["filter", "key", "via", "global"]);

/** Replaces `${NAME}` in config strings with environment values (secrets stay out of files). */
function interpolate(value: unknown, env: Env, errors: string[], where: string): unknown {
  if (typeof value === "string") {
    return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_m, name: string) => {
      const v = env[name];
      if (v === undefined) errors.push(`${where}: environment variable ${name} is not set`);
      return v ?? "";
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => interpolate(v, env, errors, `${where}[${i}]`));
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolate(v, env, errors, `${where}.${k}`)]));
  }
  return value;
}

/** Reads and checks a config file; every problem is listed in one UsageError. */
export function loadConfigFile(path: string, env: Env = process.env): ConfigFile {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, "utf8"));
  } catch (err) {
    throw new UsageError("CONFIG_UNREADABLE", `cannot read config ${path}: ${(err as Error).message}`, {
      hint: "the config is a JSON file; check its path and syntax",
      cause: err,
    });
  }
  const errors: string[] = [];
  const cfg = interpolate(raw, env, errors, "config") as ConfigFile;
  if (!cfg || typeof cfg !== "object" || Array.isArray(cfg)) errors.push("config: must be a JSON object");
  else {
    for (const k of Object.keys(cfg)) if (!topKeys.has(k)) errors.push(`config: unknown key "${k}"`);
    for (const [name, p] of Object.entries(cfg.projects ?? {})) {
      if (!p || typeof p !== "object") {
        errors.push(`projects.${name}: must be an object`);
        continue;
      }
      for (const k of Object.keys(p)) if (!projectKeys.has(k)) errors.push(`projects.${name}: unknown key "${k}"`);
      for (const [table, rule] of Object.entries(p.tables ?? {})) {
        for (const k of Object.keys(rule))
          if (!ruleKeys.has(k)) errors.push(`projects.${name}.tables.${table}: unknown key "${k}"`);
        if (rule.filter !== undefined && !rule.filter.includes(":tenant")) {
          errors.push(`projects.${name}.tables.${table}.filter: must use the :tenant placeholder`);
        }
      }
    }
  }
  if (errors.length > 0) {
    throw new UsageError(
      "CONFIG_INVALID",
      `config ${path} has ${errors.length} problem(s):\n  ${errors.join("\n  ")}`,
      {
        hint: "fix the listed keys; see README.md, section Configuration",
      },
    );
  }
  return cfg;
}

/** Resolves flags, environment and config file into one configuration. */
export function resolveConfig(flags: GlobalFlags, env: Env = process.env): ResolvedConfig {
  const configPath =
    flags.config ?? env["PGSNAP_CONFIG"] ?? (existsSync("pgsnap.config.json") ? "pgsnap.config.json" : undefined);
  const file = configPath ? loadConfigFile(configPath, env) : undefined;
  const projectNames = Object.keys(file?.projects ?? {});
  let project = flags.project ?? env["PGSNAP_PROJECT"];
  if (project === undefined && projectNames.length === 1) project = projectNames[0];
  const pc: ProjectConfig = (project !== undefined ? file?.projects?.[project] : undefined) ?? {};

  const dbUrl = flags.db ?? env["DATABASE_URL"] ?? pc.db;
  const storageUrl = flags.storage ?? env["PGSNAP_STORAGE"] ?? pc.storage ?? file?.storage ?? "./backups";
  const tenantColumn =
    flags.tenantColumn ?? env["PGSNAP_TENANT_COLUMN"] ?? pc.tenantColumn ?? file?.tenantColumn ?? "user_id";

  const accessKey = env["PGSNAP_S3_ACCESS_KEY"] ?? env["AWS_ACCESS_KEY_ID"];
  const secretKey = env["PGSNAP_S3_SECRET_KEY"] ?? env["AWS_SECRET_ACCESS_KEY"];
  const endPoint = env["PGSNAP_S3_ENDPOINT"] ?? file?.s3?.endpoint ?? "https://s3.amazonaws.com";
  const partSizeEnv = env["PGSNAP_S3_PART_SIZE"];
  const s3: S3Settings | undefined =
    accessKey && secretKey
      ? {
          endPoint,
          accessKey,
          secretKey,
          region: env["PGSNAP_S3_REGION"] ?? env["AWS_REGION"] ?? file?.s3?.region,
          partSize: partSizeEnv ? Number(partSizeEnv) : file?.s3?.partSize,
          pathStyle: file?.s3?.pathStyle,
        }
      : undefined;

  const secrets = knownSecrets(flags, env);
  for (const db of [dbUrl, ...Object.values(file?.projects ?? {}).map((p) => p?.db)]) {
    secrets.push(...connectionStringSecrets(db));
  }
  return {
    dbUrl,
    storageUrl,
    s3,
    project,
    tenantColumn,
    rules: pc.tables ?? {},
    tenantNames: pc.tenantNames,
    configPath,
    file,
    secrets,
    ioTimeoutMs: ioTimeoutMs(flags.ioTimeout ?? env["PGSNAP_IO_TIMEOUT"]),
  };
}

/**
 * Secrets known from flags and environment alone (before any config file is read, so even an
 * error while resolving the config prints none): PGPASSWORD, the S3 secret key, and every
 * secret of `--db` / DATABASE_URL in any form libpq accepts.
 */
export function knownSecrets(flags: GlobalFlags, env: Env = process.env): string[] {
  const secrets: string[] = [];
  for (const name of ["PGPASSWORD", "PGSNAP_S3_SECRET_KEY", "AWS_SECRET_ACCESS_KEY"]) {
    const v = env[name];
    if (v) secrets.push(v);
  }
  secrets.push(...connectionStringSecrets(flags.db), ...connectionStringSecrets(env["DATABASE_URL"]));
  return secrets;
}

/** Seconds as given (`--io-timeout`, PGSNAP_IO_TIMEOUT) → ms; default 300 s; 0 turns it off. */
function ioTimeoutMs(value: string | undefined): number {
  if (value === undefined || value.trim() === "") return 300_000;
  const seconds = Number(value);
  if (!Number.isFinite(seconds) || seconds < 0) {
    throw new UsageError("USAGE_BAD_IO_TIMEOUT", `--io-timeout must be a number of seconds (0 = off), got ${value}`, {
      hint: "e.g. --io-timeout 300 or PGSNAP_IO_TIMEOUT=300",
    });
  }
  return Math.round(seconds * 1000);
}

/** Reads a boolean-ish environment variable. */
export function envFlag(name: string, env: Env = process.env): boolean {
  const v = env[name];
  return v !== undefined && v !== "" && v !== "0" && v.toLowerCase() !== "false";
}
