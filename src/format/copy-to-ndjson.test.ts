import { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { describe, expect, it } from "vitest";
import { IntegrityError } from "../errors.js";
import { CopyToNdjson, transcodeCopyLine, type CopyToNdjsonOptions, type JsonKind } from "./copy-to-ndjson.js";
import { mulberry32 as random } from "../../test/helpers/random.js";

const cols = (...specs: [string, JsonKind][]): CopyToNdjsonOptions["columns"] =>
  specs.map(([name, kind]) => ({ name, kind }));

const S = cols(["s", "string"]);
const MIXED = cols(["id", "number"], ["s", "string"], ["ok", "bool"], ["n", "number"]);

/** transcodeCopyLine on a latin1 string (one byte per char), result as latin1. */
function line(text: string, options: CopyToNdjsonOptions): string {
  return transcodeCopyLine(Buffer.from(text, "latin1"), options).toString("latin1");
}

function chunked(data: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < data.length; i += size) out.push(data.subarray(i, i + size));
  return out;
}

async function through(
  options: CopyToNdjsonOptions,
  chunks: readonly Buffer[],
): Promise<{ out: Buffer; rows: number }> {
  const stream = new CopyToNdjson(options);
  const out: Buffer[] = [];
  await pipeline(Readable.from(chunks), stream, async (source: AsyncIterable<Buffer>) => {
    for await (const c of source) out.push(c);
  });
  return { out: Buffer.concat(out), rows: stream.rows };
}

// ---------------------------------------------------------------------------------------------
// A slow, obviously correct model: PostgreSQL's CopyReadAttributesText for the input, escape_json
// and datum_to_json (json.c) for the output. null = the input is malformed.

function decodeFields(bytes: readonly number[]): { raw: number[]; value: number[] }[] | null {
  const fields: { raw: number[]; value: number[] }[] = [];
  let raw: number[] = [];
  let value: number[] = [];
  const isOct = (b: number | undefined) => b !== undefined && b >= 0x30 && b <= 0x37;
  const hex = (b: number | undefined) =>
    b === undefined ? -1 : "0123456789abcdefABCDEF".indexOf(String.fromCharCode(b));
  const hexValue = (b: number) => parseInt(String.fromCharCode(b), 16);
  for (let i = 0; i < bytes.length;) {
    const c = bytes[i]!;
    if (c === 0x0a) return null; // a raw newline inside a row
    if (c === 0x09) {
      fields.push({ raw, value });
      raw = [];
      value = [];
      i++;
      continue;
    }
    if (c !== 0x5c) {
      raw.push(c);
      value.push(c);
      i++;
      continue;
    }
    const e = bytes[i + 1];
    if (e === undefined || e === 0x0a) return null; // backslash at the end of the row
    if (e === 0x2e) return null; // \.
    let j = i + 2;
    let d: number;
    const letters: Record<number, number> = { 0x62: 8, 0x66: 12, 0x6e: 10, 0x72: 13, 0x74: 9, 0x76: 11 };
    if (letters[e] !== undefined) d = letters[e];
    else if (isOct(e)) {
      d = e - 0x30;
      if (isOct(bytes[j])) d = d * 8 + bytes[j++]! - 0x30;
      if (j === i + 3 && isOct(bytes[j])) d = d * 8 + bytes[j++]! - 0x30;
      d &= 0xff;
    } else if (e === 0x78 && hex(bytes[j]) >= 0) {
      d = hexValue(bytes[j++]!);
      if (hex(bytes[j]) >= 0) d = d * 16 + hexValue(bytes[j++]!);
    } else d = e;
    raw.push(...bytes.slice(i, j));
    value.push(d);
    i = j;
  }
  fields.push({ raw, value });
  return fields;
}

function escapeJson(value: readonly number[]): number[] | null {
  const out = [0x22];
  for (const c of value) {
    if (c === 0) return null;
    const simple: Record<number, string> = {
      8: "\\b",
      12: "\\f",
      10: "\\n",
      13: "\\r",
      9: "\\t",
      0x22: '\\"',
      0x5c: "\\\\",
    };
    const text = simple[c] ?? (c < 0x20 ? `\\u${c.toString(16).padStart(4, "0")}` : undefined);
    if (text === undefined) out.push(c);
    else out.push(...Buffer.from(text, "latin1"));
  }
  out.push(0x22);
  return out;
}

