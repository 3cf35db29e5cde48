/**
 * NDJSON rows → PostgreSQL COPY text format, on bytes, so restore can `COPY t (cols) FROM STDIN`
 * straight into the typed table and let Postgres' input functions convert the text (DESIGN.md,
 * Lossless: rows are never JSON.parse'd; Node moves bytes, Postgres converts types).
 *
 * Input: one flat JSON object per `\n`-terminated line, as `row_to_json` prints it. The text of
 * a field is, for a JSON string, its unescaped content (UTF-8); for a number, true or false, the
 * token exactly as written (`9223372036854775807`, `1.50`); for null, SQL NULL; for a nested object
 * or array (our encoder never writes one), its raw JSON text.
 *
 * Output: COPY text format (PostgreSQL docs, COPY, "Text Format"): fields separated by TAB, rows
 * ended by `\n`, NULL as `\N`; in field data backslash, newline, carriage return and tab are
 * written `\\`, `\n`, `\r`, `\t`. Every other byte, control characters included, is written raw,
 * which COPY takes as itself.
 *
 * Decisions:
 * - `\u0000` fails: PostgreSQL text cannot hold NUL, so such a line cannot be a row of ours.
 * - A lone surrogate escape (`\ud800` not followed by a low surrogate, or a stray low one) fails
 *   rather than becoming U+FFFD: row_to_json never writes one (Postgres text is valid UTF-8), the
 *   jsonb staging path it replaces rejects it too, and a silent substitution would break Lossless.
 * - Raw control characters inside a JSON string fail (invalid JSON; jsonb rejects them as well).
 * - A key that appears twice: the last value wins, as with `jsonb ->>` in the staging path.
 * - Raw bytes are copied, not UTF-8-validated: the server validates them on COPY input.
 * - Numbers are checked lexically only (first byte `-` or a digit, then digits, `+-.eE`); the
 *   column's input function rejects a malformed one. Nested values are checked for balanced
 *   brackets only.
 *
 * Speed (restore hot path): a line is checked against the expected column order first, comparing
 * bytes with the precomputed JSON-encoded keys, and its values are written straight to the output
 * as they are met. When the order differs (extra, missing, reordered or duplicated keys) the line
 * is scanned again by the general path, which finds keys by name, remembering the key layout of
 * the previous such line so that lines of one table mostly compare bytes there too; lines then stay
 * on the general path until one has its keys in column order again. (Callers get the fast path by
 * listing the columns in the snapshot's key order: a COPY column list may have any order.) Output
 * goes into 64 KiB slabs, one push per input chunk, so the Transform's own backpressure applies.
 */
import { Transform, type TransformCallback } from "node:stream";
import { IntegrityError } from "../errors.js";

export interface NdjsonToCopyOptions {
  /** Column names in the order of the COPY column list; a key absent from a line gives NULL. */
  columns: readonly string[];
}

/**
 * Where NdjsonCopyLines gets its output slabs (default: a fresh buffer each). `pushed` hears
 * every piece of a slab handed to `push`, `retire` that no more output goes into the slab; a
 * pool may reuse a slab once it is retired and every pushed piece has been consumed.
 */
export interface SlabSource {
  take(min: number): Buffer;
  pushed(piece: Buffer): void;
  retire(slab: Buffer): void;
}

/** Output slab size; a line whose worst case does not fit gets a slab of its own size. */
export const SLAB_SIZE = 64 * 1024;

const TAB = 0x09;
const LF = 0x0a;
const CR = 0x0d;
const QUOTE = 0x22;
const COMMA = 0x2c;
const SLASH = 0x2f;
const COLON = 0x3a;
const LBRACKET = 0x5b;
const BACKSLASH = 0x5c;
const RBRACKET = 0x5d;
const LBRACE = 0x7b;
const RBRACE = 0x7d;

const HINT =
  "the snapshot object is damaged or was not written by pgsnap; run `pgsnap verify` and restore from another snapshot";

