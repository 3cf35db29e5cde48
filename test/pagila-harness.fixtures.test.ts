/**
 * The pagila fixture itself (PGSNAP_PAGILA_DIR, default ../shared/fixtures/pagila): its template
 * loads whole. `npm run test:fixtures` runs this file; a missing fixture fails it.
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import {
  createDatabase,
  createPagilaDatabase,
  loadSqlFile,
  pagilaDir,
  withClient,
  type TestDatabase,
} from "./helpers/postgres.js";

const serverUrl = inject("pgUrl");

async function count(url: string, sql: string): Promise<number> {
  return withClient(url, async (c) => Number((await c.query<{ n: string }>(sql)).rows[0]?.n));
}

/** Row counts of every ordinary and partitioned table in schema public. */
async function tableCounts(url: string): Promise<Record<string, number>> {
  return withClient(url, async (c) => {
    const tables = await c.query<{ name: string }>(
      `SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') ORDER BY 1`,
    );
    const out: Record<string, number> = {};
    for (const { name } of tables.rows) {
      const r = await c.query<{ n: string }>(`SELECT count(*) AS n FROM public.${c.escapeIdentifier(name)}`);
      out[name] = Number(r.rows[0]?.n);
    }
    return out;
  });
}

describe("pagila", () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createPagilaDatabase(serverUrl);
  });
  afterAll(async () => {
    await db?.drop();
  });

  it("loads with the numbers the fixture holds", async () => {
    const counts = await tableCounts(db.url);
    expect(counts).toMatchObject({
      store: 500,
      staff: 1500,
      customer: 599,
      inventory: 4581,
      rental: 16044,
      payment: 16049,
      film: 1000,
      actor: 200,
      address: 603,
      city: 600,
      country: 109,
      language: 6,
      category: 16,
      film_actor: 5462,
      film_category: 2367,
    });
  });

  it("has the partitioned payment table with its seven monthly partitions", async () => {
    const partitions = await withClient(db.url, async (c) => {
      const r = await c.query<{ name: string }>(
        `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
          WHERE i.inhparent = 'public.payment'::regclass ORDER BY 1`,
      );
      return r.rows.map((row) => row.name);
    });
    expect(partitions).toEqual([1, 2, 3, 4, 5, 6, 7].map((m) => `payment_p2022_0${m}`));
    expect(await count(db.url, "SELECT count(*) AS n FROM pg_class WHERE relname = 'payment' AND relkind = 'p'")).toBe(
      1,
    );
  });

  it("keeps non-ASCII names and sequence positions (UTF8 database, setval ran)", async () => {
    expect(await count(db.url, "SELECT count(*) AS n FROM pg_type WHERE typname = 'bıgınt'")).toBe(1);
    expect(await count(db.url, "SELECT last_value AS n FROM public.store_store_id_seq")).toBe(500);
    expect(await count(db.url, "SELECT count(*) AS n FROM pg_matviews WHERE matviewname = 'rental_by_category'")).toBe(
      1,
    );
  });

  it("loads identically with the Node loader (the path taken where no psql exists)", async () => {
    const plain = await createDatabase(serverUrl);
    try {
      const dir = pagilaDir();
      await loadSqlFile(plain.url, join(dir, "schema.sql"), { loader: "node" });
      await loadSqlFile(plain.url, join(dir, "data.sql"), { loader: "node" });
      expect(await tableCounts(plain.url)).toEqual(await tableCounts(db.url));
    } finally {
      await plain.drop();
    }
  });
});
