import { Readable, Writable } from "node:stream";
import { finished, pipeline } from "node:stream/promises";
import { setImmediate as tick } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { IntegrityError } from "../errors.js";
import { NdjsonToCopy, transcodeLine } from "./ndjson-to-copy.js";
import { mulberry32 as prng } from "../../test/helpers/random.js";

/** Runs `input` through a fresh NdjsonToCopy in chunks of `size` bytes (all at once by default). */
async function transcode(input: Buffer | string, columns: readonly string[], size?: number) {
  const data = Buffer.isBuffer(input) ? input : Buffer.from(input);
  const chunks: Buffer[] = [];
  const step = size ?? Math.max(1, data.length);
  for (let i = 0; i < data.length; i += step) chunks.push(data.subarray(i, i + step));
  return transcodeChunks(chunks, columns);
}

async function transcodeChunks(chunks: readonly Buffer[], columns: readonly string[]) {
  const stream = new NdjsonToCopy({ columns });
  const out: Buffer[] = [];
  await pipeline(Readable.from(chunks), stream, async (source: AsyncIterable<Buffer>) => {
    for await (const c of source) out.push(c);
  });
  return { out: Buffer.concat(out), rows: stream.rows };
}

/** The rejection of a transcode, which must be an IntegrityError. */
async function failure(input: string, columns: readonly string[], size?: number): Promise<IntegrityError> {
  const err: unknown = await transcode(input, columns, size).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(IntegrityError);
  return err as IntegrityError;
}

/**
 * A COPY text decoder as PostgreSQL's COPY FROM reads the default text format (PostgreSQL docs,
 * COPY, "Text Format"): rows end at `\n`, fields split at TAB, a field that is exactly `\N` is NULL,
 * backslash sequences \b \f \n \r \t \v, octal \ooo, hex \xhh, anything else stands for itself.
 * Bytes are then decoded as UTF-8 strictly (the server rejects invalid UTF-8).
 */
function decodeCopyText(data: Buffer): (string | null)[][] {
  const utf8 = new TextDecoder("utf-8", { fatal: true });
  const rows: (string | null)[][] = [];
  if (data.length === 0) return rows;
  expect(data[data.length - 1]).toBe(0x0a);
  let start = 0;
  while (start < data.length) {
    const lf = data.indexOf(0x0a, start);
    const line = data.subarray(start, lf);
    start = lf + 1;
    const fields: (string | null)[] = [];
    let f = 0;
    for (;;) {
      let t = line.indexOf(0x09, f);
      if (t < 0) t = line.length;
      const raw = line.subarray(f, t);
      if (raw.length === 2 && raw[0] === 0x5c && raw[1] === 0x4e) {
        fields.push(null);
      } else {
        const bytes: number[] = [];
        for (let i = 0; i < raw.length; i++) {
          const c = raw[i]!;
          if (c !== 0x5c) {
            bytes.push(c);
            continue;
          }
          const e = raw[++i];
          if (e === undefined) throw new Error("dangling backslash");
          const simple: Record<number, number> = { 0x62: 8, 0x66: 12, 0x6e: 10, 0x72: 13, 0x74: 9, 0x76: 11 };
          if (simple[e] !== undefined) bytes.push(simple[e]);
          else if (e >= 0x30 && e <= 0x37) {
            let v = e - 0x30;
            for (let k = 0; k < 2 && raw[i + 1]! >= 0x30 && raw[i + 1]! <= 0x37; k++) v = v * 8 + raw[++i]! - 0x30;
            bytes.push(v & 0xff);
          } else if (e === 0x78 && /[0-9a-f]/i.test(String.fromCharCode(raw[i + 1] ?? 0))) {
            let hex = String.fromCharCode(raw[++i]!);
            if (/[0-9a-f]/i.test(String.fromCharCode(raw[i + 1] ?? 0))) hex += String.fromCharCode(raw[++i]!);
            bytes.push(parseInt(hex, 16));
          } else bytes.push(e);
        }
        fields.push(utf8.decode(Uint8Array.from(bytes)));
      }
      if (t === line.length) break;
      f = t + 1;
    }
    rows.push(fields);
  }
  return rows;
}

