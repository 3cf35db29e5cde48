/**
 * Storage on a local directory (or any mounted file system). Atomic writes follow restic's local
 * backend: write a temp file next to the target, fsync it, rename it over the target, fsync the
 * directory. Temp files are named `.<basename>.tmp-<12 hex>`; listings never show them and
 * `cleanupIncomplete` removes stale ones.
 */
import { randomBytes } from "node:crypto";
import type { Dirent } from "node:fs";
import { mkdir, open, readdir, readFile, rename, rmdir, stat, unlink } from "node:fs/promises";
import type { FileHandle } from "node:fs/promises";
import { basename, dirname, join, resolve, sep } from "node:path";
import { Readable, Writable, addAbortSignal } from "node:stream";
import { pipeline } from "node:stream/promises";

import { InterruptedError, PgsnapError, StorageError } from "../../errors.js";
import { destroyWith } from "../destroy-with.js";
import { checkKey, checkPrefix, checkRange } from "../key-checks.js";
import { countReads } from "../read-counter.js";
import type { ByteRange, ObjectInfo, Storage, StorageCallOptions, StorageCounters } from "../storage.js";

/** Bytes per read of an object stream. */
const READ_CHUNK = 1024 * 1024;
/** Matches the names of temp files written by `put` (one path segment). */
const TEMP_NAME = /^\..+\.tmp-[0-9a-f]{12}$/;
/** Files are private to the user running pgsnap: they hold tenant data (restic does the same). */
const FILE_MODE = 0o600;
const DIR_MODE = 0o700;

/** `put` retries creating its temp file this often when a concurrent `delete` removed the
 * freshly created (empty) parent directory. */
const OPEN_TEMP_ATTEMPTS = 5;

/** A local-directory Storage rooted at `root` (created on first write). */
export class FsStorage implements Storage {
  readonly location: string;
  readonly counters: StorageCounters = { bytesRead: 0, bytesWritten: 0, reads: 0 };
  private readonly root: string;

  constructor(root: string) {
    this.root = resolve(root);
    this.location = this.root;
  }

  /**
   * Streams `body` into a temp file, fsyncs, renames it to `key` and fsyncs the directory. On any
   * failure or abort the temp file is removed and `body` destroyed; an error of `body` itself is
   * rethrown unchanged, an abort becomes InterruptedError, a file-system failure StorageError.
   */
  async put(key: string, body: Readable, options: StorageCallOptions = {}): Promise<{ size: number }> {
    const { signal } = options;
    let tempPath: string | undefined;
    let handle: FileHandle | undefined;
    try {
      const target = this.pathOf(key);
      const dir = dirname(target);
      signal?.throwIfAborted();
      ({ handle, tempPath } = await this.openTemp(key, dir, basename(target)));
      const sink = new FileSink(handle, (err) => this.fsError(err, "write", key));
      // The sink fsyncs in its final(), so pipeline resolves only once the bytes are durable.
      await pipeline(body, sink, { signal });
      const closing = handle;
      handle = undefined;
      await closing.close().catch((err: unknown) => {
        throw this.fsError(err, "write", key);
      });
      await rename(tempPath, target).catch((err: unknown) => {
        throw this.fsError(err, "write", key);
      });
      tempPath = undefined;
      try {
        await syncDirectory(dir);
      } catch (err) {
        // The rename may not survive a crash: take the object back rather than report success.
        await unlink(target).catch(() => undefined);
        throw this.fsError(err, "write", key);
      }
      this.counters.bytesWritten += sink.bytes;
      return { size: sink.bytes };
    } catch (caught) {
      await handle?.close().catch(() => undefined);
      if (tempPath !== undefined) await unlink(tempPath).catch(() => undefined);
      const err =
        caught instanceof PgsnapError || signal?.aborted !== true
          ? caught // a StorageError, or an error of `body` itself: the caller knows best what it means
          : new InterruptedError(`writing ${key} to ${this.location} was interrupted`, { cause: caught });
      // With the storage's own error, so that a pipeline into `body` fails with it.
      destroyWith(body, err instanceof PgsnapError ? err : undefined);
      throw err;
    }
  }

