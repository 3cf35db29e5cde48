/**
 * Storage on an S3-compatible object store (AWS S3, MinIO, R2, B2) through the `minio` client.
 *
 * Uploads use S3 multipart directly (initiate, upload part, complete, abort: all public minio
 * calls) rather than minio's streaming `putObject`, because that one, in minio 8.0.7:
 * - retries a failed part only through its generic request retry: once by default, with a
 *   `console.warn` from library code, not on ECONNRESET, and losing the S3 error code at the end;
 * - never aborts the multipart upload it started when it fails, and does not expose its upload id;
 * - resumes any older incomplete upload of the same key (ListMultipartUploads + ListParts);
 * - numbers parts from 2, so a 10,000-part object is impossible;
 * - may never settle when its source stream is destroyed (minio-js #1479).
 * Here every request (each part included: its bytes are still in memory) is retried with
 * exponential backoff on 5xx, 408, 429, connection errors and timeouts; minio's own retry is
 * disabled. A failed or aborted put aborts its multipart upload (best effort; `cleanupIncomplete`
 * removes what an abort could not). Memory: at most two parts at a time (one filling, one
 * uploading), i.e. 2 × partSize (default 16 MiB → 32 MiB per concurrent put).
 *
 * Cancellation: the AbortSignal of a call reaches the HTTP requests it makes (through an
 * AsyncLocalStorage read by the transport), so an abort stops in-flight transfers too.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { createHash } from "node:crypto";
import * as http from "node:http";
import * as https from "node:https";
import { Readable, addAbortSignal } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";

import { createRequire } from "node:module";
import type { Client, ClientOptions, S3Error } from "minio";

/**
 * minio is loaded on first use, not at import: it costs ~0.3 s and ~30 MB, which every command
 * on local storage (and every short tenant dump) would otherwise pay. The CommonJS build is used
 * throughout, so its client and its S3Error class belong together.
 */
const requireCjs = createRequire(import.meta.url);
let minioModule: typeof import("minio") | undefined;
function minio(): typeof import("minio") {
  return (minioModule ??= requireCjs("minio") as typeof import("minio"));
}

import { InterruptedError, PgsnapError, StorageError, UsageError, redactSecrets } from "../errors.js";
import { checkKey, checkPrefix, checkRange } from "./key-checks.js";
import type { ByteRange, ObjectInfo, S3Settings, Storage, StorageCallOptions, StorageCounters } from "./storage.js";

/** Default multipart part size: 10,000 parts × 16 MiB ≈ 156 GiB per object. */
export const DEFAULT_PART_SIZE = 16 * 1024 * 1024;
/** S3 limits: parts are 5 MiB to 5 GiB (the last one may be smaller), at most 10,000 per object. */
const MIN_PART_SIZE = 5 * 1024 * 1024;
const MAX_PART_SIZE = 5 * 1024 * 1024 * 1024;
const MAX_PARTS = 10_000;

/** Tuning of retries and timeouts (tests shorten them). */
export interface S3StorageOptions {
  /** Attempts per request, the first included (default 5). */
  maxAttempts?: number | undefined;
  /** Backoff before the second attempt in ms, doubled per attempt, with jitter (default 250). */
  baseDelayMs?: number | undefined;
  /** Upper bound of one backoff in ms (default 20,000). */
  maxDelayMs?: number | undefined;
  /** A request with no socket activity for this long fails and is retried (default 120,000 ms). */
  requestTimeoutMs?: number | undefined;
}

/** What a call does, for error messages. */
interface Operation {
  action: "write" | "read" | "stat" | "list" | "delete" | "clean up";
  key?: string | undefined;
}

/** Per-attempt state shared with the transport through AsyncLocalStorage. */
interface RequestContext {
  signal: AbortSignal | undefined;
  /** Status of the last response. */
  status: number | undefined;
  /** The S3 error of the last response with a status minio would retry itself (see timedTransport). */
  failure: Promise<ServerFailure> | undefined;
}

interface ServerFailure {
  status: number;
  code: string | undefined;
  message: string | undefined;
}

