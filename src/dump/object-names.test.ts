import { describe, expect, it } from "vitest";
import { tableId, type TableInfo } from "../db/catalog.js";
import { objectNames, tenantOfFrame } from "./dump.js";

const table = (schema: string, name: string) => ({ schema, name, id: tableId(schema, name) }) as TableInfo;

describe("objectNames", () => {
  it("gives every dumped table its own object name, case-insensitively", () => {
    const tables = [table("public", "orders"), table("public", "Orders"), table("x", "a.b"), table("x.a", "b")];
    const names = objectNames(tables);
    expect(names.get('x."a.b"')).toBe("x.a%2Eb.ndjson.zst");
    expect(names.get('"x.a".b')).toBe("x%2Ea.b.ndjson.zst");
    const all = [...names.values()];
    expect(new Set(all.map((n) => n.toLowerCase())).size).toBe(tables.length);
    expect(names.get("public.orders")).toMatch(/^public\.orders~[0-9a-f]{16}\.ndjson\.zst$/);
  });
  it("fails when two tables would share an id", () => {
    expect(() => objectNames([table("public", "t"), table("public", "t")])).toThrow(/public\.t/);
  });
});

describe("tenantOfFrame", () => {
  it("reads the frame keys the dump writes: k<tenant> or n (no tenant)", () => {
    expect(tenantOfFrame('"k42"')).toBe("42");
    expect(tenantOfFrame('"k"')).toBe("");
    expect(tenantOfFrame('"kn"')).toBe("n");
    expect(tenantOfFrame('"n"')).toBeNull();
  });
});
