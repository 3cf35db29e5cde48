/** Argument checks shared by every storage backend (the contract in storage.ts). */
import { StorageError } from "../errors.js";
import type { ByteRange } from "./storage.js";

/**
 * Throws STORAGE_INVALID_KEY unless `key` is a relative path of non-empty segments (no `.`,
 * `..`, NUL or backslash). `badSegment` adds a backend's own rule; `maxBytes` its length limit.
 */
export function checkKey(key: string, options: { badSegment?: (s: string) => boolean; maxBytes?: number } = {}): void {
  const segments = key.split("/");
  const bad =
    key === "" ||
    key.includes("\0") ||
    key.includes("\\") ||
    (options.maxBytes !== undefined && Buffer.byteLength(key) > options.maxBytes) ||
    segments.some((s) => s === "" || s === "." || s === ".." || options.badSegment?.(s) === true);
  if (bad) {
    throw new StorageError("STORAGE_INVALID_KEY", `invalid storage key ${JSON.stringify(key)}`, {
      hint: "keys are relative paths like project/snapshot/file: no leading /, no empty, . or .. segments",
    });
  }
}

/** A list prefix may be empty or end anywhere, but must not escape the root. */
export function checkPrefix(prefix: string): void {
  if (prefix === "") return;
  if (prefix.startsWith("/") || prefix.includes("\0") || prefix.includes("\\") || prefix.split("/").includes("..")) {
    throw new StorageError("STORAGE_INVALID_KEY", `invalid storage prefix ${JSON.stringify(prefix)}`, {
      hint: "prefixes are relative paths like project/ (no leading /, no .. segments)",
    });
  }
}

/** Throws STORAGE_RANGE unless offset and length are non-negative safe integers. */
export function checkRange(range: ByteRange | undefined, key: string): void {
  if (range === undefined) return;
  if (
    !Number.isSafeInteger(range.offset) ||
    !Number.isSafeInteger(range.length) ||
    range.offset < 0 ||
    range.length < 0
  ) {
    throw new StorageError("STORAGE_RANGE", `invalid byte range ${JSON.stringify(range)} for ${key}`, {
      hint: "offset and length are non-negative integers",
    });
  }
}
