/**
 * Tenant framing for `tenants` snapshots (DESIGN.md, Snapshot format): one pass over a table
 * ordered by tenant becomes one zstd file in which every tenant's rows are exactly one complete
 * zstd frame. `zstd -dc file` still yields plain NDJSON (concatenated frames decompress to the
 * concatenation of their contents), and one tenant is restored by reading only its byte range.
 *
 * Input lines are `<tenantKeyJson>\x02<rowJson>\n`: the tenant key as `to_json(key)::text`, then
 * the row (COPY ... WITH (FORMAT csv, QUOTE E'\x01', DELIMITER E'\x02'); see NOTES.md). JSON text
 * never contains a raw \x02 or \n, so both are unambiguous separators. The key and its \x02 are
 * stripped; each frame holds only `<rowJson>\n` lines.
 */
import { createHash, type Hash } from "node:crypto";
import { Transform, type TransformCallback } from "node:stream";
import { IntegrityError } from "../errors.js";
import { ZstdFrameEncoder, createCompressStream, type ZstdEncoderOptions } from "./zstd.js";

/** The index entry of one tenant's frame, as recorded in the manifest. */
export interface TenantFrame {
  /** The tenant key's JSON text exactly as received (e.g. `42`, `"acme"`, `"a\"b"`). */
  key: string;
  /** Byte offset of the frame in the compressed output. */
  offset: number;
  /** Compressed length of the frame in bytes. */
  length: number;
  /** Rows (lines) in the frame. */
  rows: number;
  /** Uncompressed bytes in the frame (the `<rowJson>\n` lines). */
  bytes: number;
  /** Lower-case hex SHA-256 of the compressed frame bytes `[offset, offset + length)`. */
  sha256: string;
}

export interface TenantFrameStreamOptions extends ZstdEncoderOptions {
  /** zstd level, 1–19 (validated by the caller; a bad level throws RangeError here). */
  level: number;
  /**
   * Called once per tenant when its frame is complete in the compressor, in input order. The
   * frame's bytes may not have reached the sink yet: treat the index as valid only once the
   * whole pipeline has finished. An exception thrown here fails the stream.
   */
  onFrame?: ((frame: TenantFrame) => void) | undefined;
  /** Keep every frame in `.frames` (default true; pass false when `onFrame` stores them). */
  collectFrames?: boolean | undefined;
  /** Readable-side high-water mark in bytes. */
  highWaterMark?: number | undefined;
  /**
   * The input's shape: `"keyed-lines"` (default), `<tenantKeyJson>\x02<rowJson>\n` per row; or
   * `"group-records"`, CopyToNdjson's `groupRecords` output: `\x02K<tenantKeyJson>\n`, that
   * tenant's `<rowJson>\n` lines, `\x02E<rows>\n`, and so on. Row bytes between records are
   * handed to zstd a span at a time, never parsed line by line.
   */
  input?: "keyed-lines" | "group-records" | undefined;
}

const SEP = 0x02;
const LF = 0x0a;
/**
 * Row bytes are gathered into a buffer of this size before each call into zstd. A tenant whose
 * rows fit is compressed in one shot (ZSTD_e_end as the first call), with parameters sized to the
 * frame: for the 1M-row bench table's 1,000 frames of ~268 KB, 1.15-1.26 s of CPU instead of
 * 1.41-1.48 s with a 128 KiB stage (bench/encode.ts --framed, min of 4 rounds, two runs each,
 * quiet machine), whose pieces went through zstd's worker with a large-stream setup per frame
 * while the main thread waited at each frame's end. Output is 1.6 % larger (54.14 vs 53.30 MB).
 */
const STAGE_SIZE = 1024 * 1024;
/** A tenant key longer than this is malformed input (Postgres keys are far shorter). */
const MAX_KEY_BYTES = 64 * 1024;

interface OpenFrame {
  /** The key bytes followed by \x02: the exact prefix of every line of this tenant. */
  prefix: Buffer;
  offset: number;
  length: number;
  rows: number;
  bytes: number;
  hash: Hash;
}

