/**
 * Quoting for SQL built as text. COPY takes no bind parameters (NOTES.md), so tenant values and
 * identifiers are quoted here and nowhere else. Identifiers only ever come from the catalog.
 */

/** `"name"` with embedded quotes doubled (same rules as libpq's PQescapeIdentifier). */
export function quoteIdent(name: string): string {
  return '"' + name.replace(/"/g, '""') + '"';
}

/** `schema.table` quoted. */
export function quoteTable(t: { schema: string; name: string }): string {
  return quoteIdent(t.schema) + "." + quoteIdent(t.name);
}

/**
 * A live table as the source of a read: `ONLY "s"."t"` for a plain table that other tables
 * inherit from (INHERITS), so its rows do not include its children's (each child is a table of
 * its own everywhere), else `"s"."t"`. A partitioned table is never ONLY: its rows live in its
 * partitions.
 */
export function relationSql(t: { schema: string; name: string; hasInheritors: boolean; partitioned: boolean }): string {
  return t.hasInheritors && !t.partitioned ? "ONLY " + quoteTable(t) : quoteTable(t);
}

/**
 * A string literal safe under any standard_conforming_strings: `'...'` with quotes doubled,
 * or `E'...'` with backslashes doubled when the value has one (libpq's PQescapeLiteral).
 */
export function quoteLiteral(value: string): string {
  if (value.includes("\u0000")) throw new Error("a NUL character cannot be part of a SQL literal");
  let hasBackslash = false;
  let out = "'";
  for (const ch of value) {
    if (ch === "'") out += "''";
    else if (ch === "\\") {
      out += "\\\\";
      hasBackslash = true;
    } else out += ch;
  }
  out += "'";
  return hasBackslash ? " E" + out : out;
}