/**
 * Statuses on which minio's requestWithRetry throws a bare "Retryable HTTP status" Error (even
 * with retries disabled) without reading the answer: the transport reads the S3 error itself,
 * which also frees the socket.
 */
const MINIO_RETRY_STATUSES = new Set([408, 429, 499, 500, 502, 503, 504, 520]);

const requestContext = new AsyncLocalStorage<RequestContext>();

const RETRYABLE_S3_CODES = new Set(["InternalError", "ServiceUnavailable", "SlowDown", "RequestTimeout"]);
const RETRYABLE_NET_CODES = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "EAI_AGAIN",
  "ENETUNREACH",
  "EHOSTUNREACH",
  "ERR_STREAM_PREMATURE_CLOSE",
]);
const ACCESS_CODES = new Set([
  "AccessDenied",
  "InvalidAccessKeyId",
  "SignatureDoesNotMatch",
  "InvalidToken",
  "ExpiredToken",
  "AllAccessDisabled",
  "AccountProblem",
]);

/** An S3 bucket (optionally under a key prefix) as a Storage. */
export class S3Storage implements Storage {
  readonly location: string;
  readonly counters: StorageCounters = { bytesRead: 0, bytesWritten: 0, reads: 0 };
  /** The endpoint URL, without credentials. */
  readonly endpoint: string;
  readonly partSize: number;
  private readonly bucket: string;
  /** "" or ends with "/". */
  private readonly prefix: string;
  // Private fields: the client holds the secret key, which must not show up in logs or inspect().
  readonly #client: Client;
  readonly #agent: http.Agent;
  readonly #secrets: readonly string[];
  private readonly maxAttempts: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private bucketChecked = false;

