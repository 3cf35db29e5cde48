import type pg from "pg";
import { quoteIdent, quoteLiteral } from "../db/quote.js";
import type { Work } from "./work.js";

/**
 * Moves the table's sequences up to the largest restored value of their column; never down
 * (other tenants share them). Only columns the snapshot holds count: a column added since the
 * dump got its values from the sequence itself. setval is not undone by ROLLBACK, so the caller
 * runs this last, after every check and deferred constraint, and never on a dry run.
 */
export async function moveSequences(client: pg.Client, w: Work, from: string = w.stage): Promise<void> {
  for (const seq of w.live.sequences) {
    const col = w.staged.find((c) => c.name === seq.column);
    if (!col || !["int2", "int4", "int8"].includes(col.baseType)) continue;
    const seqName = `${quoteIdent(seq.schema)}.${quoteIdent(seq.name)}`;
    await client.query(
      `SELECT pg_catalog.setval(${quoteLiteral(seqName)}::pg_catalog.regclass, x.m) FROM (SELECT max(${quoteIdent(seq.column)})::int8 AS m FROM ${from}) x, ${seqName} q ` +
        `WHERE x.m IS NOT NULL AND x.m > CASE WHEN q.is_called THEN q.last_value ELSE q.last_value - 1 END`,
    );
  }
}
