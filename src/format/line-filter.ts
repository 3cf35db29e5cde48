import { Transform, type TransformCallback } from "node:stream";
import { EMPTY_CHUNK, ResumableTransform, ZstdDecoder } from "./zstd.js";

/**
 * Keeps the NDJSON lines for which `keep(line)` is true (the line without its `\n`), counting
 * kept rows and bytes. Lines split across chunks are joined; nothing else is buffered. The
 * caller owns source and sink (use `pipeline`).
 */
export class LineFilter extends Transform {
  rows = 0;
  bytes = 0;
  #partial: Buffer[] = [];

  constructor(private readonly keep: (line: Buffer) => boolean) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    const out: Buffer[] = [];
    let start = 0;
    try {
      for (let nl = chunk.indexOf(0x0a); nl !== -1; nl = chunk.indexOf(0x0a, start)) {
        let line = chunk.subarray(start, nl);
        if (this.#partial.length > 0) {
          line = Buffer.concat([...this.#partial, line]);
          this.#partial = [];
        }
        if (this.keep(line)) {
          out.push(line, NEWLINE);
          this.rows++;
          this.bytes += line.length + 1;
        }
        start = nl + 1;
      }
    } catch (err) {
      done(err as Error);
      return;
    }
    if (start < chunk.length) this.#partial.push(chunk.subarray(start));
    done(null, out.length > 0 ? Buffer.concat(out) : undefined);
  }

  override _flush(done: TransformCallback): void {
    if (this.#partial.length > 0) done(new Error("data ends inside a row (no final newline)"));
    else done();
  }
}

const NEWLINE = Buffer.from("\n");

/**
 * Decides on one line: `buf[start, end)` is the line without its `\n`. `buf` is valid only during
 * the call (it is overwritten by the next decompressed bytes): copy what must be kept.
 */
export type KeepLine = (buf: Buffer, start: number, end: number) => boolean;

/**
 * Buffer.prototype.indexOf, called on the window directly: in the optimized row loop `w.indexOf`
 * stayed a generic property load (Builtins_LoadIC, one per row: ~1.5 % of an extract's perf
 * samples, 0.3 % with this; measured, issue 14).
 */
const indexOf = Buffer.prototype.indexOf;
/** Free room below which the window is compacted or grown before the next decompression call. */
const MIN_ROOM = ZstdDecoder.outSize;
/** Size of the buffers kept lines are copied into and pushed as. */
const OUT_SLAB = 64 * 1024;

/**
 * Decompresses a zstd NDJSON stream and keeps the lines for which `keep` is true, in one pass:
 * zstd writes into one reused window, whole windows are searched for `\n` and handed to `keep`
 * line by line as byte ranges, and only kept lines are copied out. A `LineFilter` behind a
 * decompress stream did the same with a fresh buffer per 128 KiB of output and a Buffer per
 * line: 2–3× the CPU of the decompression alone on a full snapshot where 1 % of the rows are
 * kept (issue 14). Counts kept rows and bytes (with their `\n`) like LineFilter.
 *
 * Memory: the window holds the line in progress plus one decompression call's output, so it
 * grows to about twice the longest line and no further. Output is pushed in 64 KiB slabs; when
 * the consumer is full the rest of the input chunk waits (with its callback) until it reads
 * again, so memory stays bounded whatever the compression ratio. A stream that ends inside a
 * frame (truncated) or inside a line fails at its end; corrupt input fails when read. The caller
 * owns source and sink (use `pipeline`).
 */
export class ZstdLineFilter extends ResumableTransform {
  rows = 0;
  bytes = 0;
  readonly #decoder: ZstdDecoder;
  readonly #keep: KeepLine;
  /** Decompressed bytes: [0, #fill) holds the start of the line in progress, then new output. */
  #window: Buffer = Buffer.allocUnsafe(4 * MIN_ROOM);
  #fill = 0;
  #slab: Buffer = Buffer.allocUnsafe(OUT_SLAB);
  #slabPos = 0;
  /** A push() of the current chunk returned false: stop decompressing until the next _read(). */
  #consumerFull = false;
  /** Whether the current chunk pushed anything. */
  #pushed = false;

  /**
   * `verifyChecksum: false` skips zstd's per-frame XXH64 (see ZstdDecoder): only for a caller
   * that checks the compressed bytes' sha256 itself, and throws away the output if it differs.
   */
  constructor(keep: KeepLine, options: { verifyChecksum?: boolean | undefined } = {}) {
    super();
    this.#keep = keep;
    this.#decoder = new ZstdDecoder(options);
  }

  override _flush(done: TransformCallback): void {
    if (this.#slabPos > 0) this.push(this.#takeSlab());
    if (this.#decoder.inFrame) done(new Error("zstd: input ended in the middle of a frame (truncated data)"));
    else if (this.#fill > 0) done(new Error("data ends inside a row (no final newline)"));
    else done();
  }

  protected override run(src: Buffer, done: TransformCallback, resumed: boolean): void {
    let input = src;
    // A chunk starts only once the readable side is below its high-water mark (Transform holds
    // back the callback otherwise), and a resumed one only from _read().
    this.#pushed = false;
    this.#consumerFull = false;
    try {
      for (;;) {
        if (this.#window.length - this.#fill < MIN_ROOM) this.#grow();
        const room = this.#window.length - this.#fill;
        const { produced, consumed } = this.#decoder.decompress(this.#window.subarray(this.#fill), input);
        input = input.subarray(consumed);
        if (produced > 0) this.#lines(this.#fill, this.#fill + produced);
        // Output not full and input used up: zstd has flushed everything it could.
        const finished = input.length === 0 && produced < room;
        if (this.#slabPos >= OUT_SLAB / 2) this.#push(this.#takeSlab());
        if (finished) break;
        if (this.#consumerFull) {
          this.park(input, done);
          return;
        }
      }
    } catch (err) {
      done(err as Error);
      return;
    }
    // A resumed chunk that pushed nothing must still clear Readable's `reading` flag, or the
    // Transform could wait forever for a _read() that is never issued.
    if (resumed && !this.#pushed) this.push(EMPTY_CHUNK);
    done();
  }

  /** Hands every complete line of the window to `keep`; `from` is where new bytes start, `to` their end. */
  #lines(from: number, to: number): void {
    const w = this.#window.subarray(0, to);
    const keep = this.#keep;
    let start = 0;
    for (let nl = indexOf.call(w, 0x0a, from); nl !== -1; nl = indexOf.call(w, 0x0a, start)) {
      if (keep(w, start, nl)) this.#copyOut(w, start, nl + 1);
      start = nl + 1;
    }
    // The line in progress moves to the front of the window.
    if (start > 0 && start < to) w.copyWithin(0, start, to);
    this.#fill = to - start;
  }

  #copyOut(w: Buffer, start: number, end: number): void {
    const n = end - start;
    this.rows++;
    this.bytes += n;
    if (this.#slab.length - this.#slabPos < n) {
      if (this.#slabPos > 0) this.#push(this.#takeSlab());
      if (n > this.#slab.length) this.#slab = Buffer.allocUnsafe(n);
    }
    w.copy(this.#slab, this.#slabPos, start, end);
    this.#slabPos += n;
  }

  #push(out: Buffer): void {
    this.#pushed = true;
    if (!this.push(out)) this.#consumerFull = true;
  }

  #takeSlab(): Buffer {
    const out = this.#slab.subarray(0, this.#slabPos);
    this.#slab = Buffer.allocUnsafe(OUT_SLAB);
    this.#slabPos = 0;
    return out;
  }

  /** Makes room for one more decompression call: a long line in progress doubles the window. */
  #grow(): void {
    const bigger = Buffer.allocUnsafe(Math.max(2 * this.#window.length, this.#fill + MIN_ROOM));
    this.#window.copy(bigger, 0, 0, this.#fill);
    this.#window = bigger;
  }
}
