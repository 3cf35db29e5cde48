/**
 * Restore of one store of pagila (`--tenant-column store_id`): rental and payment (partitioned)
 * have no store_id and belong to a store through a foreign key path the planner chooses; the
 * store's rows must come back exactly and the rows of the other 499 stores must stay
 * byte-identical, including rentals of other stores' customers that reference store 1's
 * inventory (DESIGN.md, "Tenant scope" and "Restore of one tenant").
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { runPgsnap, type CliResult } from "./helpers/cli.js";
import { createPagilaDatabase, withClient, type TestDatabase } from "./helpers/postgres.js";

const serverUrl = inject("pgUrl");

/** Tenant tables of pagila with store_id as tenant column, and how a row belongs to store `s`. */
const OWNER: Record<string, (s: number) => string> = {
  store: (s) => `t.store_id = ${s}`,
  staff: (s) => `t.store_id = ${s}`,
  customer: (s) => `t.store_id = ${s}`,
  inventory: (s) => `t.store_id = ${s}`,
  // As `pgsnap plan` shows (asserted below): through the customer, not the inventory or staff.
  rental: (s) => `t.customer_id IN (SELECT c.customer_id FROM public.customer c WHERE c.store_id = ${s})`,
  payment: (s) => `t.customer_id IN (SELECT c.customer_id FROM public.customer c WHERE c.store_id = ${s})`,
};
const TENANT_TABLES = Object.keys(OWNER);

let db: TestDatabase;
let storage: string;
let allTables: string[];

beforeAll(async () => {
  db = await createPagilaDatabase(serverUrl);
  storage = await mkdtemp(join(tmpdir(), "pgsnap-pagila-restore-"));
  allTables = await withClient(db.url, async (c) =>
    (
      await c.query<{ name: string }>(
        `SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition ORDER BY 1`,
      )
    ).rows.map((r) => r.name),
  );
});

afterAll(async () => {
  await db?.drop();
  if (storage) await rm(storage, { recursive: true, force: true });
});

function cli(args: string[]): Promise<CliResult> {
  return runPgsnap(["--db", db.url, "--storage", storage, "--tenant-column", "store_id", "--json", ...args]);
}

async function digest(c: pg.Client, table: string, where = "true"): Promise<string> {
  const r = await c.query<{ n: number; h: string }>(
    `SELECT count(*)::int AS n, md5(coalesce(string_agg(r, E'\\n' ORDER BY r), '')) AS h
       FROM (SELECT t::text AS r FROM public.${c.escapeIdentifier(table)} t WHERE ${where}) x`,
  );
  return `${r.rows[0]!.n}:${r.rows[0]!.h}`;
}

/** Store `s`'s rows, per tenant table. */
async function storeDigests(s: number): Promise<Record<string, string>> {
  return withClient(db.url, async (c) => {
    const out: Record<string, string> = {};
    for (const t of TENANT_TABLES) out[t] = await digest(c, t, OWNER[t]!(s));
    return out;
  });
}

/** Every row not owned by store `s`, per table (the global tables in full). */
async function notStoreDigests(s: number): Promise<Record<string, string>> {
  return withClient(db.url, async (c) => {
    const out: Record<string, string> = {};
    for (const t of allTables) out[t] = await digest(c, t, OWNER[t] ? `NOT (${OWNER[t](s)})` : "true");
    return out;
  });
}

/** Every row of every table. */
async function allDigests(): Promise<Record<string, string>> {
  return withClient(db.url, async (c) => {
    const out: Record<string, string> = {};
    for (const t of allTables) out[t] = await digest(c, t);
    return out;
  });
}

interface TableNumbers {
  table: string;
  deleted: number;
  inserted: number;
  updated: number;
}
const byTable = (rows: TableNumbers[]) => [...rows].sort((a, b) => (a.table < b.table ? -1 : 1));