/** Bytes a JSON string copies as they are: everything but `"`, `\` and control characters. */
const PLAIN = new Uint8Array(256);
/** JSON whitespace other than `\n` (which ends the line). */
const SPACE = new Uint8Array(256);
/** Bytes allowed in a number token after its first byte. */
const NUMBER = new Uint8Array(256);
/** Hex digit values; 255 = not a hex digit. */
const HEX = new Uint8Array(256).fill(255);
for (let b = 0x20; b < 256; b++) PLAIN[b] = b === QUOTE || b === BACKSLASH ? 0 : 1;
for (const b of [0x20, TAB, CR]) SPACE[b] = 1;
for (const b of Buffer.from("0123456789+-.eE")) NUMBER[b] = 1;
for (let d = 0; d < 10; d++) HEX[0x30 + d] = d;
for (let d = 0; d < 6; d++) {
  HEX[0x41 + d] = 10 + d;
  HEX[0x61 + d] = 10 + d;
}

const TRUE = Buffer.from("true");
const FALSE = Buffer.from("false");
const NULL = Buffer.from("null");

/** A line that is not one of ours; the caller adds the row number. */
class Malformed extends Error {}

/**
 * Transcodes single lines into `out` at `pos`. Every line handed to `line()` must be followed by
 * a `\n` at `src[end]`: scanners stop on that sentinel instead of checking bounds on each byte.
 */
class Transcoder {
  /** Worst case output bytes per line beyond twice its length (TAB + `\N` per column, `\n`). */
  readonly perRow: number;
  out: Buffer = Buffer.alloc(0);
  pos = 0;
  readonly #keys: Buffer[];
  readonly #index = new Map<string, number>();
  /** Slow path: start of the value of each column in the line, -1 when absent. */
  readonly #starts: Int32Array;
  /**
   * Slow path: the keys met at each position of the last line that took it, and their columns
   * (-1: not a column). Lines of one table share a layout, so the next line mostly compares bytes
   * instead of decoding keys and looking them up.
   */
  readonly #layout: { key: Buffer; col: number }[] = [];
  /** Whether the last line had its keys in column order, so the fast path is worth trying. */
  #tryInOrder = true;
  #lineStart = 0;

  constructor(columns: readonly string[]) {
    this.#keys = columns.map((c) => Buffer.from(JSON.stringify(c)));
    columns.forEach((c, i) => {
      if (this.#index.has(c)) throw new RangeError(`column ${JSON.stringify(c)} is listed twice`);
      this.#index.set(c, i);
    });
    this.#starts = new Int32Array(columns.length);
    this.perRow = 3 * columns.length + 1;
  }

  /** Writes the COPY row of `src[start, end)` and its `\n`; room for `2 * length + perRow` is the caller's. */
  line(src: Buffer, start: number, end: number): void {
    this.#lineStart = start;
    if (this.#tryInOrder) {
      const rowStart = this.pos;
      if (this.#inOrder(src, start, end)) return;
      this.pos = rowStart;
    }
    this.#tryInOrder = this.#anyOrder(src, start, end);
  }

  #fail(message: string, at: number): never {
    throw new Malformed(`${message} at byte ${at - this.#lineStart + 1}`);
  }

  /** Fast path: keys exactly in column order, nothing else. False (output undone) otherwise. */
  #inOrder(src: Buffer, start: number, end: number): boolean {
    const keys = this.#keys;
    const n = keys.length;
    let i = start;
    while (SPACE[src[i]!] === 1) i++;
    if (src[i] !== LBRACE) this.#fail("not a JSON object", i);
    i++;
    for (let c = 0; c < n; c++) {
      while (SPACE[src[i]!] === 1) i++;
      const key = keys[c]!;
      if (!matchesAt(src, i, key)) return false;
      i += key.length;
      while (SPACE[src[i]!] === 1) i++;
      if (src[i] !== COLON) return false;
      i++;
      while (SPACE[src[i]!] === 1) i++;
      if (c > 0) this.out[this.pos++] = TAB;
      i = this.#value(src, i, end);
      while (SPACE[src[i]!] === 1) i++;
      const d = src[i];
      if (c < n - 1) {
        if (d !== COMMA) return false;
        i++;
      } else {
        if (d !== RBRACE) return false;
        i++;
        while (SPACE[src[i]!] === 1) i++;
        if (i !== end) return false;
        this.out[this.pos++] = LF;
        return true;
      }
    }
    return false; // no columns: let the general path check the object
  }

