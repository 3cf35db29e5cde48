/**
 * PostgreSQL COPY text format → NDJSON rows, on bytes, so the dump can ask the server for a plain
 * `COPY (SELECT cols FROM t) TO STDOUT` (the type output functions do every conversion, exactly as
 * the `::text` casts of src/db/encode.ts do) instead of building JSON on the server, which made the
 * query ~2.3× slower. Node never parses a value: it re-frames bytes (DESIGN.md, Lossless).
 *
 * Input, as COPY TO writes it (PostgreSQL docs, COPY, "Text Format"): fields separated by TAB,
 * rows ended by `\n`, SQL NULL as the two bytes `\N`; in field data a backslash is written `\\`
 * and backspace, form feed, newline, carriage return, tab and vertical tab as `\b \f \n \r \t \v`;
 * every other byte raw (UTF-8). COPY FROM also accepts `\NNN` (octal), `\xHH` (hex) and `\c` for
 * any other `c`; they are decoded too.
 *
 * Output: per row `{"name1":value1,...}\n`, byte-identical to what
 * `COPY (SELECT row_to_json(x) FROM (SELECT ...) x) TO STDOUT WITH (FORMAT csv, QUOTE E'\x01',
 * DELIMITER E'\x02')` prints (NOTES.md, "COPY and JSON"): keys are `JSON.stringify(name)`, no
 * whitespace; NULL is `null`; strings are escaped as PostgreSQL's escape_json does (`\"`, `\\`,
 * `\b \f \n \r \t`, other bytes below 0x20 as `\u00xx` in lower-case hex, everything else raw);
 * kind "number" is written raw when it is a JSON number and as a string otherwise (`"NaN"`), as
 * datum_to_json does with IsValidJsonNumber; kind "bool" maps `t`/`f` to `true`/`false`. With
 * `tenantKeyFirst` the first field is the tenant key and a line is `<keyJson>\x02<rowJson>\n`,
 * as `to_json(key::text)` would print the key (the input of tenant-frames.ts).
 *
 * Decisions (each is input PostgreSQL's COPY TO never writes):
 * - A NUL byte (raw, `\000` or `\x00`) fails: PostgreSQL text cannot hold one.
 * - `\.` fails: COPY FROM reads it as the end-of-data marker, so accepting it as `.` could hide a
 *   truncated stream.
 * - A backslash just before the `\n` fails: COPY FROM would read it as a data newline, which
 *   makes `\n` ambiguous as a row end; COPY TO always writes `\n` for a data newline.
 * - Bytes are not UTF-8-validated (the server's output is; octal or hex escapes are not checked).
 * - A bool field other than `t` or `f` fails; a NULL tenant key fails.
 *
 * Speed (the dump's hot path): rows are found with indexOf (memchr). A string field is copied 4
 * bytes at a time (DataView words and a SWAR test for a byte that needs care: TAB, `\n`, `\`, `"`,
 * control); a word holding such a byte is written whole and cut at it, `"` is escaped inline and
 * other escapes go through a 256-entry table; words doubled the throughput of a byte-only loop,
 * the cut and the inline quote took ~20 % more off (issue 14; bench/encode.ts). Numbers are checked and copied in one pass; keys are
 * precomputed as words. Output goes into 64 KiB slabs, reserved per row for its plain size and
 * grown only when escapes make it longer, and is pushed once per input chunk, so the Transform's
 * own backpressure applies.
 */
import { Transform, type TransformCallback } from "node:stream";
import { IntegrityError } from "../errors.js";

/** How one column's text becomes a JSON value (mirrors what row_to_json would print for the encodings in src/db/encode.ts). */
export type JsonKind = "number" | "bool" | "string";

