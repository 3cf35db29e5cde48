/**
 * Turns a `--storage` value into a Storage through a registry of backends by URL scheme: a
 * directory path (relative or absolute) or a `file://` URL gives FsStorage, `s3://bucket[/prefix]`
 * gives S3Storage. A new backend is one folder, one line in `backends` and one call of the
 * conformance suite (test/storage/conformance.ts).
 *
 * The S3 backend's settings are checked here, synchronously; its code is imported on the first
 * call (LazyStorage), so commands on a local directory never load it (issue 14).
 */
import { fileURLToPath } from "node:url";

import { UsageError, redactSecrets } from "../errors.js";
import { FsStorage } from "./fs/fs-storage.js";
import { LazyStorage } from "./lazy-storage.js";
import type { S3StorageOptions } from "./s3/settings.js";
import { normalizePrefix, resolveS3Settings } from "./s3/settings.js";
import type { S3Settings, Storage } from "./storage.js";

const S3_ENV_HINT =
  "set PGSNAP_S3_ENDPOINT (e.g. http://127.0.0.1:9000), PGSNAP_S3_ACCESS_KEY and PGSNAP_S3_SECRET_KEY " +
  "(or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)";

/** What a backend factory gets: the URL as given and the settings of every backend. */
interface BackendRequest {
  /** The trimmed `--storage` value. */
  url: string;
  s3: S3Settings | undefined;
  s3Options: S3StorageOptions | undefined;
}

/** URL scheme → backend. The empty scheme is a plain path. */
const backends: Record<string, (request: BackendRequest) => Storage> = {
  "": ({ url }) => new FsStorage(url),
  file: ({ url }) => new FsStorage(filePath(url)),
  s3: ({ url, s3, s3Options }) => openS3(url, s3, s3Options),
};

/** Opens the storage named by `url`; `s3` is required for `s3://` URLs. Does no I/O. */
export function openStorage(url: string, s3?: S3Settings, s3Options?: S3StorageOptions): Storage {
  const trimmed = url.trim();
  if (trimmed === "") {
    throw new UsageError("STORAGE_URL_INVALID", "the storage location is empty", {
      hint: "pass --storage <directory> or --storage s3://bucket/prefix (or set PGSNAP_STORAGE)",
    });
  }
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(trimmed)?.[1]?.toLowerCase() ?? "";
  const open = Object.hasOwn(backends, scheme) ? backends[scheme] : undefined;
  if (open === undefined) {
    throw new UsageError(
      "STORAGE_URL_INVALID",
      `unsupported storage URL scheme ${scheme}:// in ${JSON.stringify(redactSecrets(trimmed))}`,
      { hint: "use a directory path, file:///path or s3://bucket/prefix" },
    );
  }
  return open({ url: trimmed, s3, s3Options });
}

function filePath(url: string): string {
  try {
    return fileURLToPath(url);
  } catch (err) {
    throw new UsageError("STORAGE_URL_INVALID", `invalid file URL ${JSON.stringify(redactSecrets(url))}`, {
      hint: "use file:///absolute/path or a plain directory path",
      cause: err,
    });
  }
}

function openS3(url: string, s3: S3Settings | undefined, s3Options: S3StorageOptions | undefined): Storage {
  const rest = url.slice("s3://".length);
  const slash = rest.indexOf("/");
  const bucket = slash === -1 ? rest : rest.slice(0, slash);
  const prefix = slash === -1 ? "" : rest.slice(slash + 1);
  if (bucket.includes("@") || bucket.includes(":")) {
    // Never echo it: it may carry credentials.
    throw new UsageError("STORAGE_URL_INVALID", "credentials or ports are not accepted in an s3:// storage URL", {
      hint: `use s3://bucket/prefix and ${S3_ENV_HINT}`,
    });
  }
  if (bucket === "") {
    throw new UsageError("STORAGE_URL_INVALID", `no bucket in storage URL ${JSON.stringify(url)}`, {
      hint: "use s3://bucket or s3://bucket/prefix",
    });
  }
  if (s3 === undefined || s3.accessKey === "" || s3.secretKey === "") {
    throw new UsageError("S3_SETTINGS_MISSING", `no S3 credentials for storage s3://${bucket}`, {
      hint: S3_ENV_HINT,
    });
  }
  // Every UsageError of the S3Storage constructor, now rather than at the first call.
  resolveS3Settings(bucket, s3, s3Options);
  const normalized = normalizePrefix(prefix);
  // As S3Storage describes itself (s3/errors.ts, S3Errors.describe).
  const location = normalized === "" ? `s3://${bucket}` : `s3://${bucket}/${normalized.slice(0, -1)}`;
  return new LazyStorage(location, async () => {
    const { S3Storage } = await import("./s3/s3-storage.js");
    return new S3Storage(bucket, prefix, s3, s3Options);
  });
}
