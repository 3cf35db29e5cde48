import type { ForeignKeyInfo, TableInfo } from "../db/catalog.js";

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

/**
 * Foreign keys that close a cycle among `tables` (both ends in the same strongly connected
 * component of two or more tables). Rows along such keys cannot be written in any table order;
 * restore checks them at the end of its writes instead. Self references need nothing: a single
 * statement checks them when it ends.
 */
export function cyclicForeignKeys(tables: readonly TableInfo[]): ForeignKeyInfo[] {
  const ids = new Set(tables.map((t) => t.id));
  const edges = new Map<string, string[]>(
    tables.map((t) => [
      t.id,
      t.foreignKeys.filter((f) => ids.has(f.refTable) && f.refTable !== t.id).map((f) => f.refTable),
    ]),
  );
  // Tarjan's algorithm.
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const component = new Map<string, number>();
  let comp = 0;
  const sizes: number[] = [];
  const strong = (v: string): void => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    onStack.add(v);
    for (const w of edges.get(v) ?? []) {
      if (!idx.has(w)) {
        strong(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      let size = 0;
      for (let w = stack.pop(); w !== undefined; w = w === v ? undefined : stack.pop()) {
        onStack.delete(w);
        component.set(w, comp);
        size++;
      }
      sizes[comp++] = size;
    }
  };
  for (const t of tables) if (!idx.has(t.id)) strong(t.id);
  return tables.flatMap((t) =>
    t.foreignKeys.filter(
      (f) =>
        ids.has(f.refTable) &&
        f.refTable !== t.id &&
        component.get(f.refTable) === component.get(t.id) &&
        sizes[component.get(t.id)!]! > 1,
    ),
  );
}
