/**
 * zstd-compressed NDJSON in, COPY text out, in one Transform (the restore's load path): each
 * compressed chunk is decompressed into one reused 128 KiB window and its lines transcoded from
 * there (NdjsonCopyLines copies only the piece of a line that spans two windows). Chained as
 * decompress stream → transcoder, every 128 KiB of NDJSON was a fresh buffer that lived until V8
 * next collected, which was most of a 1M-row restore's peak RSS above Node's own (issue 14);
 * reusing one window also saves the page faults of fresh output buffers.
 *
 * Backpressure as in zstd.ts's streams: when push() reports the consumer full, the rest of the
 * compressed chunk is parked until _read, so memory stays bounded whatever a chunk inflates to.
 * Truncated or corrupt zstd fails the stream (plain Error, as createDecompressStream); a
 * malformed or truncated line fails it with IntegrityError `NDJSON_MALFORMED`.
 */
import type { TransformCallback } from "node:stream";
import { NdjsonCopyLines, type SlabSource } from "./ndjson-to-copy.js";
import { EMPTY_CHUNK, ResumableTransform, ZstdDecoder } from "./zstd.js";

export interface ZstdNdjsonToCopyOptions {
  /** Column names in the order of the COPY column list; a key absent from a line gives NULL. */
  columns: readonly string[];
  /** Where output slabs come from (default: a fresh buffer each); see SlabSource. */
  slabs?: SlabSource | undefined;
}

export class ZstdNdjsonToCopy extends ResumableTransform {
  readonly #decoder = new ZstdDecoder();
  readonly #window = Buffer.allocUnsafe(ZstdDecoder.outSize);
  readonly #lines: NdjsonCopyLines;
  #bytes = 0;

  constructor(options: ZstdNdjsonToCopyOptions) {
    super();
    this.#lines = new NdjsonCopyLines(options.columns, options.slabs);
  }

  /** Rows transcoded so far; final once the stream has ended. */
  get rows(): number {
    return this.#lines.rows;
  }

  /** Decompressed (NDJSON) bytes so far. */
  get bytes(): number {
    return this.#bytes;
  }

  protected override run(src: Buffer, done: TransformCallback, resumed: boolean): void {
    let input = src;
    let pushed = false;
    const push = (out: Buffer) => {
      pushed = true;
      return this.push(out);
    };
    try {
      for (;;) {
        const { produced, consumed } = this.#decoder.decompress(this.#window, input);
        input = input.subarray(consumed);
        let more = true;
        if (produced > 0) {
          this.#bytes += produced;
          more = this.#lines.consume(this.#window.subarray(0, produced), push);
        }
        // A full window may mean zstd holds more output, even with all input read.
        if (produced < this.#window.length && input.length === 0) break;
        if (!more) {
          this.park(input, done);
          return;
        }
      }
    } catch (err) {
      done(err as Error);
      return;
    }
    // A resumed chunk that pushed nothing must still clear Readable's `reading` flag.
    if (resumed && !pushed) this.push(EMPTY_CHUNK);
    done();
  }

  override _flush(done: TransformCallback): void {
    if (this.#decoder.inFrame) {
      done(new Error("zstd: input ended in the middle of a frame (truncated data)"));
      return;
    }
    try {
      this.#lines.end();
    } catch (err) {
      done(err as Error);
      return;
    }
    done();
  }
}
