/**
 * The restore's load path against a real server: compressed NDJSON → ZstdNdjsonToCopy with a
 * SlabPool → copyFromSink. Slabs are reused only once the socket is done with their bytes, so
 * the loaded rows must be exactly the input rows (a slab recycled too early would overwrite COPY
 * text still queued: wrong or failing rows), while most slabs handed out are reuses.
 */
import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { compressBuffer } from "../src/format/zstd.js";
import { ZstdNdjsonToCopy } from "../src/format/zstd-ndjson-to-copy.js";
import { copyFromSink, SlabPool } from "../src/restore/copy-sink.js";
import { createDatabase, withClient, type TestDatabase } from "./helpers/postgres.js";
import { mulberry32, randomChunks } from "./helpers/random.js";

const serverUrl = inject("pgUrl");
let db: TestDatabase;

beforeAll(async () => {
  db = await createDatabase(serverUrl, { prefix: "copy_sink" });
  await withClient(db.url, (c) => c.query("CREATE TABLE t (id int8 PRIMARY KEY, name text, note text)"));
});
afterAll(async () => {
  await db?.drop();
});

describe("copyFromSink with a SlabPool", () => {
  it("loads exactly the input rows while reusing most slabs", async () => {
    const rand = mulberry32(1414);
    const rows = 60_000;
    const lines: string[] = [];
    const expected = createHash("md5");
    for (let i = 1; i <= rows; i++) {
      // Mostly short rows, some longer than a 64 KiB slab (a buffer of their own).
      const name = `n${i} ${"é\t\\".repeat(Math.floor(rand() * 40))}${rand() < 0.001 ? "L".repeat(100_000) : ""}`;
      const note = i % 5 === 0 ? null : `row ${i}`;
      lines.push(JSON.stringify({ id: i, name, note }));
      expected.update(`${i}|${name}|${note ?? "<null>"}\n`);
    }
    const compressed = compressBuffer(Buffer.from(lines.join("\n") + "\n"), 3);
    const pool = new SlabPool();
    const loaded = await withClient(db.url, async (c) => {
      const sink = c.query(copyFromSink("COPY t (id, name, note) FROM STDIN", pool));
      await pipeline(
        Readable.from(randomChunks(compressed, 256 * 1024, rand)),
        new ZstdNdjsonToCopy({ columns: ["id", "name", "note"], slabs: pool }),
        sink,
      );
      return sink.rowCount;
    });
    expect(loaded).toBe(rows);
    const hash = await withClient(db.url, async (c) => {
      const r = await c.query<{ h: string }>(
        "SELECT md5(string_agg(id || '|' || name || '|' || coalesce(note, '<null>') || E'\\n', '' ORDER BY id)) AS h FROM t",
      );
      return r.rows[0]!.h;
    });
    expect(hash).toBe(expected.digest("hex"));
    expect(pool.taken).toBeGreaterThan(100);
    expect(pool.allocated).toBeLessThan(pool.taken / 2);
  });
});