function model(bytes: readonly number[], options: CopyToNdjsonOptions): number[] | null {
  const fields = decodeFields(bytes);
  const tenant = options.tenantKeyFirst === true;
  if (fields === null) return null;
  if (fields.length !== options.columns.length + (tenant ? 1 : 0)) return null;
  if (options.columns.length === 0 && !tenant && bytes.length > 0) return null;
  const isNull = (f: { raw: number[] }) => f.raw.length === 2 && f.raw[0] === 0x5c && f.raw[1] === 0x4e;
  const out: number[] = [];
  let k = 0;
  if (tenant) {
    const key = fields[k++]!;
    if (isNull(key)) return null;
    const json = escapeJson(key.value);
    if (json === null) return null;
    out.push(...json, 0x02);
  }
  out.push(0x7b);
  for (const [c, col] of options.columns.entries()) {
    const f = fields[k++]!;
    if (c > 0) out.push(0x2c);
    out.push(...Buffer.from(JSON.stringify(col.name) + ":"));
    if (isNull(f)) {
      out.push(...Buffer.from("null"));
      continue;
    }
    if (f.value.includes(0)) return null;
    const text = Buffer.from(f.value).toString("latin1");
    if (col.kind === "bool") {
      if (text !== "t" && text !== "f") return null;
      out.push(...Buffer.from(text === "t" ? "true" : "false"));
    } else if (col.kind === "number" && /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$/.test(text)) {
      out.push(...f.value);
    } else out.push(...escapeJson(f.value)!);
  }
  out.push(0x7d);
  return out;
}

function outcome(text: string, options: CopyToNdjsonOptions): string | null {
  try {
    return line(text, options);
  } catch (err) {
    expect(err).toBeInstanceOf(IntegrityError);
    expect((err as IntegrityError).code).toBe("COPY_TEXT_MALFORMED");
    return null;
  }
}

function expected(text: string, options: CopyToNdjsonOptions): string | null {
  const out = model([...Buffer.from(text, "latin1")], options);
  return out === null ? null : Buffer.from(out).toString("latin1");
}

// ---------------------------------------------------------------------------------------------