  /** Writes `data` atomically (same path as `put`). */
  async putBytes(key: string, data: Buffer, options: StorageCallOptions = {}): Promise<void> {
    await this.put(key, Readable.from([data]), options);
  }

  /**
   * Opens `key` (or `range` of it) for reading. A missing key fails here with STORAGE_NOT_FOUND,
   * a range past the end with STORAGE_RANGE. The caller consumes or destroys the stream; the file
   * is closed either way, and `options.signal` destroys it with an AbortError.
   */
  async get(key: string, range?: ByteRange, options: StorageCallOptions = {}): Promise<Readable> {
    const path = this.pathOf(key);
    checkRange(range, key);
    options.signal?.throwIfAborted();
    this.counters.reads += 1;
    let handle: FileHandle;
    try {
      handle = await open(path, "r");
    } catch (err) {
      throw this.fsError(err, "read", key);
    }
    let stream: Readable;
    try {
      const info = await handle.stat();
      if (!info.isFile()) throw notFound(key, this.location);
      if (range !== undefined && range.offset + range.length > info.size) {
        throw rangeError(key, range, info.size, this.location);
      }
      if (range !== undefined && range.length === 0) {
        await handle.close();
        stream = Readable.from([]);
      } else {
        // 1 MiB reads: with the default 64 KiB, reading a 51 MB object cost ~3× the CPU (measured,
        // issue 14: extract and restore read whole objects).
        stream = handle.createReadStream({
          highWaterMark: READ_CHUNK,
          ...(range === undefined ? {} : { start: range.offset, end: range.offset + range.length - 1 }),
        });
      }
    } catch (err) {
      await handle.close().catch(() => undefined);
      throw err instanceof PgsnapError ? err : this.fsError(err, "read", key);
    }
    const counted = countReads(stream, this.counters, { describe: (err) => this.fsError(err, "read", key) });
    if (options.signal !== undefined) addAbortSignal(options.signal, counted);
    return counted;
  }

  /** Reads a whole (small) object. */
  async getBytes(key: string, options: StorageCallOptions = {}): Promise<Buffer> {
    const path = this.pathOf(key);
    options.signal?.throwIfAborted();
    this.counters.reads += 1;
    try {
      const data = await readFile(path, { signal: options.signal });
      this.counters.bytesRead += data.length;
      return data;
    } catch (err) {
      if (options.signal?.aborted === true) {
        throw new InterruptedError(`reading ${key} from ${this.location} was interrupted`, { cause: err });
      }
      throw this.fsError(err, "read", key);
    }
  }

  async stat(key: string, options: StorageCallOptions = {}): Promise<ObjectInfo | undefined> {
    const path = this.pathOf(key);
    options.signal?.throwIfAborted();
    try {
      const info = await stat(path);
      if (!info.isFile()) return undefined;
      return { key, size: info.size, lastModified: info.mtime };
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw this.fsError(err, "stat", key);
    }
  }

  /** Every regular file under the root whose key starts with `prefix`, temp files excluded. */
  async list(prefix: string, options: StorageCallOptions = {}): Promise<ObjectInfo[]> {
    checkPrefix(prefix);
    const out: ObjectInfo[] = [];
    await this.walk(prefix, options.signal, async (key, path, entry) => {
      if (TEMP_NAME.test(entry.name)) return;
      try {
        const info = await stat(path);
        out.push({ key, size: info.size, lastModified: info.mtime });
      } catch (err) {
        if (!isMissing(err)) throw this.fsError(err, "list", prefix);
        // deleted while listing: not there any more
      }
    });
    return out.sort(compareKeys);
  }

  /** Unlinks the keys (missing ones are fine) and removes directories left empty. */
  async delete(keys: readonly string[], options: StorageCallOptions = {}): Promise<void> {
    const paths = keys.map((key) => this.pathOf(key));
    for (const [index, path] of paths.entries()) {
      options.signal?.throwIfAborted();
      try {
        await unlink(path);
      } catch (err) {
        if (!isMissing(err)) throw this.fsError(err, "delete", keys[index] ?? "");
      }
      await this.removeEmptyParents(dirname(path));
    }
  }

