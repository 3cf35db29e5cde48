/**
 * Lossless round trip of every column type pgsnap meets (DESIGN.md "Lossless", NOTES.md "COPY
 * and JSON"): a table with 57 columns of hostile values is dumped (full and per tenant) through
 * the real command line, every line of every data file is checked with the `zstd` CLI and
 * JSON.parse, and tenants are restored after deletes and subtle changes. Rows are compared as
 * Postgres prints them (`md5(t::text)` per row and every column's text), so `-0` vs `0`, JSON
 * null vs SQL NULL, json whitespace and array bounds all count. The other tenant's rows must not
 * even be rewritten (same xmin and ctid).
 */
import { execFile } from "node:child_process";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { runPgsnap, type CliResult } from "./helpers/cli.js";
import { createDatabase, withClient, type TestDatabase } from "./helpers/postgres.js";

const execFileAsync = promisify(execFile);
const serverUrl = inject("pgUrl");

const SCHEMA = 'Tenant "Data" Schema';
const TABLE = 'All "Types".Matrix';
const qi = (name: string): string => '"' + name.replace(/"/g, '""') + '"';
const T = `${qi(SCHEMA)}.${qi(TABLE)}`;
/** Table ids quote the parts that need it (x."a.b" and "x.a".b stay apart). */
const TABLE_ID = T;

/** Types, then the table: 57 columns, names that need quoting, identity and generated columns. */
const SCHEMA_SQL = String.raw`
CREATE SCHEMA ${qi(SCHEMA)};
SET search_path = ${qi(SCHEMA)}, public;
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy "quoted"', 'with,comma');
CREATE DOMAIN posint AS integer CHECK (VALUE > 0);
CREATE DOMAIN jdoc AS jsonb CHECK (VALUE IS NULL OR jsonb_typeof(VALUE) <> 'string');
CREATE DOMAIN jtext AS json;
CREATE TYPE pair AS (label text, score float8, doc json, amount money, tags text[]);
CREATE TABLE ${T} (
  id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  user_id int NOT NULL,
  c_int2 int2, c_int4 int4, c_int8 int8,
  c_numeric numeric, c_numeric_scaled numeric(13,2),
  c_float4 float4, c_float8 float8,
  c_money money, c_bool bool,
  "Mixed Case" text, "with space" varchar(12), "quote""inside" char(6), "select" bytea, "o'brien" text,
  c_uuid uuid, c_date date, c_time time, c_timetz timetz, c_ts timestamp, c_tstz timestamptz, c_interval interval,
  c_json json, c_jsonb jsonb, c_xml xml,
  c_int_arr int[], c_text_arr text[], c_2d int[][], c_float_arr float8[], c_json_arr json[], c_jsonb_arr jsonb[],
  c_money_arr money[],
  c_enum mood, c_enum_arr mood[],
  c_dom_int posint, c_dom_jsonb jdoc, c_dom_json jtext,
  c_comp pair, c_comp_arr pair[],
  c_int4range int4range, c_tstzrange tstzrange, c_numrange numrange, c_multirange int4multirange,
  c_inet inet, c_cidr cidr, c_macaddr macaddr,
  c_point point, c_box box, c_polygon polygon, c_circle circle,
  c_tsvector tsvector, c_tsquery tsquery,
  c_bit bit(8), c_varbit varbit, c_oid oid,
  c_gen int8 GENERATED ALWAYS AS (coalesce(c_int4, 0)::int8 * 2) STORED
);
CREATE INDEX ON ${T} (user_id);
`;

const INSERT_COLS = String.raw`(user_id, c_int2, c_int4, c_int8, c_numeric, c_numeric_scaled, c_float4, c_float8, c_money, c_bool,
  "Mixed Case", "with space", "quote""inside", "select", "o'brien", c_uuid, c_date, c_time, c_timetz, c_ts, c_tstz, c_interval,
  c_json, c_jsonb, c_xml, c_int_arr, c_text_arr, c_2d, c_float_arr, c_json_arr, c_jsonb_arr, c_money_arr, c_enum, c_enum_arr,
  c_dom_int, c_dom_jsonb, c_dom_json, c_comp, c_comp_arr, c_int4range, c_tstzrange, c_numrange, c_multirange,
  c_inet, c_cidr, c_macaddr, c_point, c_box, c_polygon, c_circle, c_tsvector, c_tsquery, c_bit, c_varbit, c_oid)`;

/**
 * The rows, inserted in this order (ids 1..7). Tenant 1: ids 1-3, tenant 2: ids 4-7.
 * id 1: maxima, -0, quotes/backslashes/control characters, BC dates, json with whitespace,
 *       duplicate keys and \u0000, bounded arrays, nested json/-0/money in composites.
 * id 2: minima, NaN/Infinity, empty strings and arrays, infinity dates, JSON null everywhere.
 * id 3 and id 6: SQL NULL in every nullable column.
 * id 4: subnormals, bare JSON strings, xml declaration, more nesting.
 * id 5: a long text (TOAST) and an odd mix.
 * id 7: the other tenant's copy of some id-1 values (so a collision of values is not a key).
 */
const ROWS_SQL = String.raw`
SET search_path = ${qi(SCHEMA)}, public;
INSERT INTO ${T} ${INSERT_COLS} VALUES
(1, 32767, 2147483647, 9223372036854775807, 123456789012345678901234567890.123456789, 1.50, '-0', '-0', 92233720368547758.07, true,
 E'q \' dq " bs \\ nl \n cr \r crlf \r\n tab \t c1 \x01 c2 \x02 c1f \x1f del \x7f 😀 שלום عربى e\u0301 👩‍👩‍👧 \u2028 \uFEFF', E'áé\\"''x{}', 'ab', '\x00ff00'::bytea, E'it''s "o''brien" \\N',
 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '0044-03-15 BC', '23:59:59.999999', '12:34:56.789-03:30', '0044-03-15 12:00:00.000001 BC', '2024-02-29 23:59:59.999999+05:45', '-1 years 2 mons -3 days 04:05:06.789',
 '{"b": 1,  "a": [1, 2 , {"x" : null}], "b": 2, "s": "\u0000 \\ \" \n"}',
 '{"big": 123456789012345678901234567890.5, "nested": {"null": null, "arr": [null, "x\\y", -0, 1.50]}, "e": "\u00e9"}',
 '<?xml version="1.0" encoding="UTF-8"?><root a="1">t &amp; &lt;x&gt;<![CDATA[raw <c> \ ]]></root>',
 '[0:2]={1,2,3}', ARRAY[NULL, 'NULL', 'a"b', 'c\d', '', ' sp ', 'comma,', '{brace}'], '{{1,2},{3,NULL}}', '{-0,NaN,Infinity,-Infinity,1e-320,0.1}',
 ARRAY['{"a" : 1, "a": 2}'::json, 'null'::json, NULL], ARRAY['null'::jsonb, NULL, '{"k":"v\"q"}'], '{1.50,-2.25}', 'happy "quoted"', '{sad,"happy \"quoted\"","with,comma",NULL}',
 1, 'null', '{ "sp" :  true }', ROW(E'quote " and \\ and , and ( ) \'', '-0', '{"k" : [1,  2]}', 12.34, ARRAY['x', NULL, 'y"z'])::pair,
 ARRAY[ROW('a', 'NaN', 'null', 0, '{}'), ROW(NULL, NULL, NULL, NULL, NULL), NULL]::pair[],
 'empty', '[2024-01-01 00:00:00+00,)', '(,1.50]', '{[1,3), [5,7)}',
 '2001:db8::1/64', '10.0.0.0/8', '08:00:2b:01:02:03', '(1.5,-0)', '((1,2),(3,4))', '((0,0),(1,1),(1,0))', '<(0,0),1.5>',
 $$'a':1A 'b''c':2 'don''t':3$$, $$'a' & !'b' | 'c':*$$, B'10101010', B'1', 4294967295);

INSERT INTO ${T} ${INSERT_COLS} VALUES
(1, -32768, -2147483648, -9223372036854775808, 'NaN', -0.01, 'NaN', 'Infinity', -92233720368547758.08, false,
 '', '', '', '\x'::bytea, '',
 '00000000-0000-0000-0000-000000000000', 'infinity', '00:00:00', '24:00:00+15:59', '-infinity', 'infinity', '-00:00:00.000001',
 'null', 'null', 'plain &amp; <b>bold</b> tail',
 '[-5:-3]={7,8,9}', '{}', '[2:3][-1:0]={{1,2},{3,4}}', '{NULL}', '{}', ARRAY[]::jsonb[], '{}', 'with,comma', '{}',
 2147483647, '{"k": null}', 'null', ROW(NULL, NULL, NULL, NULL, NULL)::pair, '{}',
 '(,)', '(-infinity,infinity)', 'empty', '{}',
 '0.0.0.0', '::/0', 'ff:ff:ff:ff:ff:ff', '(NaN,Infinity)', '((0,0),(0,0))', '((-0,0))', '<(1e-320,0),0>',
 '', '', B'00000000', B'', 0);

INSERT INTO ${T} (user_id) VALUES (1);

INSERT INTO ${T} ${INSERT_COLS} VALUES
(2, 0, 0, 0, 0.000000000000000000000000000001, 99999999999.99, '1e-40', '1e-320', 0, true,
 E'line1\r\nline2\\nnot-a-newline "\\u0000" \\x01 literal', 'x', 'abcdef', '\x5c0a0d220001'::bytea, E'\\\\',
 'ffffffff-ffff-ffff-ffff-ffffffffffff', '2000-02-29', '12:00', '00:00:00-15:59', '1999-12-31 23:59:59.999999', '0001-01-01 00:00:00+00 BC', '1 year -1 mons +1 day -00:00:01',
 '"\u0000"', '"\u00e9 \\ \" \t"', '<?xml version="1.0"?><doc a="&quot;"/>',
 '{1,NULL}', ARRAY[E'new\nline', E'tab\t', 'NULL', NULL, E'back\\slash', E'\u00e9', E'\x01\x02'], '{{1},{2}}', '{0.1,-0,1e308,-1e-320}',
 ARRAY['"\u0000"'::json, '  [ ]  '::json], ARRAY['{"a":[]}'::jsonb, '"s"'::jsonb], ARRAY[NULL, 0]::money[], 'ok', ARRAY['ok']::mood[],
 5, '[1, "two", null]', '[]', ROW('', 0.1, 'null', -1, ARRAY[]::text[])::pair,
 ARRAY[ROW(E'x,y\n', '-0', '{"a":"\u0000", "a" : 1}', 1, ARRAY['NULL'])]::pair[],
 '[1,2]', '[2024-01-01 00:00:00.000001+00,2024-01-01 00:00:00.000002+00)', '[-1.50,1.500]', '{[1,2), [3,)}',
 '::ffff:1.2.3.4/128', '192.168.0.0/16', '00:00:00:00:00:00', '(-0,-0)', '((-1.5,-2.5),(1e-320,0.1))', '((0,0),(0.1,0.2),(0.3,-0))', '<(-0,0.1),1e-320>',
 $$'über' 'x':1,2,3B$$, $$!('a' <-> 'b')$$, B'00000001', B'0101010101010101010101010101010101', 1);

INSERT INTO ${T} ${INSERT_COLS} VALUES
(2, 1, 1, 1, -123456789012345678901234567890.987654321, -99999999999.99, '3.4028235e38', '-1.7976931348623157e308', -0.01, false,
 repeat(E'\\"\n😀\t\x01{}[],:', 20000), 'twelve chars', 'é     ', decode(repeat('00ff5c22', 5000), 'hex'), NULL,
 '123e4567-e89b-12d3-a456-426614174000', '4713-01-01 BC', '00:00:00.000001', '23:59:59.999999+00', '294276-12-31 23:59:59.999999', '4713-01-01 00:00:00+00 BC', '178000000 years',
 '[]', '{}', '<a/><b/>text',
 '[1:1]={42}', ARRAY['', ''], '{{NULL,NULL}}', '{{-0,1},{NaN,-Infinity}}', ARRAY['{}'::json], ARRAY['null'::jsonb], ARRAY[92233720368547758.07]::money[], 'sad', ARRAY[NULL, NULL]::mood[],
 1, '[]', '""', ROW('(', '-Infinity', '"str"', -92233720368547758.08, ARRAY['{', '}'])::pair,
 ARRAY[NULL, NULL]::pair[],
 '[-2147483648,2147483647)', '(,2024-01-01 00:00:00+00]', '(0.1,0.2)', '{(,5), [10,)}',
 '255.255.255.255/32', '2001:db8::/32', '01:23:45:67:89:ab', '(1e308,-1e308)', '((1,1),(1,1))', '((1,1))', '<(1,1),1e308>',
 $$'a':1 'a':2$$, $$'a':*A$$, B'11111111', repeat('10', 500)::varbit, 2147483648);

INSERT INTO ${T} (user_id) VALUES (2);

INSERT INTO ${T} ${INSERT_COLS} VALUES
(2, 32767, 2147483647, 9223372036854775807, 1.50, 1.50, '-0', '-0', 1.50, true,
 'same as tenant 1', 'x', 'ab', '\x00'::bytea, 'o''brien',
 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '0044-03-15 BC', '00:00', '00:00+00', '2024-01-01', '2024-01-01 00:00+00', '0',
 'null', 'null', '<x/>',
 '[0:0]={0}', '{"NULL"}', '{{0}}', '{-0}', ARRAY['null'::json], ARRAY[NULL]::jsonb[], ARRAY[-0.0]::money[], 'ok', '{ok}',
 1, 'null', 'null', ROW(NULL, '-0', 'null', 0, NULL)::pair, ARRAY[ROW(NULL, NULL, NULL, NULL, NULL)]::pair[],
 'empty', 'empty', 'empty', '{}',
 '::1', '::1/128', '08:00:2b:01:02:03', '(0,0)', '((0,0),(0,0))', '((0,0))', '<(0,0),0>',
 '', '', B'00000000', B'', 0);
`;

const TENANT1_IDS = [1, 2, 3];
const TENANT2_IDS = [4, 5, 6, 7];

let db: TestDatabase;
let storage: string;
let columns: string[];
/** The rows as inserted: id → md5(t::text), and id → every column's text. */
let originalHashes: Map<number, string>;
let originalTexts: Map<number, Record<string, string | null>>;
let fullId: string;
/** Scope `tenants`: one zstd frame per tenant in the data file. */
let allTenantsId: string;
const tenantIds = new Map<string, string>();

function cli(args: string[]): Promise<CliResult> {
  return runPgsnap(["--db", db.url, "--storage", storage, "--json", ...args]);
}

function query<R extends pg.QueryResultRow = Record<string, unknown>>(text: string): Promise<R[]> {
  return withClient(db.url, async (c) => (await c.query<R>(text)).rows);
}

/** Back to the rows as first inserted (ids 1..7 again). */
async function resetTable(): Promise<void> {
  await withClient(db.url, async (c) => {
    await c.query(`TRUNCATE ${T} RESTART IDENTITY`);
    await c.query(ROWS_SQL);
  });
}

async function hashes(where = "true"): Promise<Map<number, string>> {
  const rows = await query<{ id: number; h: string }>(
    `SELECT id, md5(t::text) AS h FROM ${T} t WHERE ${where} ORDER BY id`,
  );
  return new Map(rows.map((r) => [r.id, r.h]));
}

/** Every column's text output per row, for readable diffs. */
async function texts(where = "true"): Promise<Map<number, Record<string, string | null>>> {
  const select = columns.map((c) => `t.${qi(c)}::text AS ${qi(c)}`).join(", ");
  const rows = await query<Record<string, string | null>>(`SELECT ${select} FROM ${T} t WHERE ${where} ORDER BY t.id`);
  return new Map(rows.map((r) => [Number(r.id), r]));
}

/** Physical identity of rows: a row that was updated or re-inserted gets a new xmin/ctid. */
async function physical(where: string): Promise<{ id: number; xmin: string; ctid: string; h: string }[]> {
  return query(
    `SELECT id, xmin::text AS xmin, ctid::text AS ctid, md5(t::text) AS h FROM ${T} t WHERE ${where} ORDER BY id`,
  );
}

async function expectTableEqualsOriginal(): Promise<void> {
  expect(await texts()).toEqual(originalTexts);
  expect(await hashes()).toEqual(originalHashes);
}

/** Decompresses with the zstd CLI (not pgsnap's codec): the file is plain .zst. */
async function zstdLines(file: string): Promise<string[]> {
  const { stdout } = await execFileAsync("zstd", ["-dc", "--", file], {
    encoding: "utf8",
    maxBuffer: 256 * 1024 * 1024,
  });
  expect(stdout === "" || stdout.endsWith("\n")).toBe(true);
  const lines = stdout.split("\n");
  lines.pop();
  return lines;
}

interface ManifestLike {
  id: string;
  scope: string;
  tenants: string[] | null;
  tables: { table: string; object: string; rows: number; columns: { name: string }[] }[];
}

async function readSnapshot(id: string): Promise<{ manifest: ManifestLike; dir: string; dataFiles: string[] }> {
  const dir = join(storage, db.name, id);
  const manifest = JSON.parse(await readFile(join(dir, "manifest.json"), "utf8")) as ManifestLike;
  const dataFiles = (await readdir(dir)).filter((f) => f.endsWith(".ndjson.zst"));
  return { manifest, dir, dataFiles };
}

beforeAll(async () => {
  db = await createDatabase(serverUrl, { prefix: "pgsnap_types" });
  storage = await mkdtemp(join(tmpdir(), "pgsnap-types-"));
  await withClient(db.url, async (c) => {
    await c.query(SCHEMA_SQL);
    await c.query(ROWS_SQL);
  });
  columns = (
    await query<{ name: string }>(
      `SELECT attname AS name FROM pg_attribute WHERE attrelid = '${T.replace(/'/g, "''")}'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum`,
    )
  ).map((r) => r.name);
  originalHashes = await hashes();
  originalTexts = await texts();

  const full = await cli(["dump"]);
  expect(full.code, full.stderr).toBe(0);
  fullId = full.json.snapshots[0].id;
  const perTenant = await cli(["dump", "--tenant", "1", "--tenant", "2"]);
  expect(perTenant.code, perTenant.stderr).toBe(0);
  for (const s of perTenant.json.snapshots as { id: string; tenants: string[] }[]) tenantIds.set(s.tenants[0]!, s.id);
  const all = await cli(["dump", "--all-tenants"]);
  expect(all.code, all.stderr).toBe(0);
  allTenantsId = all.json.snapshots[0].id;
});

afterAll(async () => {
  await db?.drop();
  if (storage) await rm(storage, { recursive: true, force: true });
});

describe("type matrix", () => {
  it("has the columns and rows the test means to cover", () => {
    expect(columns.length).toBeGreaterThanOrEqual(55);
    expect(columns).toEqual(
      expect.arrayContaining(["Mixed Case", "with space", 'quote"inside', "select", "o'brien", "user_id"]),
    );
    expect([...originalHashes.keys()]).toEqual([...TENANT1_IDS, ...TENANT2_IDS]);
    // SQL NULL rows really are NULL in every nullable column; the others are not.
    const nulls = [...originalTexts.values()].map((r) => columns.filter((c) => r[c] === null).length);
    expect(nulls[2]).toBe(columns.length - 3); // id, user_id, c_gen
    expect(nulls[5]).toBe(columns.length - 3);
    expect(tenantIds.size).toBe(2);
  });

  it("writes every row of the full and tenant snapshots as one JSON object per line, readable by zstd -dc", async () => {
    const expected = [
      { id: fullId, ids: [...TENANT1_IDS, ...TENANT2_IDS], tenant: null },
      { id: tenantIds.get("1")!, ids: TENANT1_IDS, tenant: 1 },
      { id: tenantIds.get("2")!, ids: TENANT2_IDS, tenant: 2 },
    ];
    for (const { id, ids, tenant } of expected) {
      const { manifest, dir, dataFiles } = await readSnapshot(id);
      expect(manifest.scope).toBe(tenant === null ? "full" : "tenant");
      expect(manifest.tables.map((t) => t.table)).toEqual([TABLE_ID]);
      const entry = manifest.tables[0]!;
      expect(dataFiles).toEqual([entry.object]);
      expect(entry.rows).toBe(ids.length);
      expect(entry.columns.map((c) => c.name)).toEqual(columns);

      const lines = await zstdLines(join(dir, entry.object));
      expect(lines).toHaveLength(ids.length);
      const seen: number[] = [];
      for (const line of lines) {
        // JSON text never holds a raw CR, LF, \x01 (QUOTE) or \x02 (DELIMITER).
        expect(line).not.toMatch(/[\r\n\x01\x02]/);
        let row: Record<string, unknown>;
        try {
          row = JSON.parse(line) as Record<string, unknown>;
        } catch (err) {
          throw new Error(`not JSON in ${entry.object}: ${(err as Error).message}: ${line.slice(0, 300)}`);
        }
        expect(typeof row).toBe("object");
        expect(Object.keys(row).sort()).toEqual([...columns].sort());
        if (tenant !== null) expect(row.user_id).toBe(tenant);
        seen.push(row.id as number);
      }
      expect(seen.sort((a, b) => a - b)).toEqual(ids);
      // Node never parses rows: the int8 extremes are in the file digit for digit.
      const text = lines.join("\n");
      if (ids.includes(1)) {
        expect(text).toContain("9223372036854775807");
        expect(text).toContain("-9223372036854775808");
        expect(text).toContain("123456789012345678901234567890.123456789");
      }
    }
  });

  it("writes an --all-tenants snapshot whose framed file zstd -dc reads whole, and restores a tenant from its frame", async () => {
    const { manifest, dir } = await readSnapshot(allTenantsId);
    expect(manifest.scope).toBe("tenants");
    expect(manifest.tenants).toEqual(["1", "2"]);
    const lines = await zstdLines(join(dir, manifest.tables[0]!.object));
    expect(lines).toHaveLength(TENANT1_IDS.length + TENANT2_IDS.length);
    for (const line of lines) expect(Object.keys(JSON.parse(line) as object).sort()).toEqual([...columns].sort());

    await resetTable();
    const before = await physical("user_id = 1");
    await query(`DELETE FROM ${T} WHERE user_id = 2`);
    const r = await cli(["restore", allTenantsId, "--tenant", "2", "--confirm"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json.tables).toEqual([{ table: TABLE_ID, deleted: 0, inserted: TENANT2_IDS.length, updated: 0 }]);
    await expectTableEqualsOriginal();
    expect(await physical("user_id = 1")).toEqual(before);
  });

  it("restores a tenant whose rows were deleted, from its tenant snapshot, leaving the other tenant's rows untouched", async () => {
    await resetTable();
    const before = await physical("user_id = 2");
    await query(`DELETE FROM ${T} WHERE user_id = 1`);
    const r = await cli(["restore", tenantIds.get("1")!, "--tenant", "1", "--confirm"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json.tables).toEqual([{ table: TABLE_ID, deleted: 0, inserted: TENANT1_IDS.length, updated: 0 }]);
    await expectTableEqualsOriginal();
    expect(await physical("user_id = 2")).toEqual(before);
  });

  it("restores a tenant from the full snapshot after rows were changed, deleted and added", async () => {
    await resetTable();
    const before = await physical("user_id = 1");
    await withClient(db.url, async (c) => {
      // Changes that compare equal with = but print differently must still be undone.
      await c.query(`UPDATE ${T} SET c_float8 = 0, c_float4 = 0, c_point = '(1.5,0)', c_jsonb = NULL, c_json = NULL,
                       c_dom_jsonb = NULL, c_numeric = 1.5, c_numeric_scaled = 1.5 WHERE id = 7`);
      await c.query(`UPDATE ${T} SET c_int_arr = '{1,NULL}'::int[], c_xml = '<doc a="&quot;"/>',
                       c_json = '"\\u0000" ', c_2d = '{{1},{2}}' WHERE id = 4`);
      await c.query(`UPDATE ${T} SET c_jsonb = 'null', c_json = 'null', c_dom_jsonb = 'null', c_comp = ROW(NULL, NULL, NULL, NULL, NULL)
                       WHERE id = 6`);
      await c.query(`DELETE FROM ${T} WHERE id = 5`);
      await c.query(`INSERT INTO ${T} (user_id, "Mixed Case") VALUES (2, 'not in the snapshot')`);
    });
    const r = await cli(["restore", fullId, "--tenant", "2", "--confirm"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json.tables).toEqual([{ table: TABLE_ID, deleted: 1, inserted: 1, updated: 3 }]);
    await expectTableEqualsOriginal();
    expect(await physical("user_id = 1")).toEqual(before);
  });

  it("restores into a wiped table and moves the identity sequence past the restored ids", async () => {
    await resetTable();
    await query(`TRUNCATE ${T} RESTART IDENTITY`);
    for (const tenant of ["1", "2"]) {
      const r = await cli(["restore", tenantIds.get(tenant)!, "--tenant", tenant, "--confirm"]);
      expect(r.code, r.stderr).toBe(0);
    }
    await expectTableEqualsOriginal();
    const [next] = await query<{ id: number }>(`INSERT INTO ${T} (user_id) VALUES (3) RETURNING id`);
    expect(next!.id).toBeGreaterThan(Math.max(...TENANT2_IDS));
    await query(`DELETE FROM ${T} WHERE user_id = 3`);
  });

  it("keeps -0 as -0, at top level and nested in arrays, composites and geometry", async () => {
    await resetTable();
    // 0 = -0 for float comparison: a restore that compares values (not text) would keep the 0.
    await query(`UPDATE ${T} SET c_float8 = 0, c_float4 = 0, c_float_arr = '{0,NaN,Infinity,-Infinity,1e-320,0.1}',
                   c_comp = ROW((c_comp).label, 0, (c_comp).doc, (c_comp).amount, (c_comp).tags)::${qi(SCHEMA)}.pair,
                   c_point = '(1.5,0)' WHERE id = 1`);
    await query(`DELETE FROM ${T} WHERE id = 7`);
    for (const tenant of ["1", "2"]) {
      const r = await cli(["restore", tenantIds.get(tenant)!, "--tenant", tenant, "--confirm"]);
      expect(r.code, r.stderr).toBe(0);
    }
    const rows = await query<Record<string, unknown>>(
      `SELECT id, c_float8::text AS f8, c_float4::text AS f4, c_float8::text = '-0'::float8::text AS same,
              c_float_arr[1]::text AS arr, (c_comp).score::text AS comp, c_point::text AS point
         FROM ${T} WHERE id IN (1, 7) ORDER BY id`,
    );
    expect(rows).toEqual([
      { id: 1, f8: "-0", f4: "-0", same: true, arr: "-0", comp: "-0", point: "(1.5,-0)" },
      { id: 7, f8: "-0", f4: "-0", same: true, arr: "-0", comp: "-0", point: "(0,0)" },
    ]);
    await expectTableEqualsOriginal();
  });

  it("keeps JSON null and SQL NULL apart in json, jsonb, domains and arrays", async () => {
    await resetTable();
    // Swap them: JSON null becomes SQL NULL in row 2, SQL NULL becomes JSON null in row 3.
    await query(`UPDATE ${T} SET c_json = NULL, c_jsonb = NULL, c_dom_jsonb = NULL, c_dom_json = NULL WHERE id = 2`);
    await query(
      `UPDATE ${T} SET c_json = 'null', c_jsonb = 'null', c_dom_jsonb = 'null', c_dom_json = 'null' WHERE id = 3`,
    );
    const r = await cli(["restore", tenantIds.get("1")!, "--tenant", "1", "--confirm"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json.tables[0].updated).toBe(2);
    const rows = await query<Record<string, unknown>>(
      `SELECT id, c_json IS NULL AS json_sql_null, c_json::text AS json, c_jsonb IS NULL AS jsonb_sql_null,
              jsonb_typeof(c_jsonb) AS jsonb_type, jsonb_typeof(c_dom_jsonb::jsonb) AS dom_type, c_dom_json::text AS dom_json,
              array_to_string(ARRAY(SELECT coalesce(jsonb_typeof(e), 'SQL NULL') FROM unnest(c_jsonb_arr) e), ',') AS jsonb_arr
         FROM ${T} WHERE id IN (1, 2, 3) ORDER BY id`,
    );
    expect(rows).toEqual([
      {
        id: 1,
        json_sql_null: false,
        json: expect.any(String),
        jsonb_sql_null: false,
        jsonb_type: "object",
        dom_type: "null",
        dom_json: '{ "sp" :  true }',
        jsonb_arr: "null,SQL NULL,object",
      },
      {
        id: 2,
        json_sql_null: false,
        json: "null",
        jsonb_sql_null: false,
        jsonb_type: "null",
        dom_type: "object",
        dom_json: "null",
        jsonb_arr: "",
      },
      {
        id: 3,
        json_sql_null: true,
        json: null,
        jsonb_sql_null: true,
        jsonb_type: null,
        dom_type: null,
        dom_json: null,
        jsonb_arr: "",
      },
    ]);
    await expectTableEqualsOriginal();
  });

  it("keeps json text, money and values nested in composites, arrays and domains exactly", async () => {
    await resetTable();
    await query(`DELETE FROM ${T}`);
    for (const tenant of ["1", "2"]) {
      const r = await cli(["restore", fullId, "--tenant", tenant, "--confirm"]);
      expect(r.code, r.stderr).toBe(0);
    }
    const [row] = await query<Record<string, unknown>>(
      `SELECT c_json::text AS json, (c_comp).doc::text AS comp_doc, (c_comp).amount::numeric::text AS comp_money,
              (c_comp).label AS comp_label, (c_comp).tags::text AS comp_tags,
              c_json_arr[1]::text AS json_arr1, c_comp_arr[1]::text AS comp_arr1, c_comp_arr[2]::text AS comp_arr2,
              c_comp_arr[3]::text AS comp_arr3, c_json_arr[2]::text AS json_arr2, c_json_arr[3]::text AS json_arr3,
              c_money::numeric::text AS money, c_money_arr::text AS money_arr, c_dom_json::text AS dom_json,
              c_int_arr::text AS int_arr, array_lower(c_int_arr, 1) AS lower, c_xml::text AS xml, c_dom_int AS dom_int
         FROM ${T} WHERE id = 1`,
    );
    expect(row).toEqual({
      json: String.raw`{"b": 1,  "a": [1, 2 , {"x" : null}], "b": 2, "s": "\u0000 \\ \" \n"}`,
      comp_doc: '{"k" : [1,  2]}',
      comp_money: "12.34",
      comp_label: "quote \" and \\ and , and ( ) '",
      comp_tags: '{x,NULL,"y\\"z"}',
      json_arr1: '{"a" : 1, "a": 2}',
      comp_arr1: "(a,NaN,null,$0.00,{})",
      // A composite of NULL fields is not a NULL composite; a JSON null element is not a NULL element.
      comp_arr2: "(,,,,)",
      comp_arr3: null,
      json_arr2: "null",
      json_arr3: null,
      money: "92233720368547758.07",
      money_arr: "{$1.50,-$2.25}",
      dom_json: '{ "sp" :  true }',
      int_arr: "[0:2]={1,2,3}",
      lower: 0,
      xml: '<?xml version="1.0" encoding="UTF-8"?><root a="1">t &amp; &lt;x&gt;<![CDATA[raw <c> \\ ]]></root>',
      dom_int: 1,
    });
    const [four] = await query<Record<string, unknown>>(
      `SELECT c_json::text AS json, c_xml::text AS xml, (c_comp_arr[1]).doc::text AS nested_doc, (c_comp_arr[1]).score::text AS nested_score
         FROM ${T} WHERE id = 4`,
    );
    expect(four).toEqual({
      json: String.raw`"\u0000"`,
      xml: expect.stringContaining('<doc a="&quot;"/>'),
      nested_doc: String.raw`{"a":"\u0000", "a" : 1}`,
      nested_score: "-0",
    });
    await expectTableEqualsOriginal();
  });
});
