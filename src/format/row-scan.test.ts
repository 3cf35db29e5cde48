import { describe, expect, it } from "vitest";
import { rawEqualsTenant, scanValues } from "./row-scan.js";

const row = (s: string) => Buffer.from(s, "utf8");

describe("scanValues", () => {
  it("returns raw text of top-level values, numbers unparsed", () => {
    const line = row('{"id":9223372036854775807,"user_id":"a\\"b,}","n":null,"x":{"k":[1,"]"]},"t":true}');
    expect(scanValues(line, ['"id"', '"user_id"', '"n"', '"x"', '"t"', '"missing"'])).toEqual([
      "9223372036854775807",
      '"a\\"b,}"',
      "null",
      '{"k":[1,"]"]}',
      "true",
      undefined,
    ]);
  });
  it("matches keys that need escaping exactly as JSON encodes them", () => {
    const key = JSON.stringify('quote"in\\side');
    const line = row(`{${key}:1.50,"b":2}`);
    expect(scanValues(line, [key])).toEqual(["1.50"]);
  });
  it("keeps multi-byte text intact", () => {
    expect(scanValues(row('{"a":"ação 🎉","b":1}'), ['"a"'])).toEqual(['"ação 🎉"']);
  });
  it("rejects a non-object", () => {
    expect(() => scanValues(row("[1,2]"), ['"a"'])).toThrow(/not a JSON object/);
  });
});

describe("rawEqualsTenant", () => {
  it("compares numbers and strings in their JSON forms", () => {
    expect(rawEqualsTenant("42", "42")).toBe(true);
    expect(rawEqualsTenant('"42"', "42")).toBe(true);
    expect(rawEqualsTenant('"a\'b"', "a'b")).toBe(true);
    expect(rawEqualsTenant("420", "42")).toBe(false);
    expect(rawEqualsTenant("null", "null")).toBe(false);
    expect(rawEqualsTenant(undefined, "1")).toBe(false);
  });
});