  /**
   * Removes temp files of interrupted puts under `prefix` last modified more than `olderThanMs`
   * ago, and the directories under `prefix` that are left empty (a dump killed before its first
   * object landed leaves one). With `dryRun`, counts the temp files and removes nothing.
   */
  async cleanupIncomplete(
    prefix: string,
    olderThanMs: number,
    options: StorageCallOptions & { dryRun?: boolean | undefined } = {},
  ): Promise<number> {
    checkPrefix(prefix);
    const cutoff = Date.now() - olderThanMs;
    let removed = 0;
    await this.walk(prefix, options.signal, async (_key, path, entry) => {
      if (!TEMP_NAME.test(entry.name)) return;
      try {
        const info = await stat(path);
        if (info.mtimeMs > cutoff) return;
        removed += 1;
        if (options.dryRun) return;
        await unlink(path);
        await this.removeEmptyParents(dirname(path));
      } catch (err) {
        if (!isMissing(err)) throw this.fsError(err, "delete", prefix);
      }
    });
    if (!options.dryRun) await this.removeEmptyDirectories(prefix, cutoff);
    return removed;
  }

  /** Removes empty directories under `prefix` (deepest first) not modified since `cutoff`. */
  private async removeEmptyDirectories(prefix: string, cutoff: number): Promise<void> {
    const cut = prefix.lastIndexOf("/");
    const start = join(
      this.root,
      ...prefix
        .slice(0, cut + 1)
        .split("/")
        .filter((s) => s !== ""),
    );
    const visit = async (dir: string, key: string): Promise<void> => {
      let entries: Dirent[];
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch {
        return;
      }
      for (const entry of entries) {
        const sub = `${key}${entry.name}/`;
        if (entry.isDirectory() && (sub.startsWith(prefix) || prefix.startsWith(sub))) {
          await visit(join(dir, entry.name), sub);
        }
      }
      if (dir === this.root || !key.startsWith(prefix)) return;
      try {
        if ((await stat(dir)).mtimeMs <= cutoff) await rmdir(dir);
      } catch {
        // not empty, gone already, or not ours to remove
      }
    };
    await visit(start, prefix.slice(0, cut + 1));
  }

  close(): Promise<void> {
    return Promise.resolve(); // nothing is held open between calls
  }

  /** The absolute path of `key`, after checking that the key is valid and stays under the root. */
  private pathOf(key: string): string {
    checkKey(key, { badSegment: (s) => TEMP_NAME.test(s) });
    return join(this.root, ...key.split("/"));
  }

  /** Creates the parent directory and an exclusive temp file in it. */
  private async openTemp(key: string, dir: string, name: string): Promise<{ handle: FileHandle; tempPath: string }> {
    for (let attempt = 1; ; attempt++) {
      const tempPath = join(dir, `.${name}.tmp-${randomBytes(6).toString("hex")}`);
      try {
        await makeDirectories(dir);
        return { handle: await open(tempPath, "wx", FILE_MODE), tempPath };
      } catch (err) {
        if (isErrno(err, "ENOENT") && !(err instanceof CannotCreateDirectory) && attempt < OPEN_TEMP_ATTEMPTS) continue;
        throw this.fsError(err, "write", key);
      }
    }
  }

  /**
   * Calls `visit` for every file whose key starts with `prefix`, descending only into
   * directories that can hold such keys. A missing directory holds nothing.
   */
  private async walk(
    prefix: string,
    signal: AbortSignal | undefined,
    visit: (key: string, path: string, entry: Dirent) => Promise<void>,
  ): Promise<void> {
    const cut = prefix.lastIndexOf("/");
    const startKey = cut === -1 ? "" : prefix.slice(0, cut + 1); // "" or ends with "/"
    const pending: string[] = [startKey];
    while (pending.length > 0) {
      signal?.throwIfAborted();
      const dirKey = pending.pop() ?? "";
      const dirPath = join(this.root, ...dirKey.split("/").filter((s) => s !== ""));
      let entries: Dirent[];
      try {
        entries = await readdir(dirPath, { withFileTypes: true });
      } catch (err) {
        if (isMissing(err)) continue;
        throw this.fsError(err, "list", prefix);
      }
      for (const entry of entries) {
        const key = dirKey + entry.name;
        if (entry.isDirectory()) {
          const sub = `${key}/`;
          if (sub.startsWith(prefix) || prefix.startsWith(sub)) pending.push(sub);
        } else if (entry.isFile() && key.startsWith(prefix)) {
          await visit(key, join(dirPath, entry.name), entry);
        }
      }
    }
  }

