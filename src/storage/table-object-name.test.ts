import { describe, expect, it } from "vitest";
import { MAX_OBJECT_NAME, tableObjectName } from "./keys.js";

describe("tableObjectName", () => {
  it("keeps ordinary names readable", () => {
    expect(tableObjectName("public", "orders")).toBe("public.orders.ndjson.zst");
    expect(tableObjectName("x", "a.b")).toBe("x.a%2Eb.ndjson.zst");
    expect(tableObjectName("x.a", "b")).toBe("x%2Ea.b.ndjson.zst");
  });
  it("bounds long names with a readable prefix and a hash, never cutting an escape", () => {
    const schema = "日".repeat(21);
    const name = "本".repeat(21);
    const a = tableObjectName(schema, name);
    expect(a.length).toBeLessThanOrEqual(MAX_OBJECT_NAME);
    expect(a).toMatch(/^(%[0-9A-F]{2})+~[0-9a-f]{16}\.ndjson\.zst$/);
    const b = tableObjectName(schema, "本".repeat(20) + "木");
    expect(b).not.toBe(a);
    expect(b.length).toBeLessThanOrEqual(MAX_OBJECT_NAME);
    for (let n = 1; n < 70; n++) {
      const o = tableObjectName("s", "é".repeat(n));
      expect(o.length).toBeLessThanOrEqual(MAX_OBJECT_NAME);
      expect(o).toMatch(/^[^~]*?((%[0-9A-F]{2})|[A-Za-z0-9_.-])*(~[0-9a-f]{16})?\.ndjson\.zst$/);
    }
  });
  it("hashes on request, and a hashed name never equals a plain one", () => {
    const h = tableObjectName("public", "Orders", { hashed: true });
    expect(h).toMatch(/^public\.Orders~[0-9a-f]{16}\.ndjson\.zst$/);
    expect(h).not.toBe(tableObjectName("public", "orders", { hashed: true }));
    expect(tableObjectName("public", "Orders~0123456789abcdef")).toContain("%7E");
  });
});
