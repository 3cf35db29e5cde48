/**
 * Per-column rules that make a row's JSON object lossless (NOTES.md, "COPY and JSON").
 *
 * A row's JSON object holds each column either as its JSON value (types whose JSON form is exact
 * and reads back as the same value) or as a JSON string of the value's text output, which the
 * type's input function reads back exactly under the pinned session settings. Text is used where
 * plain JSON loses information: floats (`-0`, NaN), json/jsonb (whitespace, key order, duplicate
 * keys, JSON null vs SQL NULL), xml (the declaration), arrays (lower bounds), composites,
 * ranges, date/time (BC, infinity) and anything unknown. money goes through numeric so
 * lc_monetary cannot change it.
 *
 * The dump asks PostgreSQL for plain COPY text (`copyColumnExpr`: every value in its text
 * output form) and frames it as JSON in Node byte by byte (src/format/copy-to-ndjson.ts, kinds
 * from `jsonKind`). That is the same JSON `row_to_json` prints over `dumpColumnExpr`, the
 * reference form (test/copy-to-ndjson.test.ts compares them), at a third of the server's cost.
 * Restore turns each JSON value back into COPY text (src/format/ndjson-to-copy.ts) for the same
 * input functions, so both sides share these rules.
 */
import type { ColumnInfo } from "./catalog.js";
import type { JsonKind } from "../format/copy-to-ndjson.js";
import { quoteIdent } from "./quote.js";

/** Base types whose row_to_json form is exact and reads back through `->>` unchanged. */
const nativeTypes = new Set([
  "int2",
  "int4",
  "int8",
  "numeric",
  "bool",
  "text",
  "varchar",
  "bpchar",
  "name",
  "uuid",
  "bytea",
  "citext",
]);

export type ColumnEncoding = "native" | "text" | "money";

/** How one column is written into the row's JSON object. */
export function columnEncoding(col: ColumnInfo): ColumnEncoding {
  if (col.baseType === "money") return "money";
  if (col.baseKind === "e") return "native"; // enums print as their label
  return nativeTypes.has(col.baseType) ? "native" : "text";
}

/** The select-list item that produces column `col` of table alias `alias` for row_to_json. */
export function dumpColumnExpr(col: ColumnInfo, alias: string): string {
  const ref = `${alias}.${quoteIdent(col.name)}`;
  const as = ` AS ${quoteIdent(col.name)}`;
  switch (columnEncoding(col)) {
    case "native":
      return ref + as;
    case "money":
      return `${ref}::pg_catalog.numeric::pg_catalog.text${as}`;
    case "text":
      return `${ref}::pg_catalog.text${as}`;
  }
}

/** How a column's COPY text becomes a JSON value in the row object. */
export function jsonKind(col: ColumnInfo): JsonKind {
  if (columnEncoding(col) !== "native") return "string";
  if (col.baseType === "bool") return "bool";
  return ["int2", "int4", "int8", "numeric"].includes(col.baseType) ? "number" : "string";
}

/**
 * The select-list item for plain COPY text of column `col`: the value itself (COPY prints its
 * output function), money as numeric (see above), and xml through its cast to text, because
 * xml's output function drops a `<?xml ...?>` declaration that the cast keeps.
 */
export function copyColumnExpr(col: ColumnInfo, alias: string): string {
  const ref = `${alias}.${quoteIdent(col.name)}`;
  if (columnEncoding(col) === "money") return `${ref}::pg_catalog.numeric`;
  if (col.baseType === "xml") return `${ref}::pg_catalog.text`;
  return ref;
}