export interface CopyToNdjsonOptions {
  /** Column names (JSON keys) and kinds, in the order of the COPY column list. */
  columns: readonly { name: string; kind: JsonKind }[];
  /**
   * When true, the FIRST COPY field is the tenant key (not a column): each output line is
   * `<keyJson>\x02<rowJson>\n` where keyJson is the key's text as a JSON string (e.g. `"42"`), for
   * the tenant-frame encoder downstream. A NULL key is an error.
   */
  tenantKeyFirst?: boolean;
  /**
   * With `tenantKeyFirst`: instead of prefixing every line with its key, write the rows of a run
   * of equal keys as plain `<rowJson>\n` lines between two records, `\x02K<keyJson>\n` before the
   * run and `\x02E<rows>\n` after it (the run's row count in decimal). Rows never contain a raw
   * \x02 (JSON escapes it), so the records are unambiguous, and the tenant framer downstream finds
   * a tenant's boundaries with one search per chunk instead of parsing every line. Keys are
   * compared as the COPY text bytes of the field (equal values print equal text).
   */
  groupRecords?: boolean;
}

const NUL = 0x00;
const TAB = 0x09;
const LF = 0x0a;
const SEP = 0x02;
const QUOTE = 0x22;
const PLUS = 0x2b;
const MINUS = 0x2d;
const DOT = 0x2e;
const ZERO = 0x30;
const ONE = 0x31;
const SEVEN = 0x37;
const NINE = 0x39;
const BACKSLASH = 0x5c;
const UPPER_E = 0x45;
const UPPER_K = 0x4b;
const UPPER_N = 0x4e;
const LOWER_E = 0x65;
const LOWER_F = 0x66;
const LOWER_T = 0x74;
const LOWER_X = 0x78;
const LBRACE = 0x7b;
const RBRACE = 0x7d;

const KIND_STRING = 0;
const KIND_NUMBER = 1;
const KIND_BOOL = 2;

/** Output slab size; a row that does not fit gets a slab of its own size. */
const SLAB_SIZE = 64 * 1024;
/** Longest output of one byte (`\u00xx`). */
const MAX_ESCAPE = 6;

const HINT =
  "the COPY output was cut short or does not match the table's columns; run the dump again, and report a bug if it persists";

/** Bytes copied as they are inside a field: everything but TAB, `\n`, `\`, `"` and other controls. */
const RAW = new Uint8Array(256);
/** Hex digit values; 255 = not a hex digit. */
const HEX = new Uint8Array(256).fill(255);
/** escape_json of each byte: its length (0 = raw) and its bytes at `6 * byte`. */
const ESC_LEN = new Uint8Array(256);
const ESC = new Uint8Array(256 * MAX_ESCAPE);
for (let b = 0x20; b < 256; b++) RAW[b] = b === QUOTE || b === BACKSLASH ? 0 : 1;
for (let d = 0; d < 10; d++) HEX[ZERO + d] = d;
for (let d = 0; d < 6; d++) {
  HEX[0x41 + d] = 10 + d;
  HEX[0x61 + d] = 10 + d;
}
{
  const set = (b: number, text: string): void => {
    ESC_LEN[b] = text.length;
    ESC.set(Buffer.from(text, "latin1"), b * MAX_ESCAPE);
  };
  // PostgreSQL escape_json (src/backend/utils/adt/json.c): `\u%04x` for the other controls.
  for (let b = 0; b < 0x20; b++) set(b, `\\u${b.toString(16).padStart(4, "0")}`);
  set(0x08, "\\b");
  set(0x0c, "\\f");
  set(0x0a, "\\n");
  set(0x0d, "\\r");
  set(0x09, "\\t");
  set(QUOTE, '\\"');
  set(BACKSLASH, "\\\\");
}
/** The single-letter escapes of COPY text: the byte each stands for; 0 = none. */
const LETTER = new Uint8Array(256);
LETTER[0x62] = 0x08; // \b
LETTER[0x66] = 0x0c; // \f
LETTER[0x6e] = 0x0a; // \n
LETTER[0x72] = 0x0d; // \r
LETTER[0x74] = 0x09; // \t
LETTER[0x76] = 0x0b; // \v

const TRUE_JSON = Buffer.from("true");
const FALSE_JSON = Buffer.from("false");
const EMPTY = Buffer.alloc(0);

/** A line that is not COPY text of the expected shape; the caller adds the row number. */
class Malformed extends Error {}

