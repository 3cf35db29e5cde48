/**
 * CopyToNdjson against the real thing: for a table of hostile values, the plain COPY text output
 * of `SELECT <columns>` transcoded in Node must be byte-identical to what the server prints for
 * `COPY (SELECT row_to_json(...)) TO STDOUT WITH (FORMAT csv, QUOTE E'\x01', DELIMITER E'\x02')`
 * (NOTES.md, "COPY and JSON"), with the select list the dump builds (src/db/encode.ts) and the
 * pinned session settings. Also with the tenant key first (`to_json(key::text)`, \x02, row).
 */
import { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type pg from "pg";
import { to as copyTo } from "pg-copy-streams";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { readCatalog, tableId, type ColumnInfo, type TableInfo } from "../src/db/catalog.js";
import { columnEncoding, dumpColumnExpr } from "../src/db/encode.js";
import { pinnedSettingsSql } from "../src/db/session.js";
import { IntegrityError } from "../src/errors.js";
import { CopyToNdjson, type CopyToNdjsonOptions, type JsonKind } from "../src/format/copy-to-ndjson.js";
import { createDatabase, withClient, type TestDatabase } from "./helpers/postgres.js";

const serverUrl = inject("pgUrl");

const TABLE = 'Hostile "Copy" Table';
const qi = (name: string): string => '"' + name.replace(/"/g, '""') + '"';
const T = `public.${qi(TABLE)}`;

const SCHEMA_SQL = String.raw`
CREATE TYPE mood AS ENUM ('sad', 'happy "quoted"', 'back\slash', 'tab	inside', '😀');
CREATE TYPE pair AS (label text, score float8, doc json);
CREATE TABLE ${T} (
  id int8 PRIMARY KEY,
  tenant int4,
  "Text ""quoted"" \col" text,
  vc varchar(40), bp char(6), nm name, u uuid,
  i2 int2, i4 int4, i8 int8, num numeric, num2 numeric(12,2),
  b bool,
  f8 float8, f4 float4,
  jb jsonb, js json, x xml,
  ia int[], ta text[], fa float8[],
  ts timestamptz, d date, iv interval, tm time,
  by bytea,
  e mood, ea mood[],
  m money,
  comp pair, r int4range
);
`;

const COLS = String.raw`(id, tenant, "Text ""quoted"" \col", vc, bp, nm, u, i2, i4, i8, num, num2, b, f8, f4, jb, js, x,
  ia, ta, fa, ts, d, iv, tm, by, e, ea, m, comp, r)`;

/** Every control character 0x01–0x1f, then DEL. */
const CONTROLS =
  "E'" + Array.from({ length: 31 }, (_, i) => `\\x${(i + 1).toString(16).padStart(2, "0")}`).join("") + "\\x7f'";

const ROWS_SQL = String.raw`
INSERT INTO ${T} ${COLS} VALUES
(1, 1, E'q \' dq " bs \\ nl \n cr \r crlf \r\n tab \t bsn \\N bsdot \\. 😀 שלום عربى e\u0301 👩‍👩‍👧 \u2028 \uFEFF \x7f', E'áé\\"''x{}', 'ab', 'name\\n', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
 32767, 2147483647, 9223372036854775807, 123456789012345678901234567890.123456789, 1.50, true,
 '-0', '-0', '{"b": 1, "nested": {"null": null, "s": "x\\y\"\n\\u0000"}, "big": 1e400}', '{"b": 1,  "b": 2, "s": "\u0000 \\ \" \n"}',
 '<?xml version="1.0"?><r a="1">t &amp; <![CDATA[raw <c> \ ]]></r>',
 '[0:2]={1,2,3}', ARRAY[NULL, 'NULL', 'a"b', 'c\d', '', ' sp ', E'nl\nx', E'\\N'], '{-0,NaN,Infinity,-Infinity,1e-320,0.1}',
 '2024-02-29 23:59:59.999999+05:45', '0044-03-15 BC', '-1 years 2 mons -3 days 04:05:06.789', '23:59:59.999999',
 '\x00ff5c22090a0d'::bytea, 'happy "quoted"', '{sad,"back\\slash","tab	inside",NULL}', 92233720368547758.07,
 ROW(E'quote " and \\ and , and ( )', '-0', '{"k" : [1,  2]}')::pair, '[1,5)'),
(2, 1, '', '', '', '', '00000000-0000-0000-0000-000000000000',
 -32768, -2147483648, -9223372036854775808, 'NaN', -0.01, false,
 'NaN', 'Infinity', 'null', 'null', '',
 '{}', '{}', '{NULL}',
 'infinity', '-infinity', '00:00:00', '00:00',
 '\x'::bytea, 'back\slash', '{}', -92233720368547758.08,
 ROW(NULL, NULL, NULL)::pair, 'empty'),
(3, 2, ${CONTROLS}, ${CONTROLS}, E'\x01\x02', E'\\\\\\', 'ffffffff-ffff-ffff-ffff-ffffffffffff',
 0, 0, 0, 'Infinity', 0, true,
 '1e-320', '-Infinity', '"\\u0000 \t"', '"\u0000 \\u0000"', 'plain',
 '{{1,2},{3,4}}', ARRAY[E'\x01', E'\t', E'\\'], '{1e308}',
 '0001-01-01 00:00:00+00 BC', '2000-02-29', '178000000 years', '24:00',
 decode(repeat('00ff5c22', 500), 'hex'), 'tab	inside', '{😀}', 0,
 ROW('', 'NaN', '[]')::pair, '(,)'),
(4, 2, repeat(E'\\"\n😀\t\x01{}[],:', 20000), 'twelve chars', 'é', 'x', NULL,
 1, 1, 1, '-Infinity', 99999999.99, false,
 '3.4028235e38', '1e-40', '[]', '  [ ]  ', NULL,
 '[1:1]={42}', ARRAY['', ''], '{}',
 '2024-01-01 00:00:00+00', '4713-01-01 BC', '-00:00:00.000001', '12:00',
 '\x5c4e'::bytea, '😀', NULL, -0.01,
 NULL, '[-2147483648,2147483647)'),
(5, NULL, 'tenant NULL', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
 NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
(6, 3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
 NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
(7, 3, E'\\N', '\N', 'N', E'\\\\N', NULL, 7, 7, 7, 7.000, 7, true,
 '7', '7', '7', '7', '7', '{7}', '{"\\N"}', '{7}', '2024-01-01', '2024-01-01', '7 days', '07:00',
 '\x5c'::bytea, 'sad', '{sad}', 7, ROW('7', 7, '7')::pair, '[7,8)');

-- Many more rows, so that rows straddle the network chunks: every code point up to U+07FF, emoji,
-- combining marks and control characters, in varied lengths.
INSERT INTO ${T} (id, tenant, "Text ""quoted"" \col", vc, i4, i8, num, b, f8, jb, ta, by, e)
SELECT g, g % 97,
       (SELECT string_agg(chr(1 + (g * 7919 + k * 104729) % 2047), '') FROM generate_series(1, 1 + g % 120) k)
         || chr(128512 + g % 80) || E'e\u0301' || CASE WHEN g % 5 = 0 THEN E'\\N' ELSE '' END,
       CASE WHEN g % 3 = 0 THEN NULL ELSE left(md5(g::text), g % 40) END,
       g * 17 - 100000, g::int8 * 1000000007 * CASE WHEN g % 2 = 0 THEN -1 ELSE 1 END,
       CASE WHEN g % 11 = 0 THEN 'NaN'::numeric ELSE (g / 7.0)::numeric(20, 5) END,
       CASE WHEN g % 4 = 0 THEN NULL ELSE g % 2 = 0 END,
       CASE g % 6 WHEN 0 THEN '-0'::float8 WHEN 1 THEN 'NaN'::float8 ELSE (g / 3.0)::float8 END,
       jsonb_build_object('g', g, 's', chr(1 + g % 31) || '"\', 'n', NULL),
       ARRAY[chr(1 + g % 126), NULL, 'x y'],
       decode(md5(g::text), 'hex'),
       (ARRAY['sad', 'happy "quoted"', 'back\slash', 'tab	inside', '😀']::mood[])[1 + g % 5]
FROM generate_series(100, 20099) g;
`;

/** What the dump would pass: kinds from the column encodings of src/db/encode.ts. */
function kindOf(col: ColumnInfo): JsonKind {
  if (columnEncoding(col) !== "native") return "string";
  if (["int2", "int4", "int8", "numeric"].includes(col.baseType)) return "number";
  return col.baseType === "bool" ? "bool" : "string";
}

async function copyOut(client: pg.Client, sql: string, transform?: CopyToNdjson): Promise<Buffer> {
  const out: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      out.push(chunk);
      done();
    },
  });
  if (transform) await pipeline(client.query(copyTo(sql)), transform, sink);
  else await pipeline(client.query(copyTo(sql)), sink);
  return Buffer.concat(out);
}

