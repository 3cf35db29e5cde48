/**
 * What S3 failures mean: which ones are worth a retry, and the StorageError (exit 11) each one
 * becomes. Codes, not messages: radosgw (Ceph 16) sends empty error messages.
 */
import { InterruptedError, PgsnapError, StorageError, redactSecrets } from "../../errors.js";
import type { ByteRange } from "../storage.js";
import { minio } from "./minio.js";
import { IoTimeoutError } from "./transport.js";

/** What a call does, for error messages. */
export interface Operation {
  action: "write" | "read" | "stat" | "list" | "delete" | "clean up";
  key?: string | undefined;
}

const RETRYABLE_S3_CODES = new Set([
  "InternalError",
  "ServiceUnavailable",
  "SlowDown",
  "RequestTimeout",
  // The bytes arrived damaged (Content-MD5 / x-amz-content-sha256): the copy in memory is good.
  "BadDigest",
  "XAmzContentSHA256Mismatch",
]);
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

/**
 * True when another attempt may succeed: 5xx, 408, 429, connection errors. An idle timeout is
 * not retried: `--io-timeout` bounds how long a stalled server may hold a run.
 */
export function isRetryable(err: unknown, status: number | undefined): boolean {
  if (err instanceof IoTimeoutError) return false;
  if (status !== undefined && (status >= 500 || status === 408 || status === 429)) return true;
  if (err instanceof minio().S3Error) {
    // No code: an unparsable answer (a proxy's HTML 502) or an error inside a 200 (complete).
    return err.code === undefined || err.code === "" || RETRYABLE_S3_CODES.has(err.code);
  }
  const code = errnoCode(err);
  return code !== undefined && RETRYABLE_NET_CODES.has(code);
}

/** The S3 error code of a minio S3Error, if any. */
export function s3Code(err: unknown): string | undefined {
  return err instanceof minio().S3Error && err.code !== undefined && err.code !== "" ? err.code : undefined;
}

export function errnoCode(err: unknown): string | undefined {
  if (typeof err === "object" && err !== null && "code" in err && typeof err.code === "string") return err.code;
  return undefined;
}

/** Builds the errors of one bucket (names, endpoint and secrets to redact fixed). */
export class S3Errors {
  readonly #secrets: readonly string[];
  constructor(
    private readonly bucket: string,
    private readonly prefix: string,
    private readonly endpoint: string,
    secrets: readonly string[],
  ) {
    this.#secrets = secrets;
  }

  /** `s3://bucket/prefix/key`, or the storage location without a key. */
  describe(key: string | undefined): string {
    if (key !== undefined) return `s3://${this.bucket}/${this.prefix}${key}`;
    return this.prefix === "" ? `s3://${this.bucket}` : `s3://${this.bucket}/${this.prefix.slice(0, -1)}`;
  }

  redact(text: string): string {
    return redactSecrets(text, this.#secrets);
  }

  interrupted(operation: Operation, cause: unknown): InterruptedError {
    return new InterruptedError(`${operation.action} of ${this.describe(operation.key)} was interrupted`, { cause });
  }

  bucketMissing(cause?: unknown): StorageError {
    return new StorageError("STORAGE_BUCKET_MISSING", `bucket ${this.bucket} does not exist at ${this.endpoint}`, {
      hint: `create it (e.g. "mc mb <alias>/${this.bucket}" or "aws s3 mb s3://${this.bucket}") or fix the bucket in --storage`,
      cause,
    });
  }

  notFound(key: string | undefined, cause?: unknown): StorageError {
    return new StorageError("STORAGE_NOT_FOUND", `object ${this.describe(key)} not found`, {
      hint: "check the snapshot id and the --storage location",
      cause,
    });
  }

  rangeError(key: string, range: ByteRange, detail: string, cause?: unknown): StorageError {
    return new StorageError(
      "STORAGE_RANGE",
      `byte range ${range.offset}+${range.length} of ${this.describe(key)} cannot be read: ${detail}`,
      { hint: "the object is shorter than its manifest says: run pgsnap verify on the snapshot", cause },
    );
  }

  tooLarge(key: string, partSize: number, maxParts: number): StorageError {
    return new StorageError("STORAGE_TOO_LARGE", `${this.describe(key)} needs more than ${maxParts} parts`, {
      hint: `raise the S3 part size (now ${partSize} bytes, PGSNAP_S3_PART_SIZE)`,
    });
  }

  /** Maps a minio or network error to a StorageError; secrets are redacted from every text. */
  toStorageError(err: unknown, operation: Operation, attempts: number): PgsnapError {
    if (err instanceof PgsnapError) return err;
    const target = this.describe(operation.key);
    if (err instanceof IoTimeoutError) {
      return new StorageError(
        "STORAGE_TIMEOUT",
        `cannot ${operation.action} ${target}: ${this.endpoint} moved no byte for ${err.timeoutMs / 1000} s`,
        {
          hint: `check that ${this.endpoint} is reachable and healthy; --io-timeout (PGSNAP_IO_TIMEOUT) sets how long a stalled connection may last (0: forever)`,
          cause: err,
        },
      );
    }
    const code = s3Code(err) ?? errnoCode(err);
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
