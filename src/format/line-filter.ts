import { Transform, type TransformCallback } from "node:stream";

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
