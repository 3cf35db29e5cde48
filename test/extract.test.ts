/**
 * `pgsnap extract` from a full snapshot finds each row's tenant key by a byte search (issue 14,
 * target 5): on hostile rows it must keep exactly the rows `dump --tenant` selects in the
 * database: keys spelled differently but equal (numeric 1, 1.0, 1.00), the key's text inside
 * string values and inside jsonb, escaped quotes and backslashes, NULL keys, the tenant column
 * after long values, and a child table that reaches the tenant only through a foreign key.
 */
import { existsSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { runPgsnap, type CliResult } from "./helpers/cli.js";
import { createDatabase, withClient, type TestDatabase } from "./helpers/postgres.js";
import { compressBuffer, decompressBuffer } from "../src/format/zstd.js";

const serverUrl = inject("pgUrl");
let dir: string;
let db: TestDatabase;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "pgsnap-extract-"));
  db = await createDatabase(serverUrl, { prefix: "pgsnap_extract" });
  await withClient(db.url, (c) =>
    c.query(String.raw`
      CREATE TABLE acc (id int PRIMARY KEY, user_id numeric, name text, payload jsonb, j json, tags text[]);
      INSERT INTO acc VALUES
        (1, 1.0, 'plain', '{"user_id": 2}', '{"user_id":2}', '{a,b}'),
        (2, 1.00, '","user_id":2,"', '{"a": {"user_id": 2}}', '[{"user_id":2}]', '{"{x}"}'),
        (3, 1, 'back\slash\\"quote"', '"user_id"', '"\\"', NULL),
        (4, 2.0, ',"user_id":1,', '{"user_id": 1}', '{"user_id":1}', '{"\"user_id\":1"}'),
        (5, 2, 'user_id', '{"id": 1, "user_id": 1.0}', 'null', '{}'),
        (6, 10, '1', '1', '1', '{1}'),
        (7, 0.1, 'x', NULL, NULL, NULL),
        (8, NULL, 'no tenant', '{"user_id": 1}', '{"user_id":1}', NULL),
        (9, -0.0, 'zero', NULL, NULL, NULL),
        (10, 1e0, 'ação 🎉 {', '{"k": "{\"user_id\":1}"}', '{"k":"{"}', '{"}"}');
      -- the tenant column last, after long values holding its name and braces
      CREATE TABLE doc (id int PRIMARY KEY, body text, meta jsonb, user_id numeric);
      INSERT INTO doc SELECT g, repeat('{"user_id":1,', 20 + g), jsonb_build_object('user_id', g % 3), (g % 3)::numeric / 1.0
        FROM generate_series(1, 30) g;
      -- a child that reaches the tenant only through acc
      CREATE TABLE item (id int PRIMARY KEY, acc_id int REFERENCES acc, note text);
      INSERT INTO item SELECT g, 1 + g % 10, '"user_id":' || g FROM generate_series(1, 40) g;
    `),
  );
});
afterAll(async () => {
  await db.drop();
  await rm(dir, { recursive: true, force: true });
});

let seq = 0;
function run(storage: string, args: string[]): Promise<CliResult> {
  return runPgsnap([...args, "--db", db.url, "--storage", storage, "--json"]);
}
const ok = (r: CliResult) => expect(r.code, r.stderr).toBe(0);

/** The sorted lines of every table object of a snapshot, by table. */
function linesOf(storage: string, snap: { id: string; project: string }): Record<string, string[]> {
  const m = JSON.parse(readFileSync(join(storage, snap.project, snap.id, "manifest.json"), "utf8")) as {
    tables: { table: string; object: string }[];
  };
  const out: Record<string, string[]> = {};
  for (const t of m.tables) {
    const text = decompressBuffer(readFileSync(join(storage, snap.project, snap.id, t.object))).toString("utf8");
    out[t.table] = text
      .split("\n")
      .filter((l) => l !== "")
      .sort();
  }
  return out;
}

