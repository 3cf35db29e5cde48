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
 * Does a raw JSON value (a number verbatim, or a string) name `tenant`, a canonical id of the
 * tenant type `baseType` (src/format/tenant-id.ts)? Numbers are compared as text, never parsed.
 */
export function rawEqualsTenant(raw: string | undefined, tenant: string, baseType?: string): boolean {
  if (raw === undefined || raw === "null") return false;
  if (raw === tenant || raw === JSON.stringify(tenant)) return true;
  const text = raw.startsWith('"') ? (JSON.parse(raw) as string) : raw;
  return canonicalTenantText(baseType, text) === tenant;
}