  /**
   * General path: any key order, unknown keys skipped, missing keys NULL, duplicates last wins.
   * Returns whether the keys were exactly the columns in order after all.
   */
  #anyOrder(src: Buffer, start: number, end: number): boolean {
    const starts = this.#starts;
    const n = this.#keys.length;
    starts.fill(-1);
    let i = start;
    while (SPACE[src[i]!] === 1) i++;
    if (src[i] !== LBRACE) this.#fail("not a JSON object", i);
    i++;
    while (SPACE[src[i]!] === 1) i++;
    const layout = this.#layout;
    let p = 0; // position of the key in the line
    let ordered = true;
    if (src[i] === RBRACE) {
      i++;
    } else {
      for (;;) {
        if (src[i] !== QUOTE) this.#fail("expected a key", i);
        let col: number;
        const known = layout[p];
        if (known !== undefined && matchesAt(src, i, known.key)) {
          col = known.col;
          i += known.key.length;
        } else {
          const keyEnd = this.#skipString(src, i, end);
          col = this.#lookup(src, i, keyEnd);
          if (p < n + 64) layout[p] = { key: Buffer.from(src.subarray(i, keyEnd)), col }; // bounded memory
          i = keyEnd;
        }
        if (col !== p) ordered = false;
        p++;
        while (SPACE[src[i]!] === 1) i++;
        if (src[i] !== COLON) this.#fail("expected ':' after a key", i);
        i++;
        while (SPACE[src[i]!] === 1) i++;
        if (col >= 0) starts[col] = i;
        // Validate (and skip) the value by writing it, then take the bytes back.
        const mark = this.pos;
        i = this.#value(src, i, end);
        this.pos = mark;
        while (SPACE[src[i]!] === 1) i++;
        const d = src[i];
        if (d === COMMA) {
          i++;
          while (SPACE[src[i]!] === 1) i++;
        } else if (d === RBRACE) {
          i++;
          break;
        } else {
          this.#fail(i >= end ? "line ends inside the object (truncated)" : "expected ',' or '}'", i);
        }
      }
    }
    while (SPACE[src[i]!] === 1) i++;
    if (i !== end) this.#fail("unexpected text after the object", i);
    for (let c = 0; c < n; c++) {
      if (c > 0) this.out[this.pos++] = TAB;
      const at = starts[c]!;
      if (at < 0) {
        this.out[this.pos++] = BACKSLASH;
        this.out[this.pos++] = 0x4e; // N
      } else {
        this.#value(src, at, end);
      }
    }
    this.out[this.pos++] = LF;
    return ordered && p === n;
  }

  /** Column index of the key `src[from, to)` (a JSON string token), -1 if not a column. */
  #lookup(src: Buffer, from: number, to: number): number {
    let escaped = false;
    for (let j = from + 1; j < to; j++) if (src[j] === BACKSLASH) escaped = true;
    let name: string;
    if (!escaped) {
      name = src.toString("utf8", from + 1, to - 1);
    } else {
      // A key with escapes (rare: our keys are column names). JSON.parse of this one string token
      // decodes it exactly; no row value is ever parsed.
      try {
        name = JSON.parse(src.toString("utf8", from, to)) as string;
      } catch {
        this.#fail("invalid key", from);
      }
    }
    return this.#index.get(name) ?? -1;
  }

  /** Index just past the JSON string token starting at the quote at `i`. */
  #skipString(src: Buffer, i: number, end: number): number {
    for (let j = i + 1; j < end; j++) {
      const c = src[j]!;
      if (c === QUOTE) return j + 1;
      if (c === BACKSLASH) j++;
    }
    return this.#fail("line ends inside a string (truncated)", end);
  }

  /** Writes the field text of the value at `i`; returns the index just past it. */
  #value(src: Buffer, i: number, end: number): number {
    const c = src[i]!;
    if (c === QUOTE) return this.#string(src, i + 1, end);
    if ((c >= 0x30 && c <= 0x39) || c === 0x2d) {
      const out = this.out;
      let pos = this.pos;
      out[pos++] = c;
      let j = i + 1;
      for (let d = src[j]!; NUMBER[d] === 1; d = src[++j]!) out[pos++] = d;
      this.pos = pos;
      return j;
    }
    if (c === 0x6e) {
      this.#literal(src, i, NULL);
      this.out[this.pos++] = BACKSLASH;
      this.out[this.pos++] = 0x4e; // N
      return i + 4;
    }
    if (c === 0x74) return this.#copyLiteral(src, i, TRUE);
    if (c === 0x66) return this.#copyLiteral(src, i, FALSE);
    if (c === LBRACE || c === LBRACKET) return this.#nested(src, i, end);
    return this.#fail(i >= end ? "line ends where a value was expected (truncated)" : "expected a value", i);
  }

  #literal(src: Buffer, i: number, word: Buffer): void {
    for (let k = 1; k < word.length; k++) if (src[i + k] !== word[k]) this.#fail("invalid literal", i);
  }

  #copyLiteral(src: Buffer, i: number, word: Buffer): number {
    this.#literal(src, i, word);
    this.pos += word.copy(this.out, this.pos);
    return i + word.length;
  }

  /** Writes the unescaped, COPY-escaped content of the string starting after its quote at `j`. */
  #string(src: Buffer, j: number, end: number): number {
    const out = this.out;
    let pos = this.pos;
    for (;;) {
      let c = src[j]!;
      // Plain bytes (raw UTF-8 included) are copied as they are: the common case.
      while (PLAIN[c] === 1) {
        out[pos++] = c;
        c = src[++j]!;
      }
      if (c === QUOTE) {
        this.pos = pos;
        return j + 1;
      }
      if (c !== BACKSLASH) {
        this.pos = pos;
        return this.#fail(j >= end ? "line ends inside a string (truncated)" : "raw control character in a string", j);
      }
      const e = src[j + 1]!; // defined: at most the line's `\n` sentinel
      switch (e) {
        case QUOTE:
        case SLASH:
          out[pos++] = e;
          j += 2;
          break;
        case BACKSLASH:
          out[pos++] = BACKSLASH;
          out[pos++] = BACKSLASH;
          j += 2;
          break;
        case 0x6e: // n
        case 0x72: // r
        case 0x74: // t
          out[pos++] = BACKSLASH;
          out[pos++] = e;
          j += 2;
          break;
        case 0x62: // b
          out[pos++] = 0x08;
          j += 2;
          break;
        case 0x66: // f
          out[pos++] = 0x0c;
          j += 2;
          break;
        case 0x75: {
          // u
          let cp = this.#hex4(src, j + 2, end);
          j += 6;
          if (cp >= 0xd800 && cp <= 0xdfff) {
            const low = cp <= 0xdbff && src[j] === BACKSLASH && src[j + 1] === 0x75 ? this.#hex4(src, j + 2, end) : -1;
            if (low < 0xdc00 || low > 0xdfff) {
              this.pos = pos;
              return this.#fail("lone surrogate escape in a string", j - 6);
            }
            cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
            j += 6;
          }
          if (cp < 0x80) {
            if (cp === 0) {
              this.pos = pos;
              return this.#fail("\\u0000 in a string (PostgreSQL text cannot hold NUL)", j - 6);
            }
            if (cp === BACKSLASH) {
              out[pos++] = BACKSLASH;
              out[pos++] = BACKSLASH;
            } else if (cp === LF) {
              out[pos++] = BACKSLASH;
              out[pos++] = 0x6e;
            } else if (cp === CR) {
              out[pos++] = BACKSLASH;
              out[pos++] = 0x72;
            } else if (cp === TAB) {
              out[pos++] = BACKSLASH;
              out[pos++] = 0x74;
            } else {
              out[pos++] = cp;
            }
          } else if (cp < 0x800) {
            out[pos++] = 0xc0 | (cp >> 6);
            out[pos++] = 0x80 | (cp & 0x3f);
          } else if (cp < 0x10000) {
            out[pos++] = 0xe0 | (cp >> 12);
            out[pos++] = 0x80 | ((cp >> 6) & 0x3f);
            out[pos++] = 0x80 | (cp & 0x3f);
          } else {
            out[pos++] = 0xf0 | (cp >> 18);
            out[pos++] = 0x80 | ((cp >> 12) & 0x3f);
            out[pos++] = 0x80 | ((cp >> 6) & 0x3f);
            out[pos++] = 0x80 | (cp & 0x3f);
          }
          break;
        }
        default:
          this.pos = pos;
          return this.#fail(j + 1 >= end ? "line ends inside a string (truncated)" : "invalid escape in a string", j);
      }
    }
  }

  /** The value of the four hex digits at `j`. */
  #hex4(src: Buffer, j: number, end: number): number {
    if (j + 4 > end) this.#fail("line ends inside a \\u escape (truncated)", j);
    const a = HEX[src[j]!]!;
    const b = HEX[src[j + 1]!]!;
    const c = HEX[src[j + 2]!]!;
    const d = HEX[src[j + 3]!]!;
    if ((a | b | c | d) === 255) this.#fail("invalid \\u escape", j - 2); // 255 has every bit set
    return (a << 12) | (b << 8) | (c << 4) | d;
  }

  /**
   * Writes a nested object or array as its raw JSON text, COPY-escaped (its string escapes keep
   * their backslashes, doubled for COPY). Only bracket balance is checked.
   */
  #nested(src: Buffer, i: number, end: number): number {
    const out = this.out;
    let pos = this.pos;
    let depth = 0;
    let inString = false;
    for (let j = i; j < end; j++) {
      const c = src[j]!;
      if (inString) {
        if (c === QUOTE) inString = false;
        else if (c === BACKSLASH && j + 1 < end) {
          // The escaped byte is copied with the backslash so `\"` does not end the string.
          out[pos++] = BACKSLASH;
          out[pos++] = BACKSLASH;
          j++;
          pos = writeCopyByte(out, pos, src[j]!);
          continue;
        }
      } else if (c === QUOTE) {
        inString = true;
      } else if (c === LBRACE || c === LBRACKET) {
        depth++;
      } else if (c === RBRACE || c === RBRACKET) {
        depth--;
      }
      pos = writeCopyByte(out, pos, c);
      if (depth === 0) {
        this.pos = pos;
        return j + 1;
      }
    }
    this.pos = pos;
    return this.#fail("line ends inside a nested value (truncated)", end);
  }
}

