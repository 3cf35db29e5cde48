/**
 * Runs the real command line (`node bin/pgsnap.js`, which runs dist/) the way users and the
 * acceptance suite do, and hands back exit code, stdout, stderr and the parsed --json document.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { repoRoot } from "./postgres.js";

export const pgsnapBin = join(repoRoot, "bin", "pgsnap.js");

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** stdout parsed as JSON (undefined when it is not JSON). */
  json: any;
}

export interface CliOptions {
  env?: Record<string, string | undefined>;
  cwd?: string;
  input?: string;
  timeoutMs?: number;
}

/** Environment without the developer's own pgsnap/libpq settings leaking into tests. */
export function cleanEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k.startsWith("PGSNAP_") && !k.startsWith("PGSNAP_TEST_")) continue;
    if (/^PG[A-Z]+$/.test(k) || k === "DATABASE_URL" || k.startsWith("AWS_")) continue;
    env[k] = v;
  }
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

/** Starts pgsnap without waiting (for tests that kill it midway). */
export function spawnPgsnap(args: string[], options: CliOptions = {}): ChildProcess {
  return spawn(process.execPath, [pgsnapBin, ...args], {
    cwd: options.cwd ?? repoRoot,
    env: cleanEnv(options.env),
    stdio: ["pipe", "pipe", "pipe"],
  });
}

/** Runs pgsnap to completion. */
export function runPgsnap(args: string[], options: CliOptions = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawnPgsnap(args, options);
    let stdout = "";
    let stderr = "";
    child.stdout!.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr!.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 120_000);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      let json: unknown;
      try {
        json = JSON.parse(stdout);
      } catch {
        json = undefined;
      }
      resolve({ code, signal, stdout, stderr, json });
    });
    child.stdin!.end(options.input ?? "");
  });
}