/** One field through transcodeLine: `value` is the raw JSON text of the value of column "v". */
function field(value: string): Buffer {
  return transcodeLine(Buffer.from(`{"v":${value}}`), ["v"]);
}

describe("transcodeLine", () => {
  it("turns the row_to_json example into COPY text", () => {
    const line =
      String.raw`{"id":1,"user_id":7,"name":"a \"q\" \\ b` +
      "\\n" +
      String.raw`c","price":12.50,"tags":"{a,b}","meta":"{\"k\": 1}","ok":true,"n":null}`;
    const columns = ["id", "user_id", "name", "price", "tags", "meta", "ok", "n"];
    expect(transcodeLine(Buffer.from(line), columns).toString()).toBe(
      ["1", "7", String.raw`a "q" \\ b\nc`, "12.50", "{a,b}", '{"k": 1}', "true", String.raw`\N`].join("\t"),
    );
  });

  it("unescapes hostile strings and escapes them for COPY", () => {
    const cases: [json: string, copy: string | Buffer][] = [
      [String.raw`"a \"q\" \\ b\nc"`, String.raw`a "q" \\ b\nc`],
      [String.raw`"\r\t\n"`, String.raw`\r\t\n`],
      [String.raw`"\u0001\u0002\u001f\u007f"`, Buffer.from([1, 2, 0x1f, 0x7f])],
      [String.raw`"\b\f\/"`, Buffer.from([8, 12, 0x2f])],
      [String.raw`"\u005c\u000a\u000D\u0009\u0022"`, String.raw`\\\n\r\t"`],
      [String.raw`"\\N"`, String.raw`\\N`],
      [String.raw`"\\."`, String.raw`\\.`],
      [String.raw`"\\\\"`, String.raw`\\\\`],
      [String.raw`"\ud83c\udf89 party"`, "🎉 party"],
      [String.raw`"\uD83C\uDF89"`, "🎉"],
      ['"🎉 raw"', "🎉 raw"],
      // precomposed é escaped and raw, then e + combining acute escaped and raw
      ['"\\u00e9 \u00e9 e\\u0301 e\u0301"', "\u00e9 \u00e9 e\u0301 e\u0301"],
      [String.raw`"\u0080\u07ff\u0800\uffff\ud800\udc00\udbff\udfff"`, "\u0080\u07ff\u0800\uffff\u{10000}\u{10ffff}"],
      ['"日本語 עברית ﷽"', "日本語 עברית ﷽"],
      ['"{\\"k\\": [1, \\"\\\\u0000\\"]}"', String.raw`{"k": [1, "\\u0000"]}`],
      ['""', ""],
      ['"null"', "null"],
      ['"NaN"', "NaN"],
      ['"Infinity"', "Infinity"],
    ];
    for (const [json, copy] of cases) {
      expect(field(json).toString("hex"), json).toBe(Buffer.from(copy).toString("hex"));
      // the escapes are the only ones: the COPY text decodes back to JSON's value
      expect(decodeCopyText(Buffer.concat([field(json), Buffer.from("\n")]))).toEqual([[JSON.parse(json)]]);
    }
  });

  it("keeps numbers and booleans verbatim", () => {
    for (const token of [
      "9223372036854775807",
      "-9223372036854775808",
      "1.50",
      "1e-320",
      "-0",
      "0.1E+10",
      "12345678901234567890123456789.000000001",
      "true",
      "false",
    ]) {
      expect(field(token).toString()).toBe(token);
    }
  });

  it("tells null from the string null, the empty string and a missing key", () => {
    const out = transcodeLine(Buffer.from('{"a":null,"b":"null","c":"","e":1}'), ["a", "b", "c", "d"]);
    expect(out.toString()).toBe("\\N\tnull\t\t\\N");
    expect(decodeCopyText(Buffer.concat([out, Buffer.from("\n")]))).toEqual([[null, "null", "", null]]);
  });

  it("finds keys in any order and ignores keys that are not columns", () => {
    const cols = ["a", "b", "c"];
    expect(transcodeLine(Buffer.from('{"c":3,"a":1,"b":2}'), cols).toString()).toBe("1\t2\t3");
    expect(transcodeLine(Buffer.from('{"x":"\\t","a":1,"y":{"z":[1]},"b":2,"c":3,"w":null}'), cols).toString()).toBe(
      "1\t2\t3",
    );
    expect(transcodeLine(Buffer.from('{"b":2}'), cols).toString()).toBe("\\N\t2\t\\N");
    expect(transcodeLine(Buffer.from("{}"), cols).toString()).toBe("\\N\t\\N\t\\N");
    expect(transcodeLine(Buffer.from("{}"), []).toString()).toBe("");
    expect(transcodeLine(Buffer.from('{"a":1}'), []).toString()).toBe("");
  });

  it("matches keys that need escaping, however the line escapes them", () => {
    const cols = ['quote"in', "back\\slash", "new\nline", "é", "🎉"];
    const ordered = JSON.stringify({ 'quote"in': 1, "back\\slash": 2, "new\nline": 3, é: 4, "🎉": 5 });
    expect(transcodeLine(Buffer.from(ordered), cols).toString()).toBe("1\t2\t3\t4\t5");
    const escaped = String.raw`{"\ud83c\udf89":5,"\u00e9":4,"new\u000aline":3,"back\u005cslash":2,"quote\u0022in":1}`;
    expect(transcodeLine(Buffer.from(escaped), cols).toString()).toBe("1\t2\t3\t4\t5");
  });

  it("takes the last value of a duplicated key, as jsonb does", () => {
    expect(transcodeLine(Buffer.from('{"a":1,"b":2,"a":3}'), ["a", "b"]).toString()).toBe("3\t2");
    expect(transcodeLine(Buffer.from('{"a":1,"a":null}'), ["a"]).toString()).toBe("\\N");
  });

  it("tolerates whitespace between tokens", () => {
    const cols = ["a", "b", "c"];
    expect(transcodeLine(Buffer.from(' { "a" : 1 , "b" :\t"x y" ,\r"c": null } \r'), cols).toString()).toBe(
      "1\tx y\t\\N",
    );
    expect(transcodeLine(Buffer.from('{ "c" : 3 , "a" : 1 }'), cols).toString()).toBe("1\t\\N\t3");
  });

  it("passes a nested value through as its raw JSON text", () => {
    const nested = '{"x":[1,"t\\tab \\\\ \\"q\\" }]"],"y":{}}';
    const out = transcodeLine(Buffer.from(`{"a":${nested},"b":[],"c":[[{"d":"["}]]}`), ["a", "b", "c"]);
    expect(decodeCopyText(Buffer.concat([out, Buffer.from("\n")]))).toEqual([[nested, "[]", '[[{"d":"["}]]']]);
    // whitespace inside a nested value that COPY must escape
    const spaced = '{"a":[1,\t2,\r3]}';
    expect(transcodeLine(Buffer.from(spaced), ["a"]).toString()).toBe("[1,\\t2,\\r3]");
  });

  it("rejects a column listed twice", () => {
    expect(() => transcodeLine(Buffer.from("{}"), ["a", "a"])).toThrow(RangeError);
  });

  it("rejects lines that are not one of our rows", () => {
    const bad = [
      "",
      " ",
      "[1]",
      '"x"',
      "null",
      "{",
      '{"a":1',
      '{"a":1,',
      '{"a":"abc',
      '{"a":"abc\\',
      '{"a":}',
      '{"a" 1}',
      '{"a":1,}',
      '{"a":1}x',
      '{"a":1}{"a":1}',
      "{a:1}",
      '{"a":tru}',
      '{"a":nul}',
      '{"a":nullx}',
      '{"a":12x}',
      '{"a":+1}',
      '{"a":.5}',
      '{"a":NaN}',
      "{\"a\":'x'}",
      '{"a":"\\x"}',
      '{"a":"\\u12"}',
      '{"a":"\\u12g4"}',
      '{"a":"\\ud800"}',
      '{"a":"\\ud800x"}',
      '{"a":"\\ud800\\u0041"}',
      '{"a":"\\udc00\\ud800"}',
      '{"a":"\\u0000"}',
      '{"a":"tab\there"}',
      '{"a":"cr\rhere"}',
      '{"a":"nl\nhere"}',
      '{"a":[1,2}',
      '{"a":[1,"]"}',
      '{"b":"\\u0000","a":1}',
    ];
    for (const line of bad) {
      expect(() => transcodeLine(Buffer.from(line), ["a"]), JSON.stringify(line)).toThrow(IntegrityError);
      try {
        transcodeLine(Buffer.from(line), ["a"]);
      } catch (err) {
        expect((err as IntegrityError).code).toBe("NDJSON_MALFORMED");
        expect((err as IntegrityError).exitCode).toBe(12);
        expect((err as IntegrityError).message).toMatch(/NDJSON row 1 /);
      }
    }
  });
});

