/**
 * Configuration: file → environment → flags (later wins). Only this module reads process.env.
 * Config errors are collected and reported together, unknown keys included.
 */
import { existsSync } from "node:fs";
import { UsageError } from "../errors.js";
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

  const { s3, secrets } = s3Settings(env, file);
  secrets.push(...urlSecrets(dbUrl));
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
  };
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
