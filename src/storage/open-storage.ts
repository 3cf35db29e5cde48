/**
 * Turns a `--storage` value into a Storage: a directory path (relative or absolute) or a
 * `file://` URL gives FsStorage, `s3://bucket[/prefix]` gives S3Storage.
 */
import { fileURLToPath } from "node:url";

import { UsageError, redactSecrets } from "../errors.js";
import { FsStorage } from "./fs-storage.js";
import { S3Storage } from "./s3-storage.js";
import type { S3StorageOptions } from "./s3-storage.js";
import type { S3Settings, Storage } from "./storage.js";

const S3_ENV_HINT =
  "set PGSNAP_S3_ENDPOINT (e.g. http://127.0.0.1:9000), PGSNAP_S3_ACCESS_KEY and PGSNAP_S3_SECRET_KEY " +
  "(or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)";

/** Opens the storage named by `url`; `s3` is required for `s3://` URLs. Does no I/O. */
export function openStorage(url: string, s3?: S3Settings, s3Options?: S3StorageOptions): Storage {
  const trimmed = url.trim();
  if (trimmed === "") {
    throw new UsageError("STORAGE_URL_INVALID", "the storage location is empty", {
      hint: "pass --storage <directory> or --storage s3://bucket/prefix (or set PGSNAP_STORAGE)",
    });
  }
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(trimmed)?.[1]?.toLowerCase();
  if (scheme === undefined) return new FsStorage(trimmed);
  if (scheme === "file") {
    let path: string;
    try {
      path = fileURLToPath(trimmed);
    } catch (err) {
      throw new UsageError("STORAGE_URL_INVALID", `invalid file URL ${JSON.stringify(redactSecrets(trimmed))}`, {
        hint: "use file:///absolute/path or a plain directory path",
        cause: err,
      });
    }
    return new FsStorage(path);
  }
  if (scheme === "s3") {
    const rest = trimmed.slice("s3://".length);
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
      throw new UsageError("STORAGE_URL_INVALID", `no bucket in storage URL ${JSON.stringify(trimmed)}`, {
        hint: "use s3://bucket or s3://bucket/prefix",
      });
    }
    if (s3 === undefined || s3.accessKey === "" || s3.secretKey === "") {
      throw new UsageError("S3_SETTINGS_MISSING", `no S3 credentials for storage s3://${bucket}`, {
        hint: S3_ENV_HINT,
      });
    }
    return new S3Storage(bucket, prefix, s3, s3Options);
  }
  throw new UsageError(
    "STORAGE_URL_INVALID",
    `unsupported storage URL scheme ${scheme}:// in ${JSON.stringify(redactSecrets(trimmed))}`,
    { hint: "use a directory path, file:///path or s3://bucket/prefix" },
  );
}
