import { describe, expect, it } from "vitest";
import { RowScanner, TenantMatcher, rawEqualsTenant, scanValues } from "./row-scan.js";
import { canonicalTenantText } from "./tenant-id.js";
import { mulberry32 } from "../../test/helpers/random.js";

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

/** `locate` on `text` placed inside a bigger buffer (other lines around it, as in a window). */
function locateIn(scanner: RowScanner, text: string, k = 0): string | undefined | null {
  const before = Buffer.from('{"user_id":777,"id":0}\n{"x":1}\n');
  const line = row(text);
  const buf = Buffer.concat([before, line, Buffer.from('\n{"user_id":888}\n')]);
  const at = scanner.locate(buf, before.length, before.length + line.length, k);
  return at < 0 ? null : buf.toString("utf8", at, scanner.valueEnd);
}

describe("RowScanner.locate", () => {
  const scanner = new RowScanner(['"user_id"', '"id"']);
  const cases = [
    '{"id":7,"user_id":42,"a\\"b":"x"}',
    '{"user_id":"t,1","id":-1.5e3}',
    '{"user_id":null,"id":1}',
    '{"id":1,"user_id":null}',
    // numeric spellings, verbatim
    '{"id":1,"user_id":1.00}',
    '{"id":1,"user_id":-0}',
    '{"id":1,"user_id":1e0}',
    // the key's text as a value, and inside string values (quotes escaped there)
    '{"name":"user_id","user_id":5,"id":1}',
    '{"name":"x\\",\\"user_id\\":9","user_id":1,"id":2}',
    // escaped backslashes right before a closing quote, then the key
    '{"name":"a\\\\","user_id":3,"id":4}',
    '{"name":"a\\\\\\"{\\\\","user_id":3,"id":4}',
    // jsonb stored as text holding the same key, before the row's own
    '{"payload":"{\\"user_id\\": 9, \\"id\\": {}}","user_id":2,"id":3}',
    // a nested object (composite) holding the same key before the row's own
    '{"x":{"q":1,"user_id":99},"user_id":1,"id":2}',
    '{"x":[1,{"user_id":99}],"user_id":1,"id":2}',
    // an array of strings with braces, then the key
    '{"tags":"{a,b}","arr":["{","}"],"user_id":6,"id":7}',
    // the key far into the row (past the JavaScript search), with and without a `{` in a string
    `{"long":"${"z".repeat(300)}","user_id":8,"id":9}`,
    `{"long":"${"{".repeat(300)}","user_id":8,"id":9}`,
    `{"x":{"user_id":1},"long":"${"z".repeat(300)}","user_id":8,"id":9}`,
    // whitespace, missing keys, not an object
    '{ "user_id" : 5 , "id": 6}',
    '{"id":6,"user_id": 5}',
    '{"id":6}',
    "[1,2]",
    '{"user_id":"ação 🎉","id":0}',
  ];
  it.each(cases)("gives what scanValues gives, or steps aside: %s", (text) => {
    const want = text.startsWith("[") ? [undefined, undefined] : scanValues(row(text), ['"user_id"', '"id"']);
    for (const k of [0, 1]) {
      const got = locateIn(scanner, text, k);
      if (got !== null) expect(got).toBe(want[k]);
    }
  });
  it("vouches for pgsnap's flat rows, also with braces inside strings before the key", () => {
    for (const text of [
      '{"id":7,"user_id":42}',
      '{"user_id":42,"id":7}',
      '{"tags":"{a,b}","user_id":6,"id":7}',
      '{"payload":"{\\"user_id\\": 9}","user_id":2,"id":3}',
      `{"long":"${"{".repeat(300)}","user_id":8,"id":9}`,
      '{"id":1,"user_id":null}',
    ]) {
      expect(locateIn(scanner, text), text).not.toBeNull();
      expect(locateIn(scanner, text, 1), text).not.toBeNull();
    }
  });
  it("steps aside for a nested object before the key and for a missing key", () => {
    expect(locateIn(scanner, '{"x":{"user_id":99},"user_id":1}')).toBeNull();
    expect(locateIn(scanner, `{"x":{"user_id":1},"long":"${"z".repeat(300)}","user_id":8}`)).toBeNull();
    expect(locateIn(scanner, '{"id":6}')).toBeNull();
  });
});

