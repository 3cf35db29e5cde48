/** SHA-256 checksums: the manifest records one per object and one per tenant frame (DESIGN.md). */
import { createHash, type Hash } from "node:crypto";
import { Transform, type TransformCallback, type TransformOptions } from "node:stream";

/** Lower-case hex SHA-256 of `data`. */
export function sha256Hex(data: Uint8Array | string): string {
  return createHash("sha256").update(data).digest("hex");
}

/**
 * Pass-through Transform that hashes (SHA-256) and counts the bytes flowing through it, without
 * copying them. `sha256` is available once the stream has ended (after 'finish' / 'end', or after
 * `pipeline` resolves); `bytes` is live. Backpressure is the Transform's own: it holds no more than
 * its high-water marks. It owns nothing: the caller closes source and sink.
 */
export class DigestStream extends Transform {
  readonly #hash: Hash = createHash("sha256");
  #bytes = 0;
  #sha256: string | undefined;

  constructor(options: Pick<TransformOptions, "highWaterMark"> = {}) {
    super(options);
  }

  /** Bytes seen so far (the total once the stream has ended). */
  get bytes(): number {
    return this.#bytes;
  }

  /** Hex SHA-256 of all bytes seen. Throws if read before the stream has ended. */
  get sha256(): string {
    if (this.#sha256 === undefined) {
      throw new Error("DigestStream.sha256 read before the stream ended");
    }
    return this.#sha256;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.#hash.update(chunk);
    this.#bytes += chunk.length;
    done(null, chunk);
  }

  override _flush(done: TransformCallback): void {
    this.#sha256 = this.#hash.digest("hex");
    done();
  }
}

/** Pass-through Transform that only counts the bytes flowing through it. */
export class ByteCounter extends Transform {
  #bytes = 0;

  /** Bytes seen so far (the total once the stream has ended). */
  get bytes(): number {
    return this.#bytes;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.#bytes += chunk.length;
    done(null, chunk);
  }
}