function kindCode(kind: JsonKind, name: string): number {
  switch (kind) {
    case "string":
      return KIND_STRING;
    case "number":
      return KIND_NUMBER;
    case "bool":
      return KIND_BOOL;
    default:
      throw new RangeError(`column ${JSON.stringify(name)} has unknown kind ${JSON.stringify(kind)}`);
  }
}

/** Whether `buf[a, b)` is a JSON number (RFC 8259; PostgreSQL's IsValidJsonNumber). */
function isJsonNumber(buf: Uint8Array, a: number, b: number): boolean {
  let k = a;
  if (k < b && buf[k] === MINUS) k++;
  if (k >= b) return false;
  const first = buf[k]!;
  if (first === ZERO) k++;
  else if (first >= ONE && first <= NINE) {
    k++;
    while (k < b && buf[k]! >= ZERO && buf[k]! <= NINE) k++;
  } else return false;
  if (k < b && buf[k] === DOT) {
    const s = ++k;
    while (k < b && buf[k]! >= ZERO && buf[k]! <= NINE) k++;
    if (k === s) return false;
  }
  if (k < b && (buf[k] === LOWER_E || buf[k] === UPPER_E)) {
    k++;
    if (k < b && (buf[k] === PLUS || buf[k] === MINUS)) k++;
    const s = k;
    while (k < b && buf[k]! >= ZERO && buf[k]! <= NINE) k++;
    if (k === s) return false;
  }
  return k === b;
}

/**
 * The bytes of a little-endian word of 4 input bytes that a JSON string cannot copy as they are:
 * below 0x20 (TAB and `\n` included), `"` or `\`, as a mask with bit 7 of each such byte set
 * (0 = none). The SWAR tests "has a byte less than n" and "has a zero byte" (Sean Anderson, Bit
 * Twiddling Hacks) have no false negatives and only ever flag a byte above a true hit, so the
 * LOWEST flagged byte is always exact (firstFlagged). JS bitwise operators wrap to 32 bits, as the
 * tests need.
 */
function specialMask(v: number): number {
  const q = v ^ 0x22222222;
  const b = v ^ 0x5c5c5c5c;
  return (((v - 0x20202020) & ~v) | ((q - 0x01010101) & ~q) | ((b - 0x01010101) & ~b)) & 0x80808080;
}

/** The index (0–3) of the lowest byte flagged in a non-zero specialMask. */
function firstFlagged(mask: number): number {
  return (31 - Math.clz32(mask & -mask)) >> 3;
}

/**
 * Transcodes single lines into `out` at `pos`. Every line handed to `line()` must be followed by a
 * `\n` at `src[end]`: scanners stop on that sentinel instead of checking bounds on each byte, and
 * read 4-byte words only while the word ends at or before it.
 */
class Transcoder {
  out: Buffer = EMPTY;
  /** `out` seen as a DataView, for word writes. */
  view: DataView = viewOf(EMPTY);
  pos = 0;
  /** Start in `out` of output not yet moved to `ready`. */
  segment = 0;
  /** Finished output waiting to be pushed (filled when a row needs a new slab). */
  ready: Buffer[] = [];
  /**
   * Output bytes of a row beyond its input bytes, escapes aside: keys, `{}` and `\n`, per column
   * at most 4 bytes more than its input (`f` → `false`; quotes; `\N` → `null`), the tenant key's
   * quotes and \x02, and 4 bytes of slack for the last word of a key written whole.
   */
  readonly #fixed: number;
  /** Per column: `"name":` (with a leading `,` after the first), as 4-byte words, zero-padded. */
  readonly #prefixWords: Int32Array[];
  readonly #prefixLengths: Int32Array;
  readonly #names: string[];
  readonly #kinds: Uint8Array;
  readonly #tenant: boolean;
  readonly #groups: boolean;
  /** COPY text bytes of the open group's key (groupRecords), its length, and its rows so far. */
  #groupKey: Buffer = Buffer.alloc(64);
  #groupKeyLength = -1;
  #groupRows = 0;
  /** Decoded bytes of a number or bool field that needs decoding. */
  #scratch: Buffer = Buffer.alloc(256);
  /** Length of the decoded field in `#scratch`. */
  #scratchLength = 0;
  #lineStart = 0;
  /** Start in `out` of the row being written: a new slab takes it along. */
  #rowOut = 0;

