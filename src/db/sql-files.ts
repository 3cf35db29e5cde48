import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

/** The repository's top-level `sql/` folder, from src/db (tsx) or dist/db (built). */
const sqlDir = fileURLToPath(new URL("../../sql/", import.meta.url));
const cache = new Map<string, string>();

/** Text of `sql/<name>` (e.g. `catalog/tables.sql`), read once. */
export function readSql(name: string): string {
  let text = cache.get(name);
  if (text === undefined) {
    text = readFileSync(sqlDir + name, "utf8");
    cache.set(name, text);
  }
  return text;
}

/** Absolute path of `sql/<name>`. */
export function sqlPath(name: string): string {
  return sqlDir + name;
}
