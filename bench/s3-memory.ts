/**
 * Where the memory of a dump to S3 goes (issue 13 item 5): peak RSS of pgsnap's process for the
 * same dump to a local directory and to S3 (radosgw on 127.0.0.1, test/helpers/s3-server.ts),
 * for several part sizes and --jobs, next to the floors (Node itself, pgsnap's CLI, the minio
 * module) and the bound part size × 2 × jobs + 100 MiB.
 *
 *   npm run build && node --import tsx bench/s3-memory.ts
 *
 * Environment: BENCH_S3_MEMORY_ROWS (default 1,000,000), BENCH_S3_MEMORY_REPEAT (default 2).
 * Peak RSS comes from GNU time (bench/measure.ts); best (lowest) of the repeats.
 *
 * Measured 2026-12-01 (2 shared cores, 1,000,000 rows, one table of ~30 MiB compressed):
 *   node -e ''                         39.3 MiB   Node itself
 *   node -e 'require("minio")'         60.1 MiB   minio: +21 MiB (loaded only for s3:// storage)
 *   pgsnap --version                   61.1 MiB   pgsnap's CLI modules: +22 MiB
 *   dump → local directory             92.9 MiB   COPY → NDJSON → zstd pipeline: +32 MiB
 *   dump → S3, 5 MiB parts            135.5 MiB   bound 110 MiB
 *   dump → S3, 16 MiB parts (default) 157.0 MiB   bound 132 MiB
 *   dump → S3, 64 MiB parts           222.4 MiB   bound 228 MiB (only ~30 MiB of a part touched)
 *   --jobs 2 gives the same numbers: one table is one upload.
 * So S3 costs the local dump (93) + minio (21) + the two part buffers (2 × part size) + ~11 MiB
 * (HTTP, XML parsing, heap growth): 157 = 93 + 21 + 32 + 11. The floor without part buffers is
 * ~125 MiB, above the 100 MiB the bound "part size × 2 × jobs + 100 MiB" allows; it holds from
 * 64 MiB parts up. Two part buffers per upload are the least that keeps reading the table while
 * a part uploads; going under the bound would mean dropping minio (its own SigV4 client) or
 * a smaller baseline, not fewer buffers.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { createDatabase, repoRoot, startPostgres } from "../test/helpers/postgres.js";
import { startS3Server } from "../test/helpers/s3-server.js";
import { generateTable } from "./data.js";
import { runMeasured } from "./measure.js";
import { fmtBytes } from "./report.js";

const MiB = 1024 * 1024;
const ROWS = Number(process.env["BENCH_S3_MEMORY_ROWS"] ?? 1_000_000);
const REPEAT = Number(process.env["BENCH_S3_MEMORY_REPEAT"] ?? 2);
const pgsnapBin = join(repoRoot, "bin", "pgsnap.js");

const log = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

async function peak(args: string[], env: NodeJS.ProcessEnv = {}): Promise<number> {
  let low = Number.POSITIVE_INFINITY;
  for (let i = 0; i < REPEAT; i++) {
    const s = await runMeasured(process.execPath, args, { env: { ...process.env, ...env }, captureStdout: false });
    low = Math.min(low, s.rssBytes ?? Number.NaN);
  }
  return low;
}

const pg = await startPostgres(15);
const s3 = await startS3Server();
const work = await mkdtemp(join(tmpdir(), "pgsnap-bench-s3mem-"));
try {
  const db = await createDatabase(pg.url, { prefix: "bench_s3mem" });
  await generateTable(db.url, { rows: ROWS, layout: { kind: "interleaved", tenants: 100, focusEvery: 100 } }, log);
  const rows: [string, number, string][] = [];
  const add = (label: string, rss: number, note = ""): void => {
    rows.push([label, rss, note]);
    log(`${label.padEnd(52)} ${fmtBytes(rss).padStart(10)}  ${note}`);
  };
  add("node -e '' (Node itself)", await peak(["-e", ""]));
  add("node -e 'require(\"minio\")' (the minio module)", await peak(["-e", 'require("minio")']));
  add("pgsnap --version (the CLI's modules)", await peak([pgsnapBin, "--version"]));
  const dump = (storage: string, jobs: number): string[] => [
    pgsnapBin,
    "--db",
    db.url,
    "--storage",
    storage,
    "--json",
    "--no-progress",
    "dump",
    "--jobs",
    String(jobs),
  ];
  for (const jobs of [1, 2]) {
    add(`dump --jobs ${jobs} → local directory`, await peak(dump(join(work, `local-${jobs}`), jobs)));
    for (const part of [5 * MiB, 16 * MiB, 64 * MiB]) {
      const bucket = await s3.createBucket();
      const bound = part * 2 * jobs + 100 * MiB;
      add(
        `dump --jobs ${jobs} → S3, part size ${fmtBytes(part)}`,
        await peak(dump(`s3://${bucket}/bench`, jobs), { ...s3.env(), PGSNAP_S3_PART_SIZE: String(part) }),
        `bound ${fmtBytes(bound)}`,
      );
    }
  }
  process.stdout.write(JSON.stringify({ rows: ROWS, repeat: REPEAT, peakRss: rows }, null, 2) + "\n");
  await db.drop();
} finally {
  await rm(work, { recursive: true, force: true });
  await s3.stop();
  await pg.stop();
}
