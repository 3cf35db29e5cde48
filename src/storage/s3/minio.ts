/**
 * The minio module, loaded on first use, not at import: it costs ~0.3 s and ~30 MB, which every
 * command on local storage (and every short tenant dump) would otherwise pay. The CommonJS build
 * is used throughout, so its client and its S3Error class belong together.
 */
import { createRequire } from "node:module";

const requireCjs = createRequire(import.meta.url);
let minioModule: typeof import("minio") | undefined;

export function minio(): typeof import("minio") {
  return (minioModule ??= requireCjs("minio") as typeof import("minio"));
}