async function transcode(data: Buffer, options: CopyToNdjsonOptions, chunkSize: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for (let i = 0; i < data.length; i += chunkSize) chunks.push(data.subarray(i, i + chunkSize));
  const out: Buffer[] = [];
  await pipeline(Readable.from(chunks), new CopyToNdjson(options), async (source: AsyncIterable<Buffer>) => {
    for await (const c of source) out.push(c);
  });
  return Buffer.concat(out);
}

/** Line-by-line equality first (a readable failure), then byte equality of the whole. */
function expectSameBytes(actual: Buffer, expected: Buffer): void {
  const a = actual.toString("latin1").split("\n");
  const e = expected.toString("latin1").split("\n");
  expect(a.length).toBe(e.length);
  for (let i = 0; i < e.length; i++) {
    if (a[i] !== e[i])
      expect(Buffer.from(a[i]!, "latin1").toString(), `line ${i + 1}`).toBe(Buffer.from(e[i]!, "latin1").toString());
  }
  expect(actual.equals(expected)).toBe(true);
}

/**
 * Alias of the row in row_to_json. Not `x` or `r` as in src/dump/dump.ts: this table has columns
 * named `x` and `r`, and a column wins over a whole-row reference of the same name (the query
 * then fails with "row_to_json(text) does not exist" or "column reference "r" is ambiguous").
 */