describe("RowScanner.locate on random rows", () => {
  // Rows built from pieces that trip byte searches: the key inside strings and nested objects,
  // escaped quotes and backslashes, braces, keys that share the key's first bytes, whitespace,
  // values past the JavaScript search, odd values. Wherever locate vouches, it must give
  // scanValues' answer; on pgsnap's flat rows it must vouch.
  const keys = ['"user_id"', '"id"', '"user"', '"user_idx"', '"u"', '""', '"name"'];
  const values = [
    "1",
    "-0",
    "1.50",
    "null",
    "true",
    '"1"',
    String.raw`"a\\"`,
    String.raw`"\\\"{"`,
    String.raw`",\"user_id\":1,"`,
    String.raw`"{\"user_id\": 2}"`,
    '"{"',
    '"}"',
    '{"user_id":3}',
    '{"a":{"user_id":4},"b":"}"}',
    '[1,{"user_id":5}]',
    '{"q":1,"user_id":9,"id":8}',
    '[1,{"x":0,"user_id":5}]',
    // not JSON, but scanValues reads it as an empty value
    "",
    '["{","}"]',
    '"ação 🎉"',
  ];
  it("gives scanValues' value wherever it vouches, for every key", () => {
    const rand = mulberry32(14);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
    const scanner = new RowScanner(keys);
    let vouched = 0;
    let flatVouched = 0;
    for (let r = 0; r < 20_000; r++) {
      // Distinct keys in random order, as a row's columns are.
      const rowKeys = [...keys].sort(() => rand() - 0.5).slice(0, 1 + Math.floor(rand() * keys.length));
      // Flat: what pgsnap writes (no nested object, no whitespace between tokens).
      const flat = rand() < 0.5;
      const parts = rowKeys.map((key) => {
        let v = pick(values);
        if (rand() < 0.05) v = `"${"z".repeat(70 + Math.floor(rand() * 40))}"`;
        if (flat && (v.startsWith("{") || v.startsWith("["))) v = "2";
        const ws = !flat && rand() < 0.05 ? " " : "";
        return `${key}${ws}:${ws}${v}`;
      });
      const text = `{${parts.join(",")}}`;
      const line = row(text);
      const want = scanValues(line, keys);
      // The line inside a window, between other lines.
      const before = Buffer.from('{"user_id":777,"id":0}\n');
      const buf = Buffer.concat([before, line, Buffer.from('\n{"user_id":888}\n')]);
      for (let k = 0; k < keys.length; k++) {
        const at = scanner.locate(buf, before.length, before.length + line.length, k);
        if (at < 0) {
          if (flat && want[k] !== undefined) throw new Error(`locate stepped aside on a flat row: ${text}, ${keys[k]}`);
          continue;
        }
        vouched++;
        if (flat) flatVouched++;
        expect({ text, key: keys[k], got: buf.toString("utf8", at, scanner.valueEnd) }).toEqual({
          text,
          key: keys[k],
          got: want[k],
        });
      }
    }
    expect(flatVouched).toBeGreaterThan(10_000);
    expect(vouched).toBeGreaterThan(flatVouched);
  });
});

describe("TenantMatcher", () => {
  const raws = [
    "1",
    "1.0",
    "1.00",
    "-1",
    "-0",
    "0",
    "0.0",
    "-0.00",
    "01",
    "+1",
    "1e0",
    "1E5",
    "10",
    "100",
    "1.5",
    "1.50",
    "0.5",
    "-0.5",
    "1.",
    ".5",
    "12",
    "2",
    "true",
    "null",
    "",
    "-",
    '"1"',
    '"01"',
    '" 1"',
    '"1.0"',
    '"abc"',
    '"ABC"',
    '"aBc"',
    '"a\\"b"',
    '"a\\\\b"',
    '"\\u0031"',
    '"ação"',
    '"1e5"',
    '"NaN"',
    "NaN",
    '"null"',
    '""',
    '"7c9e6679-7425-40de-944b-e07fc1f90ae7"',
    '"7C9E6679-7425-40DE-944B-E07FC1F90AE7"',
    '"{7c9e6679742540de944be07fc1f90ae7}"',
    '"7c9e6679-7425-40de-944b-e07fc1f90ae8"',
  ];
  const tenants = [
    "1",
    "0",
    "-1",
    "1.5",
    "10",
    "abc",
    "ABC",
    'a"b',
    "a\\b",
    "ação",
    "1e5",
    "null",
    "NaN",
    '"1"',
    "7c9e6679-7425-40de-944b-e07fc1f90ae7",
    "7C9E6679-7425-40DE-944B-E07FC1F90AE7",
    "",
  ];
  const types = [undefined, "int2", "int4", "int8", "numeric", "uuid", "citext", "text", "varchar"];
  const exact = (raw: string, tenant: string, type: string | undefined): boolean | "throws" => {
    try {
      return rawEqualsTenant(raw, tenant, type);
    } catch {
      return "throws";
    }
  };
  it("answers exactly as rawEqualsTenant for every spelling, tenant and type", () => {
    let checked = 0;
    for (const type of types) {
      for (const t of tenants) {
        const tenant = canonicalTenantText(type, t);
        const matcher = new TenantMatcher(tenant, type);
        for (const raw of raws) {
          const want = exact(raw, tenant, type);
          const buf = Buffer.from(`,"user_id":${raw},`);
          const start = 11;
          const end = start + Buffer.byteLength(raw);
          const got = (() => {
            try {
              return matcher.matches(buf, start, end);
            } catch {
              return "throws";
            }
          })();
          expect(got, `${type ?? "-"} tenant ${JSON.stringify(tenant)} raw ${raw}`).toBe(want);
          checked++;
        }
      }
    }
    expect(checked).toBeGreaterThan(5000);
  });
  it("matches equal numbers spelled differently, never a longer or shorter one", () => {
    const m = new TenantMatcher("1", "numeric");
    const at = (raw: string) => m.matches(Buffer.from(raw), 0, raw.length);
    expect([at("1"), at("1.0"), at("1.00"), at("1e0"), at("+1")]).toEqual([true, true, true, true, true]);
    expect([at("10"), at("11"), at("0.1"), at("1.01"), at("-1"), at("null")]).toEqual([
      false,
      false,
      false,
      false,
      false,
      false,
    ]);
    const z = new TenantMatcher("0", "numeric");
    expect([z.matches(Buffer.from("-0.00"), 0, 5), z.matches(Buffer.from("0"), 0, 1)]).toEqual([true, true]);
  });
  it("an absent key or SQL NULL is no tenant", () => {
    expect(new TenantMatcher("null").matches(Buffer.from("null"), 0, 4)).toBe(false);
    expect(new TenantMatcher("1").matchesRaw(undefined)).toBe(false);
  });
});