/**
 * Whether `src` holds `key` (a whole JSON string token) at `i`. Never reads past the line's `\n`
 * sentinel: a key token holds no raw `\n`, so the comparison stops there at the latest.
 */
function matchesAt(src: Buffer, i: number, key: Buffer): boolean {
  const length = key.length;
  for (let k = 0; k < length; k++) if (src[i + k] !== key[k]) return false;
  return true;
}

/** Writes one byte of raw text as COPY text field data. */
function writeCopyByte(out: Buffer, pos: number, c: number): number {
  switch (c) {
    case BACKSLASH:
      out[pos++] = BACKSLASH;
      out[pos++] = BACKSLASH;
      return pos;
    case LF:
      out[pos++] = BACKSLASH;
      out[pos++] = 0x6e;
      return pos;
    case CR:
      out[pos++] = BACKSLASH;
      out[pos++] = 0x72;
      return pos;
    case TAB:
      out[pos++] = BACKSLASH;
      out[pos++] = 0x74;
      return pos;
    default:
      out[pos++] = c;
      return pos;
  }
}

function malformed(err: unknown, row: number): unknown {
  if (!(err instanceof Malformed)) return err;
  return new IntegrityError("NDJSON_MALFORMED", `NDJSON row ${row} is malformed: ${err.message}`, { hint: HINT });
}