  constructor(options: CopyToNdjsonOptions) {
    const columns = options.columns;
    this.#names = columns.map((c) => c.name);
    this.#kinds = Uint8Array.from(columns, (c) => kindCode(c.kind, c.name));
    const prefixes = columns.map((c, k) => Buffer.from(`${k === 0 ? "" : ","}${JSON.stringify(c.name)}:`));
    this.#prefixLengths = Int32Array.from(prefixes, (prefix) => prefix.length);
    this.#prefixWords = prefixes.map((prefix) => {
      const padded = Buffer.alloc(Math.ceil(prefix.length / 4) * 4);
      prefix.copy(padded);
      return Int32Array.from({ length: padded.length / 4 }, (_, j) => padded.readInt32LE(4 * j));
    });
    this.#tenant = options.tenantKeyFirst === true;
    this.#groups = this.#tenant && options.groupRecords === true;
    this.#fixed = prefixes.reduce((n, prefix) => n + prefix.length, 0) + 4 * columns.length + 3 + 3 + 4;
  }

  /** Writes the JSON line of the COPY row `src[start, end)` and its `\n` (`src[end]` is `\n`; `sv` views `src`). */
  line(src: Buffer, sv: DataView, start: number, end: number): void {
    this.#lineStart = start;
    if (this.#groups) {
      this.#groupLine(src, sv, start, end);
      return;
    }
    // Plain rows need no more than this; escapes make room for themselves (#grow).
    const need = end - start + this.#fixed;
    if (this.out.length - this.pos < need) this.#newSlab(need);
    this.#rowOut = this.pos;
    this.#fields(src, sv, start, end);
  }

  /** groupRecords: the row's key decides whether a run of rows ends and a new one starts. */
  #groupLine(src: Buffer, sv: DataView, start: number, end: number): void {
    if (isNull(src, start)) this.#fail("the tenant key is NULL", start);
    let k = start;
    while (src[k] !== TAB && src[k] !== LF) k++;
    const keyLength = k - start;
    let same = keyLength === this.#groupKeyLength;
    if (same) {
      const key = this.#groupKey;
      for (let j = 0; j < keyLength; j++) {
        if (key[j] !== src[start + j]) {
          same = false;
          break;
        }
      }
    }
    // A new run writes an end record, the key (escaped at most 6× its length) and a start record.
    const need = end - start + this.#fixed + (same ? 0 : 6 * keyLength + 40);
    if (this.out.length - this.pos < need) this.#newSlab(need);
    this.#rowOut = this.pos;
    if (!same) {
      this.endGroup();
      if (this.#groupKey.length < keyLength) this.#groupKey = Buffer.allocUnsafe(2 * keyLength);
      src.copy(this.#groupKey, 0, start, k);
      this.#groupKeyLength = keyLength;
      this.out[this.pos++] = SEP;
      this.out[this.pos++] = UPPER_K;
      this.#string(src, sv, start, end);
      this.out[this.pos++] = LF;
      this.#rowOut = this.pos;
    }
    this.#groupRows++;
    const n = this.#kinds.length;
    if (n > 0 && src[k] !== TAB) this.#fail(`the row has 1 field, expected ${n + 1}`, k);
    this.#fields(src, sv, n > 0 ? k + 1 : k, end, false);
  }

  /** groupRecords: writes the end record of the open run, if any (at a row boundary). */
  endGroup(): void {
    if (this.#groupKeyLength < 0) return;
    const record = `\x02E${this.#groupRows}\n`;
    if (this.out.length - this.pos < record.length) this.#newSlab(record.length);
    this.pos += this.out.write(record, this.pos, "latin1");
    this.#groupKeyLength = -1;
    this.#groupRows = 0;
  }

  /** Writes the row's fields from `src[i]` on (the tenant key included unless `withKey` is false) and its `\n`. */
  #fields(src: Buffer, sv: DataView, i: number, end: number, withKey = this.#tenant): void {
    const kinds = this.#kinds;
    const n = kinds.length;
    const fields = n + (this.#tenant ? 1 : 0);

    if (withKey) {
      if (isNull(src, i)) this.#fail("the tenant key is NULL", i);
      i = this.#string(src, sv, i, end);
      if (n > 0) {
        if (src[i] !== TAB) this.#fail(`the row has 1 field, expected ${fields}`, i);
        i++;
      }
      this.out[this.pos++] = SEP;
    }
    this.out[this.pos++] = LBRACE;
    for (let k = 0; k < n; k++) {
      const words = this.#prefixWords[k]!;
      const out = this.out;
      const view = this.view;
      let p = this.pos;
      for (let j = 0; j < words.length; j++) view.setInt32(p + 4 * j, words[j]!, true);
      p += this.#prefixLengths[k]!;
      if (isNull(src, i)) {
        out[p++] = 0x6e; // null
        out[p++] = 0x75;
        out[p++] = 0x6c;
        out[p++] = 0x6c;
        this.pos = p;
        i += 2;
      } else {
        this.pos = p;
        const kind = kinds[k]!;
        if (kind === KIND_STRING) i = this.#string(src, sv, i, end);
        else if (kind === KIND_NUMBER) i = this.#number(src, i, end);
        else i = this.#bool(src, i, k);
      }
      if (k < n - 1) {
        if (src[i] !== TAB) this.#fail(`the row has ${k + 1 + fields - n} fields, expected ${fields}`, i);
        i++;
      }
    }
    if (i !== end) this.#fail(`the row has more than the ${fields} fields expected`, i);
    const out = this.out;
    out[this.pos++] = RBRACE;
    out[this.pos++] = LF;
  }

  /** Writes the JSON string of the field at `src[i]` (not NULL); returns the index of its TAB or `\n`. */
  #string(src: Buffer, sv: DataView, i: number, end: number): number {
    let out = this.out;
    let view = this.view;
    let p = this.pos;
    // The last word start whose 4 bytes stay within the row and its `\n`.
    const lastWord = end - 3;
    // An escape needs room for itself and, as reserved, for the rest of the row: while
    // `p - i <= limit` there is (the same test as `out.length - p >= MAX_ESCAPE + (end - i) + fixed`).
    let limit = out.length - MAX_ESCAPE - this.#fixed - end;
    out[p++] = QUOTE;
    for (;;) {
      // Plain text 4 bytes at a time. A word holding a byte that needs care is written whole too
      // (the row's reservation has room for it), and only its bytes before that byte are kept.
      let c: number;
      for (;;) {
        if (i > lastWord) {
          // The row's last bytes, one by one up to the `\n`.
          c = src[i]!;
          while (RAW[c] === 1) {
            out[p++] = c;
            c = src[++i]!;
          }
          break;
        }
        const v = sv.getInt32(i, true);
        const mask = specialMask(v);
        view.setInt32(p, v, true);
        if (mask === 0) {
          p += 4;
          i += 4;
          continue;
        }
        const k = firstFlagged(mask);
        p += k;
        i += k;
        c = src[i]!;
        break;
      }
      if (c === TAB || c === LF) break;
      if (p - i > limit) {
        this.pos = p;
        this.#grow(MAX_ESCAPE + (end - i) + this.#fixed);
        out = this.out;
        view = this.view;
        p = this.pos;
        limit = out.length - MAX_ESCAPE - this.#fixed - end;
      }
      if (c === QUOTE) {
        // The common case (JSON text inside a column): `\"`.
        out[p++] = BACKSLASH;
        out[p++] = QUOTE;
        i++;
        continue;
      }
      if (c === BACKSLASH) {
        const e = src[++i]!;
        i++;
        const letter = LETTER[e]!;
        if (letter !== 0) c = letter;
        else if (e >= ZERO && e <= SEVEN) {
          // \N, \NN or \NNN octal; COPY FROM keeps the low 8 bits.
          c = e - ZERO;
          let d = src[i]!;
          if (d >= ZERO && d <= SEVEN) {
            c = c * 8 + d - ZERO;
            i++;
            d = src[i]!;
            if (d >= ZERO && d <= SEVEN) {
              c = (c * 8 + d - ZERO) & 0xff;
              i++;
            }
          }
        } else if (e === LOWER_X && HEX[src[i]!]! < 16) {
          c = HEX[src[i++]!]!;
          const h = HEX[src[i]!]!;
          if (h < 16) {
            c = c * 16 + h;
            i++;
          }
        } else if (e === LF) this.#fail("a backslash ends the row", i - 2);
        else if (e === DOT) this.#fail("the end-of-data marker \\. appears in a field", i - 2);
        else c = e; // `\\`, and `\c` for any other c (TAB included), stand for c
      } else i++;
      const len = ESC_LEN[c]!;
      if (len === 0) out[p++] = c;
      else {
        if (c === NUL) this.#fail("a field holds a NUL byte", i - 1);
        const at = c * MAX_ESCAPE;
        for (let j = 0; j < len; j++) out[p++] = ESC[at + j]!;
      }
    }
    out[p++] = QUOTE;
    this.pos = p;
    return i;
  }

  /** Writes the field at `src[i]` (not NULL) of a number column; returns the index of its TAB or `\n`. */
  #number(src: Buffer, i: number, end: number): number {
    // One pass that copies while it checks the JSON number grammar; the copy is dropped (pos is
    // not advanced) when the field turns out to be something else.
    const out = this.out;
    let p = this.pos;
    let j = i;
    let c = src[j]!;
    if (c === MINUS) {
      out[p++] = c;
      c = src[++j]!;
    }
    let ok = false;
    if (c === ZERO) {
      out[p++] = c;
      c = src[++j]!;
      ok = true;
    } else if (c >= ONE && c <= NINE) {
      do {
        out[p++] = c;
        c = src[++j]!;
      } while (c >= ZERO && c <= NINE);
      ok = true;
    }
    if (ok && c === DOT) {
      out[p++] = c;
      c = src[++j]!;
      ok = c >= ZERO && c <= NINE;
      while (c >= ZERO && c <= NINE) {
        out[p++] = c;
        c = src[++j]!;
      }
    }
    if (ok && (c === LOWER_E || c === UPPER_E)) {
      out[p++] = c;
      c = src[++j]!;
      if (c === PLUS || c === MINUS) {
        out[p++] = c;
        c = src[++j]!;
      }
      ok = c >= ZERO && c <= NINE;
      while (c >= ZERO && c <= NINE) {
        out[p++] = c;
        c = src[++j]!;
      }
    }
    if (ok && (c === TAB || c === LF)) {
      this.pos = p;
      return j;
    }
    // NaN, Infinity, or a field with escapes: decoded, then a number or a string as row_to_json does.
    const fieldEnd = this.#decode(src, i);
    const value = this.#scratch;
    const len = this.#scratchLength;
    if (isJsonNumber(value, 0, len)) {
      value.copy(this.out, this.pos, 0, len);
      this.pos += len;
    } else this.#stringOf(value, len, end - fieldEnd);
    return fieldEnd;
  }

  /** Writes the field at `src[i]` (not NULL) of bool column `k`; returns the index of its TAB or `\n`. */
  #bool(src: Buffer, i: number, k: number): number {
    let c = src[i]!;
    let next = i + 1;
    if (c === BACKSLASH || (c !== TAB && c !== LF && src[next] !== TAB && src[next] !== LF)) {
      next = this.#decode(src, i);
      c = this.#scratchLength === 1 ? this.#scratch[0]! : NUL;
    }
    const word = c === LOWER_T ? TRUE_JSON : c === LOWER_F ? FALSE_JSON : undefined;
    if (word === undefined) this.#fail(`bool column ${JSON.stringify(this.#names[k])} holds neither t nor f`, i);
    const out = this.out;
    let p = this.pos;
    for (let x = 0; x < word.length; x++) out[p++] = word[x]!;
    this.pos = p;
    return next;
  }

  /**
   * Decodes the field at `src[i]` (COPY FROM's de-escaping: a backslash takes the next byte along,
   * TAB included) into `#scratch`; returns the index of its TAB or `\n`.
   */
  #decode(src: Buffer, i: number): number {
    let value = this.#scratch;
    let n = 0;
    for (;;) {
      let c = src[i]!;
      if (c === TAB || c === LF) break;
      i++;
      if (c === BACKSLASH) {
        const e = src[i]!;
        if (e === LF) this.#fail("a backslash ends the row", i - 1);
        i++;
        const letter = LETTER[e]!;
        if (letter !== 0) c = letter;
        else if (e >= ZERO && e <= SEVEN) {
          c = e - ZERO;
          for (let digits = 1; digits < 3 && src[i]! >= ZERO && src[i]! <= SEVEN; digits++)
            c = c * 8 + src[i++]! - ZERO;
          c &= 0xff;
        } else if (e === LOWER_X && HEX[src[i]!]! < 16) {
          c = HEX[src[i++]!]!;
          if (HEX[src[i]!]! < 16) c = c * 16 + HEX[src[i++]!]!;
        } else if (e === DOT) this.#fail("the end-of-data marker \\. appears in a field", i - 2);
        else c = e;
      }
      if (c === NUL) this.#fail("a field holds a NUL byte", i - 1);
      if (n === value.length) {
        const bigger = Buffer.allocUnsafe(2 * value.length);
        value.copy(bigger);
        this.#scratch = value = bigger;
      }
      value[n++] = c;
    }
    this.#scratchLength = n;
    return i;
  }

  /** Writes `value[0, len)` (decoded text, no NUL) as a JSON string; `rest` input bytes of the row follow it. */
  #stringOf(value: Buffer, len: number, rest: number): void {
    const need = MAX_ESCAPE * len + 2 + rest + this.#fixed;
    if (this.out.length - this.pos < need) this.#grow(need);
    const out = this.out;
    let p = this.pos;
    out[p++] = QUOTE;
    for (let x = 0; x < len; x++) {
      const c = value[x]!;
      const n = ESC_LEN[c]!;
      if (n === 0) out[p++] = c;
      else for (let j = 0; j < n; j++) out[p++] = ESC[c * MAX_ESCAPE + j]!;
    }
    out[p++] = QUOTE;
    this.pos = p;
  }

  /** Starts a new slab of at least `need` bytes at a row boundary. */
  #newSlab(need: number): void {
    if (this.pos > this.segment) this.ready.push(this.out.subarray(this.segment, this.pos));
    this.#setOut(Buffer.allocUnsafe(Math.max(SLAB_SIZE, need)));
    this.pos = 0;
    this.segment = 0;
  }

  /** Mid-row: moves the row written so far into a new slab with `need` more bytes free. */
  #grow(need: number): void {
    const row = this.out.subarray(this.#rowOut, this.pos);
    if (this.#rowOut > this.segment) this.ready.push(this.out.subarray(this.segment, this.#rowOut));
    // Doubling keeps a huge row full of escapes linear.
    const next = Buffer.allocUnsafe(Math.max(SLAB_SIZE, 2 * (row.length + need)));
    row.copy(next);
    this.#setOut(next);
    this.pos = row.length;
    this.segment = 0;
    this.#rowOut = 0;
  }

  #setOut(out: Buffer): void {
    this.out = out;
    this.view = new DataView(out.buffer, out.byteOffset, out.length);
  }

  /** Output not yet handed out, for one push. */
  take(): Buffer[] {
    if (this.pos > this.segment) {
      // Pushed bytes are never written again: later output goes after them or into a new slab.
      this.ready.push(this.out.subarray(this.segment, this.pos));
      this.segment = this.pos;
    }
    const ready = this.ready;
    this.ready = [];
    return ready;
  }

  #fail(message: string, at: number): never {
    throw new Malformed(`${message} (byte ${at - this.#lineStart + 1})`);
  }
}