describe("transcodeCopyLine", () => {
  it("writes every column in order, keys as JSON.stringify prints them, no whitespace", () => {
    const options = { columns: cols(["id", "number"], ['we"ird\\key', "string"], ["é", "bool"], ["", "number"]) };
    const plain = transcodeCopyLine(Buffer.from("42\thello world\tt\t-1.5e+10"), options).toString();
    expect(plain).toBe('{"id":42,"we\\"ird\\\\key":"hello world","é":true,"":-1.5e+10}');
    const utf8 = transcodeCopyLine(Buffer.from("1\tx\tf\t0"), options).toString();
    expect(utf8).toBe('{"id":1,"we\\"ird\\\\key":"x","é":false,"":0}');
  });

  it("tells SQL NULL (\\N) from the text \\N (written \\\\N) and from N", () => {
    expect(line("\\N\t\\N\t\\N\t\\N", { columns: MIXED })).toBe('{"id":null,"s":null,"ok":null,"n":null}');
    expect(line("\\\\N", { columns: S })).toBe('{"s":"\\\\N"}');
    expect(line("\\Nx", { columns: S })).toBe('{"s":"Nx"}'); // COPY FROM reads \N inside a field as N
    expect(line("N", { columns: S })).toBe('{"s":"N"}');
    expect(line("\\N", { columns: cols(["a", "string"]) })).toBe('{"a":null}');
  });

  it("keeps the empty string apart from NULL for every kind", () => {
    expect(line("", { columns: S })).toBe('{"s":""}');
    expect(line("\t", { columns: cols(["a", "string"], ["b", "number"]) })).toBe('{"a":"","b":""}');
    expect(() => line("", { columns: cols(["b", "bool"]) })).toThrow(IntegrityError);
  });

  it("decodes COPY escapes and re-escapes as escape_json does", () => {
    expect(line("\\\\ \\b \\f \\n \\r \\t \\v", { columns: S })).toBe('{"s":"\\\\ \\b \\f \\n \\r \\t \\u000b"}');
    // octal: 1 to 3 digits, low 8 bits kept; hex: 1 or 2 digits; \x without a digit is x
    expect(line("\\101\\60\\0601\\7\\477", { columns: S })).toBe('{"s":"A001\\u0007?"}');
    expect(line("\\x41\\x4A\\x4g\\xg\\x7f", { columns: S })).toBe('{"s":"AJ\\u0004gxg\x7f"}');
    // any other escaped byte stands for itself, a TAB and a quote included
    expect(line('\\q\\"\\\t', { columns: S })).toBe('{"s":"q\\"\\t"}');
    // raw control bytes (COPY TO writes all but \b\f\n\r\t\v raw), quote, DEL, UTF-8
    expect(line('\x01\x1f"\x7f', { columns: S })).toBe('{"s":"\\u0001\\u001f\\"\x7f"}');
    const unicode = "😀 שלום e\u0301 👩‍👩‍👧 \u2028\ufeff";
    expect(transcodeCopyLine(Buffer.from(unicode), { columns: S }).toString()).toBe(`{"s":"${unicode}"}`);
    expect(transcodeCopyLine(Buffer.from("\\xc3\\xa9"), { columns: S }).toString()).toBe('{"s":"é"}');
  });

  it("writes numbers raw when JSON allows them, else as strings (row_to_json)", () => {
    const n = { columns: cols(["n", "number"]) };
    for (const ok of ["0", "-0", "42", "-9223372036854775808", "1.50", "0.000", "1e-320", "1E+5", "-2.5e-3"]) {
      expect(line(ok, n)).toBe(`{"n":${ok}}`);
    }
    for (const no of [
      "NaN",
      "Infinity",
      "-Infinity",
      "01",
      "1.",
      ".5",
      "+1",
      "1e",
      "1e+",
      "-",
      "1.5.5",
      " 1",
      "0x10",
    ]) {
      expect(line(no, n)).toBe(`{"n":${JSON.stringify(no)}}`);
    }
    expect(line("\\x31\\0622", n)).toBe('{"n":122}'); // escapes decoded before the check
    expect(line('N"\\\\a\\n', n)).toBe('{"n":"N\\"\\\\a\\n"}');
  });

  it("maps bool t and f and refuses anything else", () => {
    const b = { columns: cols(["b", "bool"]) };
    expect(line("t", b)).toBe('{"b":true}');
    expect(line("f", b)).toBe('{"b":false}');
    expect(line("\\x74", b)).toBe('{"b":true}');
    for (const bad of ["true", "T", "1", "tt", "\\\\", "\\t"]) {
      expect(() => line(bad, b), bad).toThrow(/bool column "b" holds neither t nor f/);
    }
  });

  it("puts the tenant key first as a JSON string, then \\x02", () => {
    const options = { columns: MIXED, tenantKeyFirst: true };
    expect(line("42\t1\tx\tt\t2", options)).toBe('"42"\x02{"id":1,"s":"x","ok":true,"n":2}');
    expect(line('a"b\\\\\\n\t\\N\t\\N\t\\N\t\\N', options)).toBe(
      '"a\\"b\\\\\\n"\x02{"id":null,"s":null,"ok":null,"n":null}',
    );
    expect(line("", { columns: [], tenantKeyFirst: true })).toBe('""\x02{}');
    expect(() => line("\\N\t1\tx\tt\t2", options)).toThrow(/tenant key is NULL/);
    expect(() => line("42", options)).toThrow(/row has 1 field, expected 5/);
  });

  it("handles a table without columns", () => {
    expect(line("", { columns: [] })).toBe("{}");
    expect(() => line("x", { columns: [] })).toThrow(IntegrityError);
  });

  it("refuses malformed rows with IntegrityError COPY_TEXT_MALFORMED", () => {
    const cases: [string, RegExp][] = [
      ["1\tx\tt", /row has 3 fields, expected 4/],
      ["1\tx\tt\t2\t3", /more than the 4 fields expected/],
      ["1\tx\tt\t2\t", /more than the 4 fields expected/],
      ["1\tx\\", /backslash ends the row/],
      ["1\tx\\.\tt\t2", /end-of-data marker/],
      ["\\.", /end-of-data marker/],
      ["1\tx\\000\tt\t2", /NUL byte/],
      ["1\tx\x00\tt\t2", /NUL byte/],
      ["\\x00\tx\tt\t2", /NUL byte/],
      ["1\ta\nb\tt\t2", /fields/],
    ];
    for (const [text, message] of cases) {
      let error: unknown;
      try {
        line(text, { columns: MIXED });
      } catch (err) {
        error = err;
      }
      expect(error, JSON.stringify(text)).toBeInstanceOf(IntegrityError);
      expect((error as IntegrityError).code).toBe("COPY_TEXT_MALFORMED");
      expect((error as IntegrityError).exitCode).toBe(12);
      expect((error as Error).message).toMatch(/^COPY text row 1 is malformed: /);
      expect((error as Error).message).toMatch(message);
    }
  });

  it("rejects an unknown kind when built", () => {
    expect(() => new CopyToNdjson({ columns: [{ name: "x", kind: "date" as JsonKind }] })).toThrow(RangeError);
  });

  it("finds every byte needing care at every position in a word (word-at-a-time scan)", () => {
    for (let b = 0; b < 256; b++) {
      if (b === 0x0a) continue;
      for (let at = 0; at < 9; at++) {
        const text = "abcdefgh".slice(0, at) + String.fromCharCode(b) + "ijklmnopq";
        for (const prefix of ["", "x\t", "xy\t", "xyz\t"]) {
          const options = { columns: prefix ? cols(["p", "string"], ["s", "string"]) : S };
          expect(outcome(prefix + text, options), `${b} at ${at}`).toBe(expected(prefix + text, options));
        }
      }
    }
  });

  it("agrees with a model of PostgreSQL's COPY decoding and escape_json on random rows", () => {
    const next = random(20260118);
    const alphabet = [
      ...'\\\\\\\\NNtf0123456789.-eEx+ab"\t\t\t',
      "\\N",
      "\\\\N",
      "\x00",
      "\x01",
      "\x08",
      "\x0b",
      "\x0d",
      "\x1f",
      "\x7f",
      "\x80",
      "\xc3\xa9",
      "\xf0\x9f\x98\x80",
      "\xff",
      "\n",
      "\\x7",
      "\\377",
      "\\.",
      "NaN",
      "1.50",
      "hello world",
    ];
    const shapes: CopyToNdjsonOptions[] = [
      { columns: MIXED },
      { columns: MIXED, tenantKeyFirst: true },
      { columns: S },
      { columns: cols(["n", "number"]) },
      { columns: cols(["b", "bool"], ["n", "number"]) },
      { columns: cols(["a", "string"], ["b", "string"]), tenantKeyFirst: true },
    ];
    let agreed = 0;
    for (let round = 0; round < 20_000; round++) {
      const options = shapes[round % shapes.length]!;
      let text = "";
      const len = Math.floor(next() * 24);
      for (let j = 0; j < len; j++) text += alphabet[Math.floor(next() * alphabet.length)];
      const want = expected(text, options);
      expect(outcome(text, options), JSON.stringify(text)).toBe(want);
      if (want !== null) agreed++;
    }
    expect(agreed).toBeGreaterThan(2_000); // enough valid rows, not only errors
  });
});

