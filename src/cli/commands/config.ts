/** `pgsnap config check` and `pgsnap config schema`. */
import type { Command } from "commander";
import type { Operations } from "../../config/operations.js";
import { redactUrl } from "../../config/secrets.js";
import type { nextRun as NextRun } from "../../schedule/cron.js";
import type { ContextFor } from "../context.js";
import { operationsFor } from "../operations.js";
import { formatTable } from "../output.js";

/** A webhook URL for display: its path may itself be a token (chat webhooks), so it is hidden. */
function redactWebhook(url: string): string {
  try {
    const u = new URL(url);
    return u.pathname === "/" && !u.search ? u.origin : `${u.origin}/***`;
  } catch {
    return "***";
  }
}

/** The config as `config check` shows it: resolved, every secret as ***. */
export function describeOperations(ops: Operations, nextRun: typeof NextRun, now: Date = new Date()) {
  return {
    source: ops.source,
    config: ops.configPath ?? null,
    projects: ops.projects.map((p) => ({
      project: p.name,
      db: p.dbUrl === undefined ? null : redactUrl(p.dbUrl),
      storage: p.storageUrl,
      tenantColumn: p.tenantColumn,
      rules: Object.keys(p.rules).length,
    })),
    jobs: ops.jobs.map((j) => ({
      job: j.name,
      cron: j.cron ?? null,
      timezone: j.timezone,
      projects: j.projects,
      scope: j.scope,
      verify: j.verify,
      retention: j.retention ?? null,
      notify: j.notify,
      nextRun: j.cron === undefined ? null : nextRun(j.cron, j.timezone, now).toISOString(),
    })),
    notifiers: ops.notifiers.map((n) =>
      n.type === "email"
        ? { notifier: n.name, type: n.type, on: n.on, smtp: redactUrl(n.smtp), from: n.from, to: n.to }
        : {
            notifier: n.name,
            type: n.type,
            on: n.on,
            url: redactWebhook(n.url),
            secret: n.secret === undefined ? null : "***",
          },
    ),
  };
}

/** Adds the `config` group to the program. */
export function registerConfig(program: Command, contextFor: ContextFor): void {
  const config = program
    .command("config")
    .description("check the config file, or print its JSON Schema")
    .addHelpText(
      "after",
      "\nExamples:\n  pgsnap config check --config pgsnap.config.json\n  pgsnap config schema > pgsnap.config.schema.json",
    );
  config
    .command("check")
    .description("validate the config (every problem at once); show projects, jobs and notifiers, secrets as ***")
    .addHelpText(
      "after",
      "\nExamples:\n  pgsnap config check --config pgsnap.config.json\n  pgsnap config check --json",
    )
    .action(async (_opts: unknown, cmd: Command) => {
      const { ctx, ops } = await operationsFor(cmd, contextFor);
      const { nextRun } = await import("../../schedule/cron.js");
      const doc = { ok: true, ...describeOperations(ops, nextRun) };
      ctx.out.result(doc, () =>
        [
          `config ${ops.configPath ?? "(from the environment)"}: ok`,
          "",
          formatTable(
            ["PROJECT", "DB", "STORAGE", "TENANT COLUMN"],
            doc.projects.map((p) => [p.project, p.db ?? "(PG* environment)", p.storage, p.tenantColumn]),
          ),
          "",
          formatTable(
            ["JOB", "CRON", "TIMEZONE", "PROJECTS", "SCOPE", "VERIFY", "NOTIFY", "NEXT RUN"],
            doc.jobs.map((j) => [
              j.job,
              j.cron ?? "-",
              j.timezone,
              j.projects.join(","),
              typeof j.scope === "string" ? j.scope : `tenants ${j.scope.tenants.join(",")}`,
              j.verify,
              j.notify.join(",") || "-",
              j.nextRun ?? "-",
            ]),
          ),
          ...(doc.notifiers.length
            ? [
                "",
                formatTable(
                  ["NOTIFIER", "TYPE", "ON", "TARGET"],
                  doc.notifiers.map((n) => [
                    n.notifier,
                    n.type,
                    n.on.join(","),
                    "smtp" in n ? `${n.smtp} → ${String(n.to)}` : `${n.url}${n.secret ? " (signed)" : ""}`,
                  ]),
                ),
              ]
            : []),
        ].join("\n"),
      );
    });
  config
    .command("schema")
    .description('print the JSON Schema of the config file (for "$schema" in editors)')
    .addHelpText("after", "\nExamples:\n  pgsnap config schema > pgsnap.config.schema.json")
    .action(async () => {
      const { configJsonSchema } = await import("../../config/schema.js");
      process.stdout.write(JSON.stringify(configJsonSchema(), null, 2) + "\n");
    });
}