  constructor(bucket: string, prefix: string, settings: S3Settings, options: S3StorageOptions = {}) {
    this.bucket = bucket;
    this.prefix = normalizePrefix(prefix);
    this.#secrets = [settings.secretKey];
    if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) {
      throw new UsageError("S3_BUCKET_INVALID", `invalid S3 bucket name ${JSON.stringify(bucket)}`, {
        hint: "bucket names are 3-63 characters: lowercase letters, digits, dots and hyphens",
      });
    }
    let url: URL;
    try {
      url = new URL(settings.endPoint === "" ? "https://s3.amazonaws.com" : settings.endPoint);
    } catch {
      url = new URL("invalid:");
    }
    if ((url.protocol !== "http:" && url.protocol !== "https:") || url.pathname.length > 1 || url.username !== "") {
      throw new UsageError(
        "S3_ENDPOINT_INVALID",
        `invalid S3 endpoint ${JSON.stringify(this.redact(settings.endPoint))}`,
        {
          hint: "set PGSNAP_S3_ENDPOINT to a URL like http://127.0.0.1:9000 or https://s3.eu-west-1.amazonaws.com (no path, no credentials)",
        },
      );
    }
    const secure = url.protocol === "https:";
    this.endpoint = `${url.protocol}//${url.host}`;
    this.location = this.prefix === "" ? `s3://${bucket}` : `s3://${bucket}/${this.prefix.slice(0, -1)}`;
    this.partSize = settings.partSize ?? DEFAULT_PART_SIZE;
    if (!Number.isSafeInteger(this.partSize) || this.partSize < MIN_PART_SIZE || this.partSize > MAX_PART_SIZE) {
      throw new UsageError("S3_PART_SIZE_INVALID", `invalid S3 part size ${this.partSize}`, {
        hint: "the part size is between 5 MiB and 5 GiB (default 16 MiB)",
      });
    }
    this.maxAttempts = Math.max(1, options.maxAttempts ?? 5);
    this.baseDelayMs = options.baseDelayMs ?? 250;
    this.maxDelayMs = options.maxDelayMs ?? 20_000;
    const timeoutMs = options.requestTimeoutMs ?? 120_000;
    this.#agent = secure ? new https.Agent({ keepAlive: true }) : new http.Agent({ keepAlive: true });
    const isAws = url.hostname.endsWith(".amazonaws.com");
    const clientOptions: ClientOptions = {
      endPoint: url.hostname,
      useSSL: secure,
      accessKey: settings.accessKey,
      secretKey: settings.secretKey,
      partSize: this.partSize,
      pathStyle: settings.pathStyle ?? !isAws,
      transport: timedTransport(secure, timeoutMs),
      transportAgent: this.#agent,
      // Retries happen here (withRetry), with the error kept and without console output.
      retryOptions: { disableRetry: true },
    };
    if (url.port !== "") clientOptions.port = Number(url.port);
    if (settings.region !== undefined && settings.region !== "") clientOptions.region = settings.region;
    this.#client = new (minio().Client)(clientOptions);
  }

  /**
   * Streams `body` into `key`: one PUT when it fits in one part, else a multipart upload with
   * parts of `partSize`, completed only after `body` ended without error. On failure or abort
   * the upload is aborted and `body` destroyed; an error of `body` itself is rethrown unchanged,
   * an abort becomes InterruptedError, a storage failure StorageError.
   */
  async put(key: string, body: Readable, options: StorageCallOptions = {}): Promise<{ size: number }> {
    const { signal } = options;
    // Stops in-flight part uploads as soon as this put fails, whatever the reason.
    const failed = new AbortController();
    const requestSignal = signal === undefined ? failed.signal : AbortSignal.any([signal, failed.signal]);
    const operation: Operation = { action: "write", key };
    let uploadId: string | undefined;
    let inFlight: Promise<void> | undefined;
    let sourceFailed = false;
    try {
      const name = this.objectName(key);
      signal?.throwIfAborted();
      if (signal !== undefined) addAbortSignal(signal, body);
      await this.ensureBucket(signal);

      const parts: { part: number; etag: string }[] = [];
      let partNumber = 0;
      let partError: unknown;
      // Two part buffers, reused in turn: one fills while the other uploads (memory stays at
      // 2 × partSize instead of a fresh buffer per part waiting for the garbage collector).
      let buffer = Buffer.allocUnsafe(this.partSize);
      let uploading: typeof buffer | undefined;
      let filled = 0;
      let size = 0;
      const startUpload = (): Promise<string> =>
        this.withRetry(operation, requestSignal, () =>
          this.#client.initiateNewMultipartUpload(this.bucket, name, { "Content-Type": contentType(key) }),
        );
      const sendPart = (id: string, part: number, data: Buffer): Promise<void> => {
        if (part > MAX_PARTS) {
          throw new StorageError("STORAGE_TOO_LARGE", `${this.describe(key)} needs more than ${MAX_PARTS} parts`, {
            hint: `raise the S3 part size (now ${this.partSize} bytes)`,
          });
        }
        const md5 = createHash("md5").update(data).digest("base64");
        const sending = this.withRetry(operation, requestSignal, () =>
          this.#client.uploadPart(
            {
              bucketName: this.bucket,
              objectName: name,
              uploadID: id,
              partNumber: part,
              headers: { "Content-MD5": md5 },
            },
            data,
          ),
        ).then((result) => {
          parts.push({ part, etag: result.etag });
        });
        // Noticed early through partError; awaited (and rethrown) before the next part.
        void sending.catch((err: unknown) => {
          partError ??= err;
        });
        return sending;
      };

      const chunks = body[Symbol.asyncIterator]();
      for (;;) {
        let next: IteratorResult<unknown>;
        try {
          next = await chunks.next();
        } catch (err) {
          sourceFailed = true;
          throw err;
        }
        if (next.done === true) break;
        if (partError !== undefined) throw partError;
        const chunk = toBuffer(next.value);
        size += chunk.length;
        let offset = 0;
        while (offset < chunk.length) {
          const n = Math.min(chunk.length - offset, this.partSize - filled);
          chunk.copy(buffer, filled, offset, offset + n);
          filled += n;
          offset += n;
          if (filled === this.partSize) {
            uploadId ??= await startUpload();
            await inFlight; // at most one part uploading while the next one fills
            const free = uploading; // its upload has settled: minio no longer reads it
            inFlight = sendPart(uploadId, ++partNumber, buffer);
            uploading = buffer;
            buffer = free ?? Buffer.allocUnsafe(this.partSize);
            filled = 0;
          }
        }
      }

      if (uploadId === undefined) {
        // Fits in one part: a single PUT (the bytes are in memory, so it can be retried).
        const data = buffer.subarray(0, filled);
        await this.withRetry(operation, requestSignal, () =>
          this.#client.putObject(this.bucket, name, data, data.length, { "Content-Type": contentType(key) }),
        );
      } else {
        const id = uploadId;
        await inFlight;
        if (filled > 0) {
          inFlight = sendPart(id, ++partNumber, buffer.subarray(0, filled));
          await inFlight;
        }
        inFlight = undefined;
        parts.sort((a, b) => a.part - b.part);
        await this.completeUpload(operation, requestSignal, name, id, parts, size);
        uploadId = undefined;
      }
      this.counters.bytesWritten += size;
      return { size };
    } catch (err) {
      failed.abort();
      body.destroy();
      await inFlight?.catch(() => undefined);
      if (uploadId !== undefined) await this.abortUpload(key, uploadId);
      if (isAborted(signal)) throw this.interrupted(operation, err);
      if (sourceFailed) throw err; // an error of `body` itself: the caller knows best what it means
      throw this.toStorageError(err, operation, 1);
    }
  }

  /** Writes a small object with one PUT (retried); larger than a part, it goes through `put`. */
  async putBytes(key: string, data: Buffer, options: StorageCallOptions = {}): Promise<void> {
    if (data.length > this.partSize) {
      await this.put(key, Readable.from([data]), options);
      return;
    }
    const name = this.objectName(key);
    const operation: Operation = { action: "write", key };
    await this.ensureBucket(options.signal);
    await this.withRetry(operation, options.signal, () =>
      this.#client.putObject(this.bucket, name, data, data.length, { "Content-Type": contentType(key) }),
    );
    this.counters.bytesWritten += data.length;
  }

  /**
   * Opens `key` (or `range` of it). A missing key fails here with STORAGE_NOT_FOUND. The stream
   * fails with StorageError STORAGE_RANGE if the server sends other than exactly `length` bytes;
   * `options.signal` aborts the transfer. The caller consumes or destroys the stream. Only the
   * opening request is retried, not a transfer that breaks midway.
   */
  async get(key: string, range?: ByteRange, options: StorageCallOptions = {}): Promise<Readable> {
    const name = this.objectName(key);
    checkRange(range, key);
    const operation: Operation = { action: "read", key };
    const { signal } = options;
    signal?.throwIfAborted();
    this.counters.reads += 1;
    if (range !== undefined && range.length === 0) {
      // S3 has no empty range; check that the object exists and is long enough.
      const info = await this.stat(key, options);
      if (info === undefined) throw this.notFound(key);
      if (range.offset > info.size) throw this.rangeError(key, range, `the object has ${info.size} bytes`);
      return Readable.from([]);
    }
    const source = await this.withRetry(operation, signal, () =>
      range === undefined
        ? this.#client.getObject(this.bucket, name)
        : this.#client.getPartialObject(this.bucket, name, range.offset, range.length),
    );
    const counted = this.countReads(source, operation, range);
    if (signal !== undefined) addAbortSignal(signal, counted);
    return counted;
  }

  /** Reads a whole small object; the whole transfer is retried. */
  async getBytes(key: string, options: StorageCallOptions = {}): Promise<Buffer> {
    const name = this.objectName(key);
    const operation: Operation = { action: "read", key };
    this.counters.reads += 1;
    const data = await this.withRetry(operation, options.signal, async () => {
      const source = await this.#client.getObject(this.bucket, name);
      const chunks: Buffer[] = [];
      for await (const chunk of source) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks);
    });
    this.counters.bytesRead += data.length;
    return data;
  }

  async stat(key: string, options: StorageCallOptions = {}): Promise<ObjectInfo | undefined> {
    const name = this.objectName(key);
    const operation: Operation = { action: "stat", key };
    try {
      const info = await this.withRetry(operation, options.signal, () => this.#client.statObject(this.bucket, name));
      return { key, size: info.size, lastModified: info.lastModified };
    } catch (err) {
      if (err instanceof StorageError && err.code === "STORAGE_NOT_FOUND") {
        // HEAD answers a bare 404 for a missing bucket too: tell the two apart once.
        await this.ensureBucket(options.signal);
        return undefined;
      }
      throw err;
    }
  }

  /** Lists page by page (each page retried), then sorts in UTF-8 byte order. */
  async list(prefix: string, options: StorageCallOptions = {}): Promise<ObjectInfo[]> {
    checkPrefix(prefix);
    const operation: Operation = { action: "list", key: prefix };
    const out: ObjectInfo[] = [];
    let token = "";
    for (;;) {
      const page = await this.withRetry(operation, options.signal, () =>
        this.#client.listObjectsV2Query(this.bucket, this.prefix + prefix, token, "", 1000, ""),
      );
      for (const item of page.objects) {
        if (item.name === undefined) continue; // a common prefix (none without a delimiter)
        out.push({
          key: String(item.name).slice(this.prefix.length),
          size: Number(item.size),
          lastModified: item.lastModified ?? new Date(0),
        });
      }
      if (!page.isTruncated || page.nextContinuationToken === "" || page.nextContinuationToken === token) break;
      token = page.nextContinuationToken;
    }
    return out.sort((a, b) => Buffer.compare(Buffer.from(a.key), Buffer.from(b.key)));
  }

  /** Multi-object delete in batches of 1,000; missing keys are not errors (S3 semantics). */
  async delete(keys: readonly string[], options: StorageCallOptions = {}): Promise<void> {
    const names = keys.map((key) => this.objectName(key));
    for (let start = 0; start < names.length; start += 1000) {
      const batch = names.slice(start, start + 1000);
      const operation: Operation = { action: "delete", key: keys[start] };
      const errors = await this.withRetry(operation, options.signal, () =>
        this.#client.removeObjects(this.bucket, batch),
      );
      // Entries of the DeleteResult's <Error> list, as minio parses them.
      const failures = (errors as unknown as { Key?: string; Code?: string; Message?: string }[]).filter(
        (e) => e.Code !== "NoSuchKey",
      );
      const first = failures[0];
      if (first !== undefined) {
        const failedKey = `${first.Key ?? ""}`.slice(this.prefix.length);
        throw this.toStorageError(
          Object.assign(new (minio().S3Error)(`${first.Message ?? "delete failed"}`), { code: `${first.Code ?? ""}` }),
          { action: "delete", key: failedKey },
          1,
        );
      }
    }
  }

  /** Aborts multipart uploads under `prefix` started more than `olderThanMs` ago. */
  async cleanupIncomplete(
    prefix: string,
    olderThanMs: number,
    options: StorageCallOptions & { dryRun?: boolean | undefined } = {},
  ): Promise<number> {
    checkPrefix(prefix);
    const operation: Operation = { action: "clean up", key: prefix };
    const cutoff = Date.now() - olderThanMs;
    const stale: { key: string; uploadId: string }[] = [];
    let keyMarker = "";
    let uploadIdMarker = "";
    for (;;) {
      const page = await this.withRetry(operation, options.signal, () =>
        this.#client.listIncompleteUploadsQuery(this.bucket, this.prefix + prefix, keyMarker, uploadIdMarker, ""),
      );
      for (const upload of page.uploads) {
        if (upload.initiated.getTime() <= cutoff) stale.push({ key: String(upload.key), uploadId: upload.uploadId });
      }
      const moved = page.nextKeyMarker !== keyMarker || page.nextUploadIdMarker !== uploadIdMarker;
      if (!page.isTruncated || !moved) break;
      keyMarker = page.nextKeyMarker;
      uploadIdMarker = page.nextUploadIdMarker;
    }
    if (options.dryRun) return stale.length;
    let removed = 0;
    for (const upload of stale) {
      try {
        await this.withRetry(operation, options.signal, () =>
          this.#client.abortMultipartUpload(this.bucket, upload.key, upload.uploadId),
        );
        removed += 1;
      } catch (err) {
        if (!(err instanceof StorageError && err.code === "STORAGE_NOT_FOUND")) throw err; // NoSuchUpload: gone already
      }
    }
    return removed;
  }

  close(): Promise<void> {
    this.#agent.destroy();
    return Promise.resolve();
  }

  /** Fails fast (before reading any of a body) when the bucket is missing or not ours. */
  private async ensureBucket(signal: AbortSignal | undefined): Promise<void> {
    if (this.bucketChecked) return;
    const exists = await this.withRetry({ action: "stat" }, signal, () => this.#client.bucketExists(this.bucket));
    if (!exists) throw this.bucketMissing();
    this.bucketChecked = true;
  }

  private async completeUpload(
    operation: Operation,
    signal: AbortSignal,
    name: string,
    uploadId: string,
    parts: { part: number; etag: string }[],
    size: number,
  ): Promise<void> {
    let tries = 0;
    await this.withRetry(operation, signal, async () => {
      tries += 1;
      try {
        await this.#client.completeMultipartUpload(this.bucket, name, uploadId, parts);
      } catch (err) {
        // A retried complete whose first try succeeded (answer lost) finds no upload any more.
        if (tries > 1 && s3Code(err) === "NoSuchUpload") {
          const info = await this.#client.statObject(this.bucket, name);
          if (info.size === size) return;
        }
        throw err;
      }
    });
  }

  /** Best effort: a leftover upload is removed later by cleanupIncomplete. */
  private async abortUpload(key: string, uploadId: string): Promise<void> {
    try {
      await this.withRetry({ action: "clean up", key }, undefined, () =>
        this.#client.abortMultipartUpload(this.bucket, this.objectName(key), uploadId),
      );
    } catch {
      // ignored on purpose: the put's own error is the one to report
    }
  }

  /** Runs `fn` (a few minio requests) with retries and exponential backoff. */
  private async withRetry<T>(operation: Operation, signal: AbortSignal | undefined, fn: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt += 1) {
      if (signal?.aborted === true) throw this.interrupted(operation, signal.reason);
      const context: RequestContext = { signal, status: undefined, failure: undefined };
      try {
        return await requestContext.run(context, fn);
      } catch (caught) {
        const err = context.failure === undefined ? caught : toS3Error(await context.failure, caught);
        if (isAborted(signal)) throw this.interrupted(operation, err);
        if (err instanceof PgsnapError) throw err;
        if (attempt >= this.maxAttempts || !isRetryable(err, context.status)) {
          throw this.toStorageError(err, operation, attempt);
        }
        const delay = Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** (attempt - 1)) * (0.5 + Math.random() / 2);
        try {
          await sleep(delay, undefined, { signal });
        } catch (abortErr) {
          throw this.interrupted(operation, abortErr);
        }
      }
    }
  }

  /** Counts bytes, checks the length of a range, maps errors, releases the socket on destroy. */
  private countReads(source: Readable, operation: Operation, range: ByteRange | undefined): Readable {
    const counters = this.counters;
    const key = operation.key ?? "";
    const expected = range?.length;
    const fail = (err: unknown): Error =>
      err instanceof PgsnapError || (err instanceof Error && err.name === "AbortError")
        ? err
        : this.toStorageError(err, operation, 1);
    const rangeError = (got: string): StorageError => this.rangeError(key, range ?? { offset: 0, length: 0 }, got);
    async function* counting(): AsyncGenerator<Buffer> {
      const chunks = source[Symbol.asyncIterator]();
      let count = 0;
      try {
        for (;;) {
          let next: IteratorResult<unknown>;
          try {
            next = await chunks.next();
          } catch (err) {
            throw fail(err);
          }
          if (next.done === true) break;
          const buf = next.value as Buffer;
          count += buf.length;
          if (expected !== undefined && count > expected)
            throw rangeError(`the server sent more than ${expected} bytes`);
          counters.bytesRead += buf.length;
          yield buf; // an error the consumer destroys the stream with surfaces here, unchanged
        }
        if (expected !== undefined && count !== expected) throw rangeError(`the server sent only ${count} bytes`);
      } finally {
        source.destroy();
      }
    }
    return Readable.from(counting(), { objectMode: false });
  }

  private objectName(key: string): string {
    checkKey(key, { maxBytes: 900 });
    return this.prefix + key;
  }

  private describe(key: string | undefined): string {
    return key === undefined ? this.location : `s3://${this.bucket}/${this.prefix}${key}`;
  }

  private redact(text: string): string {
    return redactSecrets(text, this.#secrets);
  }

  private interrupted(operation: Operation, cause: unknown): InterruptedError {
    return new InterruptedError(`${operation.action} of ${this.describe(operation.key)} was interrupted`, {
      cause,
    });
  }

  private bucketMissing(cause?: unknown): StorageError {
    return new StorageError("STORAGE_BUCKET_MISSING", `bucket ${this.bucket} does not exist at ${this.endpoint}`, {
      hint: `create it (e.g. "mc mb <alias>/${this.bucket}" or "aws s3 mb s3://${this.bucket}") or fix the bucket in --storage`,
      cause,
    });
  }

  private notFound(key: string | undefined, cause?: unknown): StorageError {
    return new StorageError("STORAGE_NOT_FOUND", `object ${this.describe(key)} not found`, {
      hint: "check the snapshot id and the --storage location",
      cause,
    });
  }

  private rangeError(key: string, range: ByteRange, detail: string, cause?: unknown): StorageError {
    return new StorageError(
      "STORAGE_RANGE",
      `byte range ${range.offset}+${range.length} of ${this.describe(key)} cannot be read: ${detail}`,
      { hint: "the object is shorter than its manifest says: run pgsnap verify on the snapshot", cause },
    );
  }

  /** Maps a minio or network error to a StorageError; secrets are redacted from every text. */
  private toStorageError(err: unknown, operation: Operation, attempts: number): PgsnapError {
    if (err instanceof PgsnapError) return err;
    const code = s3Code(err) ?? errnoCode(err);
    const target = this.describe(operation.key);
    if (code === "NoSuchBucket") return this.bucketMissing(err);
    if (code !== undefined && ACCESS_CODES.has(code)) {
      return new StorageError(
        "STORAGE_ACCESS_DENIED",
        this.redact(`access denied (${code}) to ${operation.action} ${target} at ${this.endpoint}`),
        {
          hint: `check PGSNAP_S3_ACCESS_KEY and PGSNAP_S3_SECRET_KEY, and that this key may read and write bucket ${this.bucket}`,
          cause: err,
        },
      );
    }
    if (code === "NoSuchKey" || code === "NotFound" || code === "NoSuchUpload")
      return this.notFound(operation.key, err);
    if (code === "InvalidRange") {
      return this.rangeError(operation.key ?? "", { offset: 0, length: 0 }, "the range is past the end", err);
    }
    const message = err instanceof Error ? err.message : String(err);
    const detail = [code, message].filter((part) => part !== undefined && part !== "").join(": ");
    const tries = attempts > 1 ? ` (${attempts} attempts)` : "";
    return new StorageError(
      "STORAGE_IO",
      this.redact(`cannot ${operation.action} ${target} at ${this.endpoint}: ${detail || "unknown error"}${tries}`),
      { hint: `check that ${this.endpoint} is reachable and healthy (PGSNAP_S3_ENDPOINT)`, cause: err },
    );
  }
}

