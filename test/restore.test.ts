/**
 * End-to-end tests of `pgsnap restore` on the demo schema (DESIGN.md, "Restore of one tenant";
 * CLI.md, restore and exit codes): the tenant's rows come back exactly, every other tenant's rows
 * stay byte-identical, dry runs and refusals change nothing, damaged or tampered snapshots are
 * refused with the published exit codes, and a killed restore leaves no trace.
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { cp, mkdtemp, readFile, rm, truncate, unlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { runPgsnap, spawnPgsnap, type CliResult } from "./helpers/cli.js";
import {
  createDatabase,
  createRole,
  createTemplate,
  loadSqlFile,
  repoRoot,
  withClient,
  type TestDatabase,
  type TestRole,
} from "./helpers/postgres.js";

const serverUrl = inject("pgUrl");

const demoDir = join(repoRoot, "sql", "demo");

/** Every table of the demo schema. */
const TABLES = [
  "cash_register",
  "clients",
  "companies",
  "payment_methods",
  "products",
  "sale_items",
  "sales",
  "service_orders",
] as const;
type Table = (typeof TABLES)[number];

/** The tenant tables as pgsnap names them (the restore's JSON lists exactly these). */
const TENANT_TABLES = TABLES.filter((t) => t !== "payment_methods").map((t) => `public.${t}`);

/**
 * Which rows of a table belong to tenant `t` (null: a global table). sale_items has no user_id:
 * an item belongs to the company of its sale.
 */
const OWNER: Record<Table, ((t: number) => string) | null> = {
  cash_register: (t) => `user_id = ${t}`,
  clients: (t) => `user_id = ${t}`,
  companies: (t) => `user_id = ${t}`,
  payment_methods: null,
  products: (t) => `user_id = ${t}`,
  sale_items: (t) => `sale_id IN (SELECT s.id FROM public.sales s WHERE s.user_id = ${t})`,
  sales: (t) => `user_id = ${t}`,
  service_orders: (t) => `user_id = ${t}`,
};

let tmpRoot: string;
let demoTemplate: string;

beforeAll(async () => {
  tmpRoot = await mkdtemp(join(tmpdir(), "pgsnap-restore-test-"));
  const hash = createHash("sha256");
  for (const f of ["schema.sql", "data.sql"]) hash.update(await readFile(join(demoDir, f)));
  demoTemplate = await createTemplate(serverUrl, `pgsnap_tpl_demo_${hash.digest("hex").slice(0, 12)}`, async (url) => {
    await loadSqlFile(url, join(demoDir, "schema.sql"));
    await loadSqlFile(url, join(demoDir, "data.sql"));
    await withClient(url, (c) => c.query("ANALYZE"));
  });
});

afterAll(async () => {
  if (tmpRoot) await rm(tmpRoot, { recursive: true, force: true });
});

let storageCounter = 0;
async function freshStorage(): Promise<string> {
  return join(tmpRoot, `storage-${++storageCounter}`);
}

/** A fresh demo database and a fresh storage directory for one test. */
interface Ctx {
  db: TestDatabase;
  storage: string;
  /** Runs pgsnap against this database and storage (global flags first). */
  cli(args: string[], opts?: { dbUrl?: string; verbose?: boolean }): Promise<CliResult>;
  sql<T extends pg.QueryResultRow = any>(text: string, values?: unknown[]): Promise<pg.QueryResult<T>>;
}

async function demo(): Promise<Ctx> {
  const db = await createDatabase(serverUrl, { template: demoTemplate, prefix: "pgsnap_restore" });
  const storage = await freshStorage();
  return {
    db,
    storage,
    cli: (args, opts = {}) =>
      runPgsnap([
        "--db",
        opts.dbUrl ?? db.url,
        "--storage",
        storage,
        "--json",
        ...(opts.verbose ? ["-v"] : []),
        ...args,
      ]),
    sql: (text, values) => withClient(db.url, (c) => c.query(text, values)),
  };
}

async function withDemo(fn: (ctx: Ctx) => Promise<void>): Promise<void> {
  const ctx = await demo();
  try {
    await fn(ctx);
  } finally {
    await ctx.db.drop();
  }
}

/** `count:md5` of the rows of `table` matching `where`, each row as its text form, sorted. */
async function digest(c: pg.Client, table: string, where = "true"): Promise<string> {
  const r = await c.query<{ n: number; h: string }>(
    `SELECT count(*)::int AS n, md5(coalesce(string_agg(r, E'\\n' ORDER BY r), '')) AS h
       FROM (SELECT t::text AS r FROM public.${table} t WHERE ${where}) x`,
  );
  return `${r.rows[0]!.n}:${r.rows[0]!.h}`;
}

/** Digest per tenant table of tenant `t`'s rows. */
async function tenantDigests(url: string, t: number): Promise<Record<string, string>> {
  return withClient(url, async (c) => {
    const out: Record<string, string> = {};
    for (const table of TABLES) {
      const own = OWNER[table];
      if (own) out[table] = await digest(c, table, own(t));
    }
    return out;
  });
}

/** Digest per table of every row NOT owned by tenant `t` (global tables in full). */
async function othersDigests(url: string, t: number): Promise<Record<string, string>> {
  return withClient(url, async (c) => {
    const out: Record<string, string> = {};
    for (const table of TABLES) {
      const own = OWNER[table];
      out[table] = await digest(c, table, own ? `NOT (${own(t)})` : "true");
    }
    return out;
  });
}

/** Digest of every table, in full. */
async function tableDigests(url: string): Promise<Record<string, string>> {
  return withClient(url, async (c) => {
    const out: Record<string, string> = {};
    for (const table of TABLES) out[table] = await digest(c, table);
    return out;
  });
}

