import { describe, expect, it } from "vitest";
import { RowScanner, rawEqualsTenant, scanValues } from "./row-scan.js";

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

describe("RowScanner", () => {
  const keys = ['"user_id"', '"id"', JSON.stringify('a"b')];
  it.each([
    ['{"id":7,"user_id":42,"a\\"b":"x"}'],
    ['{"user_id":"t,1","id":-1.5e3,"a\\"b":null}'],
    // the key's text inside string values: `"` is always escaped there, so no false match
    ['{"name":"x\\",\\"user_id\\":9","user_id":1,"id":2,"a\\"b":3}'],
    // a nested object holding the same key before the row's own
    ['{"x":{"q":1,"user_id":99},"user_id":1,"id":2,"a\\"b":[1,{"id":5}]}'],
    // a `{` in a string before the key: the fast search steps aside
    ['{"j":"{\\"a\\":1}","user_id":3,"id":4,"a\\"b":true}'],
    // whitespace, a missing key
    ['{ "user_id" : 5 , "id": 6}'],
    ['{"id":6,"user_id": 5}'],
    ['{"id":6}'],
    ['{"user_id":"ação 🎉","id":0,"a\\"b":false}'],
  ])("gives what scanValues gives: %s", (text) => {
    const line = row(text);
    expect(new RowScanner(keys).values(line)).toEqual(scanValues(line, keys));
  });
  it("finds values without walking the row when it is flat", () => {
    expect(new RowScanner(['"user_id"']).values(row('{"id":1,"user_id":"42"}'))).toEqual(['"42"']);
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
