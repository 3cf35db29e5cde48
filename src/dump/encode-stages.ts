/**
 * The transforms that turn one table's COPY text into its stored object: COPY text → NDJSON
 * (src/format/copy-to-ndjson.ts) → zstd (one frame, or one frame per tenant), with the counts and
 * digests the manifest needs. Built in the thread that runs them: the dump's encode worker
 * (./encode-worker.ts) or, without one, the main thread (./table-encoder.ts).
 */
import type { Transform } from "node:stream";
import { CopyToNdjson, type JsonKind } from "../format/copy-to-ndjson.js";
import { ByteCounter, DigestStream } from "../format/digest.js";
import { TenantFrameStream, type TenantFrame } from "../format/tenant-frames.js";
import { createCompressStream } from "../format/zstd.js";

/** What to encode: a plain (`--tenant`, full) or a tenant-framed (`--all-tenants`) table. */
export interface EncodeSpec {
  columns: { name: string; kind: JsonKind }[];
  /** COPY text carries the frame key first, rows grouped by tenant: one zstd frame per tenant. */
  framed: boolean;
  level: number;
  /** zstd worker threads beside the encoding thread (ZstdEncoderOptions.workers). */
  zstdWorkers?: number | undefined;
}

/** The finished encoding of one table. */
export interface EncodeResult {
  /** COPY rows encoded. */
  rows: number;
  /** NDJSON bytes before compression (for framed tables, the rows' bytes in all frames). */
  bytes: number;
  /** Compressed bytes written, and their SHA-256 (hex). */
  storedBytes: number;
  sha256: string;
  /** Framed tables: the frame index, in file order. */
  frames?: TenantFrame[] | undefined;
}

export interface EncodeStages {
  /** COPY text in, stored bytes out, in pipeline order. */
  transforms: Transform[];
  /** Rows and NDJSON bytes so far (live). */
  rows: () => number;
  bytes: () => number;
  /** Valid once the last transform has ended. */
  result: () => EncodeResult;
}

export function encodeStages(spec: EncodeSpec): EncodeStages {
  // Framed: runs of one tenant's rows between records, so the framer never parses a row again.
  const json = new CopyToNdjson({ columns: spec.columns, tenantKeyFirst: spec.framed, groupRecords: spec.framed });
  // Uncompressed size only: hashing the raw bytes too would cost ~0.5 s per GB for nothing.
  const raw = new ByteCounter();
  const framer = spec.framed
    ? new TenantFrameStream({ level: spec.level, input: "group-records", workers: spec.zstdWorkers })
    : undefined;
  const stored = new DigestStream();
  return {
    transforms: [json, raw, framer ?? createCompressStream(spec.level, { workers: spec.zstdWorkers }), stored],
    rows: () => json.rows,
    bytes: () => raw.bytes,
    result: () => ({
      rows: json.rows,
      bytes: framer ? framer.frames.reduce((n, f) => n + f.bytes, 0) : raw.bytes,
      storedBytes: stored.bytes,
      sha256: stored.sha256,
      ...(framer ? { frames: framer.frames } : {}),
    }),
  };
}