/** The state of every sequence of schema public. */
async function sequenceStates(url: string): Promise<Record<string, string>> {
  return withClient(url, async (c) => {
    const seqs = await c.query<{ name: string }>(
      "SELECT sequencename AS name FROM pg_sequences WHERE schemaname = 'public' ORDER BY 1",
    );
    const out: Record<string, string> = {};
    for (const { name } of seqs.rows) {
      const r = await c.query<{ v: string; called: boolean }>(
        `SELECT last_value::text AS v, is_called AS called FROM public.${c.escapeIdentifier(name)}`,
      );
      out[name] = `${r.rows[0]!.v}/${String(r.rows[0]!.called)}`;
    }
    return out;
  });
}

/** Whether each user trigger is enabled (a restore disables them inside its transaction only). */
async function triggerStates(url: string): Promise<Record<string, string>> {
  return withClient(url, async (c) => {
    const r = await c.query<{ name: string; enabled: string }>(
      "SELECT tgrelid::regclass::text || '.' || tgname AS name, tgenabled::text AS enabled FROM pg_trigger WHERE NOT tgisinternal ORDER BY 1",
    );
    return Object.fromEntries(r.rows.map((x) => [x.name, x.enabled]));
  });
}

/** The whole database: every table's rows, every sequence's position, every trigger's state. */
async function dbDigest(
  url: string,
): Promise<{ tables: Record<string, string>; sequences: Record<string, string>; triggers: Record<string, string> }> {
  return { tables: await tableDigests(url), sequences: await sequenceStates(url), triggers: await triggerStates(url) };
}

/** Runs `pgsnap dump` with `args`, expects success, returns the snapshot id. */
async function dump(ctx: Ctx, ...args: string[]): Promise<string> {
  const r = await ctx.cli(["dump", ...args]);
  expect(r.code, r.stderr).toBe(0);
  expect(r.json.snapshots).toHaveLength(1);
  return r.json.snapshots[0].id as string;
}

interface TableNumbers {
  table: string;
  deleted: number;
  inserted: number;
  updated: number;
}

/** The numbers a restore of tenant `t` must report after `mutate(t)`: every tenant table listed. */
function expectedNumbers(changes: Partial<Record<Table, Partial<Omit<TableNumbers, "table">>>>): TableNumbers[] {
  return TENANT_TABLES.map((table) => ({
    table,
    deleted: 0,
    inserted: 0,
    updated: 0,
    ...changes[table.slice("public.".length) as Table],
  }));
}

const byTable = (rows: TableNumbers[]) => [...rows].sort((a, b) => (a.table < b.table ? -1 : 1));

/**
 * The standard damage done to tenant `t` after its dump: deletes some sales (their items go by
 * ON DELETE CASCADE), changes products, the company and cash registers, adds clients, deletes
 * service orders. Returns what a replace restore must report.
 */
