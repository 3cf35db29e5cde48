/**
 * What the write phase holds on the restored tables, taken as late as the guarantees allow
 * (after staging and the checks): a SHARE ROW EXCLUSIVE lock (other sessions keep reading, their
 * writes to these tables wait until COMMIT), user triggers and rewrite rules disabled inside the
 * transaction, foreign keys that close a cycle deferred.
 */
import type pg from "pg";
import type { TableInfo } from "../db/catalog.js";
import { quoteIdent, quoteTable } from "../db/quote.js";
import { cyclicForeignKeys } from "./topo-order.js";
import type { Work } from "./work.js";

/** Locks the tables for the write phase: the plan taken next stays true until COMMIT. */
export async function lockForWrites(client: pg.Client, works: readonly Work[]): Promise<void> {
  await client.query(`LOCK TABLE ${works.map((w) => quoteTable(w.live)).join(", ")} IN SHARE ROW EXCLUSIVE MODE`);
}

/**
 * Disables user triggers (audit, stock, webhooks must not fire twice) and rewrite rules on the
 * restored tables inside the transaction (guards.ts refused the roles that may not). Foreign
 * keys stay enforced. Returns the step that turns them back on, as they were.
 */
export async function disableTriggersAndRules(
  client: pg.Client,
  works: readonly Work[],
  triggers: "disable" | "fire",
): Promise<() => Promise<void>> {
  const undo: string[] = [];
  for (const w of works) {
    const t = quoteTable(w.live);
    if (triggers === "disable") {
      for (const tr of w.live.triggers) {
        await client.query(`ALTER TABLE ${t} DISABLE TRIGGER ${quoteIdent(tr.name)}`);
        const how = tr.enabled === "A" ? "ENABLE ALWAYS" : tr.enabled === "R" ? "ENABLE REPLICA" : "ENABLE";
        undo.push(`ALTER TABLE ${t} ${how} TRIGGER ${quoteIdent(tr.name)}`);
      }
    }
    for (const r of w.live.rules) {
      await client.query(`ALTER TABLE ${t} DISABLE RULE ${quoteIdent(r.name)}`);
      const how = r.enabled === "A" ? "ENABLE ALWAYS" : r.enabled === "R" ? "ENABLE REPLICA" : "ENABLE";
      undo.push(`ALTER TABLE ${t} ${how} RULE ${quoteIdent(r.name)}`);
    }
  }
  return async () => {
    for (const sql of undo) await client.query(sql);
  };
}

/**
 * Defers the foreign keys that close a cycle among the restored tables, so rows can be written
 * in any order; the returned step checks them (SET CONSTRAINTS ... IMMEDIATE) and puts back keys
 * that were not deferrable. Altering a key needs the table's owner; without it the keys stay as
 * they are (a restore that needs them deferred then fails and rolls back).
 */
export async function deferCyclicKeys(
  client: pg.Client,
  works: readonly Work[],
  superuser: boolean,
): Promise<() => Promise<void>> {
  const tables = new Map(works.map((w) => [w.live.id, w.live]));
  const altered: { table: TableInfo; name: string }[] = [];
  const deferred: string[] = [];
  for (const fk of cyclicForeignKeys([...tables.values()])) {
    const table = tables.get(fk.table)!;
    const name = `${quoteIdent(table.schema)}.${quoteIdent(fk.name)}`;
    if (!fk.deferrable) {
      if (!table.isOwner && !superuser) continue;
      await client.query(
        `ALTER TABLE ${quoteTable(table)} ALTER CONSTRAINT ${quoteIdent(fk.name)} DEFERRABLE INITIALLY IMMEDIATE`,
      );
      altered.push({ table, name: fk.name });
    }
    await client.query(`SET CONSTRAINTS ${name} DEFERRED`);
    deferred.push(name);
  }
  return async () => {
    // Every deferred constraint, the user's own deferrable keys too, is checked now: before any
    // sequence moves (setval survives a rollback), so a refusal at COMMIT cannot happen.
    await client.query("SET CONSTRAINTS ALL IMMEDIATE");
    for (const a of altered) {
      await client.query(`ALTER TABLE ${quoteTable(a.table)} ALTER CONSTRAINT ${quoteIdent(a.name)} NOT DEFERRABLE`);
    }
  };
}