const ROW = '"pgsnap row"';

const CSV = `WITH (FORMAT csv, QUOTE E'\\x01', DELIMITER E'\\x02')`;

describe("CopyToNdjson against PostgreSQL's row_to_json", () => {
  let db: TestDatabase;
  let table: TableInfo;
  let options: CopyToNdjsonOptions;
  let cols: string;

  beforeAll(async () => {
    db = await createDatabase(serverUrl);
    await withClient(db.url, async (c) => {
      await c.query(SCHEMA_SQL);
      await c.query(ROWS_SQL);
      const catalog = await readCatalog(c);
      table = catalog.tables.get(tableId("public", TABLE))!;
    });
    cols = table.columns.map((c) => dumpColumnExpr(c, "t")).join(", ");
    options = { columns: table.columns.map((c) => ({ name: c.name, kind: kindOf(c) })) };
  });

  afterAll(async () => {
    await db?.drop();
  });

  /** Runs `fn` on a connection with the dump's pinned session settings. */
  const session = <R>(fn: (c: pg.Client) => Promise<R>): Promise<R> =>
    withClient(db.url, async (c) => {
      await c.query(pinnedSettingsSql(5000));
      return fn(c);
    });

  it("covers all three kinds, native and ::text columns", () => {
    const kinds = new Set(options.columns.map((c) => c.kind));
    expect([...kinds].sort()).toEqual(["bool", "number", "string"]);
    expect(cols).toContain("::pg_catalog.text");
    expect(table.columns.length).toBe(31);
  });

  it("transcodes plain COPY text byte-identically to the row_to_json CSV COPY", async () => {
    await session(async (c) => {
      const expected = await copyOut(
        c,
        `COPY (SELECT pg_catalog.row_to_json(${ROW}) FROM ${T} t CROSS JOIN LATERAL (SELECT ${cols}) ${ROW} ORDER BY t.id) TO STDOUT ${CSV}`,
      );
      const text = await copyOut(c, `COPY (SELECT ${cols} FROM ${T} t ORDER BY t.id) TO STDOUT`);
      expect(expected.length).toBeGreaterThan(5_000_000); // rows straddle many network chunks
      expect(text.equals(expected)).toBe(false);

      // Streamed straight from the server, in whatever chunks the socket delivers.
      const transform = new CopyToNdjson(options);
      const streamed = await copyOut(c, `COPY (SELECT ${cols} FROM ${T} t ORDER BY t.id) TO STDOUT`, transform);
      expectSameBytes(streamed, expected);
      expect(transform.rows).toBe(20_007);

      // And re-chunked at odd sizes.
      for (const size of [1_000_003, 4099, 7]) expectSameBytes(await transcode(text, options, size), expected);
    });
  });

  it("also matches the subquery form the dump uses for full and tenant dumps", async () => {
    await session(async (c) => {
      const where = "WHERE t.tenant IN (1, 3)";
      const expected = await copyOut(
        c,
        `COPY (SELECT pg_catalog.row_to_json(${ROW}) FROM (SELECT ${cols} FROM ${T} t ${where}) ${ROW}) TO STDOUT ${CSV}`,
      );
      const text = await copyOut(c, `COPY (SELECT ${cols} FROM ${T} t ${where}) TO STDOUT`);
      expectSameBytes(await transcode(text, options, 65536), expected);
    });
  });

  it("matches to_json(key::text) \\x02 row_to_json with the tenant key first", async () => {
    await session(async (c) => {
      const keyed = { ...options, tenantKeyFirst: true };
      for (const key of ["t.tenant", `t.${qi('Text "quoted" \\col')}`, "t.b", "t.ts"]) {
        const where = `WHERE ${key} IS NOT NULL`;
        const order = `ORDER BY ${key}, t.id`;
        const expected = await copyOut(
          c,
          `COPY (SELECT pg_catalog.to_json((${key})::pg_catalog.text), pg_catalog.row_to_json(${ROW}) FROM ${T} t` +
            ` CROSS JOIN LATERAL (SELECT ${cols}) ${ROW} ${where} ${order}) TO STDOUT ${CSV}`,
        );
        const text = await copyOut(
          c,
          `COPY (SELECT (${key})::pg_catalog.text, ${cols} FROM ${T} t ${where} ${order}) TO STDOUT`,
        );
        expect(expected.includes(0x02)).toBe(true);
        expectSameBytes(await transcode(text, keyed, 65536), expected);
        expectSameBytes(await transcode(text, keyed, 13), expected);
      }
    });
  });

  it("fails on a NULL tenant key", async () => {
    await session(async (c) => {
      const transform = new CopyToNdjson({ ...options, tenantKeyFirst: true });
      const err = await copyOut(
        c,
        `COPY (SELECT t.tenant::text, ${cols} FROM ${T} t ORDER BY t.id) TO STDOUT`,
        transform,
      ).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(IntegrityError);
      expect((err as IntegrityError).code).toBe("COPY_TEXT_MALFORMED");
      expect((err as Error).message).toMatch(/^COPY text row 5 is malformed: the tenant key is NULL/);
    });
  });

  it("mirrors IsValidJsonNumber for numbers selected natively (floats included)", async () => {
    await session(async (c) => {
      const select = `SELECT t.id, t.i2, t.i8, t.num, t.num2, t.f8, t.f4, t.b, v.x AS "float literal", v.n AS "numeric literal"
        FROM ${T} t CROSS JOIN (VALUES ('1.5e300'::float8, '1e-7'::numeric), ('-0', '0.000'), ('NaN', 'NaN'), ('-Infinity', '-Infinity'),
          ('4.9e-324', '-1e-7'), (NULL, NULL)) v(x, n)
        WHERE t.id < 10 ORDER BY t.id, v.x`;
      const expected = await copyOut(c, `COPY (SELECT pg_catalog.row_to_json(q) FROM (${select}) q) TO STDOUT ${CSV}`);
      const text = await copyOut(c, `COPY (${select}) TO STDOUT`);
      const n = (name: string) => ({ name, kind: "number" as const });
      const native = {
        columns: [
          n("id"),
          n("i2"),
          n("i8"),
          n("num"),
          n("num2"),
          n("f8"),
          n("f4"),
          { name: "b", kind: "bool" as const },
          n("float literal"),
          n("numeric literal"),
        ],
      };
      const out = await transcode(text, native, 100);
      expectSameBytes(out, expected);
      expect(out.toString()).toContain('"f8":"NaN"');
      expect(out.toString()).toContain('"float literal":1.5e+300');
    });
  });
});