/** Whether the field at `src[i]` is exactly `\N` (SQL NULL); `src[i + 2]` exists when it starts with `\N`. */
function isNull(src: Buffer, i: number): boolean {
  if (src[i] !== BACKSLASH || src[i + 1] !== UPPER_N) return false;
  const next = src[i + 2];
  return next === TAB || next === LF;
}

function viewOf(buf: Buffer): DataView {
  return new DataView(buf.buffer, buf.byteOffset, buf.length);
}

function malformed(err: unknown, row: number): unknown {
  if (!(err instanceof Malformed)) return err;
  return new IntegrityError("COPY_TEXT_MALFORMED", `COPY text row ${row} is malformed: ${err.message}`, { hint: HINT });
}

/**
 * Transform: COPY text bytes in (rows may be split anywhere across chunks), NDJSON bytes out.
 * Counts rows. A row with the wrong number of fields, a bool other than `t`/`f`, a NULL tenant
 * key, a NUL byte or a final row without its `\n` fails the stream with IntegrityError
 * `COPY_TEXT_MALFORMED` naming the row number. Empty input gives empty output. Output is pushed
 * once per input chunk (output of one chunk at most is held), so backpressure is the Transform's
 * own. It owns nothing: the caller closes source and sink; on destroy or abort nothing is left to
 * release.
 */
