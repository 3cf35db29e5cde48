import { UsageError } from "../errors.js";
import { parseTableRef, resolveTableName, type Catalog, type TableInfo } from "./catalog.js";

/**
 * Resolves `--tables` / `--exclude-tables` names (`schema.table`, or `table` when only one schema
 * has it; parts double-quoted as table ids print them, e.g. `x."a.b"`) against the catalog. An
 * unknown, malformed or ambiguous name is a usage error (exit 2).
 */
export function resolveTableNames(catalog: Pick<Catalog, "tables">, names: readonly string[]): TableInfo[] {
  const out: TableInfo[] = [];
  for (const raw of names) {
    const name = raw.trim();
    if (!name) continue;
    const exact = catalog.tables.get(name);
    if (exact) {
      out.push(exact);
      continue;
    }
    const matches = resolveTableName(catalog.tables.values(), name);
    if (matches.length === 0 && !parseTableRef(name)) {
      throw new UsageError("TABLE_NAME_INVALID", `${name} is not a table name`, {
        hint: 'write schema.table, double-quoting a part that holds dots, quotes or capitals: x."a.b", "x.a".b',
      });
    }
    if (matches.length === 1) out.push(matches[0]!);
    else if (matches.length > 1) {
      throw new UsageError(
        "TABLE_AMBIGUOUS",
        `table name ${name} matches several tables: ${matches.map((t) => t.id).join(", ")}`,
        {
          hint: "name it exactly as `pgsnap plan` prints it (schema.table, quoted parts in double quotes)",
        },
      );
    } else {
      throw new UsageError("TABLE_UNKNOWN", `table ${name} does not exist in the database`, {
        hint: "list the tables with `pgsnap plan`; names are schema.table",
      });
    }
  }
  return out;
}

/** Tables selected by include/exclude lists (all when `include` is empty). */
export function selectTables(
  catalog: Catalog,
  include: readonly string[] = [],
  exclude: readonly string[] = [],
): TableInfo[] {
  const base = include.length > 0 ? resolveTableNames(catalog, include) : [...catalog.tables.values()];
  const drop = new Set(resolveTableNames(catalog, exclude).map((t) => t.id));
  const seen = new Set<string>();
  return base.filter((t) => !drop.has(t.id) && !seen.has(t.id) && seen.add(t.id));
}
