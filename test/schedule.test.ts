/**
 * `pgsnap schedule`: ticks driven by an injected clock (no sleeps as synchronisation) for
 * overlap skipping and for two schedulers on one config running a job once per tick (advisory
 * lock on the target database); then the real process: a seconds-level cron produces snapshots,
 * /healthz and /metrics answer, SIGTERM in the middle of a dump exits 0 and leaves nothing
 * partial, and the next run succeeds.
 */
import type { ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { loadOperations, type JobDefinition, type Operations } from "../src/config/operations.js";
import { runJob, type RunJobOptions } from "../src/jobs/run-job.js";
import type { JobRun } from "../src/notify/summary.js";
import { ManualClock } from "../src/schedule/clock.js";
import { runSchedule } from "../src/schedule/scheduler.js";
import { runPgsnap, spawnPgsnap } from "./helpers/cli.js";
import { createDatabase, withClient, type TestDatabase } from "./helpers/postgres.js";

const serverUrl = inject("pgUrl");
let small: TestDatabase;
let big: TestDatabase;

beforeAll(async () => {
  small = await createDatabase(serverUrl, { prefix: "pgsnap_sched" });
  await withClient(small.url, (c) =>
    c.query(`CREATE TABLE items (id serial PRIMARY KEY, user_id int NOT NULL, note text);
      INSERT INTO items (user_id, note) SELECT 1 + g % 3, 'n' || g FROM generate_series(1, 300) g;`),
  );
  big = await createDatabase(serverUrl, { prefix: "pgsnap_sched_big" });
  await withClient(big.url, (c) =>
    c.query(`CREATE TABLE a_small (id int PRIMARY KEY, user_id int NOT NULL);
      INSERT INTO a_small SELECT g, g % 5 FROM generate_series(1, 50) g;
      CREATE TABLE b_big (id int PRIMARY KEY, user_id int NOT NULL, payload text);
      INSERT INTO b_big SELECT g, g % 5, repeat(md5(g::text), 3) FROM generate_series(1, 600000) g;`),
  );
}, 240_000);

afterAll(async () => {
  await small?.drop();
  await big?.drop();
});

type Logged = { event: string; job?: string; [k: string]: unknown };

function opsFor(db: TestDatabase, storage: string, cron: string): Operations {
  return loadOperations(
    {},
    { DATABASE_URL: db.url, PGSNAP_STORAGE: storage, PGSNAP_SCHEDULE: cron, PGSNAP_VERIFY: "checksums" },
    { requireCron: true },
  );
}

/** Waits until `pred` holds for some logged event (checked on every new event). */
function eventWaiter(logs: Logged[]) {
  const waiters: { pred: (e: Logged) => boolean; resolve: (e: Logged) => void }[] = [];
  return {
    log: (e: Logged) => {
      logs.push(e);
      for (const w of [...waiters])
        if (w.pred(e)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(e);
        }
    },
    until: (pred: (e: Logged) => boolean) =>
      new Promise<Logged>((resolve) => {
        const hit = logs.find(pred);
        if (hit) resolve(hit);
        else waiters.push({ pred, resolve });
      }),
  };
}

describe("scheduler with an injected clock", () => {
  it("skips a tick while the job's previous run is still going, and logs it", async () => {
    const storage = await mkdtemp(join(tmpdir(), "pgsnap-sched-"));
    const ops = opsFor(small, storage, "* * * * * *");
    const clock = new ManualClock(new Date("2026-01-01T00:00:00.500Z"));
    const logs: Logged[] = [];
    const w = eventWaiter(logs);
    const started: Date[] = [];
    let release!: () => void;
    const blocked = new Promise<void>((r) => (release = r));
    const stop = new AbortController();
    const fake = async (job: JobDefinition, _ops: Operations, o: RunJobOptions): Promise<JobRun> => {
      started.push(o.tick!);
      w.log({ event: "fake-start", tick: o.tick!.toISOString() });
      if (started.length === 1) await blocked;
      return { job: job.name, status: "ok", startedAt: o.tick!.toISOString(), durationMs: 0, projects: [] };
    };
    const done = runSchedule({ ops, signal: stop.signal, clock, log: w.log, run: fake });

    await clock.untilSleeping(1);
    clock.advance(new Date("2026-01-01T00:00:01Z"));
    await w.until((e) => e.event === "fake-start");
    await clock.untilSleeping(1);
    clock.advance(new Date("2026-01-01T00:00:02Z"));
    const skipped = await w.until((e) => e.event === "skipped-overlap");
    expect(skipped.tick).toBe("2026-01-01T00:00:02.000Z");
    release();
    await w.until((e) => e.event === "tick-done" && e.tick === "2026-01-01T00:00:01.000Z");
    await clock.untilSleeping(1);
    // Ticks missed while the clock jumped are not replayed: 00:00:05 runs, 03 and 04 do not.
    clock.advance(new Date("2026-01-01T00:00:05Z"));
    await w.until((e) => e.event === "fake-start" && e.tick === "2026-01-01T00:00:03.000Z");
    await clock.untilSleeping(1);
    stop.abort();
    await done;
    expect(started.map((d) => d.toISOString())).toEqual(["2026-01-01T00:00:01.000Z", "2026-01-01T00:00:03.000Z"]);
    expect(logs.filter((e) => e.event === "skipped-overlap")).toHaveLength(1);
  });

  it("two schedulers on one config run the job once per tick; the other logs locked", async () => {
    const storage = await mkdtemp(join(tmpdir(), "pgsnap-sched2-"));
    const ops = opsFor(small, storage, "*/10 * * * * *");
    const clock = new ManualClock(new Date("2026-01-01T00:00:05Z"));
    const logs: Logged[] = [];
    const w = eventWaiter(logs);
    const stop = new AbortController();
    const results: JobRun[] = [];
    const wrapped = async (job: JobDefinition, o: Operations, opts: RunJobOptions) => {
      const r = await runJob(job, o, opts);
      results.push(r);
      w.log({ event: "run-settled", tick: opts.tick!.toISOString() });
      return r;
    };
    const a = runSchedule({ ops, signal: stop.signal, clock, log: w.log, run: wrapped });
    const b = runSchedule({ ops, signal: stop.signal, clock, log: w.log, run: wrapped });
    for (const tick of ["2026-01-01T00:00:10.000Z", "2026-01-01T00:00:20.000Z"]) {
      await clock.untilSleeping(2);
      clock.advance(new Date(tick));
      // Both schedulers settled this tick (one ran it, the other found it locked).
      await w.until(() => logs.filter((e) => e.event === "tick-done" && e.tick === tick).length === 2);
    }
    await clock.untilSleeping(2);
    stop.abort();
    await Promise.all([a, b]);
    const ran = results.flatMap((r) => r.projects.filter((p) => p.skipped === undefined));
    const skipped = results.flatMap((r) => r.projects.filter((p) => p.skipped === "locked"));
    expect(ran).toHaveLength(2);
    expect(skipped).toHaveLength(2);
    expect(ran.every((p) => p.status === "ok")).toBe(true);
    expect(logs.filter((e) => e.event === "locked")).toHaveLength(2);
    const list = await runPgsnap(["list", "--storage", storage, "--json"]);
    expect(list.json.snapshots).toHaveLength(2);
  });
});

/** Reads the JSON lines of a schedule process; `until` waits for a matching line. */
function jsonLines(child: ChildProcess) {
  const lines: Logged[] = [];
  const w = eventWaiter(lines);
  const bad: string[] = [];
  createInterface({ input: child.stdout! }).on("line", (l) => {
    try {
      w.log(JSON.parse(l) as Logged);
    } catch {
      bad.push(l);
    }
  });
  let stderr = "";
  child.stderr!.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
  return { lines, bad, until: w.until, exited, stderr: () => stderr };
}

describe("pgsnap schedule as a process", () => {
  it("a seconds-level cron produces snapshots; /healthz and /metrics answer; SIGTERM exits 0", async () => {
    const storage = await mkdtemp(join(tmpdir(), "pgsnap-sched-proc-"));
    const child = spawnPgsnap(["schedule", "--health-port", "0"], {
      env: {
        DATABASE_URL: small.url,
        PGSNAP_STORAGE: storage,
        PGSNAP_SCHEDULE: "*/2 * * * * *",
        PGSNAP_HEALTH_HOST: "127.0.0.1",
      },
    });
    const p = jsonLines(child);
    try {
      const listening = await p.until((e) => e.event === "health-listening");
      await p.until((e) => e.event === "job-done" && e.status === "ok");
      const base = `http://127.0.0.1:${listening.port as number}`;
      const health = await fetch(`${base}/healthz`);
      expect(health.status).toBe(200);
      const body = (await health.json()) as any;
      expect(body.status).toBe("ok");
      expect(body.jobs[0]).toMatchObject({ job: "default", lastStatus: "ok" });
      expect(typeof body.jobs[0].nextRun).toBe("string");
      const metrics = await (await fetch(`${base}/metrics`)).text();
      expect(metrics).toContain(`pgsnap_snapshot_rows{job="default",project="${small.name}"} 300`);
      expect(metrics).toContain(`pgsnap_last_run_status{job="default",project="${small.name}"} 0`);
      expect(metrics).toMatch(/pgsnap_last_success_timestamp_seconds\{job="default",project="[^"]+"\} \d+/);
      expect(metrics).toMatch(/pgsnap_snapshot_bytes\{job="default",project="[^"]+"\} [1-9]\d*/);
      const line = p.lines.find((e) => e.event === "job-done")!;
      expect(Object.keys(line)).toEqual(expect.arrayContaining(["time", "level", "event", "job"]));
    } finally {
      child.kill("SIGTERM");
    }
    expect(await p.exited, p.stderr()).toBe(0);
    expect(p.bad).toEqual([]);
    const list = await runPgsnap(["list", "--storage", storage, "--json"]);
    expect(list.json.snapshots.length).toBe(p.lines.filter((e) => e.event === "dump-done").length);
    expect(list.json.snapshots.length).toBeGreaterThanOrEqual(1);
  });

  it("SIGTERM in the middle of a dump: exit 0, no partial snapshot, the next run succeeds", async () => {
    const storage = await mkdtemp(join(tmpdir(), "pgsnap-sched-term-"));
    const env = {
      DATABASE_URL: big.url,
      PGSNAP_STORAGE: storage,
      PGSNAP_SCHEDULE: "* * * * * *",
      PGSNAP_SCOPE: "full",
    };
    const child = spawnPgsnap(["schedule", "-v"], { env });
    const p = jsonLines(child);
    // The small table is written; the big one is being read.
    await p.until((e) => e.event === "table-done" && e.table === "public.a_small");
    const signalled = Date.now();
    child.kill("SIGTERM");
    expect(await p.exited, p.stderr()).toBe(0);
    expect(Date.now() - signalled).toBeLessThan(30_000);
    expect(p.lines.some((e) => e.event === "project-failed")).toBe(true);
    expect(p.lines.filter((e) => e.event === "dump-done")).toHaveLength(0);
    const list = await runPgsnap(["list", "--storage", storage, "--json"]);
    expect(list.json.snapshots).toEqual([]);
    // Its objects are gone too: no snapshot directory is left without a manifest.
    const projectDir = join(storage, big.name);
    const dirs = existsSync(projectDir) ? (await readdir(projectDir)).filter((d) => /^\d{8}T/.test(d)) : [];
    for (const d of dirs) expect(await readdir(join(projectDir, d))).toEqual([]);
    const next = await runPgsnap(["run", "--json"], { env: { ...env, PGSNAP_VERIFY: "none" } });
    expect(next.code, next.stderr).toBe(0);
    expect(next.json.runs[0].projects[0].rows).toBe(600_050);
  }, 180_000);

  it("a second signal exits 130 at once", async () => {
    const storage = await mkdtemp(join(tmpdir(), "pgsnap-sched-twice-"));
    const child = spawnPgsnap(["schedule", "-v"], {
      env: { DATABASE_URL: big.url, PGSNAP_STORAGE: storage, PGSNAP_SCHEDULE: "* * * * * *", PGSNAP_SCOPE: "full" },
    });
    const p = jsonLines(child);
    await p.until((e) => e.event === "table-done" && e.table === "public.a_small");
    child.kill("SIGTERM");
    await p.until((e) => e.event === "shutdown-wait");
    child.kill("SIGTERM");
    expect(await p.exited).toBe(130);
  });
});
