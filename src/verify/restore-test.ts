/**
 * `verify --restore-test`: loads every table of a snapshot into scratch (temporary) tables of
 * the target database inside one transaction that is always rolled back, the way restore stages
 * rows (NDJSON → COPY text → the live column types), then dumps the scratch rows back the way
 * dump does and checks that every table encodes back to exactly the stored lines (row count and
 * an order-independent checksum of the lines). Nothing persists.
 */
import { createHash } from "node:crypto";
import { Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { from as copyFrom, to as copyTo } from "pg-copy-streams";
import { readCatalog } from "../db/catalog.js";
import { classifyConnectionError, connect, type ConnectOptions } from "../db/connect.js";
import { copyColumnExpr, jsonKind } from "../db/encode.js";
import { quoteIdent, quoteTable } from "../db/quote.js";
import { CopyToNdjson } from "../format/copy-to-ndjson.js";
import { LineFilter } from "../format/line-filter.js";
import type { Manifest } from "../format/manifest.js";
import { NdjsonToCopy } from "../format/ndjson-to-copy.js";
import { createDecompressStream } from "../format/zstd.js";
import { snapshotPrefix } from "../storage/keys.js";
import type { Storage } from "../storage/storage.js";
import type { VerifyResult } from "./verify.js";

/** Order-independent checksum of lines: count and the sum of each line's first 8 md5 bytes. */
class LineSum {
  rows = 0;
  sum = 0n;
  add(line: Buffer): boolean {
    this.rows++;
    this.sum = (this.sum + createHash("md5").update(line).digest().readBigUInt64BE(0)) & 0xffffffffffffffffn;
    return true;
  }
}

function sink(): Writable {
  return new Writable({
    write(_chunk, _enc, done) {
      done();
    },
  });
}

/** Loads every table into rolled-back scratch tables and checks it encodes back unchanged. */
export async function restoreTest(
  connection: ConnectOptions,
  storage: Storage,
  manifest: Manifest,
  signal?: AbortSignal,
): Promise<NonNullable<VerifyResult["restoreTest"]>> {
  const client = await connect(connection);
  const tables: NonNullable<VerifyResult["restoreTest"]>["tables"] = [];
  try {
    await client.query("BEGIN");
    const catalog = await readCatalog(client);
    let i = 0;
    for (const t of manifest.tables) {
      i++;
      const live = catalog.tables.get(t.table);
      if (!live) {
        tables.push({ table: t.table, rows: 0, ok: false, problem: "table does not exist in the database" });
        continue;
      }
      const cols = t.columns.map((c) => live.columns.find((l) => l.name === c.name));
      if (cols.some((c) => c === undefined) || cols.length === 0) {
        tables.push({ table: t.table, rows: 0, ok: false, problem: "snapshot columns missing in the database" });
        continue;
      }
      const columns = cols.map((c) => c!);
      const scratch = `pg_temp.${quoteIdent(`pgsnap_verify_${i}`)}`;
      const list = columns.map((c) => quoteIdent(c.name)).join(", ");
      await client.query(`CREATE TEMP TABLE ${scratch} AS SELECT ${list} FROM ${quoteTable(live)} WITH NO DATA`);
      const stored = new LineSum();
      const body = await storage.get(snapshotPrefix(manifest.project, manifest.id) + t.object, undefined, { signal });
      await pipeline(
        body,
        createDecompressStream(),
        new LineFilter((line) => stored.add(line)),
        new NdjsonToCopy({ columns: columns.map((c) => c.name) }),
        client.query(copyFrom(`COPY ${scratch} (${list}) FROM STDIN`)),
        { signal },
      );
      const again = new LineSum();
      await pipeline(
        client.query(
          copyTo(`COPY (SELECT ${columns.map((c) => copyColumnExpr(c, "s")).join(", ")} FROM ${scratch} s) TO STDOUT`),
        ),
        new CopyToNdjson({ columns: columns.map((c) => ({ name: c.name, kind: jsonKind(c) })) }),
        new LineFilter((line) => again.add(line)),
        sink(),
        { signal },
      );
      const problem =
        stored.rows !== t.rows
          ? `loaded ${stored.rows} rows, the manifest says ${t.rows}`
          : again.rows !== stored.rows || again.sum !== stored.sum
            ? "rows do not encode back to the stored lines (lossy decode)"
            : undefined;
      tables.push({ table: t.table, rows: stored.rows, ok: problem === undefined, ...(problem ? { problem } : {}) });
      await client.query(`DROP TABLE ${scratch}`);
    }
  } catch (err) {
    // A connection lost midway (a reset socket under COPY FROM, a terminated backend) is exit 10
    // with a hint, as in dump and restore, not an internal error or a failed check.
    throw classifyConnectionError(err, { url: connection.url, clients: [client], during: "the test restore" }) ?? err;
  } finally {
    await client.query("ROLLBACK").catch(() => {});
    await client.end().catch(() => {});
  }
  return { ok: tables.every((t) => t.ok), tables };
}