/**
 * Transform: NDJSON bytes in (lines may be split anywhere across chunks), COPY text bytes out.
 * Counts rows. Keys of a line not in `columns` are ignored. A line that is not a JSON object, or is
 * truncated, fails the stream with IntegrityError `NDJSON_MALFORMED` naming the row number; so
 * does a final line without its `\n`. Empty input gives empty output. One push per input chunk
 * (output of one chunk at most is held), so backpressure is the Transform's own. It owns nothing:
 * the caller closes source and sink; on destroy or abort nothing is left to release.
 */
export class NdjsonToCopy extends Transform {
  readonly #lines: NdjsonCopyLines;

  constructor(options: NdjsonToCopyOptions) {
    super();
    this.#lines = new NdjsonCopyLines(options.columns);
  }

  /** Rows transcoded so far; final once the stream has ended. */
  get rows(): number {
    return this.#lines.rows;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    try {
      this.#lines.consume(chunk, (out) => this.push(out));
    } catch (err) {
      done(err as Error);
      return;
    }
    done();
  }

  override _flush(done: TransformCallback): void {
    try {
      this.#lines.end();
    } catch (err) {
      done(err as Error);
      return;
    }
    done();
  }
}

/**
 * The transcoder behind NdjsonToCopy, without stream semantics: NDJSON bytes in through
 * `consume` (lines split anywhere across chunks), COPY text out through its `push` callback, at
 * most one push per call. A chunk may be reused by the caller once `consume` returns: the piece
 * of an unfinished line is copied. Output is pushed per filled 64 KiB slab and once at the end
 * of each call. Errors are IntegrityError `NDJSON_MALFORMED` naming the row.
 */
