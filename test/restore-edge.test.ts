/**
 * Restore and dump on shapes the demo schema lacks: tables without a key, text tenant ids with
 * hostile characters, a custom ownership rule from a config file, names that need quoting.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { runPgsnap } from "./helpers/cli.js";
import { createDatabase, withClient, type TestDatabase } from "./helpers/postgres.js";

const serverUrl = inject("pgUrl");
const hostile = `o'brien\\; DROP TABLE "Tenant Data"; --`;

let db: TestDatabase;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "pgsnap-edge-"));
  db = await createDatabase(serverUrl, { prefix: "pgsnap_edge" });
  await withClient(db.url, async (c) => {
    await c.query(`CREATE SCHEMA "App Data"`);
    await c.query(`CREATE TABLE "App Data"."Tenant Data" ("org key" text NOT NULL, "Value" int, note text)`); // no key at all
    await c.query(`CREATE TABLE "App Data".invoices (id int PRIMARY KEY, empresa text NOT NULL, total numeric)`);
    await c.query(`CREATE TABLE "App Data".orgs ("org key" text PRIMARY KEY, title text)`);
    await c.query(`INSERT INTO "App Data".orgs VALUES ($1, 'Hostile Inc'), ('plain', 'Plain Ltd')`, [hostile]);
    await c.query(
      `INSERT INTO "App Data"."Tenant Data" SELECT CASE WHEN g % 2 = 0 THEN $1 ELSE 'plain' END, g % 3, 'n' || g FROM generate_series(1, 20) g`,
      [hostile],
    );
    await c.query(
      `INSERT INTO "App Data".invoices SELECT g, CASE WHEN g % 2 = 0 THEN $1 ELSE 'plain' END, g * 1.5 FROM generate_series(1, 10) g`,
      [hostile],
    );
  });
});

afterAll(async () => {
  await db?.drop();
  await rm(dir, { recursive: true, force: true });
});

async function md5(where: string, table = `"App Data"."Tenant Data"`): Promise<string> {
  return withClient(db.url, async (c) => {
    const r = await c.query<{ h: string | null }>(
      `SELECT md5(string_agg(t::text, '|' ORDER BY t::text)) AS h FROM ${table} t WHERE ${where}`,
    );
    return r.rows[0]?.h ?? "empty";
  });
}

const run = (args: string[], storage: string) =>
  runPgsnap([...args, "--db", db.url, "--storage", storage, "--tenant-column", "org key", "--json"]);

describe("a hostile text tenant id on a table without key", () => {
  const storage = () => join(dir, "nokey");

  it("dumps exactly that tenant's rows, quoting the value", async () => {
    const r = await run(["dump", "--tenant", hostile], storage());
    expect(r.code, r.stderr).toBe(0);
    const snap = r.json.snapshots[0];
    expect(snap.tenants).toEqual([hostile]);
    expect(snap.tables.find((t: any) => t.table === '"App Data"."Tenant Data"').rows).toBe(10);
    const still = await withClient(
      db.url,
      async (c) => (await c.query(`SELECT count(*) AS n FROM "App Data"."Tenant Data"`)).rows[0].n,
    );
    expect(still).toBe("20");
  });

  it("replace restores the tenant's rows exactly (delete all, insert all) and leaves the other tenant", async () => {
    const mine = await md5(`"org key" = '${hostile.replace(/'/g, "''")}'`);
    const other = await md5(`"org key" = 'plain'`);
    await withClient(db.url, async (c) => {
      await c.query(`UPDATE "App Data"."Tenant Data" SET "Value" = 99 WHERE "org key" = $1 AND note IN ('n2', 'n4')`, [
        hostile,
      ]);
      await c.query(`INSERT INTO "App Data"."Tenant Data" VALUES ($1, 7, 'extra')`, [hostile]);
    });
    const r = await run(["restore", "latest", "--tenant", hostile, "--confirm"], storage());
    expect(r.code, r.stderr).toBe(0);
    const t = r.json.tables.find((x: any) => x.table === '"App Data"."Tenant Data"');
    expect(t).toEqual({ table: '"App Data"."Tenant Data"', deleted: 11, inserted: 10, updated: 0 });
    expect(await md5(`"org key" = '${hostile.replace(/'/g, "''")}'`)).toBe(mine);
    expect(await md5(`"org key" = 'plain'`)).toBe(other);
  });

  it("merge inserts only rows that are missing and deletes nothing", async () => {
    await withClient(db.url, async (c) => {
      await c.query(`DELETE FROM "App Data"."Tenant Data" WHERE "org key" = $1 AND note = 'n2'`, [hostile]);
      await c.query(`INSERT INTO "App Data"."Tenant Data" VALUES ($1, 8, 'kept')`, [hostile]);
    });
    const r = await run(["restore", "latest", "--tenant", hostile, "--mode", "merge", "--confirm"], storage());
    expect(r.code, r.stderr).toBe(0);
    expect(r.json.tables.find((x: any) => x.table === '"App Data"."Tenant Data"')).toEqual({
      table: '"App Data"."Tenant Data"',
      deleted: 0,
      inserted: 1,
      updated: 0,
    });
    expect(await md5(`"org key" = 'plain'`)).not.toBe("empty");
    const rows = await withClient(
      db.url,
      async (c) =>
        (await c.query(`SELECT count(*) AS n FROM "App Data"."Tenant Data" WHERE "org key" = $1`, [hostile])).rows[0].n,
    );
    expect(rows).toBe("11");
  });
});

describe("locks", () => {
  it("a tenant restore is refused (exit 13) while a whole-snapshot restore holds the project", async () => {
    const storage = join(dir, "locks");
    expect((await run(["dump", "--tenant", "plain"], storage)).code).toBe(0);
    await withClient(db.url, async (c) => {
      await c.query("BEGIN");
      await c.query("SELECT pg_advisory_xact_lock(hashtext($1), hashtext('*all*'))", [`pgsnap:${db.name}`]);
      const r = await run(["restore", "latest", "--tenant", "plain", "--confirm"], storage);
      expect(r.code, r.stderr).toBe(13);
      expect(r.stderr).toMatch(/hint:/);
      await c.query("ROLLBACK");
    });
    const after = await run(["restore", "latest", "--tenant", "plain", "--confirm"], storage);
    expect(after.code, after.stderr).toBe(0);
  });
});

describe("a custom rule and tenant names from a config file", () => {
  it("plans, dumps and restores a table whose tenant lives in another column", async () => {
    const storage = join(dir, "custom");
    const config = join(dir, "pgsnap.config.json");
    await writeFile(
      config,
      JSON.stringify({
        projects: {
          edge: {
            db: "${EDGE_DB}",
            tenantColumn: "org key",
            tenantNames: { query: `SELECT "org key", title FROM "App Data".orgs` },
            tables: { "App Data.invoices": { filter: "t.empresa = :tenant", key: "t.empresa" } },
          },
        },
      }),
    );
    const env = { EDGE_DB: db.url };
    const opts = { env };
    const plan = await runPgsnap(["plan", "--config", config, "--json", "--tenant", hostile], opts);
    expect(plan.code, plan.stderr).toBe(0);
    const inv = plan.json.tables.find((t: any) => t.table === '"App Data".invoices');
    expect(inv.scope).toBe("custom");
    // The value is quoted as an E'' literal (it holds a backslash), never spliced in raw.
    expect(inv.filter).toContain("t.empresa =  E'o''brien\\\\; DROP TABLE \"Tenant Data\"; --'");

    const tenants = await runPgsnap(["tenants", "--config", config, "--json"], opts);
    expect(tenants.code, tenants.stderr).toBe(0);
    expect(tenants.json.tenants.find((t: any) => t.id === hostile)).toEqual({
      id: hostile,
      name: "Hostile Inc",
      rows: 11 + 5 + 1,
    }); // after the merge above: 11 data rows, 5 invoices, 1 org

    const dump = await runPgsnap(["dump", "--config", config, "--storage", storage, "--all-tenants", "--json"], opts);
    expect(dump.code, dump.stderr).toBe(0);
    expect(dump.json.snapshots[0].project).toBe("edge");
    const before = await md5(`empresa = 'plain'`, `"App Data".invoices`);
    await withClient(db.url, (c) => c.query(`DELETE FROM "App Data".invoices WHERE empresa = $1`, [hostile]));
    const r = await runPgsnap(
      ["restore", "latest", "--config", config, "--storage", storage, "--tenant", hostile, "--confirm", "--json"],
      opts,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.json.tables.find((t: any) => t.table === '"App Data".invoices').inserted).toBe(5);
    expect(await md5(`empresa = 'plain'`, `"App Data".invoices`)).toBe(before);
  });

  it("reports every config problem at once, unknown keys included (exit 2)", async () => {
    const bad = join(dir, "bad.json");
    await writeFile(
      bad,
      JSON.stringify({
        projectz: {},
        projects: { a: { tenantColumm: "x", tables: { "public.t": { filter: "t.a = 1" } } } },
      }),
    );
    const r = await runPgsnap(["list", "--config", bad]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('unknown key "projectz"');
    expect(r.stderr).toContain('unknown key "tenantColumm"');
    expect(r.stderr).toContain(":tenant placeholder");
  });
});