  private async removeEmptyParents(dir: string): Promise<void> {
    let current = dir;
    while (current.startsWith(this.root + sep)) {
      try {
        await rmdir(current);
      } catch {
        return; // not empty, already gone, or not ours to remove
      }
      current = dirname(current);
    }
  }

  /** Maps a file-system error to a StorageError naming the key (or prefix) and the root. */
  private fsError(err: unknown, action: "read" | "write" | "stat" | "list" | "delete", key: string): PgsnapError {
    if (err instanceof PgsnapError) return err;
    const code = errnoCode(err);
    const where = `${key} in ${this.location}`;
    if ((action === "read" || action === "stat") && (code === "ENOENT" || code === "ENOTDIR" || code === "EISDIR")) {
      return notFound(key, this.location, err);
    }
    if (code === "ENOSPC" || code === "EDQUOT") {
      return new StorageError("STORAGE_DISK_FULL", `no space left while writing ${where}`, {
        hint: `free space on the file system of ${this.location} or choose another --storage`,
        cause: err,
      });
    }
    if (code === "EROFS") {
      return new StorageError("STORAGE_READ_ONLY", `cannot ${action} ${where}: the file system is read-only (EROFS)`, {
        hint: `mount it writable or choose another --storage`,
        cause: err,
      });
    }
    if (action === "write" && err instanceof CannotCreateDirectory) {
      return new StorageError(
        "STORAGE_NOT_WRITABLE",
        `cannot create directory ${err.path} for ${where}: ${err.reason} (${code ?? "?"})`,
        {
          hint:
            err.code === "ENOTDIR"
              ? `a file is in the way of ${err.path}: choose another --storage or move the file`
              : `choose a --storage directory on a file system that holds files (not /proc or /sys), or create ${this.location} first`,
          cause: err,
        },
      );
    }
    if (code === "EACCES" || code === "EPERM") {
      return new StorageError("STORAGE_ACCESS_DENIED", `permission denied (${code}) to ${action} ${where}`, {
        hint: `check that the user running pgsnap may read and write ${this.location}`,
        cause: err,
      });
    }
    const detail = err instanceof Error ? err.message : String(err);
    return new StorageError("STORAGE_IO", `cannot ${action} ${where}: ${detail}`, {
      hint: `check the file system of ${this.location} (mounted, writable, healthy)`,
      cause: err,
    });
  }
}

/**
 * Bytes a FileSink writes between two background `fdatasync` calls. The final fsync of a 51 MB
 * object took ~0.13 s of the dump's wall time with nothing else left to do (strace -T); flushing
 * as it goes leaves it at most this much to write.
 */
const SYNC_EVERY_BYTES = 8 * 1024 * 1024;

/**
 * The write end of `put`: writes every chunk fully to `handle` and fsyncs in final(), so a
 * pipeline into it resolves only once the data is durable. Every SYNC_EVERY_BYTES it starts an
 * `fdatasync` in the background (one at a time, while writing goes on); final() waits for it and
 * fails with its error, then fsyncs. Its own failures are StorageErrors (through `describe`),
 * which tells them apart from failures of the body.
 */
class FileSink extends Writable {
  bytes = 0;
  #unsynced = 0;
  #syncing: Promise<void> | undefined;
  #syncError: unknown;
  constructor(
    private readonly handle: FileHandle,
    private readonly describe: (err: unknown) => PgsnapError,
  ) {
    super({ highWaterMark: 1 << 20 });
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    void this.writeFully(chunk).then(
      () => callback(),
      (err: unknown) => callback(this.describe(err)),
    );
  }

  override _final(callback: (error?: Error | null) => void): void {
    void this.finish().then(
      () => callback(),
      (err: unknown) => callback(this.describe(err)),
    );
  }

