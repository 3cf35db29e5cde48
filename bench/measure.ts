/**
 * Wall time, CPU time and peak RSS of child processes; several commands measured interleaved.
 *
 * Peak RSS comes from `/usr/bin/time -f %M` (GNU time: the child's ru_maxrss in KiB; for a
 * `sh -c "a | b"` pipeline wait4() folds the waited-for children in, so it is the largest single
 * process of the pipeline, not their sum). CPU time is `%U + %S` of the same rusage: for a
 * pipeline the SUM over its processes (user + system, every thread included). Without GNU time,
 * /proc/<pid>/status VmHWM of the process tree is polled every 20 ms (can miss a short peak) and
 * CPU time is not known. Server-side memory and CPU are never counted.
 */
import { spawn } from "node:child_process";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

const GNU_TIME = "/usr/bin/time";

/** One run of one command. */
export interface Sample {
  seconds: number;
  /** Peak RSS in bytes (largest single client process), undefined when it could not be read. */
  rssBytes: number | undefined;
  /** User + system CPU seconds of the client process(es), undefined without GNU time. */
  cpuSeconds: number | undefined;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  /** Keep stdout (default true; false sends it to /dev/null). */
  captureStdout?: boolean;
}

let gnuTime: boolean | undefined;
/** Is GNU time (`-f %M -o file`) usable? Checked once. */
export async function hasGnuTime(): Promise<boolean> {
  if (gnuTime !== undefined) return gnuTime;
  if (!existsSync(GNU_TIME)) return (gnuTime = false);
  const dir = await mkdtemp(join(tmpdir(), "pgsnap-bench-time-"));
  try {
    const out = join(dir, "t");
    await spawnCollect(GNU_TIME, ["-f", "%M", "-o", out, "true"], {});
    gnuTime = /^\d+\s*$/.test(await readFile(out, "utf8"));
  } catch {
    gnuTime = false;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return gnuTime;
}

/** Runs `cmd args`, measuring wall time (hrtime around spawn → exit) and peak RSS. Throws on a non-zero exit. */
export async function runMeasured(cmd: string, args: string[], opts: RunOptions = {}): Promise<Sample> {
  if (await hasGnuTime()) {
    const dir = await mkdtemp(join(tmpdir(), "pgsnap-bench-time-"));
    const out = join(dir, "rss");
    try {
      const r = await spawnCollect(GNU_TIME, ["-f", "%M %U %S", "-o", out, cmd, ...args], opts);
      const [kb, user, sys] = ((await readFile(out, "utf8")).trim().split("\n").pop() ?? "").split(" ").map(Number);
      const cpu = (user ?? NaN) + (sys ?? NaN);
      return {
        ...r,
        rssBytes: kb !== undefined && Number.isFinite(kb) ? kb * 1024 : undefined,
        cpuSeconds: Number.isFinite(cpu) ? cpu : undefined,
      };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
  let peak = 0;
  const r = await spawnCollect(cmd, args, opts, (pid) => {
    const timer = setInterval(() => {
      peak = Math.max(peak, treeHwm(pid));
    }, 20);
    return () => clearInterval(timer);
  });
  return { ...r, rssBytes: peak > 0 ? peak : undefined, cpuSeconds: undefined };
}

/** A shell pipeline, measured like `runMeasured`. */
export function runShellMeasured(script: string, opts: RunOptions = {}): Promise<Sample> {
  return runMeasured("/bin/sh", ["-c", `set -e; ${script}`], opts);
}

/** Largest VmHWM (bytes) among `pid` and its descendants. */
function treeHwm(pid: number): number {
  let max = 0;
  const visit = (p: number): void => {
    try {
      const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${p}/status`, "utf8"));
      if (m) max = Math.max(max, Number(m[1]) * 1024);
      for (const task of readdirSync(`/proc/${p}/task`)) {
        for (const c of readFileSync(`/proc/${p}/task/${task}/children`, "utf8").split(" ").filter(Boolean))
          visit(Number(c));
      }
    } catch {
      // exited meanwhile
    }
  };
  visit(pid);
  return max;
}

function spawnCollect(
  cmd: string,
  args: string[],
  opts: RunOptions,
  watch?: (pid: number) => () => void,
): Promise<Omit<Sample, "rssBytes" | "cpuSeconds">> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(cmd, args, {
      env: opts.env ?? process.env,
      stdio: ["ignore", opts.captureStdout === false ? "ignore" : "pipe", "pipe"],
    });
    const stop = child.pid !== undefined && watch ? watch(child.pid) : () => {};
    let stdout = "";
    let stderr = "";
    child.stdout?.setEncoding("utf8").on("data", (d: string) => {
      if (stdout.length < 10_000_000) stdout += d;
    });
    child.stderr?.setEncoding("utf8").on("data", (d: string) => {
      if (stderr.length < 200_000) stderr += d;
    });
    child.on("error", (err) => {
      stop();
      reject(err);
    });
    child.on("close", (code, signal) => {
      stop();
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      if (code !== 0) {
        reject(
          new Error(
            `${cmd} ${args.join(" ")} failed (${signal ?? `exit ${String(code)}`}):\n${stderr.trim().slice(-4000)}`,
          ),
        );
        return;
      }
      resolve({ seconds, stdout, stderr });
    });
  });
}

/** Result of `best` / `interleaved`: min and median time, the largest peak RSS of all runs. */
export interface Best {
  /** Fastest run (s). */
  seconds: number;
  /** Median run (s). */
  median: number;
  /** Every run's time, in run order. */
  runs: number[];
  /** Largest peak RSS over the runs (bytes). */
  rssBytes: number | undefined;
  /** Every run's peak RSS, in run order. */
  rssRuns: (number | undefined)[];
  /** Median CPU seconds (user + system) of the client process(es), when known. */
  cpuSeconds: number | undefined;
  /** Every run's CPU seconds, in run order. */
  cpuRuns: (number | undefined)[];
  /** The fastest run's sample (its stdout carries e.g. pgsnap's JSON result). */
  sample: Sample;
}

/** Median of a non-empty list. */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function summarize(samples: Sample[]): Best {
  if (samples.length === 0) throw new Error("best(): repeat must be ≥ 1");
  const fastest = samples.reduce((a, b) => (b.seconds < a.seconds ? b : a));
  const rss = samples.map((s) => s.rssBytes).filter((x): x is number => x !== undefined);
  const cpu = samples.map((s) => s.cpuSeconds).filter((x): x is number => x !== undefined);
  return {
    seconds: fastest.seconds,
    median: median(samples.map((s) => s.seconds)),
    runs: samples.map((s) => s.seconds),
    rssBytes: rss.length > 0 ? Math.max(...rss) : undefined,
    rssRuns: samples.map((s) => s.rssBytes),
    cpuSeconds: cpu.length > 0 ? median(cpu) : undefined,
    cpuRuns: samples.map((s) => s.cpuSeconds),
    sample: fastest,
  };
}

/**
 * Runs `setup` (untimed) then `run` `repeat` times in a row. Prefer `interleaved` for anything
 * that is compared with something else.
 */
export async function best(repeat: number, run: () => Promise<Sample>, setup?: () => Promise<void>): Promise<Best> {
  const samples: Sample[] = [];
  for (let i = 0; i < repeat; i++) {
    if (setup) await setup();
    samples.push(await run());
  }
  return summarize(samples);
}

/** One command of an interleaved comparison. */
export interface Contender {
  label: string;
  run: () => Promise<Sample>;
  /** Untimed, before every run of this contender. */
  setup?: () => Promise<void>;
}

/**
 * Runs every contender once per round, `repeat` rounds (A B C, A B C, ...), so a burst of load
 * from other users of the machine hits every contender alike instead of one of them. Returns one
 * Best per contender, in the order given. `onRun` reports each run as it ends.
 */
export async function interleaved(
  repeat: number,
  contenders: readonly Contender[],
  onRun?: (label: string, round: number, s: Sample) => void,
): Promise<Best[]> {
  const samples: Sample[][] = contenders.map(() => []);
  for (let round = 0; round < repeat; round++) {
    for (const [i, c] of contenders.entries()) {
      if (c.setup) await c.setup();
      const s = await c.run();
      samples[i]!.push(s);
      onRun?.(c.label, round, s);
    }
  }
  return samples.map(summarize);
}

/** Seconds taken by an in-process async step. */
export async function timed<T>(fn: () => Promise<T>): Promise<{ seconds: number; value: T }> {
  const started = process.hrtime.bigint();
  const value = await fn();
  return { seconds: Number(process.hrtime.bigint() - started) / 1e9, value };
}
