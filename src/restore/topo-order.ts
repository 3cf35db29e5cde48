import type { TableInfo } from "../db/catalog.js";

/**
 * Tables ordered parents first along foreign keys among themselves (self references and cycles
 * are broken deterministically: a cycle's tables keep their name order).
 */
export function parentsFirst(tables: readonly TableInfo[]): TableInfo[] {
  const ids = new Set(tables.map((t) => t.id));
  const byId = new Map(tables.map((t) => [t.id, t]));
  const out: TableInfo[] = [];
  const state = new Map<string, "visiting" | "done">();
  const visit = (t: TableInfo) => {
    if (state.has(t.id)) return;
    state.set(t.id, "visiting");
    for (const fk of [...t.foreignKeys].sort((a, b) => (a.refTable < b.refTable ? -1 : 1))) {
      if (fk.refTable !== t.id && ids.has(fk.refTable)) visit(byId.get(fk.refTable)!);
    }
    state.set(t.id, "done");
    out.push(t);
  };
  for (const t of [...tables].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))) visit(t);
  return out;
}
