/** The read stream every backend hands out from `get`: counted, length-checked, error-mapped. */
import { Readable } from "node:stream";

import { PgsnapError } from "../errors.js";
import { paceGc } from "../format/gc-pacer.js";
import type { StorageCounters } from "./storage.js";

export interface CountReadsOptions {
  /** Maps an error of the source to the backend's StorageError (PgsnapErrors and AbortErrors pass). */
  describe: (err: unknown) => Error;
  /** When set, the stream fails unless the source sends exactly this many bytes. */
  expectedLength?: number | undefined;
  /** The error for a source that sent other than `expectedLength` bytes. */
  lengthError?: ((detail: string) => Error) | undefined;
}

/**
 * Wraps `source`: counts bytes into `counters.bytesRead`, maps the source's errors through
 * `describe`, checks the length when asked, and destroys `source` (closing the file or freeing
 * the socket) when the consumer destroys the returned stream or the stream ends. An error the
 * consumer destroys the returned stream with surfaces unchanged.
 */
export function countReads(source: Readable, counters: StorageCounters, options: CountReadsOptions): Readable {
  const { describe, expectedLength } = options;
  const lengthError = options.lengthError ?? ((detail: string) => describe(new Error(detail)));
  const map = (err: unknown): Error =>
    err instanceof PgsnapError || (err instanceof Error && err.name === "AbortError") ? err : describe(err);
  async function* counting(): AsyncGenerator<Buffer> {
    const chunks = source[Symbol.asyncIterator]();
    let count = 0;
    try {
      for (;;) {
        let next: IteratorResult<unknown>;
        try {
          next = await chunks.next();
        } catch (err) {
          throw map(err);
        }
        if (next.done === true) break;
        const buf = next.value as Buffer;
        count += buf.length;
        if (expectedLength !== undefined && count > expectedLength) {
          throw lengthError(`the server sent more than ${expectedLength} bytes`);
        }
        counters.bytesRead += buf.length;
        paceGc(buf.length);
        yield buf;
      }
      if (expectedLength !== undefined && count !== expectedLength) {
        throw lengthError(`the server sent only ${count} bytes`);
      }
    } finally {
      source.destroy();
    }
  }
  return Readable.from(counting(), { objectMode: false });
}
