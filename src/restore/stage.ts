/**
 * Staging: each snapshot table (or the tenant's frame of it) streams from storage into a typed
 * temporary table with COPY, its sha256 and row count checked against the manifest on the way.
 */
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import type pg from "pg";
import { ExitCode, IntegrityError, PgsnapError, RefusedError } from "../errors.js";
import { isConnectionFailure } from "../db/connect.js";
import { quoteIdent } from "../db/quote.js";
import { DigestStream } from "../format/digest.js";
import { frameOf, type Manifest } from "../format/manifest.js";
import { ZstdNdjsonToCopy } from "../format/zstd-ndjson-to-copy.js";
import { snapshotPrefix } from "../storage/keys.js";
import type { Storage } from "../storage/storage.js";
import { copyFromSink, SlabPool } from "./copy-sink.js";
import { keyMatch, type Work } from "./work.js";

/**
 * Creates the work's staging table (a typed copy of the staged live columns, no constraints but
 * domains), loads its rows, then indexes it on the key and analyses it so the set-based checks
 * and writes that join it get hash or index plans, never nested loops over stale estimates.
 */
export async function stageTable(
  client: pg.Client,
  storage: Storage,
  manifest: Manifest,
  w: Work,
  tenant: string | undefined,
  signal: AbortSignal | undefined,
  onRows?: RowsProgress,
): Promise<void> {
  const cols = w.staged.map((c) => quoteIdent(c.name)).join(", ");
  await client.query(
    `CREATE TEMP TABLE ${w.stage} ON COMMIT DROP AS SELECT ${cols || "1 AS pgsnap_dummy"} FROM ${liveFrom(w)} WITH NO DATA`,
  );
  w.stagedRows = await loadRows(client, storage, manifest, w, tenant, w.stage, signal, w.staged, onRows);
  if (keyMatch(w, "a", "b")) {
    await client.query(`CREATE INDEX ON ${w.stage} (${w.key!.columns.map((c) => quoteIdent(c)).join(", ")})`);
  }
  await analyze(
    client,
    w.stage,
    joinedColumns(w).map((c) => quoteIdent(c)),
  );
}

/**
 * ANALYZE of one of the restore's temporary tables (`columns` quoted; none: all) with a
 * statistics target of 10: a 3,000-row sample instead of 30,000. The plans here need the row
 * count (estimated from the sampled pages either way), null fractions and whether a key is
 * unique, which a small sample gives as well (staging of 1M rows: reltuples 1,000,118, id
 * n_distinct -1, tenant column 1, as with the default target). Measured on a loaded machine
 * (issue 14): 63-100 instead of 640-780 ms at 1M rows, 17-24 instead of 120-205 ms at 100k. One
 * round trip; the setting is put back right after (SET LOCAL: a failure rolls it back too).
 */
export async function analyze(client: pg.Client, table: string, columns: readonly string[] = []): Promise<void> {
  await client.query(
    "SET LOCAL default_statistics_target = 10;" +
      ` ANALYZE ${table}${columns.length > 0 ? ` (${columns.join(", ")})` : ""};` +
      " SET LOCAL default_statistics_target TO DEFAULT",
  );
}

/**
 * The staged columns that the checks and writes join or filter on: every key's columns, every
 * foreign key's columns (ownership through a parent, the reach check) and the tenant column.
 * ANALYZE reads only these (the row count comes with any column list): the statistics of wide
 * payload columns (text, jsonb) steer no plan here and cost most of a full ANALYZE.
 */
export function joinedColumns(w: Work): string[] {
  const staged = new Set(w.staged.map((c) => c.name));
  const out = new Set<string>();
  for (const k of w.live.keys) for (const c of k.columns) out.add(c);
  for (const fk of w.live.foreignKeys) for (const c of fk.columns) out.add(c);
  if (w.snap.owner && "column" in w.snap.owner) out.add(w.snap.owner.column);
  return [...out].filter((c) => staged.has(c));
}

function liveFrom(w: Work): string {
  return `${quoteIdent(w.live.schema)}.${quoteIdent(w.live.name)}`;
}

/**
 * Streams a table's rows (or the tenant's frame) from storage into `target` with COPY, checking
 * the object's sha256 and row count against the manifest. Returns the rows loaded.
 */