describe("pagila: restore of store 1 (--tenant-column store_id)", () => {
  it("plan: rental and payment belong to a store through customer, and the plan's filters select the rows this test counts", async () => {
    const r = await cli(["plan", "--tenant", "1"]);
    expect(r.code, r.stderr).toBe(0);
    const plan = new Map<string, { scope: string; filter: string | null; path: string[] }>(
      r.json.tables.map((t: { table: string }) => [t.table, t]),
    );
    for (const t of ["store", "staff", "customer", "inventory"]) expect(plan.get(`public.${t}`)?.scope).toBe("direct");
    expect(plan.get("public.rental")).toMatchObject({ scope: "via", path: ["public.rental", "public.customer"] });
    expect(plan.get("public.payment")).toMatchObject({ scope: "via", path: ["public.payment", "public.customer"] });
    const tenantTables = [...plan]
      .filter(([, p]) => p.scope !== "global")
      .map(([t]) => t)
      .sort();
    expect(tenantTables).toEqual(TENANT_TABLES.map((t) => `public.${t}`).sort());

    // The plan's own filters (alias t) select exactly the rows this test calls store 1's.
    await withClient(db.url, async (c) => {
      for (const t of TENANT_TABLES) {
        expect(await digest(c, t, plan.get(`public.${t}`)!.filter!), t).toBe(await digest(c, t, OWNER[t]!(1)));
      }
    });
  });

  it(
    "brings back store 1's deleted and changed rentals and payments; the other 499 stores stay byte-identical",
    { timeout: 180_000 },
    async () => {
      const snapshotState = await storeDigests(1);
      const store2State = await storeDigests(2);
      expect(Number(snapshotState.rental!.split(":")[0])).toBeGreaterThan(1000);

      const dumped = await cli(["dump", "--tenant", "1", "--tenant", "2"]);
      expect(dumped.code, dumped.stderr).toBe(0);
      expect(dumped.json.snapshots).toHaveLength(2);
      const snap1 = dumped.json.snapshots.find((s: { tenants: string[] }) => s.tenants[0] === "1");
      expect(snap1).toBeTruthy();
      expect(snap1.tables.map((t: { table: string }) => t.table).sort()).toEqual(
        TENANT_TABLES.map((t) => `public.${t}`).sort(),
      );

      // Damage store 1: deletes, changes, a payment moved to another partition, rows added.
      const store1 = "SELECT customer_id FROM customer WHERE store_id = 1";
      const n = (r: pg.QueryResult) => r.rowCount ?? 0;
      const expected = await withClient(db.url, async (c) => {
        const paysOfRentals = await c.query(
          `DELETE FROM payment WHERE rental_id IN (SELECT rental_id FROM rental WHERE customer_id IN (${store1}) AND rental_id % 40 = 0)`,
        );
        const rentalsDeleted = await c.query(
          `DELETE FROM rental WHERE customer_id IN (${store1}) AND rental_id % 40 = 0`,
        );
        const paysDeleted = await c.query(
          `DELETE FROM payment WHERE customer_id IN (${store1}) AND payment_id % 50 = 0`,
        );
        const rentalsChanged = await c.query(
          `UPDATE rental SET return_date = coalesce(return_date, rental_date) + interval '3 days' WHERE customer_id IN (${store1}) AND rental_id % 40 = 1`,
        );
        const paysChanged = await c.query(
          `UPDATE payment SET amount = amount + 1 WHERE customer_id IN (${store1}) AND payment_id % 50 = 1`,
        );
        // payment_date is part of the key: a moved payment is a delete plus an insert, across partitions.
        const paysMoved = await c.query(
          `UPDATE payment SET payment_date = payment_date + interval '1 month'
          WHERE customer_id IN (${store1}) AND payment_id % 50 = 2 AND payment_date < '2022-06-01'`,
        );
        const added = await c.query(`
        WITH r AS (INSERT INTO rental (rental_date, inventory_id, customer_id, staff_id)
                   SELECT '2022-07-30 10:00+00', min(inventory_id), (SELECT min(customer_id) FROM customer WHERE store_id = 1), 1
                     FROM inventory WHERE store_id = 1 RETURNING rental_id, customer_id, staff_id)
        INSERT INTO payment (customer_id, staff_id, rental_id, amount, payment_date)
        SELECT customer_id, staff_id, rental_id, 4.99, '2022-07-30 10:05+00' FROM r`);
        for (const r of [paysOfRentals, rentalsDeleted, paysDeleted, rentalsChanged, paysChanged, paysMoved, added]) {
          expect(n(r)).toBeGreaterThan(0);
        }
        const zero = { deleted: 0, inserted: 0, updated: 0 };
        return byTable([
          ...["store", "staff", "customer", "inventory"].map((t) => ({ table: `public.${t}`, ...zero })),
          { table: "public.rental", deleted: 1, inserted: n(rentalsDeleted), updated: n(rentalsChanged) },
          {
            table: "public.payment",
            deleted: 1 + n(paysMoved),
            inserted: n(paysOfRentals) + n(paysDeleted) + n(paysMoved),
            updated: n(paysChanged),
          },
        ]);
      });
      // Other stores change after the dump too: the restore of store 1 must keep that.
      await withClient(db.url, (c) =>
        c.query(`
        UPDATE rental SET return_date = rental_date + interval '1 day'
         WHERE customer_id IN (SELECT customer_id FROM customer WHERE store_id = 2) AND rental_id % 30 = 0;
        UPDATE payment SET amount = amount + 0.5
         WHERE customer_id IN (SELECT customer_id FROM customer WHERE store_id = 2) AND payment_id % 30 = 0;
        UPDATE staff SET email = 'changed@example.com' WHERE store_id = 77;`),
      );
      expect(await storeDigests(1)).not.toEqual(snapshotState);
      const othersBefore = await notStoreDigests(1);
      const allBefore = await allDigests();

      const dry = await cli(["restore", "latest", "--tenant", "1", "--dry-run"]);
      expect(dry.code, dry.stderr).toBe(0);
      expect(dry.json).toMatchObject({ snapshot: snap1.id, tenant: "1", mode: "replace", dryRun: true });
      expect(byTable(dry.json.tables)).toEqual(expected);
      expect(await allDigests()).toEqual(allBefore);

      const r = await cli(["restore", "latest", "--tenant", "1", "--confirm"]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.json).toMatchObject({ snapshot: snap1.id, tenant: "1", mode: "replace", dryRun: false });
      expect(byTable(r.json.tables)).toEqual(expected);

      expect(await storeDigests(1)).toEqual(snapshotState);
      expect(await notStoreDigests(1)).toEqual(othersBefore);
      expect(await storeDigests(2)).not.toEqual(store2State); // store 2's later changes were kept

      // Every payment is back in the partition its date belongs to.
      const misplaced = await withClient(db.url, async (c) => {
        await c.query("SET TimeZone = 'UTC'");
        return c.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM payment WHERE tableoid::regclass::text <> 'payment_p' || to_char(payment_date, 'YYYY_MM')`,
        );
      });
      expect(misplaced.rows[0]!.n).toBe(0);
    },
  );
});
