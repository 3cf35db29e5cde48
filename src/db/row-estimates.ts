import type pg from "pg";
import { readSql } from "./sql-files.js";

/**
 * The planner's row estimate per table oid (pg_class.reltuples, partitions summed); absent when
 * the table was never analyzed. Only for progress bars and ETAs: never for row counts.
 */
export async function readRowEstimates(client: pg.Client, oids: readonly number[]): Promise<Map<number, number>> {
  const out = new Map<number, number>();
  if (oids.length === 0) return out;
  const res = await client.query<{ table_oid: string; estimate: number | null }>(readSql("catalog/row-estimates.sql"), [
    oids,
  ]);
  for (const r of res.rows) if (r.estimate !== null) out.set(Number(r.table_oid), Math.round(r.estimate));
  return out;
}
