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

  /**
   * Where key k's raw value lies in the line `buf[start, end)` (without its `\n`): its start, with
   * its end in `valueEnd`; -1 when this fast search cannot vouch for the answer (a nested object
   * before the key, whitespace, a missing key, not an object), and the caller must ask
   * `values(line)`, which then gives exactly scanValues' answer. When it returns a position, that
   * is where scanValues finds the value. Nothing is allocated.
   *
   * Why a byte search is exact: a `"` inside a JSON string is always escaped, so `,"key":` can
   * never start inside a string; it is the row's own key unless a `{` outside strings comes
   * between the row's opening brace and it. The first bytes of the line are searched in
   * JavaScript (the tenant column is usually near the front, and most rows differ from the
   * pattern at the first byte), the rest with one native search.
   */
  locate(buf: Buffer, start: number, end: number, k = 0): number {
    if (buf[start] !== 0x7b) return -1;
    // `,"key":` and `{"key":` differ only in their first byte, which is compared apart; the
    // pattern's bytes are compared inline (a call per candidate cost ~25 % of the search).
    const after = this.#after[k]!;
    const n = after.length;
    const q = after[1];
    const k0 = after[2];
    const last = end - n;
    let i = start;
    let found = false;
    if (i <= last && buf[i + 1] === q && buf[i + 2] === k0) {
      let j = 3;
      while (j < n && buf[i + j] === after[j]) j++;
      found = j === n;
    }
    if (!found) {
      let brace = false;
      const jsEnd = last < start + JS_SEARCH_BYTES ? last : start + JS_SEARCH_BYTES;
      for (i = start + 1; i <= jsEnd; i++) {
        const c = buf[i];
        if (c === 0x2c) {
          if (buf[i + 1] === q && buf[i + 2] === k0) {
            let j = 3;
            while (j < n && buf[i + j] === after[j]) j++;
            if (j === n) break;
          }
        } else if (c === 0x7b) brace = true;
      }
      if (i > jsEnd) {
        if (jsEnd === last) return -1;
        i = buf.indexOf(after, i);
        if (i < 0 || i > last) return -1;
        // Found by the native search: was there a `{` between the JavaScript search and it?
        if (!brace && buf.lastIndexOf(0x7b, i) !== start) brace = true;
      }
      // A `{` inside a string value is harmless; one outside strings opens a nested object.
      if (brace && hasNestedObject(buf, start + 1, i)) return -1;
    }
    const at = i + n;
    if (at >= end) return -1;
    const c = buf[at];
    if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) return -1;
    if (c === QUOTE || c === 0x7b || c === 0x5b) this.valueEnd = rawValueEndIn(buf, at, end);
    else {
      // A number or literal (rawValueEndIn's last case, inline).
      let j = at;
      while (j < end) {
        const d = buf[j];
        if (d === 0x2c || d === 0x7d || d === 0x20 || d === 0x0a) break;
        j++;
      }
      this.valueEnd = j;
    }
    return at;
  }

  /** End (exclusive) of the value found by the last successful `locate`. */
  valueEnd = 0;

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

/** Bytes of the line searched in JavaScript before one native search takes over. */
const JS_SEARCH_BYTES = 64;

/** Is there a `{` outside JSON strings in `buf[from, to)`? (`from` is outside any string.) */
function hasNestedObject(buf: Buffer, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = buf[i];
    if (c === 0x7b) return true;
    if (c === QUOTE) {
      for (i++; i < to && buf[i] !== QUOTE; i++) if (buf[i] === BACKSLASH) i++;
    }
  }
  return false;
}

