/** Reading and checking a config: every problem is collected and reported in one error. */
import { readFileSync } from "node:fs";
import { UsageError } from "../errors.js";
import { configSchema, crossCheck, issuesToProblems, type ConfigFile, type ConfigProblem, type Env } from "./schema.js";

/** Checks a config object as written; returns the interpolated config or every problem. */
export function checkConfig(
  raw: unknown,
  env: Env,
): { ok: true; config: ConfigFile; problems: [] } | { ok: false; problems: ConfigProblem[] } {
  const parsed = configSchema(env).safeParse(raw);
  const problems = [...(parsed.success ? [] : issuesToProblems(parsed.error.issues)), ...crossCheck(raw)];
  if (parsed.success && problems.length === 0) return { ok: true, config: parsed.data, problems: [] };
  return { ok: false, problems };
}

/** The UsageError (exit 2) listing every problem, one per line with its key path. */
export function configError(where: string, problems: readonly ConfigProblem[], hint?: string): UsageError {
  return new UsageError(
    "CONFIG_INVALID",
    `config ${where} has ${problems.length} problem(s):\n  ${problems.map((p) => `${p.path}: ${p.message}`).join("\n  ")}`,
    {
      hint:
        hint ??
        "fix the listed keys; see README.md, section Configuration (pgsnap config schema prints the JSON Schema)",
    },
  );
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
  const result = checkConfig(raw, env);
  if (!result.ok) throw configError(path, result.problems);
  return result.config;
}