/**
 * An http(s) transport for minio that applies an idle timeout and the AbortSignal of the
 * current call, and records the response status for the retry decision.
 */
function timedTransport(secure: boolean, timeoutMs: number): NonNullable<ClientOptions["transport"]> {
  const request = (
    options: http.RequestOptions,
    callback?: (res: http.IncomingMessage) => void,
  ): http.ClientRequest => {
    const context = requestContext.getStore();
    const onResponse = (res: http.IncomingMessage): void => {
      if (context !== undefined) {
        context.status = res.statusCode;
        if (res.statusCode !== undefined && MINIO_RETRY_STATUSES.has(res.statusCode)) {
          context.failure = readFailure(res, res.statusCode);
        }
      }
      callback?.(res);
    };
    const withTimeout: http.RequestOptions = { ...options, timeout: timeoutMs, signal: context?.signal };
    const req = secure ? https.request(withTimeout, onResponse) : http.request(withTimeout, onResponse);
    req.once("timeout", () => {
      req.destroy(Object.assign(new Error(`no response for ${timeoutMs} ms`), { code: "ETIMEDOUT" }));
    });
    return req;
  };
  return { request } as unknown as NonNullable<ClientOptions["transport"]>;
}

/** A function, so that TypeScript does not narrow `aborted` across awaits. */
function isAborted(signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true;
}

