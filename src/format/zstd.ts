/**
 * The zstd codec: the one module that knows zstd-napi (Node 20 has no zstd in node:zlib; see
 * NOTES.md). Everything else in pgsnap moves bytes through these functions and classes.
 *
 * The streams here talk to the native binding (`ZSTD_compressStream2` / `ZSTD_decompressStream`)
 * directly rather than through zstd-napi's CompressStream/DecompressStream, because:
 * - a tenant-framed file needs to end a frame at an exact input position and to know which
 *   output bytes belong to which frame (ZstdFrameEncoder below);
 * - zstd-napi's streams push a view of a fresh 128 KiB buffer for every native call, so many tiny
 *   frames would pin 128 KiB each while queued; here output is packed into shared buffers;
 * - zstd-napi's DecompressStream pushes all output of an input chunk at once, ignoring push()'s
 *   return value, so a highly compressed chunk could inflate to gigabytes in memory; the
 *   decompressor here stops when the consumer stalls.
 *
 * Compression runs off the JavaScript thread: the streams set ZSTD_c_nbWorkers = 1 (zstd-napi
 * builds libzstd with ZSTD_MULTITHREAD), so `ZSTD_compressStream2` only copies input into zstd's
 * job buffer and returns, while one zstd worker thread compresses the previous job. In the dump
 * the JavaScript thread was the bottleneck and synchronous compression was ~45 % of its CPU
 * (issue 14). zstd itself compresses a frame given whole in one call and no larger than 512 KiB
 * (ZSTDMT_JOBSIZE_MIN) in the calling thread, so small tenant frames pay no thread hand-off.
 */
import { createRequire } from "node:module";
import { Transform, type TransformCallback, type TransformOptions } from "node:stream";
import type * as Binding from "zstd-napi/binding.js";

/**
 * The native binding, required rather than imported: an ES import of a CommonJS module loads
 * Node's CommonJS export lexer first, ~18 ms CPU of every dump's fixed cost (issue 14).
 */
const binding = createRequire(import.meta.url)("zstd-napi/binding.js") as typeof Binding;

/** Lowest compression level pgsnap accepts. */
export const MIN_ZSTD_LEVEL = 1;
/** Highest compression level pgsnap accepts (20–22 need huge windows; not worth it for NDJSON). */
export const MAX_ZSTD_LEVEL = 19;

/** Size of the buffers compressed output is packed into (ZSTD_CStreamOutSize, ≈128 KiB). */
const COMPRESS_OUT_SIZE = binding.cStreamOutSize();
/** Size of the buffers decompressed output is written into (ZSTD_DStreamOutSize, 128 KiB). */
const DECOMPRESS_OUT_SIZE = binding.dStreamOutSize();
/**
 * Input bytes per zstd worker job (ZSTD_c_jobSize). zstd's default at level 3 is 8 MiB, and its
 * buffers hold ~4 jobs: ~55 MiB more peak RSS per stream, measured. 2 MiB (the level-3 window)
 * kept the ratio within 1 % and the CPU within ~10 % of single-threaded compression, for ~10 MiB.
 */
const JOB_SIZE = 2 * 1024 * 1024;
/**
 * ZSTD_d_forceIgnoreChecksum (ZSTD_d_experimentalParam3 in zstd.h): zstd-napi's DParameter enum
 * names only windowLogMax, but its setParameter passes any parameter number to libzstd.
 */
const D_FORCE_IGNORE_CHECKSUM = 1002;
/** A buffer with less free space than this is handed off and a new one started. */
const MIN_FREE_SPACE = 4096;
/** A zero-length chunk: an empty frame's input, and what a resumed run that produced nothing pushes (ResumableTransform). */
export const EMPTY_CHUNK = Buffer.alloc(0);

export interface ZstdEncoderOptions {
  /**
   * Write a 4-byte XXH64 content checksum at the end of every frame (default true, like the zstd
   * CLI), so `zstd -t` and every decompressor detect corruption even where no sha256 is checked.
   */
  checksum?: boolean | undefined;
  /**
   * zstd worker threads that compress while the caller goes on (ZSTD_c_nbWorkers): 0 compresses
   * inside each call, on the calling thread; 1 (the streams' default) hands input to one
   * background thread. Output bytes are a valid zstd stream either way, but not the same bytes.
   */
  workers?: number | undefined;
}

function assertLevel(level: number): void {
  if (!Number.isInteger(level) || level < MIN_ZSTD_LEVEL || level > MAX_ZSTD_LEVEL) {
    throw new RangeError(`zstd level must be an integer from ${MIN_ZSTD_LEVEL} to ${MAX_ZSTD_LEVEL}, got ${level}`);
  }
}

