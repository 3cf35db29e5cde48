/**
 * Reads top-level values out of one NDJSON row without parsing it into JavaScript values
 * (DESIGN.md: rows are never JSON.parse'd; numbers would lose precision). A row is a JSON object
 * as Postgres' row_to_json prints it; the raw text of a value (`42`, `"abc"`, `null`) is
 * returned exactly as written, so it can be compared byte for byte.
 */
import { canonicalTenantText } from "./tenant-id.js";

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/** Index just past the JSON string starting at `i` (which must be a quote). */
function skipString(line: Buffer, i: number): number {
  for (let j = i + 1; j < line.length; j++) {
    const c = line[j];
    if (c === BACKSLASH) j++;
    else if (c === QUOTE) return j + 1;
  }
  throw new Error("unterminated JSON string");
}

/** Index just past the JSON value starting at `i`. */
function skipValue(line: Buffer, i: number): number {
  const c = line[i];
  if (c === QUOTE) return skipString(line, i);
  if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
    let depth = 0;
    for (let j = i; j < line.length; j++) {
      const d = line[j];
      if (d === QUOTE) j = skipString(line, j) - 1;
      else if (d === 0x7b || d === 0x5b) depth++;
      else if (d === 0x7d || d === 0x5d) {
        depth--;
        if (depth === 0) return j + 1;
      }
    }
    throw new Error("unterminated JSON container");
  }
  let j = i;
  while (
    j < line.length &&
    line[j] !== 0x2c /* , */ &&
    line[j] !== 0x7d /* } */ &&
    line[j] !== 0x20 &&
    line[j] !== 0x0a
  )
    j++;
  return j;
}

function skipSpace(line: Buffer, i: number): number {
  while (i < line.length && (line[i] === 0x20 || line[i] === 0x09 || line[i] === 0x0a || line[i] === 0x0d)) i++;
  return i;
}

/**
 * The raw JSON text of the values of `keys` (JSON-encoded keys, e.g. `"user_id"`) in the
 * top-level object `line`; a key that is absent maps to undefined.
 */
export function scanValues(line: Buffer, encodedKeys: readonly string[]): (string | undefined)[] {
  const wanted = new Map(encodedKeys.map((k, idx) => [k, idx]));
  const out: (string | undefined)[] = new Array<string | undefined>(encodedKeys.length).fill(undefined);
  let found = 0;
  let i = skipSpace(line, 0);
  if (line[i] !== 0x7b) throw new Error("a row is not a JSON object");
  i++;
  while (found < encodedKeys.length) {
    i = skipSpace(line, i);
    if (line[i] === 0x7d || i >= line.length) break;
    if (line[i] === 0x2c) i = skipSpace(line, i + 1);
    const keyEnd = skipString(line, i);
    const key = line.toString("utf8", i, keyEnd);
    i = skipSpace(line, keyEnd);
    if (line[i] !== 0x3a /* : */) throw new Error("malformed JSON object");
    i = skipSpace(line, i + 1);
    const valueEnd = skipValue(line, i);
    const idx = wanted.get(key);
    if (idx !== undefined) {
      out[idx] = line.toString("utf8", i, valueEnd);
      found++;
    }
    i = valueEnd;
  }
  return out;
}

/**
 * `scanValues` for many rows with the same keys, fast on the rows pgsnap writes: a key is found
 * with one native search for `,"key":` (or `{"key":` at the start) instead of walking every key
 * and value of the row. The result is always exactly `scanValues(line, encodedKeys)`:
 * - A `"` inside a JSON string is always escaped, so `,"key":` can never start inside a string:
 *   a match is a key of the row or of an object nested in it.
 * - It is the row's own key when no `{` comes between the row's opening brace and the match (no
 *   nested object is open there); otherwise, when a key is missing, or when the row has
 *   whitespace around its tokens (not pgsnap's output), the line goes through `scanValues`.
 */
export class RowScanner {
  readonly #keys: readonly string[];
  /** `{"key":` per key. */
  readonly #atStart: Buffer[];
  /** `,"key":` per key. */
  readonly #after: Buffer[];

  constructor(encodedKeys: readonly string[]) {
    this.#keys = encodedKeys;
    this.#atStart = encodedKeys.map((k) => Buffer.from(`{${k}:`));
    this.#after = encodedKeys.map((k) => Buffer.from(`,${k}:`));
  }

  /** The raw JSON text of each key's value in `line`, as `scanValues` returns it. */
  values(line: Buffer): (string | undefined)[] {
    const n = this.#keys.length;
    const out = new Array<string | undefined>(n);
    for (let k = 0; k < n; k++) {
      const at = this.#find(line, k);
      const c = line[at];
      if (at < 0 || c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) return scanValues(line, this.#keys);
      out[k] = line.toString("utf8", at, rawValueEnd(line, at));
    }
    return out;
  }

  /** Start of key k's value in `line`, or -1 when the fast search cannot vouch for it. */
  #find(line: Buffer, k: number): number {
    // A byte loop: most rows differ from `{"key":` within two bytes, cheaper than a native call.
    const start = this.#atStart[k]!;
    let j = 0;
    if (line.length >= start.length) while (j < start.length && line[j] === start[j]) j++;
    if (j === start.length) return j;
    const after = this.#after[k]!;
    const i = line.indexOf(after);
    if (i < 0 || line[0] !== 0x7b || line.lastIndexOf(0x7b, i) !== 0) return -1;
    return i + after.length;
  }
}

/** End of a top-level value starting at `i` of a flat row (a string, or a number / literal). */
function rawValueEnd(line: Buffer, i: number): number {
  if (line[i] === QUOTE) return skipString(line, i);
  if (line[i] === 0x7b || line[i] === 0x5b) return skipValue(line, i);
  let j = i;
  while (j < line.length && line[j] !== 0x2c && line[j] !== 0x7d && line[j] !== 0x20 && line[j] !== 0x0a) j++;
  return j;
}

/**
 * Does a raw JSON value (a number verbatim, or a string) name `tenant`, a canonical id of the
 * tenant type `baseType` (src/format/tenant-id.ts)? Numbers are compared as text, never parsed.
 */
export function rawEqualsTenant(raw: string | undefined, tenant: string, baseType?: string): boolean {
  if (raw === undefined || raw === "null") return false;
  if (raw === tenant || raw === JSON.stringify(tenant)) return true;
  const text = raw.startsWith('"') ? (JSON.parse(raw) as string) : raw;
  return canonicalTenantText(baseType, text) === tenant;
}
