/** Counting NDJSON rows by their `\n` terminators, on bytes (never decoding to strings). */
import { Transform, type TransformCallback, type TransformOptions } from "node:stream";

const LF = 0x0a;

/** Number of `\n` bytes in `data` (indexOf loop: memchr speed, no string conversion). */
export function countLines(data: Uint8Array): number {
  const buf = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.length);
  let count = 0;
  let at = buf.indexOf(LF);
  while (at !== -1) {
    count++;
    at = buf.indexOf(LF, at + 1);
  }
  return count;
}

/**
 * Pass-through Transform counting `\n` bytes (rows of NDJSON or COPY output) and bytes. Counts are
 * live; they are final once the stream has ended. Chunks pass through uncopied; backpressure is
 * the Transform's own. It owns nothing: the caller closes source and sink.
 */
export class LineCounter extends Transform {
  #lines = 0;
  #bytes = 0;
  #lastWasLf = false;

  constructor(options: Pick<TransformOptions, "highWaterMark"> = {}) {
    super(options);
  }

  /** `\n` bytes seen so far. */
  get lines(): number {
    return this.#lines;
  }

  /** Bytes seen so far. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Whether the last byte seen was not `\n` (a final line without its terminator). */
  get endsMidLine(): boolean {
    return this.#bytes > 0 && !this.#lastWasLf;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    if (chunk.length > 0) {
      this.#lines += countLines(chunk);
      this.#bytes += chunk.length;
      this.#lastWasLf = chunk[chunk.length - 1] === LF;
    }
    done(null, chunk);
  }
}