/** Valid COPY text rows for MIXED, hostile. */
const HOSTILE_ROWS = [
  "1\thello\tt\t1.50",
  "\\N\t\\N\t\\N\t\\N",
  "-9223372036854775808\t\\\\N\tf\tNaN",
  "0\tq ' dq \" bs \\\\ nl \\n cr \\r tab \\t \x01\x02\x1f\x7f\tt\t-Infinity",
  "2\t😀 שלום e\u0301 👩‍👩‍👧\tf\t1e-320",
  "3\t\tt\t-0",
  "4\t" + "long plain text with enough bytes to take the word path ".repeat(40) + "\tt\t12345678901234567890.5",
  "5\t\\101\\x42\\v\\b\\f\tf\t\\x31",
];
const HOSTILE = Buffer.from(HOSTILE_ROWS.map((r) => r + "\n").join(""));

describe("CopyToNdjson", () => {
  it("transcodes a stream row by row, as transcodeCopyLine does", async () => {
    const { out, rows } = await through({ columns: MIXED }, [HOSTILE]);
    const lines = HOSTILE_ROWS.map((r) => transcodeCopyLine(Buffer.from(r), { columns: MIXED }).toString() + "\n");
    expect(out.toString()).toBe(lines.join(""));
    expect(rows).toBe(HOSTILE_ROWS.length);
    for (const l of out.toString().split("\n").slice(0, -1)) expect(() => JSON.parse(l) as unknown).not.toThrow();
  });

  it("gives identical output whatever the chunk boundaries (1-byte chunks, every split point)", async () => {
    const data = Buffer.concat([HOSTILE, HOSTILE]);
    const whole = await through({ columns: MIXED }, [data]);
    const bytes = await through({ columns: MIXED }, chunked(data, 1));
    expect(bytes.out.equals(whole.out)).toBe(true);
    expect(bytes.rows).toBe(whole.rows);
    for (let at = 0; at <= data.length; at++) {
      const split = await through({ columns: MIXED }, [data.subarray(0, at), data.subarray(at)]);
      expect(split.out.equals(whole.out), `split at ${at}`).toBe(true);
    }
    for (const size of [2, 3, 5, 7, 64, 4096]) {
      expect((await through({ columns: MIXED }, chunked(data, size))).out.equals(whole.out)).toBe(true);
    }
  });

  it("gives empty output for empty input", async () => {
    const { out, rows } = await through({ columns: MIXED }, []);
    expect(out.length).toBe(0);
    expect(rows).toBe(0);
  });

  it("writes tenant-framed lines", async () => {
    const data = Buffer.from("7\t1\tx\tt\t2\n7\t2\ty\tf\t3\n8\t3\tz\t\\N\t4\n");
    const { out } = await through({ columns: MIXED, tenantKeyFirst: true }, chunked(data, 3));
    expect(out.toString()).toBe(
      '"7"\x02{"id":1,"s":"x","ok":true,"n":2}\n"7"\x02{"id":2,"s":"y","ok":false,"n":3}\n"8"\x02{"id":3,"s":"z","ok":null,"n":4}\n',
    );
  });

  it("writes runs of one tenant between records with groupRecords", async () => {
    const data = Buffer.from('7\t1\tx\tt\t2\n7\t2\ty\tf\t3\n8\t3\tz\t\\N\t4\na"b\\\\\t4\tw\tt\t5\n7\t5\tv\tt\t6\n');
    const options = { columns: MIXED, tenantKeyFirst: true, groupRecords: true };
    const expected =
      '\x02K"7"\n{"id":1,"s":"x","ok":true,"n":2}\n{"id":2,"s":"y","ok":false,"n":3}\n\x02E2\n' +
      '\x02K"8"\n{"id":3,"s":"z","ok":null,"n":4}\n\x02E1\n' +
      '\x02K"a\\"b\\\\"\n{"id":4,"s":"w","ok":true,"n":5}\n\x02E1\n' +
      // a key seen again later starts a new run: the framer downstream refuses it
      '\x02K"7"\n{"id":5,"s":"v","ok":true,"n":6}\n\x02E1\n';
    for (const size of [1, 3, 7, 1000]) {
      const { out, rows } = await through(options, chunked(data, size));
      expect(out.toString()).toBe(expected);
      expect(rows).toBe(5);
    }
    expect((await through(options, [])).out.length).toBe(0);
    const err = await through(options, [Buffer.from("7\t1\tx\tt\t2\n\\N\t2\ty\tf\t3\n")]).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/row 2 .*tenant key is NULL/);
  });

  it("fails a final row without its newline, naming the row", async () => {
    const data = Buffer.concat([HOSTILE, Buffer.from("9\tcut")]);
    for (const chunks of [[data], chunked(data, 5)]) {
      const err = await through({ columns: MIXED }, chunks).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(IntegrityError);
      expect((err as IntegrityError).code).toBe("COPY_TEXT_MALFORMED");
      expect((err as Error).message).toBe(
        `COPY text row ${HOSTILE_ROWS.length + 1} is truncated: the input ends without its final newline`,
      );
    }
  });

  it("fails a row with the wrong number of fields, naming the row", async () => {
    const data = Buffer.concat([HOSTILE, Buffer.from("9\tx\tt\n")]);
    const err = await through({ columns: MIXED }, chunked(data, 100)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IntegrityError);
    expect((err as IntegrityError).code).toBe("COPY_TEXT_MALFORMED");
    expect((err as Error).message).toMatch(
      new RegExp(`^COPY text row ${HOSTILE_ROWS.length + 1} is malformed: the row has 3 fields, expected 4`),
    );
  });

  it("handles rows far larger than a slab, escapes and all", async () => {
    const big = '\x01\\\\"é'.repeat(300_000) + "plain".repeat(100_000); // 2.6 MB in, ~3.5 MB of escapes out
    const data = Buffer.from(`1\t${big}\tt\t2\n2\tsmall\tf\t3\n`);
    const { out } = await through({ columns: MIXED }, chunked(data, 65536));
    const want =
      transcodeCopyLine(Buffer.from(`1\t${big}\tt\t2`), { columns: MIXED }).toString() +
      "\n" +
      '{"id":2,"s":"small","ok":false,"n":3}\n';
    expect(out.toString()).toBe(want);
    const parsed = JSON.parse(out.toString().split("\n")[0]!) as { s: string };
    expect(parsed.s).toBe('\x01\\"é'.repeat(300_000) + "plain".repeat(100_000));
  });

  it("applies backpressure: stops taking input while nobody reads", () => {
    const stream = new CopyToNdjson({ columns: MIXED });
    const chunk = Buffer.from("1\tsome text\tt\t2\n".repeat(1000)); // 16 KB in, ~38 KB out
    let accepted = 0;
    while (stream.write(chunk) && accepted < 1000) accepted++;
    expect(accepted).toBeLessThan(5);
    // What it holds: the readable side's buffered output plus at most the chunk in hand.
    expect(stream.readableLength).toBeLessThan(4 * 40 * 1024);
    stream.destroy();
  });

  it("stops pulling from its source when the consumer stalls, and resumes", async () => {
    let pulled = 0;
    const source = Readable.from(
      (function* () {
        for (let i = 0; i < 10_000; i++) {
          pulled++;
          yield Buffer.from(`${i}\ttext ${i}\tt\t${i}\n`.repeat(100));
        }
      })(),
    );
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let rows = 0;
    const sink = new Writable({
      highWaterMark: 1024,
      write(chunk: Buffer, _encoding, done) {
        for (let i = chunk.indexOf(0x0a); i >= 0; i = chunk.indexOf(0x0a, i + 1)) rows++;
        if (rows < 500) done();
        else void gate.then(() => done());
      },
    });
    const stream = new CopyToNdjson({ columns: MIXED });
    const done = pipeline(source, stream, sink);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(pulled).toBeLessThan(50);
    release();
    await done;
    expect(pulled).toBe(10_000);
    expect(stream.rows).toBe(1_000_000);
    expect(rows).toBe(1_000_000);
  });

  it("ends with exactly one of finish or error", async () => {
    for (const [input, error] of [
      ["1\tx\tt\t2\n", false],
      ["1\tx\tt\t2", true],
      ["1\tx\tbad\t2\n", true],
    ] as const) {
      const stream = new CopyToNdjson({ columns: MIXED });
      const events: string[] = [];
      const settled = new Promise<void>((resolve) => {
        stream.on("finish", () => (events.push("finish"), resolve()));
        stream.on("error", () => (events.push("error"), resolve()));
      });
      stream.resume();
      stream.end(Buffer.from(input));
      await settled;
      await new Promise((resolve) => setTimeout(resolve, 20)); // room for a second, wrong event
      expect(events).toEqual([error ? "error" : "finish"]);
    }
  });
});
