import { describe, expect, it } from "vitest";
import { findTables, parseTableRef, resolveTableName, tableId, type TableInfo } from "./catalog.js";

const table = (schema: string, name: string) => ({ schema, name, id: tableId(schema, name) }) as TableInfo;

describe("tableId", () => {
  it("keeps plain lower-case names as they are", () => {
    expect(tableId("public", "orders")).toBe("public.orders");
    expect(tableId("_s1", "t_$2")).toBe("_s1.t_$2");
  });
  it("quotes parts with dots, quotes, capitals, spaces or a leading digit", () => {
    expect(tableId("x", "a.b")).toBe('x."a.b"');
    expect(tableId("x.a", "b")).toBe('"x.a".b');
    expect(tableId("public", "Orders")).toBe('public."Orders"');
    expect(tableId("s", 'we"ird')).toBe('s."we""ird"');
    expect(tableId("s", "two words")).toBe('s."two words"');
    expect(tableId("s", "1st")).toBe('s."1st"');
    expect(tableId("日", "本")).toBe('"日"."本"');
  });
  it("gives distinct tables distinct ids, and parses each id back to its parts", () => {
    const names = ["a", "a.b", "x.a", "b", "x", '"', '""', ".", "A", "a b", "日本", 'x."a', "", "a.", ".b"].filter(
      Boolean,
    );
    const ids = new Map<string, [string, string]>();
    for (const s of names)
      for (const n of names) {
        const id = tableId(s, n);
        expect(ids.has(id), id).toBe(false);
        ids.set(id, [s, n]);
        const ref = parseTableRef(id)!;
        expect([ref.schema, ref.name]).toEqual([s, n]);
      }
  });
});

describe("parseTableRef", () => {
  it("reads qualified and bare names, quoted or not", () => {
    expect(parseTableRef("a.b")).toMatchObject({ schema: "a", name: "b", plain: { schema: true, name: true } });
    expect(parseTableRef('"x.a".b')).toMatchObject({ schema: "x.a", name: "b", plain: { schema: false, name: true } });
    expect(parseTableRef('x."a.b"')).toMatchObject({ schema: "x", name: "a.b" });
    expect(parseTableRef('"We""ird"')).toMatchObject({ schema: undefined, name: 'We"ird' });
    expect(parseTableRef(" orders ")).toMatchObject({ schema: undefined, name: "orders" });
  });
  it("rejects what is not a table name", () => {
    for (const bad of ["a.b.c", 'x."a', "a..b", ".a", "a.", '""', 'a"b', "a b", ""]) {
      expect(parseTableRef(bad), bad).toBeUndefined();
    }
  });
});

describe("findTables", () => {
  const tables = [table("x", "a.b"), table("x.a", "b"), table("public", "Orders"), table("s2", "orders")];
  it('never mixes up x."a.b" and "x.a".b', () => {
    expect(findTables(tables, parseTableRef('x."a.b"')!).map((t) => t.id)).toEqual(['x."a.b"']);
    expect(findTables(tables, parseTableRef('"x.a".b')!).map((t) => t.id)).toEqual(['"x.a".b']);
    expect(findTables(tables, parseTableRef("x.a.b") ?? parseTableRef("x.a")!)).toEqual([]);
  });
  it("matches unquoted parts exactly first, then ignoring case", () => {
    expect(findTables(tables, parseTableRef("public.Orders")!).map((t) => t.id)).toEqual(['public."Orders"']);
    expect(findTables(tables, parseTableRef("public.orders")!).map((t) => t.id)).toEqual(['public."Orders"']);
    expect(findTables(tables, parseTableRef('public."orders"')!)).toEqual([]);
    expect(findTables(tables, parseTableRef("orders")!).map((t) => t.id)).toEqual(["s2.orders"]);
  });
});

describe("resolveTableName", () => {
  const tables = [table("App Data", "Tenant Data"), table("x", "a.b"), table("x.a", "b")];
  it("still reads old unquoted ids when they name one table", () => {
    expect(resolveTableName(tables, "App Data.Tenant Data").map((t) => t.id)).toEqual(['"App Data"."Tenant Data"']);
    expect(resolveTableName(tables, '"App Data"."Tenant Data"').map((t) => t.id)).toEqual(['"App Data"."Tenant Data"']);
  });
  it("leaves the old ambiguous spelling ambiguous", () => {
    expect(
      resolveTableName(tables, "x.a.b")
        .map((t) => t.id)
        .sort(),
    ).toEqual(['"x.a".b', 'x."a.b"']);
  });
});
