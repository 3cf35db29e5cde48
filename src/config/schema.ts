/**
 * The config file's one definition (CLI.md, "Operations: projects, jobs, notifications"): zod
 * checks it, the TypeScript types are inferred from it, and the shipped JSON Schema
 * (`pgsnap config schema`, schema/pgsnap.config.schema.json) is generated from it.
 *
 * Strings go through `${VAR}` interpolation inside the schema, so a problem names its key path
 * whether it is a type error, an unknown key, an unset variable or a bad cron. Secrets are
 * checked on the text as written, before interpolation: a literal password is refused there.
 */
import { createRequire } from "node:module";
import type * as CronParser from "cron-parser";
import type { z } from "zod";
import { literalSecretProblem, type SecretKind } from "./secrets.js";

// zod and cron-parser are required at first use, not when this module loads: every command
// resolves its config through here, and without a config file neither is needed (issue 14:
// together ~0.1 s CPU and ~15 MiB of every start). Both ship CommonJS builds; nothing else in
// pgsnap imports zod, so there is one zod instance.
const require = createRequire(import.meta.url);
let zod: typeof z | undefined;
const loadZod = (): typeof z => (zod ??= (require("zod") as { z: typeof z }).z);

/** Environment as the config sees it. */
export type Env = Readonly<Record<string, string | undefined>>;

const varRef = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

/** Is `name` an IANA time zone this Node knows? */
export function isTimeZone(name: string): boolean {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: name });
    return true;
  } catch {
    return false;
  }
}

/** Why a cron expression is not usable (5 fields, or 6 with seconds first), or undefined. */
export function cronProblem(expr: string): string | undefined {
  const fields = expr.trim().split(/\s+/);
  if (!expr.trim().startsWith("@") && fields.length !== 5 && fields.length !== 6)
    return `cron "${expr}" has ${fields.length} fields; use 5 (minute hour day month weekday) or 6 (seconds first)`;
  try {
    const { CronExpressionParser } = require("cron-parser") as typeof CronParser;
    CronExpressionParser.parse(expr, { strict: false });
    return undefined;
  } catch (err) {
    return `invalid cron "${expr}": ${(err as Error).message}`;
  }
}

/**
 * The schema, with `${VAR}` looked up in `env`. `secretKinds` marks strings that must not hold a
 * literal secret. JSON Schema generation uses the input side, where these are plain strings.
 */
