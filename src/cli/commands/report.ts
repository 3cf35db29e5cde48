/** `pgsnap report`: growth per project, tenant and table, from manifests alone (no database). */
import { writeFile } from "node:fs/promises";
import type { Command } from "commander";
import { UsageError } from "../../errors.js";
import type { GrowthReport } from "../../report/report.js";
import type { ContextFor } from "../context.js";
import { countOf, formatBytes, formatTable } from "../output.js";
import { projectWithoutDb, storageOf } from "../targets.js";

interface ReportFlags {
  tenant?: string;
  since?: Date;
  html?: string;
  top: number;
}

function parseSince(value: string): Date {
  const d = new Date(/^\d{4}-\d\d-\d\d$/.test(value) ? `${value}T00:00:00Z` : value);
  if (Number.isNaN(d.getTime()))
    throw new UsageError("USAGE_BAD_DATE", `--since must be a date (2026-01-31) or an ISO time, got ${value}`);
  return d;
}

/** Adds `report` to the program. */
export function registerReport(program: Command, contextFor: ContextFor): void {
  program
    .command("report")
    .description("growth of every tenant and table over time, from the manifests alone (no database needed)")
    .option("--tenant <id>", "only this tenant (tables still cover the whole project)")
    .option("--since <date>", "only snapshots created on or after this date (2026-01-31 or an ISO time)", parseSince)
    .option("--html <file>", "also write a self-contained HTML page with charts (opens offline)")
    .option("--top <n>", "how many of the largest tenants the terminal table shows", (v) => Number(v), 10)
    .addHelpText(
      "after",
      `
Examples:
  pgsnap report --project shop
  pgsnap report --since 2026-01-01 --html growth.html
  pgsnap report --tenant 42 --json`,
    )
    .action(async (flags: ReportFlags, cmd: Command) => {
      const { config, out, signal } = contextFor(cmd);
      const [{ renderReportHtml }, { buildReport }, { listSnapshots }] = await Promise.all([
        import("../../report/html.js"),
        import("../../report/report.js"),
        import("../../snapshots/list-snapshots.js"),
      ]);
      const storage = storageOf(config);
      try {
        const project = projectWithoutDb(config);
        const manifests = await listSnapshots(storage, project, {
          signal,
          onSkip: (key, err) => out.info(`pgsnap: warning: skipping ${key}: ${err.message}`),
        });
        const projects = project !== undefined ? [project] : [...new Set(manifests.map((m) => m.project))].sort();
        const reports = projects.map((p) => buildReport(p, manifests, { since: flags.since, tenant: flags.tenant }));
        if (reports.length === 0) {
          throw new UsageError("REPORT_NO_SNAPSHOTS", `no snapshots in ${storage.location}`, {
            hint: "check --storage and --project (pgsnap list shows what is there)",
          });
        }
        if (flags.html !== undefined) {
          if (reports.length > 1) {
            throw new UsageError(
              "REPORT_HTML_ONE_PROJECT",
              `--html draws one project; the storage holds ${projects.join(", ")}`,
              {
                hint: `pass --project, one of: ${projects.join(", ")}`,
              },
            );
          }
          await writeFile(flags.html, renderReportHtml(reports[0]!));
          out.info(`report written to ${flags.html}`);
        }
        out.result(reports.length === 1 ? reports[0] : { projects: reports }, () =>
          reports.map((r) => describeReport(r, flags.top)).join("\n\n"),
        );
      } finally {
        await storage.close();
      }
    });
}

/** `+12`, `-3.4 MB`; `-` when there is no rate (the snapshots span less than a day). */
const signed = (n: number | null, f: (n: number) => string) =>
  n === null ? "-" : n > 0 ? `+${f(n)}` : n < 0 ? `-${f(-n)}` : f(0);

function describeReport(r: GrowthReport, top: number): string {
  const first = r.snapshots[0];
  const last = r.snapshots[r.snapshots.length - 1];
  const lines = [
    `project ${r.project}: ${countOf(r.snapshots.length, "snapshot")}${first && last ? ` from ${first.createdAt} to ${last.createdAt}` : ""}`,
  ];
  if (r.tenants.length > 0) {
    lines.push("", `largest tenants (${Math.min(top, r.largestTenants.length)} of ${r.tenants.length})`);
    lines.push(
      formatTable(
        ["TENANT", "ROWS", "STORED", "ROWS/MONTH", "STORED/MONTH", "SNAPSHOTS"],
        r.largestTenants.slice(0, top).map((l) => {
          const t = r.tenants.find((x) => x.tenant === l.tenant)!;
          return [
            l.tenant,
            l.rows,
            formatBytes(l.storedBytes),
            signed(t.growth.rowsPerMonth, String),
            signed(t.growth.storedBytesPerMonth, formatBytes),
            t.series.length,
          ];
        }),
      ),
    );
  }
  if (r.tables.length > 0) {
    lines.push("", "tables");
    lines.push(
      formatTable(
        ["TABLE", "ROWS", "STORED", "ROWS/DAY", "ROWS/MONTH", "STORED/MONTH"],
        r.tables.map((t) => {
          const p = t.series[t.series.length - 1]!;
          return [
            t.table,
            p.rows,
            formatBytes(p.storedBytes),
            signed(t.growth.rowsPerDay, String),
            signed(t.growth.rowsPerMonth, String),
            signed(t.growth.storedBytesPerMonth, formatBytes),
          ];
        }),
      ),
    );
  }
  if (r.shrank.length > 0) {
    lines.push("", "tables that shrank");
    lines.push(
      formatTable(
        ["TABLE", "TENANT", "FROM", "TO", "ROWS"],
        r.shrank.map((s) => [s.table, s.tenant ?? "all", s.from, s.to, `${s.rowsBefore} → ${s.rowsAfter}`]),
      ),
    );
  } else lines.push("", "no table shrank");
  return lines.join("\n");
}
