/**
 * Secrets in the config: a password or key written literally in the file is refused (it would
 * sit in version control and backups of the file); it must come from the environment as
 * `${VAR}`. And the values that are secrets once resolved, so output can show them as `***`.
 */

import type { S3Settings } from "../storage/storage.js";

/** Which rule a string field follows. */
export type SecretKind = "db-url" | "smtp-url" | "whole-secret";

const varOnly = /\$\{[A-Za-z_][A-Za-z0-9_]*\}/g;
/** True when `s` is made only of `${VAR}` references (so nothing secret is written literally). */
const onlyVariables = (s: string) => s.replace(varOnly, "") === "";

/** The literal password of `scheme://user:password@host`, `?password=` or `password=` in `raw`. */
function literalPassword(raw: string): string | undefined {
  const url = /^[a-z][a-z0-9+.-]*:\/\/([^/?#]*)@/i.exec(raw);
  if (url) {
    const userinfo = url[1]!;
    const colon = userinfo.indexOf(":");
    if (colon >= 0) {
      const pw = userinfo.slice(colon + 1);
      if (pw !== "" && !onlyVariables(pw)) return pw;
    }
  }
  const param = /[?&]password=([^&#]*)/i.exec(raw);
  if (param && param[1] !== "" && !onlyVariables(param[1]!)) return param[1];
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(raw)) {
    // libpq keyword/value form: host=... password=...
    const kw = /(?:^|\s)password\s*=\s*('(?:[^'\\]|\\.)*'|\S+)/i.exec(raw);
    if (kw) {
      const v = kw[1]!.replace(/^'|'$/g, "");
      if (v !== "" && !onlyVariables(v)) return v;
    }
  }
  return undefined;
}

/** Why `raw` (a field's text as written) holds a literal secret, or undefined. */
export function literalSecretProblem(raw: string, kind: SecretKind): string | undefined {
  switch (kind) {
    case "db-url":
      return literalPassword(raw) === undefined
        ? undefined
        : 'the password is written literally in the file; write it as ${VAR} (e.g. "postgres://user:${PDV_DB_PASSWORD}@host/db", or the whole URL as "${PDV_DATABASE_URL}") and set that environment variable';
    case "smtp-url":
      return literalPassword(raw) === undefined
        ? undefined
        : 'the SMTP password is written literally in the file; write it as ${VAR} (e.g. "smtps://user:${SMTP_PASSWORD}@smtp.example.com:465", or the whole URL as "${SMTP_URL}") and set that environment variable';
    case "whole-secret":
      return onlyVariables(raw)
        ? undefined
        : 'the secret is written literally in the file; write it as "${WEBHOOK_SECRET}" and set that environment variable';
  }
}

/** Passwords found in a resolved URL (for redaction). */
export function urlSecrets(url: string | undefined): string[] {
  if (!url) return [];
  const out: string[] = [];
  try {
    const u = new URL(url);
    if (u.password) out.push(decodeURIComponent(u.password));
    const p = u.searchParams.get("password");
    if (p) out.push(p);
  } catch {
    const kw = /(?:^|\s)password\s*=\s*('(?:[^'\\]|\\.)*'|\S+)/i.exec(url);
    if (kw) out.push(kw[1]!.replace(/^'|'$/g, ""));
  }
  return out.filter((s) => s.length > 0);
}

/** A URL safe to print: its password (and any `password=` parameter) shown as `***`. */
export function redactUrl(url: string): string {
  return url
    .replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/?#@]*:)([^@]*)@/i, "$1***@")
    .replace(/([?&]password=)[^&#]*/gi, "$1***")
    .replace(/((?:^|\s)password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)/gi, "$1***");
}

/** S3 settings: credentials only from the environment, the rest from env or the file. */
export function s3Settings(
  env: Readonly<Record<string, string | undefined>>,
  file:
    | {
        s3?:
          | {
              endpoint?: string | undefined;
              region?: string | undefined;
              partSize?: number | undefined;
              pathStyle?: boolean | undefined;
            }
          | undefined;
      }
    | undefined,
): { s3: S3Settings | undefined; secrets: string[] } {
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
  const secrets: string[] = [];
  if (secretKey) secrets.push(secretKey);
  if (env["PGPASSWORD"]) secrets.push(env["PGPASSWORD"]);
  return { s3, secrets };
}
