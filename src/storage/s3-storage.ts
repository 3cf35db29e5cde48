/** Moved to ./s3/; this path stays for branches written before the move. */
export { S3Storage } from "./s3/s3-storage.js";
export { DEFAULT_PART_SIZE } from "./s3/settings.js";
export type { S3StorageOptions } from "./s3/settings.js";