export class CopyToNdjson extends Transform {
  readonly #t: Transcoder;
  #rows = 0;
  /** Pieces of a row that is not complete yet. */
  #pending: Buffer[] = [];
  #pendingLength = 0;

  constructor(options: CopyToNdjsonOptions) {
    super();
    this.#t = new Transcoder(options);
  }

  /** Rows transcoded so far; final once the stream has ended. */
  get rows(): number {
    return this.#rows;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    try {
      this.#consume(chunk);
    } catch (err) {
      done(malformed(err, this.#rows + 1) as Error);
      return;
    }
    for (const out of this.#t.take()) this.push(out);
    done();
  }

  override _flush(done: TransformCallback): void {
    if (this.#pendingLength > 0) {
      done(
        new IntegrityError(
          "COPY_TEXT_MALFORMED",
          `COPY text row ${this.#rows + 1} is truncated: the input ends without its final newline`,
          { hint: HINT },
        ),
      );
      return;
    }
    try {
      this.#t.endGroup();
    } catch (err) {
      done(err as Error);
      return;
    }
    for (const out of this.#t.take()) this.push(out);
    done();
  }

  #consume(chunk: Buffer): void {
    const t = this.#t;
    let start = 0;
    if (this.#pendingLength > 0) {
      const lf = chunk.indexOf(LF);
      if (lf < 0) {
        this.#pending.push(chunk);
        this.#pendingLength += chunk.length;
        return;
      }
      // The joined row keeps its `\n`: the scanners' sentinel.
      this.#pending.push(chunk.subarray(0, lf + 1));
      const line = Buffer.concat(this.#pending, this.#pendingLength + lf + 1);
      this.#pending = [];
      this.#pendingLength = 0;
      t.line(line, viewOf(line), 0, line.length - 1);
      this.#rows++;
      start = lf + 1;
    }
    const view = viewOf(chunk);
    for (let lf = chunk.indexOf(LF, start); lf >= 0; lf = chunk.indexOf(LF, start)) {
      t.line(chunk, view, start, lf);
      this.#rows++;
      start = lf + 1;
    }
    if (start < chunk.length) {
      // A copy, so the tail does not pin the whole chunk.
      const tail = Buffer.from(chunk.subarray(start));
      this.#pending.push(tail);
      this.#pendingLength = tail.length;
    }
  }
}

/** Transcodes one COPY text row (without its `\n`) to one NDJSON line (without its `\n`); for tests. */
export function transcodeCopyLine(line: Buffer, options: CopyToNdjsonOptions): Buffer {
  const t = new Transcoder(options);
  const src = Buffer.allocUnsafe(line.length + 1);
  line.copy(src);
  src[line.length] = LF;
  try {
    t.line(src, viewOf(src), 0, line.length);
  } catch (err) {
    throw malformed(err, 1);
  }
  const out = Buffer.concat(t.take());
  return out.subarray(0, out.length - 1);
}