export class NdjsonCopyLines {
  readonly #t: Transcoder;
  #rows = 0;
  /** Pieces of a line that is not complete yet (copies). */
  #pending: Buffer[] = [];
  #pendingLength = 0;
  /** Start in `#t.out` of output not pushed yet. */
  #segment = 0;
  /** What the last push returned (true before any). */
  #more = true;

  readonly #slabs: SlabSource | undefined;

  constructor(columns: readonly string[], slabs?: SlabSource) {
    this.#t = new Transcoder(columns);
    this.#slabs = slabs;
  }

  /** Rows transcoded so far. */
  get rows(): number {
    return this.#rows;
  }

  /** Transcodes the complete lines of `chunk`; returns what the last push returned (true when none). */
  consume(chunk: Buffer, push: (out: Buffer) => boolean): boolean {
    this.#more = true;
    try {
      this.#consume(chunk, push);
    } catch (err) {
      throw malformed(err, this.#rows + 1);
    }
    return this.#more;
  }

  /** Throws when the input ended inside a line. */
  end(): void {
    if (this.#pendingLength > 0) {
      throw new IntegrityError(
        "NDJSON_MALFORMED",
        `NDJSON row ${this.#rows + 1} is truncated: the input ends without its final newline`,
        { hint: HINT },
      );
    }
  }

  #consume(chunk: Buffer, push: (out: Buffer) => boolean): void {
    let start = 0;
    if (this.#pendingLength > 0) {
      const lf = chunk.indexOf(LF);
      if (lf < 0) {
        this.#pending.push(Buffer.from(chunk));
        this.#pendingLength += chunk.length;
        return;
      }
      // The joined line keeps its `\n`: the scanners' sentinel.
      this.#pending.push(chunk.subarray(0, lf + 1));
      const line = Buffer.concat(this.#pending, this.#pendingLength + lf + 1);
      this.#pending = [];
      this.#pendingLength = 0;
      this.#line(line, 0, line.length - 1, push);
      start = lf + 1;
    }
    for (let lf = chunk.indexOf(LF, start); lf >= 0; lf = chunk.indexOf(LF, start)) {
      this.#line(chunk, start, lf, push);
      start = lf + 1;
    }
    if (start < chunk.length) {
      // A copy: the tail neither pins the whole chunk nor changes when the caller reuses it.
      const tail = Buffer.from(chunk.subarray(start));
      this.#pending.push(tail);
      this.#pendingLength = tail.length;
    }
    this.#pushOutput(push);
  }

  #line(src: Buffer, start: number, end: number, push: (out: Buffer) => boolean): void {
    const t = this.#t;
    const need = 2 * (end - start) + t.perRow;
    if (t.out.length - t.pos < need) {
      this.#pushOutput(push);
      const slabs = this.#slabs;
      if (slabs && t.out.length > 0) slabs.retire(t.out);
      t.out = slabs ? slabs.take(need) : Buffer.allocUnsafe(Math.max(SLAB_SIZE, need));
      t.pos = 0;
      this.#segment = 0;
    }
    t.line(src, start, end);
    // Typed-array writes past the end are dropped silently: never let that go unnoticed.
    if (t.pos > t.out.length) throw new Error(`NdjsonToCopy: output bound exceeded on row ${this.#rows + 1}`);
    this.#rows++;
  }

  #pushOutput(push: (out: Buffer) => boolean): void {
    const t = this.#t;
    if (t.pos > this.#segment) {
      // Pushed bytes are never written again: later output goes after them or into a new slab
      // (a pool reuses a slab only once every piece pushed from it has been consumed).
      const piece = t.out.subarray(this.#segment, t.pos);
      this.#slabs?.pushed(piece);
      this.#more = push(piece);
      this.#segment = t.pos;
    }
  }
}

/** Convenience for tests: transcode one line (without its \n) to one COPY text line (without \n). */
export function transcodeLine(line: Buffer, columns: readonly string[]): Buffer {
  const t = new Transcoder(columns);
  const src = Buffer.allocUnsafe(line.length + 1);
  line.copy(src);
  src[line.length] = LF;
  t.out = Buffer.allocUnsafe(2 * line.length + t.perRow);
  try {
    t.line(src, 0, line.length);
  } catch (err) {
    throw malformed(err, 1);
  }
  if (t.pos > t.out.length) throw new Error("transcodeLine: output bound exceeded");
  return t.out.subarray(0, t.pos - 1);
}
