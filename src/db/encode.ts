/**
 * Per-column rules that make a row's JSON object lossless (NOTES.md, "COPY and JSON").
 *
 * The dump selects `row_to_json(x)` over a subquery whose columns are either the value itself
 * (types whose JSON form is exact and whose `->>` text reads back as the same value) or the
 * value's text output (`c::text`), which the type's input function reads back exactly under the
 * pinned session settings. Text is used where plain JSON loses information: floats (`-0`,
 * NaN), json/jsonb (whitespace, key order, duplicate keys, JSON null vs SQL NULL), xml (the
 * declaration), arrays (lower bounds), composites, ranges, date/time (BC, infinity) and
 * anything unknown. money goes through numeric so lc_monetary cannot change it.
 *
 * Restore reads every column back as `(j ->> 'name')::type`, so both sides share these rules.
 */
import type { ColumnInfo } from "./catalog.js";
import { quoteIdent, quoteLiteral } from "./quote.js";

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

/** The expression that reads column `col` back from json(b) value `json` (restore side). */
export function decodeColumnExpr(col: ColumnInfo, json: string): string {
  const text = `(${json} ->> ${quoteLiteral(col.name)})`;
  if (columnEncoding(col) === "money") return `${text}::pg_catalog.numeric::pg_catalog.money`;
  return `${text}::${col.type}`;
}
