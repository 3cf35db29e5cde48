/**
 * Email through any SMTP server named by a URL (`smtp://` or `smtps://user:pass@host:port`:
 * Resend, SES, Gmail, a local relay). Subject names the job and its status; a text and an HTML
 * body carry one row per project. Messages come from the run summary only: no row data, and
 * errors were already stripped of secrets.
 */
import nodemailer from "nodemailer";
import type { Notifier as NotifierConfig } from "../config/operations.js";
import { redactSecrets } from "../errors.js";
import type { Notifier } from "./notify.js";
import { formatSize, summaryLine, type JobRun, type ProjectRun } from "./summary.js";

type EmailConfig = Extract<NotifierConfig, { type: "email" }>;

/** `[pgsnap] nightly: FAILED (1 of 2 projects)`. */
export function emailSubject(run: JobRun): string {
  const failed = run.projects.filter((p) => p.status === "failed").length;
  const warned = run.projects.filter((p) => p.status === "warning").length;
  const of = run.projects.filter((p) => p.skipped === undefined).length;
  if (run.status === "failed") return `[pgsnap] ${run.job}: FAILED (${failed} of ${of} project${of === 1 ? "" : "s"})`;
  if (run.status === "warning")
    return `[pgsnap] ${run.job}: WARNING (${warned} of ${of} project${of === 1 ? "" : "s"})`;
  return `[pgsnap] ${run.job}: ok (${of} project${of === 1 ? "" : "s"})`;
}

const fieldNames = ["status", "scope", "snapshots", "tenants", "rows", "size", "duration", "verify", "pruned"];

function rowFields(p: ProjectRun): [string, string][] {
  return [
    ["status", p.status],
    ["scope", p.scope],
    ["snapshots", p.snapshots.join(", ") || "-"],
    ["tenants", p.tenants === null ? "-" : String(p.tenants)],
    ["rows", String(p.rows)],
    ["size", formatSize(p.storedBytes)],
    ["duration", `${(p.durationMs / 1000).toFixed(1)} s`],
    ["verify", p.verified ? `${p.verify}: passed` : p.verify === "none" ? "none" : "not verified"],
    ["pruned", String(p.pruned)],
  ];
}

/** The plain-text body: one block per project. */
export function emailText(run: JobRun): string {
  const lines = [
    summaryLine(run),
    "",
    `job ${run.job}, started ${run.startedAt}, ${(run.durationMs / 1000).toFixed(1)} s`,
    "",
  ];
  for (const p of run.projects) {
    lines.push(
      `${p.project}: ${rowFields(p)
        .map(([k, v]) => `${k} ${v}`)
        .join(", ")}`,
    );
    for (const w of p.warnings) lines.push(`  warning: ${w}`);
    if (p.error) {
      lines.push(`  error (exit ${p.error.exitCode}, ${p.error.code}): ${p.error.message}`);
      if (p.error.hint) lines.push(`  hint: ${p.error.hint}`);
    }
  }
  return lines.join("\n") + "\n";
}

const esc = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);

/** The HTML body: a table with one row per project, warnings and errors under it. */
export function emailHtml(run: JobRun): string {
  const head = ["project", ...fieldNames];
  const color = (s: string) => (s === "failed" ? "#b00020" : s === "warning" ? "#a15c00" : "#1b5e20");
  const rows = run.projects
    .map((p) => {
      const cells = [p.project, ...rowFields(p).map(([, v]) => v)]
        .map((v, i) => `<td${i === 1 ? ` style="color:${color(p.status)};font-weight:bold"` : ""}>${esc(v)}</td>`)
        .join("");
      const notes = [
        ...p.warnings.map((w) => `warning: ${esc(w)}`),
        ...(p.error
          ? [
              `error (exit ${p.error.exitCode}, ${esc(p.error.code)}): ${esc(p.error.message)}`,
              ...(p.error.hint ? [`hint: ${esc(p.error.hint)}`] : []),
            ]
          : []),
      ];
      return `<tr>${cells}</tr>${notes.length ? `<tr><td></td><td colspan="${head.length - 1}">${notes.join("<br>")}</td></tr>` : ""}`;
    })
    .join("\n");
  return `<!doctype html><html><body style="font-family:sans-serif">
<p><b>${esc(summaryLine(run))}</b></p>
<p>job ${esc(run.job)}, started ${esc(run.startedAt)}, ${(run.durationMs / 1000).toFixed(1)} s</p>
<table border="1" cellpadding="4" cellspacing="0" style="border-collapse:collapse">
<tr>${head.map((h) => `<th align="left">${esc(h)}</th>`).join("")}</tr>
${rows}
</table></body></html>
`;
}

/** Sends the run as an email through `config.smtp`. */
export function emailNotifier(config: EmailConfig): Notifier {
  const secrets = [...passwordsOf(config.smtp)];
  return {
    name: config.name,
    async notify(run, signal) {
      const transport = nodemailer.createTransport({
        url: config.smtp,
        connectionTimeout: 10_000,
        greetingTimeout: 10_000,
        socketTimeout: 20_000,
      } as Parameters<typeof nodemailer.createTransport>[0]);
      const onAbort = () => transport.close();
      signal.addEventListener("abort", onAbort, { once: true });
      try {
        signal.throwIfAborted();
        await transport.sendMail({
          from: config.from,
          to: config.to,
          subject: emailSubject(run),
          text: emailText(run),
          html: emailHtml(run),
        });
      } catch (err) {
        // SMTP errors may quote the URL; never let the password through.
        throw new Error(redactSecrets(`email to ${String(config.to)}: ${(err as Error).message}`, secrets));
      } finally {
        signal.removeEventListener("abort", onAbort);
        transport.close();
      }
    },
  };
}

function passwordsOf(url: string): string[] {
  try {
    const p = decodeURIComponent(new URL(url).password);
    return p ? [p] : [];
  } catch {
    return [];
  }
}
