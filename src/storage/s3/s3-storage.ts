/**
 * Storage on an S3-compatible object store (AWS S3, MinIO, Ceph radosgw, R2, B2) through the
 * `minio` client. Tested against radosgw (Ceph 16) in CI and MinIO where Docker exists.
 *
 * Pieces: settings.ts (defaults, validation), client.ts (the minio client of one bucket, every
 * request retried through ../retry.ts over the timed transport of transport.ts), errors.ts (what
 * a failure means and the StorageError it becomes), multipart-upload.ts (`put`).
 *
 * Cancellation: the AbortSignal of a call reaches the HTTP requests it makes (through an
 * AsyncLocalStorage read by the transport), so an abort stops in-flight transfers too.
 * Idle timeout: a connection that moves no bytes for `ioTimeoutMs` fails with STORAGE_TIMEOUT.
 */
import { Readable, addAbortSignal } from "node:stream";

import { StorageError } from "../../errors.js";
import { destroyWith } from "../destroy-with.js";
import { checkKey, checkPrefix, checkRange } from "../key-checks.js";
import { countReads } from "../read-counter.js";
import type { ByteRange, ObjectInfo, S3Settings, Storage, StorageCallOptions, StorageCounters } from "../storage.js";
import { S3Client } from "./client.js";
import type { Operation } from "./errors.js";
import { minio } from "./minio.js";
import { uploadStream } from "./multipart-upload.js";
import type { S3StorageOptions } from "./settings.js";
import { MAX_KEY_BYTES, normalizePrefix, resolveS3Settings } from "./settings.js";

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
  // A private field: the client holds the secret key, which must not show up in logs or inspect().
  readonly #s3: S3Client;
  private bucketChecked = false;

  constructor(bucket: string, prefix: string, settings: S3Settings, options: S3StorageOptions = {}) {
    this.bucket = bucket;
    this.prefix = normalizePrefix(prefix);
    const resolved = resolveS3Settings(bucket, settings, options);
    this.endpoint = resolved.endpoint;
    this.partSize = resolved.partSize;
    this.#s3 = new S3Client(bucket, this.prefix, resolved);
    this.location = this.#s3.errors.describe(undefined);
  }

  /**
   * Streams `body` into `key` (multipart-upload.ts): the object appears only after `body` ended
   * without error. On failure or abort the upload is aborted and `body` destroyed.
   */
  async put(key: string, body: Readable, options: StorageCallOptions = {}): Promise<{ size: number }> {
    try {
      this.objectName(key);
      await this.ensureBucket(options.signal);
    } catch (err) {
      destroyWith(body, err);
      throw err;
    }
    const size = await uploadStream(this.#s3, key, body, options.signal);
    this.counters.bytesWritten += size;
    return { size };
  }

  /** Writes a small object with one PUT (retried); larger than a part, it goes through `put`. */
  async putBytes(key: string, data: Buffer, options: StorageCallOptions = {}): Promise<void> {
    if (data.length > this.partSize) {
      await this.put(key, Readable.from([data]), options);
      return;
    }
    const name = this.objectName(key);
    const contentType = key.endsWith(".json") ? "application/json" : "application/octet-stream";
    await this.ensureBucket(options.signal);
    await this.#s3.request({ action: "write", key }, options.signal, () =>
      this.#s3.client.putObject(this.bucket, name, data, data.length, { "Content-Type": contentType }),
    );
    this.counters.bytesWritten += data.length;
  }

  /**
   * Opens `key` (or `range` of it). A missing key fails here with STORAGE_NOT_FOUND. The stream
   * fails with StorageError STORAGE_RANGE if the server sends other than exactly `length` bytes,
   * with STORAGE_IO when the connection breaks and STORAGE_TIMEOUT when it stalls;
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
      if (info === undefined) throw this.#s3.errors.notFound(key);
      if (range.offset > info.size) throw this.#s3.errors.rangeError(key, range, `the object has ${info.size} bytes`);
      return Readable.from([]);
    }
    const source = await this.#s3.request(operation, signal, () =>
      range === undefined
        ? this.#s3.client.getObject(this.bucket, name)
        : this.#s3.client.getPartialObject(this.bucket, name, range.offset, range.length),
    );
    const counted = countReads(source, this.counters, {
      describe: (err) => this.#s3.errors.toStorageError(err, operation, 1),
      expectedLength: range?.length,
      lengthError: (detail) => this.#s3.errors.rangeError(key, range ?? { offset: 0, length: 0 }, detail),
    });
    if (signal !== undefined) addAbortSignal(signal, counted);
    return counted;
  }

  /** Reads a whole small object; the whole transfer is retried. */
  async getBytes(key: string, options: StorageCallOptions = {}): Promise<Buffer> {
    const name = this.objectName(key);
    this.counters.reads += 1;
    const data = await this.#s3.request({ action: "read", key }, options.signal, async () => {
      const source = await this.#s3.client.getObject(this.bucket, name);
      const chunks: Buffer[] = [];
      for await (const chunk of source) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks);
    });
    this.counters.bytesRead += data.length;
    return data;
  }

  async stat(key: string, options: StorageCallOptions = {}): Promise<ObjectInfo | undefined> {
    const name = this.objectName(key);
    try {
      const info = await this.#s3.request({ action: "stat", key }, options.signal, () =>
        this.#s3.client.statObject(this.bucket, name),
      );
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

  /** Lists page by page (1,000 keys each, each page retried), then sorts in UTF-8 byte order. */
  async list(prefix: string, options: StorageCallOptions = {}): Promise<ObjectInfo[]> {
    checkPrefix(prefix);
    const operation: Operation = { action: "list", key: prefix };
    const out: ObjectInfo[] = [];
    let token = "";
    for (;;) {
      const page = await this.#s3.request(operation, options.signal, () =>
        this.#s3.client.listObjectsV2Query(this.bucket, this.prefix + prefix, token, "", 1000, ""),
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
      const errors = await this.#s3.request(operation, options.signal, () =>
        this.#s3.client.removeObjects(this.bucket, batch),
      );
      // Entries of the DeleteResult's <Error> list, as minio parses them.
      const failures = (errors as unknown as { Key?: string; Code?: string; Message?: string }[]).filter(
        (e) => e.Code !== "NoSuchKey",
      );
      const first = failures[0];
      if (first !== undefined) {
        const failedKey = `${first.Key ?? ""}`.slice(this.prefix.length);
        throw this.#s3.errors.toStorageError(
          Object.assign(new (minio().S3Error)(`${first.Message ?? ""}`), { code: `${first.Code ?? ""}` }),
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
      const page = await this.#s3.request(operation, options.signal, () =>
        this.#s3.client.listIncompleteUploadsQuery(this.bucket, this.prefix + prefix, keyMarker, uploadIdMarker, ""),
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
        await this.#s3.request(operation, options.signal, () =>
          this.#s3.client.abortMultipartUpload(this.bucket, upload.key, upload.uploadId),
        );
        removed += 1;
      } catch (err) {
        if (!(err instanceof StorageError && err.code === "STORAGE_NOT_FOUND")) throw err; // NoSuchUpload: gone already
      }
    }
    return removed;
  }

  close(): Promise<void> {
    this.#s3.close();
    return Promise.resolve();
  }

  /** Fails fast (before reading any of a body) when the bucket is missing or not ours. */
  private async ensureBucket(signal: AbortSignal | undefined): Promise<void> {
    if (this.bucketChecked) return;
    const exists = await this.#s3.request({ action: "stat" }, signal, () => this.#s3.client.bucketExists(this.bucket));
    if (!exists) throw this.#s3.errors.bucketMissing();
    this.bucketChecked = true;
  }

  private objectName(key: string): string {
    checkKey(key, { maxBytes: MAX_KEY_BYTES });
    return this.#s3.name(key);
  }
}