  private async finish(): Promise<void> {
    await this.#syncing;
    if (this.#syncError !== undefined) throw this.#syncError;
    await this.handle.sync();
  }

  private async writeFully(chunk: Buffer): Promise<void> {
    let offset = 0;
    while (offset < chunk.length) {
      const { bytesWritten } = await this.handle.write(chunk, offset, chunk.length - offset);
      offset += bytesWritten;
    }
    this.bytes += chunk.length;
    this.#unsynced += chunk.length;
    if (this.#unsynced >= SYNC_EVERY_BYTES && this.#syncing === undefined) {
      this.#unsynced = 0;
      this.#syncing = this.handle.datasync().then(
        () => {
          this.#syncing = undefined;
        },
        (err: unknown) => {
          this.#syncError ??= err;
          this.#syncing = undefined;
        },
      );
    }
  }
}

/** A directory `put` needed could not be made; `code` is the errno of the failed mkdir. */
class CannotCreateDirectory extends Error {
  constructor(
    readonly path: string,
    readonly code: string | undefined,
    readonly reason: string,
    cause: unknown,
  ) {
    super(`cannot create directory ${path}: ${reason}`, { cause });
  }
}

/**
 * `mkdir -p dir`, one level at a time. Not `mkdir(dir, { recursive: true })`: on /proc (and
 * other file systems that refuse new entries with ENOENT) Node's recursive mkdir retries
 * forever, a busy loop in the thread pool that not even SIGTERM ends; and on a read-only file
 * system it reports ENOENT instead of EROFS.
 */
async function makeDirectories(dir: string, depth = 0): Promise<void> {
  try {
    await mkdir(dir, { mode: DIR_MODE });
    return;
  } catch (err) {
    const code = errnoCode(err);
    if (code === "EEXIST") {
      if ((await stat(dir)).isDirectory()) return;
      throw new CannotCreateDirectory(dir, "ENOTDIR", "a file of that name is in the way", err);
    }
    if (code !== "ENOENT" || dirname(dir) === dir || depth > 256) throw wrapMkdir(dir, err);
  }
  await makeDirectories(dirname(dir), depth + 1);
  try {
    await mkdir(dir, { mode: DIR_MODE });
  } catch (err) {
    if (errnoCode(err) === "EEXIST") return;
    // The parent exists, yet ENOENT: a file system that does not hold new entries (/proc).
    throw wrapMkdir(dir, err);
  }
}

function wrapMkdir(dir: string, err: unknown): Error {
  const code = errnoCode(err);
  if (code === "EROFS" || code === "EACCES" || code === "EPERM" || code === "ENOSPC" || code === "EDQUOT")
    return err as Error;
  const reason =
    code === "ENOENT" ? "the file system does not allow it" : err instanceof Error ? err.message : String(err);
  return new CannotCreateDirectory(dir, code, reason, err);
}

async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Keys are `/`-separated relative paths: no leading or trailing `/`, no empty, `.` or `..`
 * segment, no NUL or backslash, and no segment shaped like a temp file name.
 */

function notFound(key: string, location: string, cause?: unknown): StorageError {
  return new StorageError("STORAGE_NOT_FOUND", `object ${key} not found in ${location}`, {
    hint: "check the snapshot id and the --storage location",
    cause,
  });
}

function rangeError(key: string, range: ByteRange, size: number, location: string): StorageError {
  return new StorageError(
    "STORAGE_RANGE",
    `byte range ${range.offset}+${range.length} is past the end of ${key} in ${location} (${size} bytes)`,
    { hint: "the object is shorter than its manifest says: run pgsnap verify on the snapshot" },
  );
}

/** Key order of S3 listings: UTF-8 byte order. */
function compareKeys(a: ObjectInfo, b: ObjectInfo): number {
  return Buffer.compare(Buffer.from(a.key), Buffer.from(b.key));
}

function errnoCode(err: unknown): string | undefined {
  if (typeof err === "object" && err !== null && "code" in err && typeof err.code === "string") return err.code;
  return undefined;
}

function isErrno(err: unknown, code: string): boolean {
  return errnoCode(err) === code;
}

function isMissing(err: unknown): boolean {
  const code = errnoCode(err);
  return code === "ENOENT" || code === "ENOTDIR";
}
