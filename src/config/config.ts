/**
 * Configuration: file → environment → flags (later wins). Only this module reads process.env.
 * Config errors are collected and reported together, unknown keys included.
 */
import { existsSync } from "node:fs";
import { connectionStringSecrets, UsageError } from "../errors.js";
import type { TableRule } from "../db/plan.js";
import type { S3Settings } from "../storage/storage.js";
import { loadConfigFile } from "./load.js";
import type { ConfigFile, Env, ProjectConfig } from "./schema.js";
import { s3Settings, urlSecrets } from "./secrets.js";

export { loadConfigFile } from "./load.js";
export type { ConfigFile, ProjectConfig } from "./schema.js";

/** How tenants get a display name in `pgsnap tenants` and the restore menu. */
export type TenantNames = NonNullable<ProjectConfig["tenantNames"]>;

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

/** Resolves flags, environment and config file into one configuration. */
export function resolveConfig(
  flags: GlobalFlags,
  env: Env = process.env,
  options: ResolveOptions = {},
): ResolvedConfig {
  const configPath = configPathOf(flags, env);
  const file = configPath ? loadConfigFile(configPath, env) : undefined;
  const projectNames = Object.keys(file?.projects ?? {});
  let project = flags.project ?? env["PGSNAP_PROJECT"];
  if (project === undefined && projectNames.length === 1) project = projectNames[0];
  if (project === undefined && projectNames.length > 1 && options.projectRequired !== false) {
    // Never guess (nor fall back to the PG* environment and back up some other database).
    throw new UsageError(
      "PROJECT_REQUIRED",
      `config ${configPath} has ${projectNames.length} projects (${projectNames.join(", ")}); this command works on one`,
      {
        hint: `pass --project <name> (or PGSNAP_PROJECT), one of: ${projectNames.join(", ")}; \`pgsnap run\` backs up all of them`,
      },
    );
  }
  const pc: ProjectConfig = (project !== undefined ? file?.projects?.[project] : undefined) ?? {};

  const dbUrl = flags.db ?? env["DATABASE_URL"] ?? pc.db;
  const storageUrl = flags.storage ?? env["PGSNAP_STORAGE"] ?? pc.storage ?? file?.storage ?? "./backups";
  const tenantColumn =
    flags.tenantColumn ?? env["PGSNAP_TENANT_COLUMN"] ?? pc.tenantColumn ?? file?.tenantColumn ?? "user_id";

  const { s3, secrets: s3Secrets } = s3Settings(env, file);
  const secrets = [...knownSecrets(flags, env), ...s3Secrets];
  for (const db of [dbUrl, ...Object.values(file?.projects ?? {}).map((p) => p?.db)]) {
    secrets.push(...connectionStringSecrets(db), ...urlSecrets(db));
  }
  const io = ioTimeoutMs(flags.ioTimeout ?? env["PGSNAP_IO_TIMEOUT"]);
  return {
    dbUrl,
    storageUrl,
    // --io-timeout bounds the storage's connections too.
    s3: s3 && { ...s3, ioTimeoutMs: io },
    project,
    tenantColumn,
    rules: pc.tables ?? {},
    tenantNames: pc.tenantNames,
    configPath,
    file,
    secrets,
    ioTimeoutMs: io,
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

/** Options of resolveConfig. */
export interface ResolveOptions {
  /**
   * The command works on one project (default): with several projects in the file and none
   * chosen it refuses (exit 2) listing them. `run`, `schedule` and `config` pass false.
   */
  projectRequired?: boolean | undefined;
}

/** The config file in use: --config, PGSNAP_CONFIG, else ./pgsnap.config.json when present. */
export function configPathOf(flags: GlobalFlags, env: Env = process.env): string | undefined {
  return flags.config ?? env["PGSNAP_CONFIG"] ?? (existsSync("pgsnap.config.json") ? "pgsnap.config.json" : undefined);
}

/** Reads a boolean-ish environment variable. */
export function envFlag(name: string, env: Env = process.env): boolean {
  const v = env[name];
  return v !== undefined && v !== "" && v !== "0" && v.toLowerCase() !== "false";
}
