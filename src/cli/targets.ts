/** The storage and project a command works on, from the resolved config. */
import { openStorage } from "../storage/open-storage.js";
import type { Storage } from "../storage/storage.js";
import type { ResolvedConfig } from "../config/config.js";

/** Opens the storage the resolved config names. */
export function storageOf(config: ResolvedConfig): Storage {
  return openStorage(config.storageUrl, config.s3);
}

/** Project label for commands that do not connect: config/flag, else the database name of the URL. */
export function projectWithoutDb(config: ResolvedConfig): string | undefined {
  if (config.project !== undefined) return config.project;
  if (config.dbUrl) {
    try {
      const name = decodeURIComponent(new URL(config.dbUrl).pathname.replace(/^\//, ""));
      if (name) return name;
    } catch {
      /* not a URL */
    }
  }
  return undefined;
}
