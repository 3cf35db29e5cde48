/**
 * The storage contract every backend (local directory, S3) implements and the conformance suite
 * in test/storage checks. Keys are relative to the storage root, `/`-separated, never starting
 * with `/` (e.g. `myproject/20260118T030000Z-3f9a/manifest.json`).
 *
 * Contract:
 * - `put` is atomic: the object becomes visible (to get/stat/list) only after `body` ended
 *   without error and the bytes are durable; on error or abort nothing is visible under `key`
 *   (local: temp file + fsync + rename; S3: multipart upload aborted on failure).
 * - `put` consumes `body` fully; on failure it destroys `body`.
 * - `get` with a range returns exactly `length` bytes from `offset`, or fails with StorageError.
 * - `list` sees every object whose `put` has resolved (read-after-write).
 * - `delete` of a missing key is not an error.
 * - Every failure is a StorageError (exit 11) naming the key; a missing key on get/getBytes is a
 *   StorageError with code `STORAGE_NOT_FOUND`.
 */
import type { Readable } from "node:stream";

/** What `stat` and `list` return for one object. */
export interface ObjectInfo {
  key: string;
  size: number;
  lastModified: Date;
}

/** A byte range of an object: `length` bytes starting at `offset`. */
export interface ByteRange {
  offset: number;
  length: number;
}

export interface StorageCallOptions {
  signal?: AbortSignal | undefined;
}

/** Bytes moved through one Storage instance; tests use them to prove range reads. */
export interface StorageCounters {
  bytesRead: number;
  bytesWritten: number;
  /** Number of get/getBytes calls. */
  reads: number;
}

/** One storage backend. */
export interface Storage {
  /** Where this storage points, safe to print (no secrets). */
  readonly location: string;
  readonly counters: StorageCounters;
  /** Streams `body` into `key` atomically; resolves with the stored size in bytes. */
  put(key: string, body: Readable, options?: StorageCallOptions): Promise<{ size: number }>;
  /** Writes a small object atomically (manifests). */
  putBytes(key: string, data: Buffer, options?: StorageCallOptions): Promise<void>;
  /** Opens a read stream of the whole object or of one byte range. */
  get(key: string, range?: ByteRange, options?: StorageCallOptions): Promise<Readable>;
  /** Reads a small object whole (manifests). */
  getBytes(key: string, options?: StorageCallOptions): Promise<Buffer>;
  /** Size and time of one object, or undefined when it does not exist. */
  stat(key: string, options?: StorageCallOptions): Promise<ObjectInfo | undefined>;
  /** Every object whose key starts with `prefix` (recursive), in key order. */
  list(prefix: string, options?: StorageCallOptions): Promise<ObjectInfo[]>;
  /** Deletes the given keys; missing keys are ignored. */
  delete(keys: readonly string[], options?: StorageCallOptions): Promise<void>;
  /**
   * Removes leftovers of interrupted writes older than `olderThanMs` (local temp files and the
   * directories they leave empty, S3 incomplete multipart uploads) under `prefix`. Returns how
   * many temp files or uploads were removed; with `dryRun`, how many would be, removing nothing.
   */
  cleanupIncomplete(
    prefix: string,
    olderThanMs: number,
    options?: StorageCallOptions & { dryRun?: boolean | undefined },
  ): Promise<number>;
  /** Releases resources (sockets). */
  close(): Promise<void>;
}

/** Settings of the S3 backend; credentials come from config/env, never from flags. */
export interface S3Settings {
  endPoint: string; // full URL, e.g. http://127.0.0.1:9000 (default https://s3.amazonaws.com)
  accessKey: string;
  secretKey: string;
  region?: string | undefined;
  /** Multipart part size in bytes (default 16 MiB: 10,000 parts → objects up to ~156 GiB). */
  partSize?: number | undefined;
  /** Use path-style addressing (default true for non-AWS endpoints). */
  pathStyle?: boolean | undefined;
  /**
   * A connection that moves no bytes for this long fails the call with StorageError
   * STORAGE_TIMEOUT (exit 11), not retried (`--io-timeout`; default 300,000 ms; 0 turns it off).
   */
  ioTimeoutMs?: number | undefined;
}