export function configSchema(env: Env = {}) {
  const z = loadZod();
  const text = (description?: string, secret?: SecretKind) => {
    let s = z.string();
    if (description) s = s.describe(description);
    return s.transform((raw, ctx) => {
      if (secret) {
        const problem = literalSecretProblem(raw, secret);
        if (problem) ctx.issues.push({ code: "custom", message: problem, input: raw });
      }
      return raw.replace(varRef, (_m, name: string) => {
        const v = env[name];
        if (v === undefined)
          ctx.issues.push({ code: "custom", message: `environment variable ${name} is not set`, input: raw });
        return v ?? "";
      });
    });
  };
  const nonEmpty = (description: string, secret?: SecretKind) =>
    text(description, secret).pipe(z.string().min(1, "must not be empty"));

  const tableRule = z
    .strictObject({
      filter: text("SQL condition over alias t with the :tenant placeholder")
        .pipe(z.string().refine((f) => f.includes(":tenant"), "must use the :tenant placeholder"))
        .optional(),
      key: text("SQL expression over alias t giving the row's tenant (for all-tenants dumps)").optional(),
      via: text("name of the foreign key to follow to the tenant table").optional(),
      global: z.boolean().describe("a shared table: dumped in full dumps, not in tenant dumps").optional(),
    })
    .describe("how one table's rows are told apart by tenant");

  const tenantNames = z
    .strictObject({
      query: text("SQL returning (id, name) rows").optional(),
      table: text("table holding the tenant names").optional(),
      id: text("its id column").optional(),
      name: text("its name column").optional(),
    })
    .describe("where tenants get a display name");

  const project = z
    .strictObject({
      db: nonEmpty("connection URL of the project's database; write the password as ${VAR}", "db-url").optional(),
      tenantColumn: nonEmpty("tenant key column (default: the file's tenantColumn, else user_id)").optional(),
      storage: nonEmpty("where this project's snapshots go (default: the file's storage)").optional(),
      tables: z.record(z.string(), tableRule).describe("per-table rules, keyed schema.table").optional(),
      tenantNames: tenantNames.optional(),
    })
    .describe("one database to back up");

  const retention = z
    .strictObject({
      keepLast: z.int().min(0).optional(),
      keepDaily: z.int().min(0).optional(),
      keepWeekly: z.int().min(0).optional(),
      keepMonthly: z.int().min(0).optional(),
    })
    .describe("as pgsnap prune; applied per project only after its new snapshot verified");

  const job = z
    .strictObject({
      cron: nonEmpty("5 fields, or 6 with seconds first").pipe(
        z.string().check((c) => {
          const problem = cronProblem(c.value);
          if (problem) c.issues.push({ code: "custom", message: problem, input: c.value });
        }),
      ),
      timezone: nonEmpty("IANA time zone of the cron (default UTC)")
        .pipe(z.string().refine(isTimeZone, { error: (i) => `unknown time zone "${String(i.input)}"` }))
        .optional(),
      projects: z
        .union([z.literal("*"), z.array(z.string()).min(1)])
        .describe('"*" (every project) or a list of project names')
        .optional(),
      scope: z
        .union([
          z.enum(["all-tenants", "full"]),
          z.strictObject({ tenants: z.array(z.string()).min(1).describe("one snapshot per tenant") }),
        ])
        .describe('"all-tenants" (default), "full", or {"tenants": [...]}')
        .optional(),
      verify: z.enum(["none", "checksums", "restore-test"]).describe("default checksums").optional(),
      retention: retention.optional(),
      notify: z.array(z.string()).describe("names of notifiers (keys of notify)").optional(),
    })
    .describe("a backup of some projects on a cron");

  const on = z
    .array(z.enum(["success", "warning", "failure"]))
    .describe('which results are reported (default ["failure", "warning"])')
    .optional();
  const email = z
    .strictObject({
      type: z.literal("email"),
      smtp: nonEmpty("SMTP URL (smtp:// or smtps://); write the password as ${VAR}", "smtp-url"),
      from: nonEmpty("sender address"),
      to: z.union([text(), z.array(text()).min(1)]).describe("recipient address(es)"),
      on,
    })
    .describe("an email through an SMTP server");
  const webhook = z
    .strictObject({
      type: z.literal("webhook"),
      url: nonEmpty("URL the run summary is POSTed to as JSON").pipe(
        z.string().refine((u) => /^https?:\/\//i.test(u), "must be an http:// or https:// URL"),
      ),
      secret: nonEmpty("HMAC-SHA256 key for the X-Pgsnap-Signature header; must be ${VAR}", "whole-secret").optional(),
      on,
    })
    .describe("a JSON POST (chat webhooks show its text line)");

  return z
    .strictObject({
      $schema: z.string().optional(),
      storage: nonEmpty("default storage: a directory or s3://bucket/prefix").optional(),
      s3: z
        .strictObject({
          endpoint: text().optional(),
          region: text().optional(),
          partSize: z.int().positive().optional(),
          pathStyle: z.boolean().optional(),
        })
        .describe("S3 settings; credentials come only from the environment")
        .optional(),
      tenantColumn: nonEmpty("default tenant key column").optional(),
      projects: z.record(z.string(), project).optional(),
      jobs: z.record(z.string(), job).optional(),
      notify: z.record(z.string(), z.discriminatedUnion("type", [email, webhook])).optional(),
    })
    .describe("pgsnap configuration (CLI.md, Operations)");
}

type Schema = ReturnType<typeof configSchema>;
/** The config file after interpolation. */
export type ConfigFile = z.output<Schema>;
/** The config file as written. */
export type ConfigFileInput = z.input<Schema>;
export type ProjectConfig = NonNullable<ConfigFile["projects"]>[string];
export type JobConfig = NonNullable<ConfigFile["jobs"]>[string];
export type NotifierConfig = NonNullable<ConfigFile["notify"]>[string];
export type EmailNotifierConfig = Extract<NotifierConfig, { type: "email" }>;
export type WebhookNotifierConfig = Extract<NotifierConfig, { type: "webhook" }>;
export type NotifyOn = "success" | "warning" | "failure";

/** The JSON Schema of the config file (draft 2020-12), as shipped. */
export function configJsonSchema(): Record<string, unknown> {
  const schema = loadZod().toJSONSchema(configSchema(), { io: "input", unrepresentable: "any" }) as Record<
    string,
    unknown
  >;
  return {
    ...schema,
    $id: "https://github.com/pgsnap/pgsnap/schema/pgsnap.config.schema.json",
    title: "pgsnap config",
  };
}

/** One problem of a config, with its key path (`jobs.nightly.cron`). */
export interface ConfigProblem {
  path: string;
  message: string;
}

/** Renders a zod issue path as `projects.pdv.db` (keys with dots or spaces quoted). */
export function formatPath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return "config";
  return path
    .map((p, i) =>
      typeof p === "number"
        ? `[${p}]`
        : /^[A-Za-z_$][A-Za-z0-9_$-]*$/.test(String(p))
          ? `${i === 0 ? "" : "."}${String(p)}`
          : `[${JSON.stringify(String(p))}]`,
    )
    .join("");
}