/**
 * One zstd compression context producing a sequence of frames, with the caller deciding where
 * each frame ends. Used by the stream transforms; has no stream semantics of its own.
 *
 * - `write(src)` feeds bytes into the current frame (`ZSTD_compressStream2(..., ZSTD_e_continue)`);
 *   the first write after an end starts a new frame with the same parameters (the context is
 *   reused, not recreated).
 * - `endFrame(src)` feeds the last bytes and closes the frame (`ZSTD_e_end`, looped until it
 *   returns 0). When a whole frame is given in one `endFrame` call, zstd compresses it in one shot
 *   and records its content size in the frame header.
 * - Compressed bytes accumulate in shared buffers; `takeOutput()` hands them over. Every produced
 *   slice is also passed to the optional `onOutput` callback while the call runs (for hashing).
 *   Slices are never written again once produced, so they may be kept.
 */
export class ZstdFrameEncoder {
  readonly #cctx = new binding.CCtx();
  #out: Buffer = Buffer.allocUnsafe(COMPRESS_OUT_SIZE);
  /** Start of the bytes in #out not yet handed out by takeOutput(). */
  #start = 0;
  /** End of the bytes written into #out. */
  #pos = 0;
  /** Full buffers (or their tails) waiting for takeOutput(). */
  #ready: Buffer[] = [];

  constructor(level: number, options: ZstdEncoderOptions = {}) {
    assertLevel(level);
    this.#cctx.setParameter(binding.CParameter.compressionLevel, level);
    this.#cctx.setParameter(binding.CParameter.checksumFlag, options.checksum === false ? 0 : 1);
    const workers = options.workers ?? 0;
    if (!Number.isInteger(workers) || workers < 0 || workers > 8) {
      throw new RangeError(`zstd workers must be an integer from 0 to 8, got ${workers}`);
    }
    if (workers > 0) {
      this.#cctx.setParameter(binding.CParameter.nbWorkers, workers);
      this.#cctx.setParameter(binding.CParameter.jobSize, JOB_SIZE);
    }
  }

  /** Compresses `src` into the current frame (starting a frame if none is open). */
  write(src: Uint8Array, onOutput?: (bytes: Buffer) => void): void {
    if (src.length > 0) this.#run(src, binding.EndDirective.continue, onOutput);
  }

  /**
   * Compresses `src` (may be empty) and ends the current frame. With nothing written since the
   * last end this emits an empty (but valid) frame.
   */
  endFrame(src: Uint8Array = EMPTY_CHUNK, onOutput?: (bytes: Buffer) => void): void {
    this.#run(src, binding.EndDirective.end, onOutput);
  }

