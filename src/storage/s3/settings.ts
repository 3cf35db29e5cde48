/** S3 backend settings: defaults, limits and validation (no I/O). */
import { UsageError, redactSecrets } from "../../errors.js";
import type { RetryPolicy } from "../retry.js";
import { DEFAULT_RETRY_POLICY } from "../retry.js";
import type { S3Settings } from "../storage.js";

/** Default multipart part size: 10,000 parts × 16 MiB ≈ 156 GiB per object. */
export const DEFAULT_PART_SIZE = 16 * 1024 * 1024;
/** S3 limits: parts are 5 MiB to 5 GiB (the last one may be smaller), at most 10,000 per object. */
export const MIN_PART_SIZE = 5 * 1024 * 1024;
export const MAX_PART_SIZE = 5 * 1024 * 1024 * 1024;
export const MAX_PARTS = 10_000;
/** A connection that moves no bytes for this long fails (`--io-timeout`, default 300 s). */
export const DEFAULT_IO_TIMEOUT_MS = 300_000;
/** Longest key pgsnap writes (S3 allows 1,024 bytes; the bucket prefix comes on top). */
export const MAX_KEY_BYTES = 900;

/** Tuning of retries (tests shorten them). */
export interface S3StorageOptions {
  /** Attempts per request, the first included (default 5). */
  maxAttempts?: number | undefined;
  /** Backoff before the second attempt in ms, doubled per attempt, with jitter (default 250). */
  baseDelayMs?: number | undefined;
  /** Upper bound of one backoff in ms (default 20,000). */
  maxDelayMs?: number | undefined;
}

/** Everything an S3Storage needs, checked. */
export interface ResolvedS3Settings {
  /** `http(s)://host[:port]`, no credentials. */
  endpoint: string;
  hostname: string;
  port: number | undefined;
  secure: boolean;
  pathStyle: boolean;
  region: string | undefined;
  accessKey: string;
  secretKey: string;
  partSize: number;
  /** 0: no idle timeout. */
  ioTimeoutMs: number;
  retry: RetryPolicy;
}

/** Checks the bucket name, endpoint, part size and timeout; throws UsageError (exit 2). */
export function resolveS3Settings(
  bucket: string,
  settings: S3Settings,
  options: S3StorageOptions = {},
): ResolvedS3Settings {
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
      `invalid S3 endpoint ${JSON.stringify(redactSecrets(settings.endPoint, [settings.secretKey]))}`,
      {
        hint: "set PGSNAP_S3_ENDPOINT to a URL like http://127.0.0.1:9000 or https://s3.eu-west-1.amazonaws.com (no path, no credentials)",
      },
    );
  }
  const partSize = settings.partSize ?? DEFAULT_PART_SIZE;
  if (!Number.isSafeInteger(partSize) || partSize < MIN_PART_SIZE || partSize > MAX_PART_SIZE) {
    throw new UsageError("S3_PART_SIZE_INVALID", `invalid S3 part size ${partSize}`, {
      hint: "the part size is between 5 MiB and 5 GiB (default 16 MiB)",
    });
  }
  const ioTimeoutMs = settings.ioTimeoutMs ?? DEFAULT_IO_TIMEOUT_MS;
  if (!Number.isFinite(ioTimeoutMs) || ioTimeoutMs < 0) {
    throw new UsageError("IO_TIMEOUT_INVALID", `invalid I/O timeout ${ioTimeoutMs} ms`, {
      hint: "--io-timeout is a number of seconds, 0 to turn it off (default 300)",
    });
  }
  return {
    endpoint: `${url.protocol}//${url.host}`,
    hostname: url.hostname,
    port: url.port === "" ? undefined : Number(url.port),
    secure: url.protocol === "https:",
    pathStyle: settings.pathStyle ?? !url.hostname.endsWith(".amazonaws.com"),
    region: settings.region === undefined || settings.region === "" ? undefined : settings.region,
    accessKey: settings.accessKey,
    secretKey: settings.secretKey,
    partSize,
    ioTimeoutMs,
    retry: {
      maxAttempts: Math.max(1, options.maxAttempts ?? DEFAULT_RETRY_POLICY.maxAttempts),
      baseDelayMs: options.baseDelayMs ?? DEFAULT_RETRY_POLICY.baseDelayMs,
      maxDelayMs: options.maxDelayMs ?? DEFAULT_RETRY_POLICY.maxDelayMs,
    },
  };
}

/** "" or a prefix ending with "/"; no leading "/". */
export function normalizePrefix(prefix: string): string {
  const trimmed = prefix.replace(/^\/+/, "").replace(/\/+$/, "");
  if (trimmed === "") return "";
  if (trimmed.split("/").some((s) => s === "" || s === "." || s === "..")) {
    throw new UsageError("STORAGE_URL_INVALID", `invalid S3 prefix ${JSON.stringify(prefix)}`, {
      hint: "use s3://bucket/some/prefix (no empty, . or .. segments)",
    });
  }
  return `${trimmed}/`;
}
