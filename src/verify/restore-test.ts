/**
 * `verify --restore-test`: loads every table of a snapshot into scratch (temporary) tables of
 * the target database inside one transaction that is always rolled back, then checks that each
 * table decodes into the live column types and encodes back to exactly the stored lines
 * (row count and an order-independent checksum of the lines). Nothing persists.
 */
import { pipeline } from "node:stream/promises";
import { from as copyFrom } from "pg-copy-streams";
import { readCatalog } from "../db/catalog.js";
import { connect, type ConnectOptions } from "../db/connect.js";
import { decodeColumnExpr, dumpColumnExpr } from "../db/encode.js";
import { quoteIdent } from "../db/quote.js";
import { copyCsvOptions } from "../dump/dump.js";
import type { Manifest } from "../format/manifest.js";
import { createDecompressStream } from "../format/zstd.js";
import { snapshotPrefix } from "../storage/keys.js";
import type { Storage } from "../storage/storage.js";
import type { VerifyResult } from "./verify.js";

const lineChecksum = (col: string) =>
  `SELECT count(*)::int8 AS n, coalesce(sum(('x' || substr(md5(${col}), 1, 16))::bit(64)::int8::numeric), 0)::text AS h`;

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
      if (cols.some((c) => c === undefined)) {
        tables.push({ table: t.table, rows: 0, ok: false, problem: "snapshot columns missing in the database" });
        continue;
      }
      const raw = `pg_temp.${quoteIdent(`pgsnap_verify_raw_${i}`)}`;
      const scratch = `pg_temp.${quoteIdent(`pgsnap_verify_${i}`)}`;
      await client.query(`CREATE TEMP TABLE ${raw} (line text)`);
      const body = await storage.get(snapshotPrefix(manifest.project, manifest.id) + t.object, undefined, { signal });
      await pipeline(
        body,
        createDecompressStream(),
        client.query(copyFrom(`COPY ${raw} (line) FROM STDIN WITH (${copyCsvOptions})`)),
        { signal },
      );
      await client.query(
        `CREATE TEMP TABLE ${scratch} AS SELECT ${cols.map((c) => `${decodeColumnExpr(c!, "line::jsonb")} AS ${quoteIdent(c!.name)}`).join(", ")} FROM ${raw}`,
      );
      const a = (await client.query<{ n: string; h: string }>(`${lineChecksum("line")} FROM ${raw}`)).rows[0]!;
      const b = (
        await client.query<{ n: string; h: string }>(
          `${lineChecksum("l")} FROM (SELECT pg_catalog.row_to_json(x)::text AS l FROM (SELECT ${cols.map((c) => dumpColumnExpr(c!, "s")).join(", ")} FROM ${scratch} s) x) y`,
        )
      ).rows[0]!;
      const rows = Number(a.n);
      const problem =
        rows !== t.rows
          ? `loaded ${rows} rows, the manifest says ${t.rows}`
          : a.n !== b.n || a.h !== b.h
            ? "rows do not encode back to the stored lines (lossy decode)"
            : undefined;
      tables.push({ table: t.table, rows, ok: problem === undefined, ...(problem ? { problem } : {}) });
      await client.query(`DROP TABLE ${raw}, ${scratch}`);
    }
  } finally {
    await client.query("ROLLBACK").catch(() => {});
    await client.end().catch(() => {});
  }
  return { ok: tables.every((t) => t.ok), tables };
}