describe("NdjsonToCopy", () => {
  const columns = ["id", "user_id", "name", "price", "ok", "n"];
  const input = [
    '{"id":1,"user_id":7,"name":"plain","price":12.50,"ok":true,"n":null}',
    '{"id":2,"user_id":7,"name":"a \\"q\\" \\\\ b\\nc\\r\\td","price":-0.5,"ok":false,"n":"null"}',
    '{"name":"🎉 é \\ud83c\\udf89 \\u00e9","id":3,"extra":[1,{"k":"v"}]}',
    '{"id":9223372036854775807,"user_id":-9223372036854775808,"name":"","price":1e-320,"ok":true,"n":"\\\\N"}',
    '{"id":5,"user_id":7,"name":"\\u0001\\u001f日本","price":0,"ok":true,"n":null}',
  ]
    .map((l) => l + "\n")
    .join("");
  const expected = [
    ["1", "7", "plain", "12.50", "true", null],
    ["2", "7", 'a "q" \\ b\nc\r\td', "-0.5", "false", "null"],
    ["3", null, "🎉 é 🎉 é", null, null, null],
    ["9223372036854775807", "-9223372036854775808", "", "1e-320", "true", "\\N"],
    ["5", "7", "\u0001\u001f日本", "0", "true", null],
  ];

  it("transcodes a stream of rows and counts them", async () => {
    const { out, rows } = await transcode(input, columns);
    expect(rows).toBe(5);
    expect(decodeCopyText(out)).toEqual(expected);
    // the same bytes as line by line
    const lines = input.split("\n").slice(0, -1);
    expect(out.toString()).toBe(lines.map((l) => transcodeLine(Buffer.from(l), columns).toString() + "\n").join(""));
  });

  it("gives the same output whatever the chunk boundaries", async () => {
    const data = Buffer.from(input);
    const whole = (await transcode(data, columns)).out;
    // every split into two chunks (inside keys, escapes, surrogate pairs and UTF-8 sequences)
    for (let k = 0; k <= data.length; k++) {
      const { out, rows } = await transcodeChunks([data.subarray(0, k), data.subarray(k)], columns);
      expect(rows).toBe(5);
      expect(out.equals(whole), `split at ${k}`).toBe(true);
    }
    for (const size of [1, 2, 3, 7, 64]) {
      const { out, rows } = await transcode(data, columns, size);
      expect(rows).toBe(5);
      expect(out.equals(whole), `chunks of ${size}`).toBe(true);
    }
  });

  it("gives empty output for empty input", async () => {
    expect(await transcode("", columns)).toEqual({ out: Buffer.alloc(0), rows: 0 });
    expect(await transcodeChunks([Buffer.alloc(0), Buffer.alloc(0)], columns)).toEqual({
      out: Buffer.alloc(0),
      rows: 0,
    });
  });

  it("handles a row larger than its output slab, split over many chunks", async () => {
    const big = 'x\\y\n\t"é🎉'.repeat(100_000);
    const line = JSON.stringify({ id: 1, name: big }) + "\n" + '{"id":2}\n';
    for (const size of [undefined, 65_536, 1000]) {
      const { out, rows } = await transcode(line, ["id", "name"], size);
      expect(rows).toBe(2);
      expect(decodeCopyText(out)).toEqual([
        ["1", big],
        ["2", null],
      ]);
    }
  });

  it("fails on a malformed row with its row number", async () => {
    const good = '{"id":1}\n{"id":2}\n';
    for (const size of [undefined, 1, 5]) {
      const err = await failure(good + '{"id":3,"name":"x}\n{"id":4}\n', columns, size);
      expect(err.code).toBe("NDJSON_MALFORMED");
      expect(err.message).toMatch(/NDJSON row 3 /);
      expect(err.hint).toBeDefined();
    }
    expect((await failure('{"id":1}\n\n', columns)).message).toMatch(/row 2 .*not a JSON object/);
    expect((await failure('{"id":1}\n[1]\n', columns)).message).toMatch(/row 2 /);
    expect((await failure('{"id":"\\u0000"}\n', columns)).message).toMatch(/row 1 .*\\u0000/);
  });

  it("fails on a last line without its newline (truncated input)", async () => {
    for (const tail of ['{"id":3}', '{"id":3', "{"]) {
      for (const size of [undefined, 1]) {
        const err = await failure('{"id":1}\n{"id":2}\n' + tail, columns, size);
        expect(err.code).toBe("NDJSON_MALFORMED");
        expect(err.message).toMatch(/NDJSON row 3 is truncated/);
      }
    }
  });

  it("emits each chunk's rows without waiting for more input", async () => {
    const stream = new NdjsonToCopy({ columns: ["id"] });
    const got: string[] = [];
    stream.on("data", (c: Buffer) => got.push(c.toString()));
    stream.write('{"id":1}\n{"id":');
    await tick();
    expect(got).toEqual(["1\n"]);
    stream.end("2}\n");
    await finished(stream);
    expect(got).toEqual(["1\n", "2\n"]);
    expect(stream.rows).toBe(2);
  });

  it("stops pulling input while the consumer stalls, then delivers everything", async () => {
    const chunk = Buffer.from('{"id":1,"name":"backpressure \\"test\\" row"}\n'.repeat(400)); // ~18 KB
    const total = 1000;
    let pulled = 0;
    const source = new Readable({
      read() {
        if (pulled === total) this.push(null);
        else {
          pulled++;
          this.push(chunk);
        }
      },
    });
    const held: (() => void)[] = [];
    let stalled = true;
    let received = 0;
    const sink = new Writable({
      write(c: Buffer, _encoding, done) {
        received += c.length;
        if (stalled) held.push(() => done());
        else done();
      },
    });
    const stream = new NdjsonToCopy({ columns: ["id", "name"] });
    const done = pipeline(source, stream, sink);
    for (let i = 0; i < 50; i++) await tick();
    const whileStalled = pulled;
    expect(whileStalled).toBeLessThan(20);
    for (let i = 0; i < 50; i++) await tick();
    expect(pulled).toBe(whileStalled);
    stalled = false;
    for (const release of held.splice(0)) release();
    await done;
    expect(pulled).toBe(total);
    expect(stream.rows).toBe(total * 400);
    expect(received).toBe(total * 400 * '1\tbackpressure "test" row\n'.length);
  });
});