/**
 * A Transform from tenant-keyed lines to a zstd stream with one frame per tenant, indexing every
 * frame (see TenantFrame). Chunk boundaries may fall anywhere, even inside a key.
 *
 * Memory stays flat: rows are streamed through one reused compression context (a frame is closed
 * with ZSTD_e_end, and the next write opens a new frame), never buffered per tenant; only a Set
 * of the keys already closed (to detect input that is not grouped) and the collected index grow
 * with the number of tenants. Output per input chunk is bounded, so the Transform's own
 * backpressure holds.
 *
 * Errors (the stream fails with an IntegrityError): a key seen again after another key
 * (TENANT_NOT_GROUPED), a line without \x02 or with an empty key (TENANT_LINE_MALFORMED), input
 * ending inside a line (TENANT_INPUT_TRUNCATED).
 *
 * An empty input gives zero frames and one empty zstd frame as output (not indexed), because a
 * zero-byte file is not valid zstd. The caller owns source and sink (use `pipeline`); on destroy
 * nothing is flushed.
 */
export class TenantFrameStream extends Transform {
  /** Every frame in input order (empty if `collectFrames` is false). Complete after the end. */
  readonly frames: TenantFrame[] = [];

  readonly #encoder: ZstdFrameEncoder;
  readonly #onFrame: ((frame: TenantFrame) => void) | undefined;
  readonly #collect: boolean;
  readonly #records: boolean;
  /** group-records: inside a record (after its \x02, before its \n); its bytes so far. */
  #inRecord = false;
  #recordParts: Buffer[] = [];
  #recordLength = 0;
  /** Keys (as latin1 strings: one char per byte, so distinct bytes stay distinct) already closed. */
  readonly #closed = new Set<string>();
  #frame: OpenFrame | null = null;
  /** True between a line's start and its \x02; #keyParts holds a key split across chunks. */
  #inKey = true;
  #keyParts: Buffer[] = [];
  #keyLength = 0;
  readonly #stage = Buffer.allocUnsafe(STAGE_SIZE);
  #stageLength = 0;
  /** Compressed bytes produced so far: the offset of the next frame. */
  #offset = 0;
  #frameCount = 0;
  #rows = 0;
  #bytes = 0;
  #outputBytes = 0;
  readonly #onOutput = (bytes: Buffer): void => {
    // Frames are ended before the next starts, so every output byte belongs to the open frame.
    const frame = this.#frame;
    if (frame === null) return;
    frame.hash.update(bytes);
    frame.length += bytes.length;
  };

  constructor(options: TenantFrameStreamOptions) {
    super({ highWaterMark: options.highWaterMark });
    this.#encoder = new ZstdFrameEncoder(options.level, { ...options, workers: options.workers ?? 1 });
    this.#onFrame = options.onFrame;
    this.#collect = options.collectFrames !== false;
    this.#records = options.input === "group-records";
  }

  /** Frames closed so far. */
  get frameCount(): number {
    return this.#frameCount;
  }

  /** Rows in closed and open frames so far. */
  get rows(): number {
    return this.#rows;
  }

  /** Uncompressed row bytes so far (keys and \x02 excluded). */
  get bytes(): number {
    return this.#bytes;
  }

  /** Compressed bytes pushed so far (the output size once the stream has ended). */
  get compressedBytes(): number {
    return this.#outputBytes;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    try {
      if (this.#records) this.#parseRecords(chunk);
      else this.#parse(chunk);
      this.#pushOutput();
    } catch (err) {
      done(err as Error);
      return;
    }
    done();
  }

  override _flush(done: TransformCallback): void {
    try {
      if (this.#records && (this.#inRecord || this.#frame !== null)) {
        throw new IntegrityError(
          "TENANT_INPUT_TRUNCATED",
          `tenant-grouped input ended inside the rows of a tenant (no end record after row ${this.#rows})`,
          { hint: "the COPY output was cut short; run the dump again" },
        );
      }
      if (!this.#inKey || this.#keyLength > 0) {
        throw new IntegrityError(
          "TENANT_INPUT_TRUNCATED",
          `tenant-keyed input ended inside line ${this.#rows + 1} (no final newline)`,
          { hint: "the COPY output was cut short; run the dump again" },
        );
      }
      if (this.#frame !== null) {
        this.#closeFrame();
      } else if (this.#frameCount === 0) {
        this.#encoder.endFrame(); // an empty but valid zstd stream; not a tenant frame
      }
      this.#pushOutput();
    } catch (err) {
      done(err as Error);
      return;
    }
    done();
  }

  #pushOutput(): void {
    for (const out of this.#encoder.takeOutput()) {
      this.#outputBytes += out.length;
      this.push(out);
    }
  }

  #parse(chunk: Buffer): void {
    const end = chunk.length;
    let pos = 0;
    while (pos < end) {
      if (this.#inKey) {
        const frame = this.#frame;
        // Fast path: the line starts with the open tenant's `key\x02` (keys contain no \x02, so
        // matching the whole prefix means the key is exactly the same).
        if (
          frame !== null &&
          this.#keyLength === 0 &&
          end - pos >= frame.prefix.length &&
          chunk.compare(frame.prefix, 0, frame.prefix.length, pos, pos + frame.prefix.length) === 0
        ) {
          pos += frame.prefix.length;
          this.#inKey = false;
        } else {
          const sep = chunk.indexOf(SEP, pos);
          if (sep === -1) {
            this.#addKeyPart(chunk.subarray(pos));
            return;
          }
          this.#addKeyPart(chunk.subarray(pos, sep));
          this.#endKey();
          pos = sep + 1;
          this.#inKey = false;
        }
      }
      const lf = chunk.indexOf(LF, pos);
      const rowEnd = lf === -1 ? end : lf + 1;
      this.#stageRow(chunk, pos, rowEnd);
      pos = rowEnd;
      if (lf !== -1) {
        this.#inKey = true;
        this.#rows++;
        (this.#frame as OpenFrame).rows++;
      }
    }
  }

  /** group-records input: row spans go to the open frame, records open and close frames. */
  #parseRecords(chunk: Buffer): void {
    const end = chunk.length;
    let pos = 0;
    while (pos < end) {
      if (this.#inRecord) {
        const lf = chunk.indexOf(LF, pos);
        const part = chunk.subarray(pos, lf === -1 ? end : lf);
        this.#recordLength += part.length;
        if (this.#recordLength > MAX_KEY_BYTES) this.#badRecord("is too long");
        if (part.length > 0) this.#recordParts.push(Buffer.from(part));
        if (lf === -1) return;
        const record =
          this.#recordParts.length === 1 ? this.#recordParts[0]! : Buffer.concat(this.#recordParts, this.#recordLength);
        this.#recordParts = [];
        this.#recordLength = 0;
        this.#inRecord = false;
        this.#record(record);
        pos = lf + 1;
        continue;
      }
      const sep = chunk.indexOf(SEP, pos);
      const dataEnd = sep === -1 ? end : sep;
      if (dataEnd > pos) {
        if (this.#frame === null) this.#badRecord("is missing: rows come before any tenant's start record");
        this.#stageRow(chunk, pos, dataEnd);
      }
      if (sep === -1) return;
      this.#inRecord = true;
      pos = sep + 1;
    }
  }

  /** One record without its \x02 and \n: `K<keyJson>` opens a frame, `E<rows>` closes it. */
  #record(record: Buffer): void {
    const type = record[0];
    if (type === 0x4b /* K */) {
      if (this.#frame !== null) this.#badRecord("starts a tenant before the previous one ended");
      this.#keyParts = [record.subarray(1)];
      this.#keyLength = record.length - 1;
      this.#endKey();
      return;
    }
    if (type === 0x45 /* E */) {
      const frame = this.#frame;
      const text = record.toString("latin1", 1);
      if (frame === null || !/^\d+$/.test(text)) this.#badRecord("ends no tenant or has no row count");
      frame.rows = Number(text);
      this.#rows += frame.rows;
      this.#closeFrame();
      return;
    }
    this.#badRecord("has an unknown type");
  }

  #badRecord(what: string): never {
    throw new IntegrityError(
      "TENANT_LINE_MALFORMED",
      `tenant-grouped input after row ${this.#rows}: a record ${what}`,
      {
        hint: "the input must be CopyToNdjson's groupRecords output",
      },
    );
  }

  #addKeyPart(part: Buffer): void {
    if (part.indexOf(LF) !== -1) {
      throw new IntegrityError(
        "TENANT_LINE_MALFORMED",
        `tenant-keyed input line ${this.#rows + 1} has no \\x02 between key and row`,
        { hint: "the COPY must emit `<tenant key json>\\x02<row json>` per line" },
      );
    }
    this.#keyLength += part.length;
    if (this.#keyLength > MAX_KEY_BYTES) {
      throw new IntegrityError(
        "TENANT_LINE_MALFORMED",
        `tenant key on line ${this.#rows + 1} is longer than ${MAX_KEY_BYTES} bytes`,
        { hint: "the COPY must emit `<tenant key json>\\x02<row json>` per line" },
      );
    }
    // Copy: the chunk may be reused by its producer after this call.
    if (part.length > 0) this.#keyParts.push(Buffer.from(part));
  }

  /** A complete key has been read into #keyParts: continue its frame or start a new one. */
  #endKey(): void {
    const key = this.#keyParts.length === 1 ? (this.#keyParts[0] as Buffer) : Buffer.concat(this.#keyParts);
    this.#keyParts = [];
    this.#keyLength = 0;
    const frame = this.#frame;
    if (
      frame !== null &&
      key.length === frame.prefix.length - 1 &&
      frame.prefix.compare(key, 0, key.length, 0, key.length) === 0
    ) {
      return; // same tenant, key was split across chunks
    }
    if (key.length === 0) {
      throw new IntegrityError(
        "TENANT_LINE_MALFORMED",
        `tenant-keyed input line ${this.#rows + 1} has an empty tenant key`,
        { hint: "the tenant key expression must not be NULL or empty" },
      );
    }
    if (frame !== null) this.#closeFrame();
    if (this.#closed.has(key.toString("latin1"))) {
      throw new IntegrityError(
        "TENANT_NOT_GROUPED",
        `tenant ${key.toString("utf8")} appears again on line ${this.#rows + 1} after other tenants: ` +
          "the input is not grouped by tenant",
        {
          hint:
            "order the COPY query by the tenant key; a nondeterministic collation can interleave " +
            "keys that compare equal but print differently",
        },
      );
    }
    const prefix = Buffer.allocUnsafe(key.length + 1);
    key.copy(prefix);
    prefix[key.length] = SEP;
    this.#frame = {
      prefix,
      offset: this.#offset,
      length: 0,
      rows: 0,
      bytes: 0,
      hash: createHash("sha256"),
    };
  }

  /** Appends row bytes chunk[start, end) to the open frame. */
  #stageRow(chunk: Buffer, start: number, end: number): void {
    const n = end - start;
    if (n === 0) return;
    (this.#frame as OpenFrame).bytes += n;
    this.#bytes += n;
    if (n >= STAGE_SIZE) {
      // A large piece goes straight to zstd; no point copying it.
      this.#flushStage();
      this.#encoder.write(chunk.subarray(start, end), this.#onOutput);
      return;
    }
    if (this.#stageLength + n > STAGE_SIZE) this.#flushStage();
    chunk.copy(this.#stage, this.#stageLength, start, end);
    this.#stageLength += n;
  }

  #flushStage(): void {
    if (this.#stageLength === 0) return;
    // zstd consumes (copies or compresses) all input before returning, so the stage is reusable.
    this.#encoder.write(this.#stage.subarray(0, this.#stageLength), this.#onOutput);
    this.#stageLength = 0;
  }

  #closeFrame(): void {
    const frame = this.#frame as OpenFrame;
    // The rest of the frame and ZSTD_e_end in one call: a tenant that fits in the stage is
    // compressed in one shot, with its content size in the frame header.
    this.#encoder.endFrame(this.#stage.subarray(0, this.#stageLength), this.#onOutput);
    this.#stageLength = 0;
    this.#frame = null;
    const keyBytes = frame.prefix.subarray(0, frame.prefix.length - 1);
    this.#closed.add(keyBytes.toString("latin1"));
    const record: TenantFrame = {
      key: keyBytes.toString("utf8"),
      offset: frame.offset,
      length: frame.length,
      rows: frame.rows,
      bytes: frame.bytes,
      sha256: frame.hash.digest("hex"),
    };
    this.#offset += frame.length;
    this.#frameCount++;
    if (this.#collect) this.frames.push(record);
    this.#onFrame?.(record);
  }
}

/** A TenantFrameStream (see there). */
export function createTenantFrameStream(options: TenantFrameStreamOptions): TenantFrameStream {
  return new TenantFrameStream(options);
}

/**
 * The plain variant for tables without tenants (`full` and `tenant` scopes): the whole stream as
 * one zstd frame. Same as createCompressStream; here so dump code picks its framing in one place.
 */
export function createPlainFrameStream(
  options: Pick<TenantFrameStreamOptions, "level" | "checksum" | "highWaterMark">,
): Transform {
  return createCompressStream(options.level, options);
}
