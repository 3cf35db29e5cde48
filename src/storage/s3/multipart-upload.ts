/**
 * Streaming a body into one S3 object: one PUT when it fits in one part, else S3 multipart
 * (initiate, upload part, complete, abort: all public minio calls) rather than minio's streaming
 * `putObject`, because that one, in minio 8.0.7:
 * - retries a failed part only through its generic request retry: once by default, with a
 *   `console.warn` from library code, not on ECONNRESET, and losing the S3 error code at the end;
 * - never aborts the multipart upload it started when it fails, and does not expose its upload id;
 * - resumes any older incomplete upload of the same key (ListMultipartUploads + ListParts);
 * - numbers parts from 2, so a 10,000-part object is impossible;
 * - may never settle when its source stream is destroyed (minio-js #1479).
 * Each part is retried on its own (its bytes are still in memory). Memory: two part buffers,
 * reused in turn (one filling, one uploading): 2 × partSize per concurrent put.
 *
 * Not relied on: `If-None-Match` (radosgw 16 ignores it on CompleteMultipartUpload), the etag of
 * the completed object (radosgw answers an empty one). Snapshot ids are made unique by listing.
 */
import { createHash } from "node:crypto";
import type { Readable } from "node:stream";
import { addAbortSignal } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";

import { destroyWith } from "../destroy-with.js";
import { isAborted } from "../retry.js";
import type { S3Client } from "./client.js";
import type { Operation } from "./errors.js";
import { errnoCode, s3Code } from "./errors.js";
import { minio } from "./minio.js";
import { MAX_PARTS } from "./settings.js";

/**
 * How long a failed put waits for the part upload still in flight before cutting it: a part
 * whose bytes all reached the server may be stored after an AbortMultipartUpload that overtook
 * it, which brings the upload back (seen on radosgw); waiting for its answer avoids that.
 */
const SETTLE_IN_FLIGHT_MS = 10_000;

/**
 * Streams `body` into object `key`; resolves with its size once the object is complete. On
 * failure or abort the multipart upload is aborted (best effort), then `body` is destroyed with
 * the error (so that a pipeline into `body` fails with it, not with a premature close), and the
 * error is thrown: an error of `body` itself unchanged, an abort as InterruptedError, a storage
 * failure as StorageError.
 */
export async function uploadStream(
  s3: S3Client,
  key: string,
  body: Readable,
  signal: AbortSignal | undefined,
): Promise<number> {
  const name = s3.name(key);
  const { partSize } = s3.settings;
  const operation: Operation = { action: "write", key };
  const contentType = key.endsWith(".json") ? "application/json" : "application/octet-stream";
  // Stops a part upload still in flight once this put has failed (see SETTLE_IN_FLIGHT_MS).
  const failed = new AbortController();
  let uploadId: string | undefined;
  let inFlight: Promise<void> | undefined;
  let sourceFailed = false;
  try {
    signal?.throwIfAborted();
    if (signal !== undefined) addAbortSignal(signal, body);

    const parts: { part: number; etag: string }[] = [];
    let partNumber = 0;
    let partError: unknown;
    let buffer = Buffer.allocUnsafe(partSize);
    let uploading: typeof buffer | undefined;
    let filled = 0;
    let size = 0;
    const startUpload = (): Promise<string> =>
      s3.request(operation, signal, () =>
        s3.client.initiateNewMultipartUpload(s3.bucket, name, { "Content-Type": contentType }),
      );
    const sendPart = (id: string, part: number, data: Buffer): Promise<void> => {
      if (part > MAX_PARTS) throw s3.errors.tooLarge(key, partSize, MAX_PARTS);
      const md5 = createHash("md5").update(data).digest("base64");
      const sending = s3
        .request(operation, failed.signal, () =>
          s3.client.uploadPart(
            {
              bucketName: s3.bucket,
              objectName: name,
              uploadID: id,
              partNumber: part,
              headers: { "Content-MD5": md5 },
            },
            data,
          ),
        )
        .then((result) => {
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
        const n = Math.min(chunk.length - offset, partSize - filled);
        chunk.copy(buffer, filled, offset, offset + n);
        filled += n;
        offset += n;
        if (filled === partSize) {
          uploadId ??= await startUpload();
          await inFlight; // at most one part uploading while the next one fills
          const free = uploading; // its upload has settled: minio no longer reads it
          inFlight = sendPart(uploadId, ++partNumber, buffer);
          uploading = buffer;
          buffer = free ?? Buffer.allocUnsafe(partSize);
          filled = 0;
        }
      }
    }

    if (uploadId === undefined) {
      // Fits in one part: a single PUT (the bytes are in memory, so it can be retried).
      const data = buffer.subarray(0, filled);
      await s3.request(operation, signal, () =>
        s3.client.putObject(s3.bucket, name, data, data.length, { "Content-Type": contentType }),
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
      await completeUpload(s3, operation, signal, name, id, parts, size);
      uploadId = undefined;
    }
    return size;
  } catch (caught) {
    const err = isAborted(signal)
      ? s3.errors.interrupted(operation, caught)
      : sourceFailed
        ? caught // an error of `body` itself: the caller knows best what it means
        : s3.errors.toStorageError(caught, operation, 1);
    if (inFlight !== undefined) {
      const settled = inFlight.then(
        () => true,
        () => true,
      );
      if (!(await Promise.race([settled, sleep(SETTLE_IN_FLIGHT_MS, false, { ref: false })]))) failed.abort();
      await settled;
    }
    failed.abort();
    if (uploadId !== undefined) await abortUpload(s3, key, uploadId);
    destroyWith(body, sourceFailed ? undefined : err);
    throw err;
  }
}

async function completeUpload(
  s3: S3Client,
  operation: Operation,
  signal: AbortSignal | undefined,
  name: string,
  uploadId: string,
  parts: { part: number; etag: string }[],
  size: number,
): Promise<void> {
  let tries = 0;
  await s3.request(operation, signal, async () => {
    tries += 1;
    try {
      await s3.client.completeMultipartUpload(s3.bucket, name, uploadId, parts);
    } catch (err) {
      // A retried complete whose first try succeeded (answer lost) finds no upload any more.
      if (tries > 1 && s3Code(err) === "NoSuchUpload") {
        const info = await s3.client.statObject(s3.bucket, name);
        if (info.size === size) return;
      }
      if (!(err instanceof minio().S3Error) && errnoCode(err) === undefined) {
        // S3 may answer 200 with an <Error> document (the upload was not completed); minio
        // 8.0.7 parses only <CompleteMultipartUploadResult> and fails with a TypeError on it.
        const unreadable = new (minio().S3Error)("unreadable answer to CompleteMultipartUpload", { cause: err });
        unreadable.code = "";
        throw unreadable;
      }
      throw err;
    }
  });
}

/** Best effort: a leftover upload is removed later by cleanupIncomplete (prune). */
async function abortUpload(s3: S3Client, key: string, uploadId: string): Promise<void> {
  try {
    await s3.request({ action: "clean up", key }, undefined, () =>
      s3.client.abortMultipartUpload(s3.bucket, s3.name(key), uploadId),
    );
  } catch {
    // ignored on purpose: the put's own error is the one to report
  }
}

function toBuffer(chunk: unknown): Buffer {
  if (Buffer.isBuffer(chunk)) return chunk;
  if (typeof chunk === "string") return Buffer.from(chunk);
  if (chunk instanceof Uint8Array) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  throw new TypeError("put body must yield Buffers, Uint8Arrays or strings");
}
