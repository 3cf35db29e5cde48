/**
 * The transforms that turn one table's COPY text into its stored object: COPY text → NDJSON
 * (src/format/copy-to-ndjson.ts) → zstd (one frame, or one frame per tenant), with the counts and
 * digests the manifest needs.
 *
 * They run on the dump's main thread, beside one zstd worker thread (src/format/zstd.ts). Moving
 * them to a worker thread of their own was built and measured (issue 14): on the 2-core bench
 * machine it saved no time in 4 of 6 interleaved rounds, cost ~0.9 s more CPU per 1M rows and
 * ~45 MiB more peak RSS, so it was taken out again.
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
  /** Compressed bytes so far (live). */
  storedBytes: () => number;
  /** Valid once the last transform has ended. */
  result: () => EncodeResult;
}

export function encodeStages(spec: EncodeSpec): EncodeStages {
  // Framed: runs of one tenant's rows between records, so the framer never parses a row again.
  const json = new CopyToNdjson({ columns: spec.columns, tenantKeyFirst: spec.framed, groupRecords: spec.framed });
  // Uncompressed size only: hashing the raw bytes too would cost ~0.5 s per GB for nothing.
  const raw = new ByteCounter();
  const framer = spec.framed ? new TenantFrameStream({ level: spec.level, input: "group-records" }) : undefined;
  const stored = new DigestStream();
  return {
    transforms: [json, raw, framer ?? createCompressStream(spec.level), stored],
    rows: () => json.rows,
    bytes: () => raw.bytes,
    storedBytes: () => stored.bytes,
    result: () => ({
      rows: json.rows,
      bytes: framer ? framer.frames.reduce((n, f) => n + f.bytes, 0) : raw.bytes,
      storedBytes: stored.bytes,
      sha256: stored.sha256,
      ...(framer ? { frames: framer.frames } : {}),
    }),
  };
}