export async function loadRows(
  client: pg.Client,
  storage: Storage,
  manifest: Manifest,
  w: Work,
  tenant: string | undefined,
  target: string,
  signal: AbortSignal | undefined,
  columns = w.staged,
  onRows?: RowsProgress,
): Promise<number> {
  const cols = columns.map((c) => quoteIdent(c.name)).join(", ");
  const key = snapshotPrefix(manifest.project, manifest.id) + w.snap.object;
  let expect: { sha256: string; rows: number; range?: { offset: number; length: number } } | undefined;
  if (w.snap.frames) {
    if (tenant === undefined) expect = { sha256: w.snap.sha256, rows: w.snap.rows };
    else {
      const frame = frameOf(manifest, w.snap, tenant);
      if (frame)
        expect = { sha256: frame.sha256, rows: frame.rows, range: { offset: frame.offset, length: frame.length } };
    }
  } else expect = { sha256: w.snap.sha256, rows: w.snap.rows };
  if (!expect || expect.rows === 0 || columns.length === 0) {
    onRows?.(0, 0, 0, true);
    return 0;
  }

  let source;
  try {
    source = await storage.get(key, expect.range, { signal });
  } catch (err) {
    if (err instanceof PgsnapError && err.code === "STORAGE_NOT_FOUND") {
      throw new IntegrityError("OBJECT_MISSING", `snapshot ${manifest.id}: object ${w.snap.object} is missing`, {
        hint: "the snapshot is damaged; run `pgsnap verify` and restore from another snapshot",
        cause: err,
      });
    }
    throw err;
  }
  const digest = new DigestStream();
  // The snapshot's rows carry every snapshot column; only the staged ones are copied.
  const slabs = new SlabPool();
  const transcoder = new ZstdNdjsonToCopy({ columns: columns.map((c) => c.name), slabs });
  const sink = client.query(copyFromSink(`COPY ${target} (${cols}) FROM STDIN`, slabs));
  try {
    await pipeline(source, digest, transcoder, progress(transcoder, expect.rows, onRows), sink, { signal });
    onRows?.(sink.rowCount, transcoder.bytes, expect.rows, true);
  } catch (err) {
    throw classifyLoadError(err, manifest, w);
  }
  if (digest.sha256 !== expect.sha256) {
    throw new IntegrityError(
      "CHECKSUM_MISMATCH",
      `snapshot ${manifest.id}: object ${w.snap.object}${expect.range ? ` (tenant ${tenant} frame)` : ""} has sha256 ${digest.sha256}, the manifest says ${expect.sha256}`,
      { hint: "the object was changed or damaged; nothing was restored. Use another snapshot" },
    );
  }
  if (sink.rowCount !== expect.rows) {
    throw new IntegrityError(
      "ROW_COUNT_MISMATCH",
      `snapshot ${manifest.id}: object ${w.snap.object} holds ${sink.rowCount} rows, the manifest says ${expect.rows}`,
      { hint: "the snapshot is damaged; nothing was restored. Use another snapshot" },
    );
  }
  return sink.rowCount;
}

/** Hears a table's rows and bytes as they stream: (rows, bytes, expected rows, finished). */
export type RowsProgress = (rows: number, bytes: number, totalRows: number, finished: boolean) => void;

/** A pass-through that reports the transcoder's rows and bytes at most every 250 ms. */
function progress(transcoder: ZstdNdjsonToCopy, totalRows: number, onRows: RowsProgress | undefined): Transform {
  let last = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      const now = Date.now();
      if (onRows && now - last >= 250) {
        last = now;
        onRows(transcoder.rows, transcoder.bytes, totalRows, false);
      }
      done(null, chunk);
    },
  });
}

/**
 * What a failed load means. Exit 12 only when the object's bytes are proven wrong: a lost
 * connection, an interruption, a constraint of the database (SQLSTATE class 23) or a value that
 * no longer fits a column whose type changed since the dump are not the snapshot's fault.
 */
function classifyLoadError(err: unknown, manifest: Manifest, w: Work): unknown {
  const code = (err as { code?: unknown }).code;
  if (err instanceof PgsnapError && err.exitCode !== ExitCode.integrity) return err;
  if ((err as { name?: string }).name === "AbortError") return err;
  if (isConnectionFailure(err)) return err;
  if (typeof code === "string" && code.startsWith("23")) return err;
  if (typeof code === "string" && (code.startsWith("22") || code === "42804") && w.typeDrift.length > 0) {
    return new RefusedError(
      "SCHEMA_DRIFT",
      `snapshot ${manifest.id}, table ${w.live.id}: a value does not fit the column's new type (${(err as Error).message}):\n  ${w.typeDrift.join("\n  ")}`,
      { hint: "migrate the column back, or restore without this table (--tables); nothing was changed", cause: err },
    );
  }
  return new IntegrityError(
    "OBJECT_CORRUPT",
    `snapshot ${manifest.id}: object ${w.snap.object} cannot be read: ${(err as Error).message}`,
    {
      hint: "the object is truncated or corrupted; run `pgsnap verify` and restore from another snapshot",
      cause: err,
    },
  );
}