/** rawValueEnd within `buf[i, end)`: a string, a container, or a number / literal. */
function rawValueEndIn(buf: Buffer, i: number, end: number): number {
  const c = buf[i];
  if (c === QUOTE) {
    for (let j = i + 1; j < end; j++) {
      const d = buf[j];
      if (d === BACKSLASH) j++;
      else if (d === QUOTE) return j + 1;
    }
    throw new Error("unterminated JSON string");
  }
  if (c === 0x7b || c === 0x5b) return i + skipValue(buf.subarray(i, end), 0);
  let j = i;
  while (j < end) {
    const d = buf[j];
    if (d === 0x2c || d === 0x7d || d === 0x20 || d === 0x0a) break;
    j++;
  }
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

/**
 * `rawEqualsTenant(raw, tenant, baseType)` for raw values given as bytes, mostly without making
 * a string: a value spelled exactly as the tenant matches; a value in the canonical spelling of
 * the tenant type (what PostgreSQL prints: `42`, `1.50` → `1.5`, a lower-case uuid, plain ASCII
 * text) is compared byte for byte after that normalisation; anything else (escapes, non-ASCII,
 * `+1`, `1e2`, upper-case uuids, ...) goes through rawEqualsTenant itself, remembered per
 * distinct value (a tenant column holds few, and that comparison parses). The answer is always
 * exactly rawEqualsTenant's.
 */
export class TenantMatcher {
  readonly #tenant: string;
  readonly #baseType: string | undefined;
  readonly #kind: "int" | "numeric" | "uuid" | "citext" | "other";
  /** The tenant as bytes, and as a JSON string's bytes. */
  readonly #raw: Buffer;
  readonly #json: Buffer;
  readonly #seen = new Map<string, boolean>();

  /** `tenant` is canonical for `baseType` (src/format/tenant-id.ts), as manifestTenant gives it. */
  constructor(tenant: string, baseType?: string) {
    this.#tenant = tenant;
    this.#baseType = baseType;
    this.#raw = Buffer.from(tenant, "utf8");
    this.#json = Buffer.from(JSON.stringify(tenant), "utf8");
    switch (baseType ?? "") {
      case "int2":
      case "int4":
      case "int8":
        this.#kind = "int";
        break;
      case "numeric":
        this.#kind = "numeric";
        break;
      case "uuid":
        this.#kind = "uuid";
        break;
      case "citext":
        this.#kind = "citext";
        break;
      default:
        this.#kind = "other";
    }
  }

  /** Does the raw JSON value `buf[start, end)` name the tenant? */
  matches(buf: Buffer, start: number, end: number): boolean {
    const n = end - start;
    if (
      n === 4 &&
      buf[start] === 0x6e &&
      buf[start + 1] === 0x75 &&
      buf[start + 2] === 0x6c &&
      buf[start + 3] === 0x6c
    ) {
      return false; // null
    }
    if (equalBytes(buf, start, end, this.#raw) || equalBytes(buf, start, end, this.#json)) return true;
    const verdict = this.#canonical(buf, start, end);
    return verdict ?? this.matchesRaw(buf.toString("utf8", start, end));
  }

  /** rawEqualsTenant for a raw value given as text (undefined: the key is absent), remembered. */
  matchesRaw(raw: string | undefined): boolean {
    if (raw === undefined) return false;
    let same = this.#seen.get(raw);
    if (same === undefined) {
      same = rawEqualsTenant(raw, this.#tenant, this.#baseType);
      // Bounded, so a column of unique values cannot grow it without limit.
      if (this.#seen.size >= 65_536) this.#seen.clear();
      this.#seen.set(raw, same);
    }
    return same;
  }

  /**
   * The answer when the value is in a spelling whose canonical form is plain to see (it is not
   * the tenant's exact spelling: that was checked), else undefined.
   */
  #canonical(buf: Buffer, start: number, end: number): boolean | undefined {
    const n = end - start;
    if (n === 0) return undefined;
    const isString = buf[start] === QUOTE;
    switch (this.#kind) {
      case "int": {
        // -?[1-9][0-9]* or 0: already what canonicalInteger makes of it.
        if (isString) return undefined;
        let i = start;
        if (buf[i] === 0x2d) i++;
        if (i === end) return undefined;
        if (buf[i] === 0x30) return i === start && n === 1 ? false : undefined;
        for (; i < end; i++) if (buf[i]! < 0x30 || buf[i]! > 0x39) return undefined;
        return false;
      }
      case "numeric": {
        // -?(0|[1-9][0-9]*)(.[0-9]+)?: canonical once trailing fractional zeros (and a bare
        // point) are dropped, and -0 is 0 (canonicalNumeric).
        if (isString) return undefined;
        let i = start;
        if (buf[i] === 0x2d) i++;
        if (i === end) return undefined;
        if (buf[i] === 0x30) i++;
        else {
          if (buf[i]! < 0x31 || buf[i]! > 0x39) return undefined;
          while (i < end && buf[i]! >= 0x30 && buf[i]! <= 0x39) i++;
        }
        let e = i;
        if (i < end) {
          if (buf[i] !== 0x2e || i + 1 === end) return undefined;
          for (let j = i + 1; j < end; j++) if (buf[j]! < 0x30 || buf[j]! > 0x39) return undefined;
          e = end;
          while (buf[e - 1] === 0x30) e--;
          if (buf[e - 1] === 0x2e) e--;
        }
        if (e - start === 2 && buf[start] === 0x2d && buf[start + 1] === 0x30) return this.#tenant === "0";
        return equalBytes(buf, start, e, this.#raw);
      }
      case "uuid": {
        // "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" in lower case: already canonicalUuid's form.
        if (!isString || n !== 38 || buf[end - 1] !== QUOTE) return undefined;
        for (let j = 1; j < 37; j++) {
          const c = buf[start + j]!;
          if (j === 9 || j === 14 || j === 19 || j === 24) {
            if (c !== 0x2d) return undefined;
          } else if (!((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66))) return undefined;
        }
        return equalBytes(buf, start + 1, end - 1, this.#raw);
      }
      case "citext":
      case "other": {
        // Plain printable ASCII (no escape; for citext no upper case): the text is its own
        // canonical form. A number or literal is compared as it is (checked above).
        if (!isString) {
          for (let i = start; i < end; i++) if (buf[i]! >= 0x80) return undefined;
          // citext lower-cases a number's text too (`1E5` names tenant `1e5`).
          if (this.#kind === "citext")
            for (let i = start; i < end; i++) if (buf[i]! >= 0x41 && buf[i]! <= 0x5a) return undefined;
          return false;
        }
        if (n < 2 || buf[end - 1] !== QUOTE) return undefined;
        for (let j = start + 1; j < end - 1; j++) {
          const c = buf[j]!;
          if (c < 0x20 || c > 0x7e || c === BACKSLASH || c === QUOTE) return undefined;
          if (this.#kind === "citext" && c >= 0x41 && c <= 0x5a) return undefined;
        }
        return equalBytes(buf, start + 1, end - 1, this.#raw);
      }
    }
  }
}

function equalBytes(buf: Buffer, start: number, end: number, pattern: Buffer): boolean {
  const n = pattern.length;
  if (end - start !== n) return false;
  for (let j = 0; j < n; j++) if (buf[start + j] !== pattern[j]) return false;
  return true;
}