  /** Hands over the compressed bytes produced since the last call (possibly none). */
  takeOutput(): Buffer[] {
    const out = this.#ready;
    this.#ready = [];
    if (this.#pos > this.#start) {
      out.push(this.#out.subarray(this.#start, this.#pos));
      this.#start = this.#pos;
    }
    return out;
  }

  #run(src: Uint8Array, op: Binding.EndDirective, onOutput?: (bytes: Buffer) => void): void {
    let input = src;
    for (;;) {
      if (this.#out.length - this.#pos < MIN_FREE_SPACE) this.#newBuffer();
      const [remaining, produced, consumed] = this.#cctx.compressStream2(this.#out.subarray(this.#pos), input, op);
      if (produced > 0) {
        onOutput?.(this.#out.subarray(this.#pos, this.#pos + produced));
        this.#pos += produced;
      }
      if (consumed > 0) input = input.subarray(consumed);
      // continue: done once all input is consumed (zstd may keep some output buffered).
      // end: done once all input is consumed and the frame epilogue is flushed (returns 0).
      if (input.length === 0 && (op === binding.EndDirective.continue || remaining === 0)) return;
    }
  }

  #newBuffer(): void {
    if (this.#pos > this.#start) this.#ready.push(this.#out.subarray(this.#start, this.#pos));
    this.#out = Buffer.allocUnsafe(COMPRESS_OUT_SIZE);
    this.#start = 0;
    this.#pos = 0;
  }
}

class ZstdCompressTransform extends Transform {
  readonly #encoder: ZstdFrameEncoder;

  constructor(level: number, options: ZstdEncoderOptions & TransformOptions) {
    super(options);
    this.#encoder = new ZstdFrameEncoder(level, { ...options, workers: options.workers ?? 1 });
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    try {
      this.#encoder.write(chunk);
      for (const out of this.#encoder.takeOutput()) this.push(out);
    } catch (err) {
      done(err as Error);
      return;
    }
    done();
  }

  override _flush(done: TransformCallback): void {
    try {
      this.#encoder.endFrame();
      for (const out of this.#encoder.takeOutput()) this.push(out);
    } catch (err) {
      done(err as Error);
      return;
    }
    done();
  }
}

/**
 * A Transform compressing its whole input into ONE zstd frame (an empty input gives a valid empty
 * frame, which `zstd -dc` reads as nothing). Output per input chunk is bounded by zstd's
 * compressBound, so the Transform's own backpressure bounds memory. The caller owns source and
 * sink (use `pipeline`); if the stream is destroyed (abort, error) the frame is left unfinished,
 * which every reader detects as truncated. Compression runs on one zstd worker thread unless
 * `workers` says otherwise (see ZstdEncoderOptions).
 */
export function createCompressStream(
  level: number,
  options: ZstdEncoderOptions & Pick<TransformOptions, "highWaterMark"> = {},
): Transform {
  return new ZstdCompressTransform(level, options);
}

/**
 * One zstd decompression context for a caller that consumes output synchronously and so can
 * decompress into the same buffer again and again (src/format/line-filter.ts). Writing into fresh
 * buffers costs a page fault per 4 KiB of output: decompressing a 268 MB NDJSON file into a new
 * 128 KiB buffer per call took ~2× the time of decompressing into one reused buffer (measured,
 * issue 14). Several concatenated frames decompress to the concatenation of their contents.
 */
export class ZstdDecoder {
  readonly #dctx = new binding.DCtx();
  #inFrame = false;

  /**
   * `verifyChecksum: false` skips the XXH64 content checksum at the end of each frame
   * (ZSTD_d_forceIgnoreChecksum): for a caller that checks a stronger digest of the compressed
   * bytes anyway (extract checks every object's sha256 against the manifest). It was ~6 % of the
   * decompression's CPU on a 268 MB NDJSON file (measured, issue 14). Corruption that breaks the
   * zstd structure still fails here.
   */
  constructor(options: { verifyChecksum?: boolean | undefined } = {}) {
    if (options.verifyChecksum === false) this.#dctx.setParameter(D_FORCE_IGNORE_CHECKSUM, 1);
  }

  /** Output size that lets zstd flush a whole block per call (ZSTD_DStreamOutSize, 128 KiB). */
  static readonly outSize = DECOMPRESS_OUT_SIZE;

  /**
   * Decompresses from `src` into `dst` (`ZSTD_decompressStream`): returns the bytes written to
   * `dst` and the bytes read from `src`. When `produced === dst.length` zstd may hold more output
   * even with all input read: call again with more room. Throws on corrupt input.
   */
  decompress(dst: Uint8Array, src: Uint8Array): { produced: number; consumed: number } {
    const [ret, produced, consumed] = this.#dctx.decompressStream(dst, src);
    // Only a call that did something reports on the frame: with no input at a frame boundary
    // zstd returns the size of the next frame header (non-zero) although no frame is open.
    if (produced > 0 || consumed > 0) this.#inFrame = ret !== 0;
    return { produced, consumed };
  }

  /** True while the input read so far ends inside a frame (at end of input: truncated data). */
  get inFrame(): boolean {
    return this.#inFrame;
  }
}

/**
 * A Transform whose work on one chunk can stop midway because push() reported the consumer full:
 * `park` keeps the rest of the chunk and its callback, and `_read` resumes it before anything
 * else (Transform's own `_read` only releases the callback of a finished chunk), so memory stays
 * bounded whatever one chunk expands to. Subclasses implement `run`; a resumed run that pushes
 * nothing must still `push(EMPTY_CHUNK)`, or Readable's `reading` flag is never cleared and the
 * stream waits forever for a `_read` that is never issued.
 */
export abstract class ResumableTransform extends Transform {
  #pending: { src: Buffer; done: TransformCallback } | null = null;

  /** Works on `src` (the chunk, or the parked rest of it when `resumed`); calls `done` or `park`. */
  protected abstract run(src: Buffer, done: TransformCallback, resumed: boolean): void;

  /** Stops the current chunk here: `run(src, done, true)` goes on when the consumer reads. */
  protected park(src: Buffer, done: TransformCallback): void {
    this.#pending = { src, done };
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.run(chunk, done, false);
  }

  override _read(size: number): void {
    const pending = this.#pending;
    if (pending === null) {
      super._read(size);
      return;
    }
    this.#pending = null;
    this.run(pending.src, pending.done, true);
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    this.#pending = null;
    callback(err);
  }
}

class ZstdDecompressTransform extends ResumableTransform {
  readonly #decoder = new ZstdDecoder();
  #out: Buffer = Buffer.allocUnsafe(DECOMPRESS_OUT_SIZE);
  #pos = 0;

  override _flush(done: TransformCallback): void {
    if (this.#decoder.inFrame) {
      done(new Error("zstd: input ended in the middle of a frame (truncated data)"));
      return;
    }
    done();
  }

  /**
   * Decompresses `src` into the output buffer, pushing every full buffer. If push() reports the
   * consumer is full, parks the rest of the chunk (and its callback) until _read() is called, so
   * memory stays bounded whatever the compression ratio.
   */
  protected override run(src: Buffer, done: TransformCallback, resumed: boolean): void {
    let input = src;
    let pushed = false;
    try {
      for (;;) {
        const space = this.#out.length - this.#pos;
        const { produced, consumed } = this.#decoder.decompress(this.#out.subarray(this.#pos), input);
        this.#pos += produced;
        input = input.subarray(consumed);
        const full = produced === space;
        if (full) {
          const more = this.push(this.#takeOutput());
          pushed = true;
          if (!more) {
            // Even with no input left, a full output buffer may mean zstd holds more output.
            this.park(input, done);
            return;
          }
          continue;
        }
        // Output not full: zstd has flushed everything it could from the input given.
        if (input.length === 0) break;
      }
      if (this.#pos > 0) {
        this.push(this.#takeOutput());
        pushed = true;
      }
    } catch (err) {
      done(err as Error);
      return;
    }
    // A resumed chunk that pushed nothing must still clear Readable's `reading` flag, or the
    // Transform could wait forever for a _read() that is never issued.
    if (resumed && !pushed) this.push(EMPTY_CHUNK);
    done();
  }

  /** Hands over the written part of the output buffer, copying when it is small. */
  #takeOutput(): Buffer {
    const pos = this.#pos;
    this.#pos = 0;
    if (pos >= this.#out.length / 2) {
      const out = this.#out.subarray(0, pos);
      this.#out = Buffer.allocUnsafe(DECOMPRESS_OUT_SIZE);
      return out;
    }
    // Copy small results so a queued chunk never pins a whole 128 KiB buffer.
    return Buffer.from(this.#out.subarray(0, pos));
  }
}

/**
 * A Transform decompressing a zstd stream; several concatenated frames (a tenant-framed file)
 * decompress to the concatenation of their contents. An input ending inside a frame fails with
 * an error at end of stream; corrupt input fails when it is read. Output is produced in 128 KiB
 * pieces and production pauses while the consumer is full (real backpressure, even for a chunk
 * that inflates a thousandfold). The caller owns source and sink (use `pipeline`).
 */
export function createDecompressStream(
  options: Pick<TransformOptions, "highWaterMark" | "readableHighWaterMark"> = {},
): Transform {
  return new ZstdDecompressTransform(options);
}

/**
 * Compresses one buffer into one complete frame (content size recorded in the header). For small
 * in-memory payloads (manifests, tests); stream anything that can be large.
 */
export function compressBuffer(data: Uint8Array, level: number, options: ZstdEncoderOptions = {}): Buffer {
  const encoder = new ZstdFrameEncoder(level, options);
  encoder.endFrame(data);
  const out = encoder.takeOutput();
  return out.length === 1 && out[0] !== undefined ? out[0] : Buffer.concat(out);
}

/**
 * Decompresses a buffer holding one or more complete frames into one buffer. Throws on corrupt or
 * truncated data. For small in-memory payloads; stream anything that can be large.
 */
export function decompressBuffer(data: Uint8Array): Buffer {
  const decoder = new ZstdDecoder();
  const parts: Buffer[] = [];
  const size = Math.max(DECOMPRESS_OUT_SIZE, Math.min(data.length * 4, 1 << 26));
  let out = Buffer.allocUnsafe(size);
  let pos = 0;
  let input = data;
  for (;;) {
    if (out.length - pos < MIN_FREE_SPACE) {
      parts.push(out.subarray(0, pos));
      out = Buffer.allocUnsafe(size);
      pos = 0;
    }
    const space = out.length - pos;
    const { produced, consumed } = decoder.decompress(out.subarray(pos), input);
    pos += produced;
    input = input.subarray(consumed);
    if (input.length === 0 && produced < space) break;
  }
  if (decoder.inFrame) throw new Error("zstd: input ended in the middle of a frame (truncated data)");
  parts.push(out.subarray(0, pos));
  return parts.length === 1 && parts[0] !== undefined ? parts[0] : Buffer.concat(parts);
}