/** Reads (at most 64 KiB of) an S3 XML error answer; never rejects. */
function readFailure(res: http.IncomingMessage, status: number): Promise<ServerFailure> {
  return new Promise<ServerFailure>((resolve) => {
    let text = "";
    const done = (): void => {
      const tag = (name: string): string | undefined =>
        new RegExp(`<${name}>([^<]*)</${name}>`)
          .exec(text)?.[1]
          ?.replace(/&(lt|gt|amp|apos|quot);/g, (_m, e: string) => XML_ENTITIES[e] ?? "");
      resolve({ status, code: tag("Code"), message: tag("Message") });
    };
    res.setEncoding("utf8");
    res.on("data", (chunk: string) => {
      if (text.length < 65_536) text += chunk;
    });
    res.once("end", done);
    res.once("close", done);
    res.once("error", done);
  });
}

const XML_ENTITIES: Record<string, string> = { lt: "<", gt: ">", amp: "&", apos: "'", quot: '"' };

/** The S3Error minio would have thrown had it read the answer. */
function toS3Error(failure: ServerFailure, original: unknown): S3Error {
  const err = new (minio().S3Error)(`${failure.message ?? "no message"} (HTTP ${failure.status})`, { cause: original });
  err.code = failure.code ?? `HTTP${failure.status}`;
  return err;
}