async function mutateTenant(ctx: Ctx, t: number): Promise<TableNumbers[]> {
  return withClient(ctx.db.url, async (c) => {
    const items = await c.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM sale_items WHERE sale_id IN (SELECT id FROM sales WHERE user_id = ${t} AND id % 10 = 0)`,
    );
    const sales = await c.query(`DELETE FROM sales WHERE user_id = ${t} AND id % 10 = 0`);
    const products = await c.query(
      `UPDATE products SET price = price + 1, tags = tags || '{changed}', attrs = NULL WHERE user_id = ${t} AND id % 5 = 0`,
    );
    const companies = await c.query(`UPDATE companies SET name = name || ' (renamed)' WHERE user_id = ${t}`);
    const registers = await c.query(
      `UPDATE cash_register SET balance = balance - 0.01 WHERE user_id = ${t} AND id % 7 = 0`,
    );
    const clients = await c.query(
      `INSERT INTO clients (user_id, name, email) VALUES (${t}, 'extra one', 'x1@example.com'), (${t}, 'extra two', NULL)`,
    );
    const orders = await c.query(`DELETE FROM service_orders WHERE user_id = ${t} AND id % 2 = 0`);
    const n = (r: pg.QueryResult) => r.rowCount ?? 0;
    expect(items.rows[0]!.n).toBeGreaterThan(0);
    expect(n(sales) * n(products) * n(registers) * n(orders)).toBeGreaterThan(0);
    return expectedNumbers({
      sales: { inserted: n(sales) },
      sale_items: { inserted: items.rows[0]!.n },
      products: { updated: n(products) },
      companies: { updated: n(companies) },
      cash_register: { updated: n(registers) },
      clients: { deleted: n(clients) },
      service_orders: { inserted: n(orders) },
    });
  });
}

/** Changes made to other tenants after the dump: a restore of another tenant must keep them. */
async function mutateOthers(ctx: Ctx): Promise<void> {
  await ctx.sql(`
    UPDATE clients SET notes = 'changed after the dump' WHERE user_id = 4 AND id % 3 = 0;
    INSERT INTO sales (user_id, client_id, method_id, total, sold_at)
      SELECT 4, min(id), 2, 12.34, '2026-03-01 10:00+00' FROM clients WHERE user_id = 4;
    DELETE FROM service_orders WHERE user_id = 1 AND id % 3 = 0;
    UPDATE products SET stock = stock + 5 WHERE user_id = 5;
  `);
}

function snapshotDir(ctx: Ctx, id: string, storage = ctx.storage): string {
  return join(storage, ctx.db.name, id);
}

async function readManifest(dir: string): Promise<any> {
  return JSON.parse(await readFile(join(dir, "manifest.json"), "utf8"));
}

const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");

/**
 * Rewrites the data file of `table` in snapshot dir `dir` with the zstd CLI after `edit` changed
 * its lines, and fixes the manifest (sha256, bytes, storedBytes, rows, totals) so that only a
 * check of the rows themselves can notice.
 */
async function rewriteObject(dir: string, table: string, edit: (lines: string[]) => string[]): Promise<void> {
  const manifest = await readManifest(dir);
  const entry = manifest.tables.find((t: { table: string }) => t.table === table);
  expect(entry, `${table} in the manifest`).toBeTruthy();
  const file = join(dir, entry.object as string);
  const lines = execFileSync("zstd", ["-q", "-dc", file]).toString("utf8").split("\n").filter(Boolean);
  const edited = edit(lines);
  const text = edited.map((l) => l + "\n").join("");
  const compressed = execFileSync("zstd", ["-q", "-c", "-3"], { input: Buffer.from(text) });
  await writeFile(file, compressed);
  entry.sha256 = sha256(compressed);
  entry.bytes = Buffer.byteLength(text);
  entry.storedBytes = compressed.length;
  entry.rows = edited.length;
  manifest.rows = manifest.tables.reduce((s: number, t: { rows: number }) => s + t.rows, 0);
  manifest.bytes = manifest.tables.reduce((s: number, t: { bytes: number }) => s + t.bytes, 0);
  manifest.storedBytes = manifest.tables.reduce((s: number, t: { storedBytes: number }) => s + t.storedBytes, 0);
  await writeFile(join(dir, "manifest.json"), JSON.stringify(manifest, null, 2));
}

/** A copy of the storage directory, to damage without spoiling the original. */
async function copyStorage(ctx: Ctx): Promise<string> {
  const dir = await freshStorage();
  await cp(ctx.storage, dir, { recursive: true });
  return dir;
}

/** Grants a role what a restore needs on the demo database (it owns nothing). */
async function grantRestorer(ctx: Ctx, role: TestRole): Promise<void> {
  const r = `"${role.name}"`;
  await ctx.sql(`
    GRANT CONNECT, TEMPORARY ON DATABASE "${ctx.db.name}" TO ${r};
    GRANT USAGE ON SCHEMA public TO ${r};
    GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO ${r};
    GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO ${r};
  `);
}

describe("restore of one tenant (replace)", () => {
  it("brings tenant 3 back to the snapshot and leaves every other tenant byte-identical", async () => {
    await withDemo(async (ctx) => {
      const snapshotState = await tenantDigests(ctx.db.url, 3);
      const id = await dump(ctx, "--tenant", "3");
      const expected = await mutateTenant(ctx, 3);
      await mutateOthers(ctx);
      expect(await tenantDigests(ctx.db.url, 3)).not.toEqual(snapshotState);
      const othersBefore = await othersDigests(ctx.db.url, 3);

      const r = await ctx.cli(["restore", "latest", "--tenant", "3", "--confirm"]);
      expect(r.code, r.stderr).toBe(0);
      expect(Object.keys(r.json).sort()).toEqual(["dryRun", "mode", "snapshot", "tables", "tenant"]);
      expect(r.json).toMatchObject({ snapshot: id, tenant: "3", mode: "replace", dryRun: false });
      for (const t of r.json.tables) expect(Object.keys(t).sort()).toEqual(["deleted", "inserted", "table", "updated"]);
      expect(byTable(r.json.tables)).toEqual(expected);

      expect(await tenantDigests(ctx.db.url, 3)).toEqual(snapshotState);
      expect(await othersDigests(ctx.db.url, 3)).toEqual(othersBefore);

      // A second restore has nothing left to do.
      const again = await ctx.cli(["restore", id, "--tenant", "3", "--confirm"]);
      expect(again.code, again.stderr).toBe(0);
      expect(byTable(again.json.tables)).toEqual(expectedNumbers({}));
      expect(await tenantDigests(ctx.db.url, 3)).toEqual(snapshotState);
    });
  });

  it("--dry-run reports the same numbers as the real restore and changes nothing", async () => {
    await withDemo(async (ctx) => {
      const snapshotState = await tenantDigests(ctx.db.url, 3);
      const id = await dump(ctx, "--tenant", "3");
      const expected = await mutateTenant(ctx, 3);
      const before = await dbDigest(ctx.db.url);

      const dry = await ctx.cli(["restore", "latest", "--tenant", "3", "--dry-run"]);
      expect(dry.code, dry.stderr).toBe(0);
      expect(dry.json).toMatchObject({ snapshot: id, tenant: "3", mode: "replace", dryRun: true });
      expect(byTable(dry.json.tables)).toEqual(expected);
      expect(await dbDigest(ctx.db.url)).toEqual(before);

      const real = await ctx.cli(["restore", "latest", "--tenant", "3", "--confirm"]);
      expect(real.code, real.stderr).toBe(0);
      expect(real.json.dryRun).toBe(false);
      expect(byTable(real.json.tables)).toEqual(byTable(dry.json.tables));
      expect(await tenantDigests(ctx.db.url, 3)).toEqual(snapshotState);
    });
  });

  it("refuses without --confirm on a non-TTY (exit 3) and changes nothing", async () => {
    await withDemo(async (ctx) => {
      await dump(ctx, "--tenant", "3");
      await mutateTenant(ctx, 3);
      const before = await dbDigest(ctx.db.url);
      const r = await ctx.cli(["restore", "latest", "--tenant", "3"]);
      expect(r.code).toBe(3);
      expect(r.stderr).toMatch(/--confirm/);
      expect(r.json?.error?.exitCode).toBe(3);
      expect(await dbDigest(ctx.db.url)).toEqual(before);
    });
  });

  it("restores one tenant from a FULL snapshot without touching the others", async () => {
    await withDemo(async (ctx) => {
      const snapshotState = await tenantDigests(ctx.db.url, 2);
      const id = await dump(ctx);
      const expected = await mutateTenant(ctx, 2);
      await mutateTenant(ctx, 3); // another tenant damaged too: must stay damaged
      await mutateOthers(ctx);
      const othersBefore = await othersDigests(ctx.db.url, 2);

      const r = await ctx.cli(["restore", id, "--tenant", "2", "--confirm"]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.json).toMatchObject({ snapshot: id, tenant: "2", mode: "replace", dryRun: false });
      expect(byTable(r.json.tables)).toEqual(expected);
      expect(await tenantDigests(ctx.db.url, 2)).toEqual(snapshotState);
      expect(await othersDigests(ctx.db.url, 2)).toEqual(othersBefore);

      // `latest` finds the full snapshot for any tenant, too.
      const latest = await ctx.cli(["restore", "latest", "--tenant", "2", "--dry-run"]);
      expect(latest.code, latest.stderr).toBe(0);
      expect(latest.json.snapshot).toBe(id);
      expect(byTable(latest.json.tables)).toEqual(expectedNumbers({}));
    });
  });
});

describe("restore --mode merge", () => {
  it("inserts missing rows and updates changed ones, deletes nothing", async () => {
    await withDemo(async (ctx) => {
      const snapshotState = await tenantDigests(ctx.db.url, 3);
      await dump(ctx, "--tenant", "3");
      const replaceNumbers = await mutateTenant(ctx, 3);
      const othersBefore = await othersDigests(ctx.db.url, 3);

      const r = await ctx.cli(["restore", "latest", "--tenant", "3", "--mode", "merge", "--confirm"]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.json).toMatchObject({ tenant: "3", mode: "merge", dryRun: false });
      expect(byTable(r.json.tables)).toEqual(replaceNumbers.map((t) => ({ ...t, deleted: 0 })));

      // The extra clients stay; everything else equals the snapshot.
      const extra = await ctx.sql<{ name: string }>(
        "SELECT name FROM clients WHERE user_id = 3 AND name LIKE 'extra%' ORDER BY name",
      );
      expect(extra.rows.map((x) => x.name)).toEqual(["extra one", "extra two"]);
      const after = await tenantDigests(ctx.db.url, 3);
      expect({ ...after, clients: undefined }).toEqual({ ...snapshotState, clients: undefined });
      const clientsWithoutExtra = await withClient(ctx.db.url, (c) =>
        digest(c, "clients", "user_id = 3 AND name NOT LIKE 'extra%'"),
      );
      expect(clientsWithoutExtra).toBe(snapshotState.clients);
      expect(await othersDigests(ctx.db.url, 3)).toEqual(othersBefore);
    });
  });
});

describe("restore --tables", () => {
  it("--tables public.sales takes sale_items along (ON DELETE CASCADE); no sale item is lost", async () => {
    await withDemo(async (ctx) => {
      const snapshotState = await tenantDigests(ctx.db.url, 3);
      await dump(ctx, "--tenant", "3");
      const expected = await mutateTenant(ctx, 3);
      // A sale added after the dump, with items: not in the snapshot.
      await ctx.sql(`
        WITH s AS (INSERT INTO sales (user_id, client_id, method_id, total, sold_at)
                   SELECT 3, min(id), 1, 9.99, '2026-04-01 12:00+00' FROM clients WHERE user_id = 3 RETURNING id)
        INSERT INTO sale_items (sale_id, product_id, quantity, unit_price)
        SELECT s.id, p.id, 1, 9.99 FROM s, (SELECT id FROM products WHERE user_id = 3 ORDER BY id LIMIT 2) p`);
      const othersBefore = await othersDigests(ctx.db.url, 3);
      const tenantBefore = await tenantDigests(ctx.db.url, 3);

      const r = await ctx.cli(["restore", "latest", "--tenant", "3", "--tables", "public.sales", "--confirm"]);
      // What the product does: the set is closed over ON DELETE CASCADE children.
      expect(r.code, r.stderr).toBe(0);
      expect(byTable(r.json.tables)).toEqual([
        {
          table: "public.sale_items",
          deleted: 2,
          inserted: expected.find((t) => t.table === "public.sale_items")!.inserted,
          updated: 0,
        },
        {
          table: "public.sales",
          deleted: 1,
          inserted: expected.find((t) => t.table === "public.sales")!.inserted,
          updated: 0,
        },
      ]);
      const after = await tenantDigests(ctx.db.url, 3);
      expect(after.sales).toBe(snapshotState.sales);
      expect(after.sale_items).toBe(snapshotState.sale_items);
      // Tables not asked for stay as they were (still damaged).
      expect({ ...after, sales: undefined, sale_items: undefined }).toEqual({
        ...tenantBefore,
        sales: undefined,
        sale_items: undefined,
      });
      expect(after.products).not.toBe(snapshotState.products);
      expect(await othersDigests(ctx.db.url, 3)).toEqual(othersBefore);
    });
  });
});

describe("restore --tables (child not in the snapshot)", () => {
  it("refuses (exit 3) naming sale_items when the snapshot lacks it, and changes nothing", async () => {
    await withDemo(async (ctx) => {
      const dumped = await ctx.cli(["dump", "--tenant", "3", "--tables", "public.sales"]);
      expect(dumped.code, dumped.stderr).toBe(0);
      expect(dumped.json.snapshots[0].tables.map((t: { table: string }) => t.table)).toEqual(["public.sales"]);
      await ctx.sql("DELETE FROM sales WHERE user_id = 3 AND id % 10 = 0");
      await ctx.sql(`INSERT INTO sales (user_id, client_id, method_id, total, sold_at)
                     SELECT 3, min(id), 1, 1, '2026-05-01 10:00+00' FROM clients WHERE user_id = 3`);
      const before = await dbDigest(ctx.db.url);
      const r = await ctx.cli(["restore", "latest", "--tenant", "3", "--tables", "public.sales", "--confirm"]);
      expect(r.code, r.stderr).toBe(3);
      expect(r.stderr).toMatch(/public\.sale_items/);
      expect(await dbDigest(ctx.db.url)).toEqual(before);
    });
  });
});

describe("triggers", () => {
  it("does not fire the stock trigger: products.stock equals the snapshot's, and the trigger works afterwards", async () => {
    await withDemo(async (ctx) => {
      const stock = () => stockOf3(ctx);
      const snapshotStock = await stock();
      await dump(ctx, "--tenant", "3");
      // Delete sales (items cascade): the restore re-inserts the items, which would fire the trigger.
      await ctx.sql("DELETE FROM sales WHERE user_id = 3 AND id % 4 = 0");
      expect(await stock()).toBe(snapshotStock);

      const r = await ctx.cli(["restore", "latest", "--tenant", "3", "--confirm"]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.json.tables.find((t: TableNumbers) => t.table === "public.sale_items").inserted).toBeGreaterThan(0);
      expect(await stock()).toBe(snapshotStock);

      // Re-enabled as it was, and it still works.
      const trig = await ctx.sql<{ tgenabled: string }>(
        "SELECT tgenabled FROM pg_trigger WHERE tgname = 'sale_items_stock'",
      );
      expect(trig.rows[0]!.tgenabled).toBe("O");
      await ctx.sql(`INSERT INTO sale_items (sale_id, product_id, quantity, unit_price)
                     SELECT (SELECT min(id) FROM sales WHERE user_id = 3), (SELECT min(id) FROM products WHERE user_id = 3), 2, 1`);
      expect(await stock()).toBe(snapshotStock - 2);
    });
  });

  /** A non-owner role (BYPASSRLS, all DML grants) that may not ALTER TABLE ... DISABLE TRIGGER. */
  async function asNonOwner(fn: (ctx: Ctx, role: TestRole) => Promise<void>): Promise<void> {
    const role = await createRole(serverUrl, { bypassrls: true, prefix: "pgsnap_restorer" });
    try {
      await withDemo(async (ctx) => {
        await grantRestorer(ctx, role);
        await fn(ctx, role);
      });
    } finally {
      await role.drop();
    }
  }
  const stockOf3 = async (ctx: Ctx) =>
    Number((await ctx.sql<{ s: string }>("SELECT sum(stock)::text AS s FROM products WHERE user_id = 3")).rows[0]!.s);

  it("a role that may not disable triggers is refused (exit 3) and nothing changes", async () => {
    await asNonOwner(async (ctx, role) => {
      await dump(ctx, "--tenant", "3");
      await ctx.sql("DELETE FROM sales WHERE user_id = 3 AND id % 4 = 0");
      const before = await dbDigest(ctx.db.url);
      const r = await ctx.cli(["restore", "latest", "--tenant", "3", "--confirm"], { dbUrl: role.url(ctx.db.url) });
      expect(r.code, r.stderr).toBe(3);
      expect(r.stderr).toMatch(/sale_items_stock/);
      expect(r.stderr).toMatch(/--triggers fire/);
      expect(await dbDigest(ctx.db.url)).toEqual(before);
    });
  });

  it("with --triggers fire the same role restores, and the stock trigger fires once per re-inserted item", async () => {
    await asNonOwner(async (ctx, role) => {
      const snapshotStock = await stockOf3(ctx);
      const snapshotState = await tenantDigests(ctx.db.url, 3);
      await dump(ctx, "--tenant", "3");
      const quantity = Number(
        (
          await ctx.sql<{ q: string }>(
            "SELECT sum(quantity)::text AS q FROM sale_items WHERE sale_id IN (SELECT id FROM sales WHERE user_id = 3 AND id % 4 = 0)",
          )
        ).rows[0]!.q,
      );
      expect(quantity).toBeGreaterThan(0);
      await ctx.sql("DELETE FROM sales WHERE user_id = 3 AND id % 4 = 0");

      const r = await ctx.cli(["restore", "latest", "--tenant", "3", "--confirm", "--triggers", "fire"], {
        dbUrl: role.url(ctx.db.url),
      });
      expect(r.code, r.stderr).toBe(0);
      const after = await tenantDigests(ctx.db.url, 3);
      expect(after.sales).toBe(snapshotState.sales);
      expect(after.sale_items).toBe(snapshotState.sale_items);
      expect(await stockOf3(ctx)).toBe(snapshotStock - quantity);
    });
  });
});

describe("adversarial snapshots and sessions", () => {
  /**
   * A demo database with tenant 3 dumped into the context's storage, then damaged (so a restore
   * that went through would change it). `damage` prepares a storage (a copy, usually) and returns
   * it; the restore must exit with `code` and leave the database exactly as it was.
   */
  async function refusedRestore(
    code: number,
    damage: (ctx: Ctx, id: string) => Promise<{ storage?: string; dbUrl?: string; args?: string[] } | void>,
    check?: (ctx: Ctx, r: CliResult) => Promise<void>,
  ): Promise<void> {
    await withDemo(async (ctx) => {
      const id = await dump(ctx, "--tenant", "3");
      await mutateTenant(ctx, 3);
      const how = (await damage(ctx, id)) ?? {};
      const before = await dbDigest(ctx.db.url);
      const r = await runPgsnap([
        "--db",
        how.dbUrl ?? ctx.db.url,
        "--storage",
        how.storage ?? ctx.storage,
        "--json",
        "restore",
        ...(how.args ?? [id, "--tenant", "3", "--confirm"]),
      ]);
      expect(r.code, r.stderr).toBe(code);
      expect(r.json?.error?.exitCode).toBe(code);
      expect(r.stderr).toMatch(/^pgsnap: error: /m);
      expect(r.stderr).toMatch(/^hint: /m);
      expect(await dbDigest(ctx.db.url)).toEqual(before);
      await check?.(ctx, r);
    });
  }

  it("a row of tenant 4 in tenant 3's file (checksums fixed) → exit 3", async () => {
    await refusedRestore(
      3,
      async (ctx, id) => {
        const storage = await copyStorage(ctx);
        let changed = 0;
        await rewriteObject(snapshotDir(ctx, id, storage), "public.clients", (lines) =>
          lines.map((l, i) => {
            if (i !== 5) return l;
            changed++;
            expect(l).toContain('"user_id":3');
            return l.replace('"user_id":3', '"user_id":4');
          }),
        );
        expect(changed).toBe(1);
        return { storage };
      },
      async (_ctx, r) => expect(r.stderr).toMatch(/public\.clients.*does not belong to tenant 3/),
    );
  });

  it("a staged key equal to tenant 4's row, from a tampered file → exit 3, tenant 4's row untouched", async () => {
    let victim = 0;
    await refusedRestore(
      3,
      async (ctx, id) => {
        victim = Number(
          (await ctx.sql<{ id: string }>("SELECT min(id)::text AS id FROM clients WHERE user_id = 4")).rows[0]!.id,
        );
        const storage = await copyStorage(ctx);
        await rewriteObject(snapshotDir(ctx, id, storage), "public.clients", (lines) => [
          ...lines,
          JSON.stringify({ id: victim, user_id: 3, name: "intruder", email: "evil@example.com", notes: null }),
        ]);
        return { storage };
      },
      async (ctx, r) => {
        expect(r.stderr).toMatch(/public\.clients.*another tenant/);
        const row = await ctx.sql("SELECT user_id, name FROM clients WHERE id = $1", [victim]);
        expect(row.rows).toEqual([{ user_id: 4, name: "Client 4-1" }]);
      },
    );
  });

  it("a key of tenant 3's snapshot now owned by tenant 4 (moved after the dump) → exit 3, the row stays tenant 4's", async () => {
    let moved = 0;
    await refusedRestore(
      3,
      async (ctx) => {
        moved = Number(
          (await ctx.sql<{ id: string }>("SELECT max(id)::text AS id FROM products WHERE user_id = 3")).rows[0]!.id,
        );
        await ctx.sql("UPDATE products SET user_id = 4, name = 'now tenant 4' WHERE id = $1", [moved]);
      },
      async (ctx, r) => {
        expect(r.stderr).toMatch(/another tenant/);
        const row = await ctx.sql("SELECT user_id, name FROM products WHERE id = $1", [moved]);
        expect(row.rows).toEqual([{ user_id: 4, name: "now tenant 4" }]);
      },
    );
  });

  it("a sale item (no user_id; owned through its sale) pointing at tenant 4's sale (checksums fixed) → exit 3", async () => {
    await refusedRestore(
      3,
      async (ctx, id) => {
        const foreignSale = Number(
          (await ctx.sql<{ id: string }>("SELECT min(id)::text AS id FROM sales WHERE user_id = 4")).rows[0]!.id,
        );
        const storage = await copyStorage(ctx);
        await rewriteObject(snapshotDir(ctx, id, storage), "public.sale_items", (lines) =>
          lines.map((l, i) => (i === 0 ? l.replace(/"sale_id":\d+/, `"sale_id":${foreignSale}`) : l)),
        );
        return { storage };
      },
      async (_ctx, r) => expect(r.stderr).toMatch(/public\.sale_items.*does not belong to tenant 3/),
    );
  });

  it("a tenant value that is not valid for the tenant column (with a quote) → usage error (exit 2), no stack trace", async () => {
    await refusedRestore(
      2,
      async (ctx) => {
        // A full snapshot "contains" every tenant value, so the value reaches the database.
        const r = await ctx.cli(["dump"]);
        expect(r.code, r.stderr).toBe(0);
        return { args: [r.json.snapshots[0].id, "--tenant", "3'x", "--dry-run"] };
      },
      async (_ctx, r) => {
        expect(r.stderr).not.toMatch(/internal error|\n\s+at /);
      },
    );
  });

  it("a flipped byte in a data file → exit 12", async () => {
    await refusedRestore(12, async (ctx, id) => {
      const storage = await copyStorage(ctx);
      const file = join(snapshotDir(ctx, id, storage), "public.products.ndjson.zst");
      const data = await readFile(file);
      const at = Math.floor(data.length / 2);
      data[at] = data[at]! ^ 0x01;
      await writeFile(file, data);
      return { storage };
    });
  });

  it("a truncated data file → exit 12", async () => {
    await refusedRestore(12, async (ctx, id) => {
      const storage = await copyStorage(ctx);
      const file = join(snapshotDir(ctx, id, storage), "public.sales.ndjson.zst");
      const size = (await readFile(file)).length;
      await truncate(file, Math.floor(size * 0.6));
      return { storage };
    });
  });

  it("a data file cut exactly at a frame end (valid zstd, fewer rows) → exit 12", async () => {
    await refusedRestore(12, async (ctx, id) => {
      const storage = await copyStorage(ctx);
      const file = join(snapshotDir(ctx, id, storage), "public.service_orders.ndjson.zst");
      const lines = execFileSync("zstd", ["-q", "-dc", file]).toString("utf8").split("\n").filter(Boolean);
      // Same bytes as a shorter, complete object: only the checksum and row count can tell.
      await writeFile(file, execFileSync("zstd", ["-q", "-c"], { input: lines.slice(0, 3).join("\n") + "\n" }));
      return { storage };
    });
  });

  it("a deleted data file → exit 12", async () => {
    await refusedRestore(12, async (ctx, id) => {
      const storage = await copyStorage(ctx);
      await unlink(join(snapshotDir(ctx, id, storage), "public.sale_items.ndjson.zst"));
      return { storage };
    });
  });

  it("a manifest with format version 99 → exit 12", async () => {
    await refusedRestore(12, async (ctx, id) => {
      const storage = await copyStorage(ctx);
      const dir = snapshotDir(ctx, id, storage);
      const manifest = await readManifest(dir);
      manifest.version = 99;
      await writeFile(join(dir, "manifest.json"), JSON.stringify(manifest));
      return { storage };
    });
  });

  it("a role subject to row-level security (no BYPASSRLS, table not owned) → exit 3", async () => {
    const role = await createRole(serverUrl, { prefix: "pgsnap_rls" });
    try {
      await refusedRestore(
        3,
        async (ctx) => {
          await grantRestorer(ctx, role);
          await ctx.sql(
            "ALTER TABLE clients ENABLE ROW LEVEL SECURITY; CREATE POLICY only_some ON clients USING (id % 2 = 0)",
          );
          return { dbUrl: role.url(ctx.db.url) };
        },
        async (_ctx, r) =>
          expect(r.stderr).toMatch(/row-level security.*public\.clients|public\.clients.*row-level security/),
      );
    } finally {
      await role.drop();
    }
  });

  it("a concurrent restore of the same tenant (advisory lock held) → exit 13; works once released", async () => {
    await withDemo(async (ctx) => {
      const snapshotState = await tenantDigests(ctx.db.url, 3);
      await dump(ctx, "--tenant", "3");
      await mutateTenant(ctx, 3);
      const before = await dbDigest(ctx.db.url);
      await withClient(ctx.db.url, async (holder) => {
        await holder.query("BEGIN");
        await holder.query("SELECT pg_advisory_xact_lock(hashtext($1), hashtext($2))", [`pgsnap:${ctx.db.name}`, "3"]);
        const r = await ctx.cli(["restore", "latest", "--tenant", "3", "--confirm"]);
        expect(r.code, r.stderr).toBe(13);
        expect(r.json?.error?.exitCode).toBe(13);
        expect(await dbDigest(ctx.db.url)).toEqual(before);
        // A dry run takes the same lock.
        const other = await ctx.cli(["restore", "latest", "--tenant", "3", "--dry-run"]);
        expect(other.code).toBe(13);
        await holder.query("ROLLBACK");
      });
      const r = await ctx.cli(["restore", "latest", "--tenant", "3", "--confirm"]);
      expect(r.code, r.stderr).toBe(0);
      expect(await tenantDigests(ctx.db.url, 3)).toEqual(snapshotState);
    });
  });
});

describe("atomicity", () => {
  const BULK = 200_000;

  /** Waits until no pgsnap session is left on the database (a killed client's backend ends too). */
  async function waitForNoPgsnapSessions(url: string): Promise<void> {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const n = await withClient(url, async (c) =>
        Number(
          (
            await c.query<{ n: string }>(
              "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'pgsnap' AND pid <> pg_backend_pid()",
            )
          ).rows[0]!.n,
        ),
      );
      if (n === 0) return;
      if (Date.now() > deadline) throw new Error(`${n} pgsnap sessions still open 60 s after the kill`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Starts a restore and SIGKILLs it after `ms`, or as soon as stderr shows `line` (with -v). */
  async function killedRestore(
    ctx: Ctx,
    when: { ms: number } | { line: string },
  ): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
    const child = spawnPgsnap([
      "--db",
      ctx.db.url,
      "--storage",
      ctx.storage,
      "-v",
      "restore",
      "latest",
      "--tenant",
      "3",
      "--confirm",
    ]);
    child.stdin!.end();
    let stderr = "";
    const kill = () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    };
    child.stdout!.resume();
    child.stderr!.setEncoding("utf8").on("data", (d: string) => {
      stderr += d;
      if ("line" in when && stderr.split("\n").some((l) => l.trim() === when.line)) kill();
    });
    const timer = "ms" in when ? setTimeout(kill, when.ms) : undefined;
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((res) =>
      child.on("close", (c, s) => res([c, s])),
    );
    clearTimeout(timer);
    return { code, signal, stderr };
  }

  it(
    `a restore killed with SIGKILL at any point leaves the database as it was (${BULK} rows)`,
    { timeout: 600_000 },
    async () => {
      await withDemo(async (ctx) => {
        await ctx.sql(`INSERT INTO clients (user_id, name, email, notes)
                     SELECT 3, 'bulk client ' || g, 'bulk' || g || '@example.com', repeat('n', g % 50)
                       FROM generate_series(1, ${BULK}) g`);
        const snapshotState = await tenantDigests(ctx.db.url, 3);
        await dump(ctx, "--tenant", "3");
        // The restore has to put back 200k clients and more.
        await ctx.sql("DELETE FROM clients WHERE user_id = 3 AND name LIKE 'bulk client %'");
        await mutateTenant(ctx, 3);
        await ctx.sql("VACUUM ANALYZE clients");
        const before = await dbDigest(ctx.db.url);

        // The steps a restore goes through, as -v prints them.
        const dry = await runPgsnap([
          "--db",
          ctx.db.url,
          "--storage",
          ctx.storage,
          "-v",
          "restore",
          "latest",
          "--tenant",
          "3",
          "--dry-run",
        ]);
        expect(dry.code, dry.stderr).toBe(0);
        const steps = dry.stderr
          .split("\n")
          .map((l) => l.trim())
          .filter((l) => /^(staging|delete|write) public\./.test(l));
        expect(steps).toContain("staging public.clients");
        expect(steps).toContain("write public.clients");

        const points: ({ ms: number } | { line: string })[] = [
          { ms: 50 },
          { ms: 150 },
          { ms: 300 },
          { ms: 600 },
          { line: "staging public.clients" },
          { line: steps.find((s) => s.startsWith("delete "))! },
          { line: "write public.clients" },
          { line: steps[steps.length - 1]! },
        ];
        const outcomes: string[] = [];
        for (const point of points) {
          const r = await killedRestore(ctx, point);
          await waitForNoPgsnapSessions(ctx.db.url);
          const label = "ms" in point ? `${point.ms} ms` : `at "${point.line}"`;
          outcomes.push(`${label}: ${r.signal ?? `exit ${String(r.code)}`}`);
          expect(r.signal, `${label}: the restore finished before it could be killed:\n${r.stderr}`).toBe("SIGKILL");
          expect(await dbDigest(ctx.db.url), `database changed by a restore killed ${label}`).toEqual(before);
        }
        expect(outcomes).toHaveLength(points.length);

        const r = await ctx.cli(["restore", "latest", "--tenant", "3", "--confirm"]);
        expect(r.code, r.stderr).toBe(0);
        expect(r.json.tables.find((t: TableNumbers) => t.table === "public.clients")).toMatchObject({
          inserted: BULK,
          deleted: 2,
        });
        expect(await tenantDigests(ctx.db.url, 3)).toEqual(snapshotState);
      });
    },
  );
});

describe("sequences", () => {
  /**
   * Tenant 3 gets a client and a product with explicit ids above their sequences, is dumped, and
   * loses both rows again: restoring them must move the sequences up.
   */
  async function rowsAboveSequences(ctx: Ctx) {
    await ctx.sql(`
      INSERT INTO clients (id, user_id, name) VALUES (5000, 3, 'explicit id');
      INSERT INTO products (id, user_id, sku, name, price) VALUES (7000, 3, 'SKU-explicit', 'explicit id', 1.5);`);
    const seq = async (table: string) =>
      withClient(ctx.db.url, async (c) => {
        const name = (await c.query<{ s: string }>(`SELECT pg_get_serial_sequence('public.${table}', 'id') AS s`))
          .rows[0]!.s;
        const r = await c.query<{ v: string; called: boolean }>(
          `SELECT last_value::text AS v, is_called AS called FROM ${name}`,
        );
        return { value: Number(r.rows[0]!.v), called: r.rows[0]!.called };
      });
    const clientsSeq = await seq("clients");
    const productsSeq = await seq("products");
    expect(clientsSeq.value).toBeLessThan(5000);
    expect(productsSeq.value).toBeLessThan(7000);
    await dump(ctx, "--tenant", "3");
    await ctx.sql("DELETE FROM clients WHERE id = 5000; DELETE FROM products WHERE id = 7000");
    return { seq, clientsSeq, productsSeq };
  }

  it("moves a sequence up to the largest restored id, never down", async () => {
    await withDemo(async (ctx) => {
      const { seq } = await rowsAboveSequences(ctx);
      const r = await ctx.cli(["restore", "latest", "--tenant", "3", "--confirm"]);
      expect(r.code, r.stderr).toBe(0);
      expect((await seq("clients")).value).toBeGreaterThanOrEqual(5000);
      expect((await seq("products")).value).toBeGreaterThanOrEqual(7000);
      // The next ids do not collide with the restored rows.
      const c = await ctx.sql<{ id: string }>(
        "INSERT INTO clients (user_id, name) VALUES (1, 'after') RETURNING id::text AS id",
      );
      const p = await ctx.sql<{ id: string }>(
        "INSERT INTO products (user_id, sku, name, price) VALUES (1, 'SKU-after', 'after', 1) RETURNING id::text AS id",
      );
      expect(Number(c.rows[0]!.id)).toBeGreaterThan(5000);
      expect(Number(p.rows[0]!.id)).toBeGreaterThan(7000);

      // A sequence that is already higher stays where it is.
      await ctx.sql("SELECT setval(pg_get_serial_sequence('public.clients', 'id'), 100000)");
      await ctx.sql("DELETE FROM clients WHERE id = 5000");
      const again = await ctx.cli(["restore", "latest", "--tenant", "3", "--confirm"]);
      expect(again.code, again.stderr).toBe(0);
      expect(again.json.tables.find((t: TableNumbers) => t.table === "public.clients").inserted).toBe(1);
      expect(await seq("clients")).toEqual({ value: 100000, called: true });
    });
  });

  it("a dry run leaves sequences where they were (setval is not rolled back)", async () => {
    await withDemo(async (ctx) => {
      const { seq, clientsSeq, productsSeq } = await rowsAboveSequences(ctx);
      const dry = await ctx.cli(["restore", "latest", "--tenant", "3", "--dry-run"]);
      expect(dry.code, dry.stderr).toBe(0);
      expect(dry.json.tables.find((t: TableNumbers) => t.table === "public.clients").inserted).toBe(1);
      expect(await seq("clients"), "clients' sequence after a dry run").toEqual(clientsSeq);
      expect(await seq("products"), "products' sequence after a dry run").toEqual(productsSeq);
    });
  });
});

describe("whole-snapshot restore (--all)", () => {
  it("needs --confirm (exit 3), then makes every table equal the snapshot", async () => {
    await withDemo(async (ctx) => {
      const snapshotState = await tableDigests(ctx.db.url);
      const id = await dump(ctx);
      await mutateTenant(ctx, 1);
      await mutateTenant(ctx, 2);
      await mutateTenant(ctx, 5);
      await mutateOthers(ctx);
      await ctx.sql(
        "INSERT INTO payment_methods VALUES (9, 'voucher'); UPDATE payment_methods SET name = 'credit card' WHERE id = 2",
      );
      const before = await dbDigest(ctx.db.url);

      const refused = await ctx.cli(["restore", id, "--all"]);
      expect(refused.code, refused.stderr).toBe(3);
      expect(refused.stderr).toMatch(/--confirm/);
      expect(await dbDigest(ctx.db.url)).toEqual(before);

      const r = await ctx.cli(["restore", id, "--all", "--confirm"]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.json).toMatchObject({ snapshot: id, tenant: null, mode: "replace", dryRun: false });
      expect(r.json.tables.map((t: TableNumbers) => t.table).sort()).toEqual(TABLES.map((t) => `public.${t}`));
      expect(r.json.tables.find((t: TableNumbers) => t.table === "public.payment_methods")).toEqual({
        table: "public.payment_methods",
        deleted: 1,
        inserted: 0,
        updated: 1,
      });
      expect(await tableDigests(ctx.db.url)).toEqual(snapshotState);
    });
  });

  it("--all from a TENANT snapshot never deletes the other tenants' rows (refuses, or restores only that tenant)", async () => {
    await withDemo(async (ctx) => {
      const snapshotState = await tenantDigests(ctx.db.url, 3);
      const id = await dump(ctx, "--tenant", "3");
      await mutateTenant(ctx, 3);
      const before = await dbDigest(ctx.db.url);
      const othersBefore = await othersDigests(ctx.db.url, 3);

      const dry = await ctx.cli(["restore", id, "--all", "--dry-run"]);
      const r = await ctx.cli(["restore", id, "--all", "--confirm"]);
      if (r.code === 0) {
        expect(
          await othersDigests(ctx.db.url, 3),
          "rows of tenants 1, 2, 4, 5 after --all from a tenant-3 snapshot",
        ).toEqual(othersBefore);
        expect(await tenantDigests(ctx.db.url, 3)).toEqual(snapshotState);
      } else {
        expect([2, 3], r.stderr).toContain(r.code);
        expect(dry.code).toBe(r.code);
        expect(await dbDigest(ctx.db.url)).toEqual(before);
      }
      // What a dry run announces must not include other tenants' rows either.
      if (dry.code === 0) {
        const companies = dry.json.tables.find((t: TableNumbers) => t.table === "public.companies");
        expect(companies?.deleted ?? 0, "companies the dry run would delete").toBe(0);
      }
    });
  });
});