describe("extract from a full snapshot", () => {
  it.each([["1"], ["1.000"], ["2"], ["10"], ["0"], ["0.10"]])(
    "keeps exactly the rows `dump --tenant %s` selects",
    async (tenant) => {
      const storage = join(dir, `s${seq++}`);
      const full = await run(storage, ["dump"]);
      ok(full);
      const x = await run(storage, [
        "extract",
        full.json.snapshots[0].id,
        "--tenant",
        tenant,
        "--to",
        join(storage, "x"),
      ]);
      ok(x);
      const d = await run(join(storage, "t"), ["dump", "--tenant", tenant]);
      ok(d);
      const extracted = linesOf(join(storage, "x"), x.json.snapshots[0]);
      const dumped = linesOf(join(storage, "t"), d.json.snapshots[0]);
      expect(extracted).toEqual(dumped);
      expect(x.json.snapshots[0].tenants).toEqual(d.json.snapshots[0].tenants);
      expect(x.json.snapshots[0].rows).toBe(d.json.snapshots[0].rows);
      expect(x.json.snapshots[0].rows).toBeGreaterThan(0);
    },
  );

  it("tenant 1 is every row whose numeric key equals 1, and the children of those rows", async () => {
    const storage = join(dir, `s${seq++}`);
    const full = await run(storage, ["dump"]);
    ok(full);
    const x = await run(storage, ["extract", "latest", "--tenant", "1"]);
    ok(x);
    const rows = Object.fromEntries(
      x.json.snapshots[0].tables.map((t: { table: string; rows: number }) => [t.table, t.rows]),
    );
    // acc ids 1, 2, 3, 10; doc rows with g % 3 = 1; items of acc 1, 2, 3, 10.
    expect(rows).toEqual({ "public.acc": 4, "public.doc": 10, "public.item": 16 });
  });
});

describe("extract from a damaged full snapshot", () => {
  // Extract skips zstd's own XXH64 per frame and relies on the manifest's sha256 of each object:
  // a valid zstd stream with other rows, or a frame whose XXH64 alone is wrong, must still fail,
  // before the new snapshot's object is complete.
  it.each([
    [
      "another valid zstd stream of edited rows",
      (obj: Buffer) => compressBuffer(Buffer.from(decompressBuffer(obj).toString("utf8").replace("plain", "plaiN")), 3),
    ],
    [
      "a frame whose checksum alone is wrong",
      (obj: Buffer) =>
        Buffer.concat([
          obj.subarray(0, obj.length - 4),
          Buffer.from(obj.subarray(obj.length - 4).map((b) => b ^ 0xff)),
        ]),
    ],
  ])("fails with CHECKSUM_MISMATCH and leaves no object: %s", async (_what, damage) => {
    const storage = join(dir, `s${seq++}`);
    const full = await run(storage, ["dump"]);
    ok(full);
    const snap = full.json.snapshots[0];
    const m = JSON.parse(readFileSync(join(storage, snap.project, snap.id, "manifest.json"), "utf8")) as {
      tables: { table: string; object: string }[];
    };
    const object = join(storage, snap.project, snap.id, m.tables.find((t) => t.table === "public.acc")!.object);
    writeFileSync(object, damage(readFileSync(object)));
    const to = join(storage, "x");
    const x = await run(storage, ["extract", snap.id, "--tenant", "1", "--to", to]);
    expect(x.code, x.stderr).toBe(12);
    expect(x.json.error.code).toBe("CHECKSUM_MISMATCH");
    const left = existsSync(join(to, snap.project))
      ? readdirSync(join(to, snap.project), { recursive: true, encoding: "utf8" })
      : [];
    expect(left.filter((f) => f.endsWith("public.acc.ndjson.zst") || f.endsWith("manifest.json"))).toEqual([]);
  });
});

describe("extract from a damaged tenants snapshot", () => {
  it("a frame that differs from its sha256 fails with CHECKSUM_MISMATCH and leaves no object", async () => {
    const storage = join(dir, `s${seq++}`);
    const all = await run(storage, ["dump", "--all-tenants"]);
    ok(all);
    const snap = all.json.snapshots[0];
    const m = JSON.parse(readFileSync(join(storage, snap.project, snap.id, "manifest.json"), "utf8")) as {
      tables: { table: string; object: string; frames?: { tenant: string | null; offset: number; length: number }[] }[];
    };
    const acc = m.tables.find((t) => t.table === "public.acc")!;
    const frame = acc.frames!.find((f) => f.tenant === "2")!;
    const object = join(storage, snap.project, snap.id, acc.object);
    const bytes = readFileSync(object);
    // The frame's last byte (its checksum): zstd could still read it, only the sha256 tells.
    bytes[frame.offset + frame.length - 1]! ^= 0xff;
    writeFileSync(object, bytes);
    const to = join(storage, "x");
    const x = await run(storage, ["extract", snap.id, "--tenant", "2", "--to", to]);
    expect(x.code, x.stderr).toBe(12);
    expect(x.json.error.code).toBe("CHECKSUM_MISMATCH");
    const left = existsSync(join(to, snap.project))
      ? readdirSync(join(to, snap.project), { recursive: true, encoding: "utf8" })
      : [];
    expect(left.filter((f) => f.endsWith(".ndjson.zst") || f.endsWith("manifest.json"))).toEqual([]);
  });
});