function isRetryable(err: unknown, status: number | undefined): boolean {
  if (status !== undefined && (status >= 500 || status === 408 || status === 429)) return true;
  if (err instanceof minio().S3Error) {
    // No code: an unparsable answer (a proxy's HTML 502) or an error inside a 200 (complete).
    return err.code === undefined || err.code === "" || RETRYABLE_S3_CODES.has(err.code);
  }
  const code = errnoCode(err);
  return code !== undefined && RETRYABLE_NET_CODES.has(code);
}

function s3Code(err: unknown): string | undefined {
  return err instanceof minio().S3Error && err.code !== undefined && err.code !== "" ? err.code : undefined;
}

function errnoCode(err: unknown): string | undefined {
  if (typeof err === "object" && err !== null && "code" in err && typeof err.code === "string") return err.code;
  return undefined;
}

function toBuffer(chunk: unknown): Buffer {
  if (Buffer.isBuffer(chunk)) return chunk;
  if (typeof chunk === "string") return Buffer.from(chunk);
  if (chunk instanceof Uint8Array) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  throw new TypeError("put body must yield Buffers, Uint8Arrays or strings");
}

function contentType(key: string): string {
  return key.endsWith(".json") ? "application/json" : "application/octet-stream";
}

/** "" or a prefix ending with "/"; no leading "/". */
function normalizePrefix(prefix: string): string {
  const trimmed = prefix.replace(/^\/+/, "").replace(/\/+$/, "");
  if (trimmed === "") return "";
  if (trimmed.split("/").some((s) => s === "" || s === "." || s === "..")) {
    throw new UsageError("STORAGE_URL_INVALID", `invalid S3 prefix ${JSON.stringify(prefix)}`, {
      hint: "use s3://bucket/some/prefix (no empty, . or .. segments)",
    });
  }
  return `${trimmed}/`;
}
