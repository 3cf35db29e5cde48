/**
 * A Storage whose backend module is imported on its first call. openStorage stays synchronous
 * and checks the settings up front, while a run that never touches S3 never loads the S3 code
 * (its modules, node:http, node:https, node:async_hooks; issue 14, the fixed cost of a command).
 */
import type { Readable } from "node:stream";

import { destroyWith } from "./destroy-with.js";
import type { ByteRange, ObjectInfo, Storage, StorageCallOptions, StorageCounters } from "./storage.js";

export class LazyStorage implements Storage {
  readonly location: string;
  readonly #open: () => Promise<Storage>;
  #opening: Promise<Storage> | undefined;
  #backend: Storage | undefined;
  /** What `counters` shows before the backend exists: nothing has moved yet. */
  readonly #idle: StorageCounters = { bytesRead: 0, bytesWritten: 0, reads: 0 };

  /** `open` builds the backend (once, on first use); it must not do I/O beyond importing. */
  constructor(location: string, open: () => Promise<Storage>) {
    this.location = location;
    this.#open = open;
  }

  /** The backend's counters once it exists (read them after the calls they count). */
  get counters(): StorageCounters {
    return this.#backend?.counters ?? this.#idle;
  }

  async put(key: string, body: Readable, options?: StorageCallOptions): Promise<{ size: number }> {
    let backend: Storage;
    try {
      backend = await this.backend();
    } catch (err) {
      // The put contract: on failure `body` is destroyed.
      destroyWith(body, err);
      throw err;
    }
    return backend.put(key, body, options);
  }

  async putBytes(key: string, data: Buffer, options?: StorageCallOptions): Promise<void> {
    return (await this.backend()).putBytes(key, data, options);
  }

  async get(key: string, range?: ByteRange, options?: StorageCallOptions): Promise<Readable> {
    return (await this.backend()).get(key, range, options);
  }

  async getBytes(key: string, options?: StorageCallOptions): Promise<Buffer> {
    return (await this.backend()).getBytes(key, options);
  }

  async stat(key: string, options?: StorageCallOptions): Promise<ObjectInfo | undefined> {
    return (await this.backend()).stat(key, options);
  }

  async list(prefix: string, options?: StorageCallOptions): Promise<ObjectInfo[]> {
    return (await this.backend()).list(prefix, options);
  }

  async delete(keys: readonly string[], options?: StorageCallOptions): Promise<void> {
    return (await this.backend()).delete(keys, options);
  }

  async cleanupIncomplete(
    prefix: string,
    olderThanMs: number,
    options?: StorageCallOptions & { dryRun?: boolean | undefined },
  ): Promise<number> {
    return (await this.backend()).cleanupIncomplete(prefix, olderThanMs, options);
  }

  /** Closes the backend if it was opened; a storage never used has nothing to release. */
  async close(): Promise<void> {
    const backend = await this.#opening?.catch(() => undefined);
    await backend?.close();
  }

  /** The backend, opened on the first call (concurrent first calls share one). */
  private backend(): Promise<Storage> {
    this.#opening ??= this.#open().then((backend) => (this.#backend = backend));
    return this.#opening;
  }
}