describe("round trip through COPY text (property)", () => {
  /** A random string of Unicode scalar values (no NUL: PostgreSQL text cannot hold it). */
  function randomString(rnd: () => number): string {
    const length = Math.floor(rnd() ** 2 * 40);
    let s = "";
    for (let i = 0; i < length; i++) {
      const kind = rnd();
      let cp: number;
      if (kind < 0.3)
        cp = 0x20 + Math.floor(rnd() * 95); // printable ASCII
      else if (kind < 0.45)
        cp = [0x22, 0x5c, 0x2f, 0x09, 0x0a, 0x0d, 0x4e, 0x2e][Math.floor(rnd() * 8)]!; // " \ / TAB LF CR N .
      else if (kind < 0.55)
        cp = 1 + Math.floor(rnd() * 31); // control characters
      else if (kind < 0.6)
        cp = 0x7f + Math.floor(rnd() * 0x21); // DEL and C1 controls
      else if (kind < 0.7)
        cp = 0x300 + Math.floor(rnd() * 0x70); // combining marks
      else if (kind < 0.85) {
        cp = 0xa0 + Math.floor(rnd() * (0x10000 - 0xa0));
        if (cp >= 0xd800 && cp <= 0xdfff) cp = 0xfffd;
      } else cp = 0x10000 + Math.floor(rnd() * 0x100000); // astral planes, emoji included
      s += String.fromCodePoint(cp);
    }
    return s;
  }

  /** A JSON string token for `s`, escaping at random where JSON allows either form. */
  function randomJsonString(s: string, rnd: () => number): string {
    const hex = (n: number) => {
      const h = n.toString(16).padStart(4, "0");
      return rnd() < 0.5 ? h : h.toUpperCase();
    };
    const short: Record<string, string> = {
      '"': '\\"',
      "\\": "\\\\",
      "\b": "\\b",
      "\f": "\\f",
      "\n": "\\n",
      "\r": "\\r",
      "\t": "\\t",
      "/": "\\/",
    };
    let out = '"';
    for (const ch of s) {
      const cp = ch.codePointAt(0)!;
      const must = ch === '"' || ch === "\\" || cp < 0x20;
      if (!must && rnd() < 0.8) out += ch;
      else if (short[ch] !== undefined && rnd() < 0.5) out += short[ch];
      else if (cp >= 0x10000) {
        const v = cp - 0x10000;
        out += `\\u${hex(0xd800 + (v >> 10))}\\u${hex(0xdc00 + (v & 0x3ff))}`;
      } else out += `\\u${hex(cp)}`;
    }
    return out + '"';
  }

  it("decodes back to the original values for random rows", async () => {
    const rnd = prng(20240601);
    const columns = ["id", "text", 'we"ird', "back\\slash", "tab\tname", "ünï", "🎉", "num", "flag", "maybe"];
    const numbers = [
      "0",
      "-1",
      "9223372036854775807",
      "-9223372036854775808",
      "1.50",
      "1e-320",
      "-0",
      "6.02E+23",
      "123456789012345678901234567890.5",
    ];
    const lines: string[] = [];
    const expected: (string | null)[][] = [];
    let fallbacks = 0;
    for (let r = 0; r < 1500; r++) {
      const pairs: [key: string, json: string][] = [];
      const row: (string | null)[] = [];
      for (const col of columns) {
        const roll = rnd();
        if (roll < 0.08) {
          row.push(null); // missing key
          continue;
        }
        let json: string;
        let value: string | null;
        if (roll < 0.15) [json, value] = ["null", null];
        else if (roll < 0.25) json = value = numbers[Math.floor(rnd() * numbers.length)]!;
        else if (roll < 0.3) [json, value] = rnd() < 0.5 ? ["true", "true"] : ["false", "false"];
        else {
          value = randomString(rnd);
          json = rnd() < 0.5 ? JSON.stringify(value) : randomJsonString(value, rnd);
          expect(JSON.parse(json)).toBe(value); // the test's own encoder is right
        }
        row.push(value);
        pairs.push([col, json]);
      }
      if (rnd() < 0.1) pairs.push([`extra${r}`, JSON.stringify(randomString(rnd))]);
      if (rnd() < 0.15) {
        fallbacks++;
        pairs.sort(() => rnd() - 0.5);
      }
      const sep = rnd() < 0.05 ? " " : "";
      lines.push("{" + pairs.map(([k, v]) => `${sep}${JSON.stringify(k)}${sep}:${sep}${v}`).join(",") + "}\n");
      expected.push(row);
    }
    expect(fallbacks).toBeGreaterThan(100);
    const data = Buffer.from(lines.join(""));
    // random chunk sizes, 1 to 300 bytes
    const chunks: Buffer[] = [];
    for (let i = 0; i < data.length;) {
      const size = 1 + Math.floor(rnd() * 300);
      chunks.push(data.subarray(i, i + size));
      i += size;
    }
    const { out, rows } = await transcodeChunks(chunks, columns);
    expect(rows).toBe(1500);
    const decoded = decodeCopyText(out);
    expect(decoded.length).toBe(1500);
    for (let r = 0; r < 1500; r++) expect(decoded[r], lines[r]).toEqual(expected[r]);
    // and transcodeLine agrees with the stream
    const byLine = lines.map((l) =>
      Buffer.concat([transcodeLine(Buffer.from(l.slice(0, -1)), columns), Buffer.from("\n")]),
    );
    expect(Buffer.concat(byLine).equals(out)).toBe(true);
  });
});
