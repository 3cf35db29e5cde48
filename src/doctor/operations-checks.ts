/**
 * Doctor's checks of the operations config: every email notifier's SMTP server answers and
 * accepts the login (nodemailer `verify()`), and when each job runs next. A notifier that fails
 * never fails a backup (CLI.md), so these are warnings at worst.
 */
import { CronExpressionParser } from "cron-parser";
import nodemailer from "nodemailer";
import type SMTPTransport from "nodemailer/lib/smtp-transport/index.js";
import { redactSecrets } from "../errors.js";
import type { DoctorCheck } from "./doctor.js";

/** An email notifier as doctor needs it. */
export interface SmtpTarget {
  name: string;
  smtp: string;
}

/** A job as doctor needs it. */
export interface JobTarget {
  name: string;
  cron: string | undefined;
  timezone: string;
  projects: readonly string[];
}

/** Connects to each SMTP server and logs in (no message is sent). */
export async function smtpChecks(targets: readonly SmtpTarget[], timeoutMs = 10_000): Promise<DoctorCheck[]> {
  const out: DoctorCheck[] = [];
  for (const t of targets) {
    const where = redactSecrets(t.smtp);
    const options: SMTPTransport.Options = {
      url: t.smtp,
      connectionTimeout: timeoutMs,
      greetingTimeout: timeoutMs,
      socketTimeout: timeoutMs,
    };
    const transport = nodemailer.createTransport(options);
    try {
      await transport.verify();
      out.push({
        check: "smtp",
        status: "ok",
        object: t.name,
        message: `notifier ${t.name}: SMTP server ${where} answers and accepts the login`,
        hint: null,
      });
    } catch (err) {
      out.push({
        check: "smtp",
        status: "warning",
        object: t.name,
        message: `notifier ${t.name}: SMTP server ${where} fails: ${redactSecrets((err as Error).message)}`,
        hint: "check host, port, TLS and credentials of the smtp URL; backups still run, but nobody is told about them",
      });
    } finally {
      transport.close();
    }
  }
  return out;
}

/** When each job runs next (from its cron and time zone). */
export function nextRunChecks(jobs: readonly JobTarget[], now: Date = new Date()): DoctorCheck[] {
  return jobs.map((j): DoctorCheck => {
    if (j.cron === undefined) {
      return {
        check: "next-run",
        status: "warning",
        object: j.name,
        message: `job ${j.name} has no schedule: it runs only with pgsnap run ${j.name}`,
        hint: "set cron on the job (or PGSNAP_SCHEDULE) for pgsnap schedule",
      };
    }
    try {
      const next = CronExpressionParser.parse(j.cron, { tz: j.timezone, currentDate: now, strict: false })
        .next()
        .toISOString();
      return {
        check: "next-run",
        status: "ok",
        object: j.name,
        message: `job ${j.name} (${j.cron}, ${j.timezone}) runs next at ${next} for ${j.projects.join(", ")}`,
        hint: null,
      };
    } catch (err) {
      return {
        check: "next-run",
        status: "error",
        object: j.name,
        message: `job ${j.name}: cron "${j.cron}" cannot be parsed: ${(err as Error).message}`,
        hint: "use 5 fields (minute hour day month weekday), or 6 with seconds first",
        exitCode: 2,
      };
    }
  });
}