/** zod issues as problems: one line per issue, unknown keys one per key. */
export function issuesToProblems(issues: readonly z.core.$ZodIssue[]): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  for (const issue of issues) {
    const path = formatPath(issue.path);
    if (issue.code === "unrecognized_keys") {
      for (const k of issue.keys) out.push({ path, message: `unknown key "${k}"` });
    } else if (issue.code === "invalid_union" && issue.errors.length > 0) {
      // A discriminated union with a known type reports the branch's own issues.
      const branch = issue.errors.find((e) => e.length > 0 && e.every((x) => x.code !== "invalid_value"));
      if (branch) out.push(...issuesToProblems(branch.map((x) => ({ ...x, path: [...issue.path, ...x.path] }))));
      else out.push({ path, message: issue.message });
    } else out.push({ path, message: issue.message });
  }
  return out;
}

const record = (x: unknown): Record<string, unknown> =>
  x !== null && typeof x === "object" && !Array.isArray(x) ? (x as Record<string, unknown>) : {};

/**
 * Checks that need the whole file: jobs naming projects and notifiers that exist, and a `db` for
 * every project once there are several (they must never fall back to the PG* environment). It
 * reads the file as written, so these are reported together with the schema's findings.
 */
export function crossCheck(raw: unknown): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const cfg = record(raw);
  const projects = Object.keys(record(cfg["projects"]));
  const notifiers = Object.keys(record(cfg["notify"]));
  for (const [name, jobValue] of Object.entries(record(cfg["jobs"]))) {
    const job = record(jobValue);
    const where = formatPath(["jobs", name]);
    const jp = job["projects"];
    if (Array.isArray(jp)) {
      jp.forEach((p, i) => {
        if (typeof p === "string" && !projects.includes(p))
          problems.push({
            path: `${where}.projects[${i}]`,
            message: `no project "${p}" (projects: ${projects.join(", ") || "none"})`,
          });
      });
    } else if (projects.length === 0) {
      problems.push({ path: where, message: "the job backs up every project, but the file defines none" });
    }
    const jn = job["notify"];
    if (Array.isArray(jn))
      jn.forEach((n, i) => {
        if (typeof n === "string" && !notifiers.includes(n))
          problems.push({
            path: `${where}.notify[${i}]`,
            message: `no notifier "${n}" (notify: ${notifiers.join(", ") || "none"})`,
          });
      });
  }
  if (projects.length > 1) {
    for (const [name, p] of Object.entries(record(cfg["projects"])))
      if (record(p)["db"] === undefined)
        problems.push({
          path: formatPath(["projects", name, "db"]),
          message: "required when the file has several projects",
        });
  }
  return problems;
}
