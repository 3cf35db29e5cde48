/**
 * Every tenant in one pass (scope `tenants`): frames per tenant, restore and extract of one tenant
 * by reading only its byte ranges, tenant discovery, and a 10,000-tenant snapshot.
 */
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { parseManifest } from "../src/format/manifest.js";
import { runPgsnap } from "./helpers/cli.js";
import { createDatabase, loadSqlFile, repoRoot, withClient, type TestDatabase } from "./helpers/postgres.js";

const serverUrl = inject("pgUrl");
let tmpRoot: string;
beforeAll(async () => {
  tmpRoot = await mkdtemp(join(tmpdir(), "pgsnap-tenants-test-"));
});
afterAll(async () => {
  await rm(tmpRoot, { recursive: true, force: true });
});

let n = 0;
const freshDir = () => join(tmpRoot, `s${++n}`);

/** md5 over a table's rows (ordered by their text) that satisfy `where`. */
async function md5(url: string, table: string, where = "true"): Promise<string> {
  return withClient(url, async (c) => {
    const r = await c.query<{ h: string | null }>(
      `SELECT md5(string_agg(t::text, '|' ORDER BY t::text)) AS h FROM ${table} t WHERE ${where}`,
    );
    return r.rows[0]?.h ?? "empty";
  });
}

describe("tenant discovery", () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createDatabase(serverUrl, { prefix: "pgsnap_tenants" });
    await loadSqlFile(db.url, join(repoRoot, "sql", "demo", "schema.sql"));
    await loadSqlFile(db.url, join(repoRoot, "sql", "demo", "data.sql"));
  });
  afterAll(async () => {
    await db?.drop();
  });

  it("lists every tenant with its rows over all tenant tables and its name", async () => {
    const r = await runPgsnap(["tenants", "--db", db.url, "--json"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json.tenants.map((t: any) => t.id)).toEqual(["1", "2", "3", "4", "5"]);
    const expected = await withClient(db.url, async (c) => {
      const q = await c.query<{ n: string }>(
        `SELECT (SELECT count(*) FROM companies WHERE user_id = 2) + (SELECT count(*) FROM products WHERE user_id = 2)
              + (SELECT count(*) FROM clients WHERE user_id = 2) + (SELECT count(*) FROM sales WHERE user_id = 2)
              + (SELECT count(*) FROM sale_items i JOIN sales s ON s.id = i.sale_id WHERE s.user_id = 2)
              + (SELECT count(*) FROM cash_register WHERE user_id = 2) + (SELECT count(*) FROM service_orders WHERE user_id = 2) AS n`,
      );
      return Number(q.rows[0]!.n);
    });
    const two = r.json.tenants.find((t: any) => t.id === "2");
    expect(two.rows).toBe(expected);
    expect(two.name).toBe("Company 2 Loja");
  });
});

describe("many tenant snapshots in one run", () => {
  it("gives every snapshot its own id, even hundreds within one second", async () => {
    const db = await createDatabase(serverUrl, { prefix: "pgsnap_ids" });
    try {
      await withClient(db.url, (c) => c.query("CREATE TABLE notes (id int PRIMARY KEY, user_id int NOT NULL)"));
      await withClient(db.url, (c) => c.query("INSERT INTO notes SELECT g, g FROM generate_series(1, 300) g"));
      const storage = freshDir();
      const tenants = Array.from({ length: 300 }, (_, i) => ["--tenant", String(i + 1)]).flat();
      const r = await runPgsnap(["dump", ...tenants, "--db", db.url, "--storage", storage, "--json"]);
      expect(r.code, r.stderr).toBe(0);
      const ids = r.json.snapshots.map((s: any) => s.id);
      expect(new Set(ids).size).toBe(300);
      const listed = await runPgsnap(["list", "--db", db.url, "--storage", storage, "--json"]);
      expect(listed.json.snapshots).toHaveLength(300);
      for (const s of listed.json.snapshots) expect(s.rows).toBe(1);
    } finally {
      await db.drop();
    }
  });
});

describe("10,000 small tenants", () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createDatabase(serverUrl, { prefix: "pgsnap_many" });
    await withClient(db.url, async (c) => {
      await c.query(`CREATE TABLE accounts (user_id int PRIMARY KEY, name text NOT NULL)`);
      await c.query(
        `CREATE TABLE notes (id bigserial PRIMARY KEY, user_id int NOT NULL REFERENCES accounts, body text)`,
      );
      await c.query(
        `CREATE TABLE note_tags (note_id bigint REFERENCES notes ON DELETE CASCADE, tag text, PRIMARY KEY (note_id, tag))`,
      );
      await c.query(`INSERT INTO accounts SELECT g, 'account ' || g FROM generate_series(1, 10000) g`);
      await c.query(
        `INSERT INTO notes (user_id, body) SELECT 1 + g % 10000, repeat('x', g % 50) FROM generate_series(1, 30000) g`,
      );
      await c.query(`INSERT INTO note_tags SELECT id, 't' || (id % 3) FROM notes`);
      await c.query(`CREATE INDEX ON notes (user_id)`);
    });
  });
  afterAll(async () => {
    await db?.drop();
  });

  it("dumps, lists and restores one tenant; the manifest stays usable", async () => {
    const storage = freshDir();
    const common = ["--db", db.url, "--storage", storage, "--json"];
    const d = await runPgsnap(["dump", "--all-tenants", ...common]);
    expect(d.code, d.stderr).toBe(0);
    const snap = d.json.snapshots[0];
    expect(snap.tenants).toHaveLength(10000);
    const manifestPath = join(storage, snap.project, snap.id, "manifest.json");
    const size = (await stat(manifestPath)).size;
    const t0 = performance.now();
    const m = parseManifest(await import("node:fs/promises").then((fs) => fs.readFile(manifestPath)), "manifest");
    const readMs = performance.now() - t0;
    // Reported, not asserted: tests assert behaviour, benchmarks measure time.
    process.stderr.write(`10,000-tenant manifest: ${(size / 1e6).toFixed(2)} MB, parsed in ${readMs.toFixed(1)} ms\n`);
    expect(m.tables.find((t) => t.table === "public.notes")!.frames).toHaveLength(10000);

    const l = await runPgsnap(["list", "--tenant", "4321", ...common]);
    expect(l.code, l.stderr).toBe(0);
    expect(l.json.snapshots.map((s: any) => s.id)).toEqual([snap.id]);

    const before = await md5(db.url, "notes", "user_id <> 4321");
    await withClient(db.url, (c) => c.query("DELETE FROM notes WHERE user_id = 4321"));
    const r = await runPgsnap(["restore", "latest", "--tenant", "4321", "--confirm", ...common]);
    expect(r.code, r.stderr).toBe(0);
    const byTable = Object.fromEntries(r.json.tables.map((t: any) => [t.table, t]));
    expect(byTable["public.notes"].inserted).toBe(3);
    expect(byTable["public.note_tags"].inserted).toBe(3);
    expect(await md5(db.url, "notes", "user_id <> 4321")).toBe(before);
    expect(await md5(db.url, "notes", "user_id = 4321")).not.toBe("empty");
  });
});

describe("the all-tenants pass sorts with work_mem of at least 16 MB, and keeps a higher one", () => {
  // A custom key is evaluated inside the pass's own transaction, so it sees the session's
  // work_mem: rows whose key comes out NULL go to the frame of rows owned by no tenant.
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createDatabase(serverUrl, { prefix: "pgsnap_workmem" });
    await withClient(db.url, async (c) => {
      await c.query(`CREATE TABLE notes (id int PRIMARY KEY, user_id int NOT NULL, body text NOT NULL)`);
      await c.query(`INSERT INTO notes SELECT g, 1 + g % 3, 'n' || g FROM generate_series(1, 300) g`);
    });
  });
  afterAll(async () => {
    await db?.drop();
  });

  /** The tenants of the frames an all-tenants dump writes when `key` decides who owns a row. */
  async function frameTenants(key: string): Promise<(string | null)[]> {
    const storage = freshDir();
    const config = join(tmpRoot, `workmem-${++n}.json`);
    await writeFile(
      config,
      JSON.stringify({ projects: { p: { tables: { "public.notes": { filter: "t.user_id = :tenant", key } } } } }),
    );
    const d = await runPgsnap([
      "--config",
      config,
      "--db",
      db.url,
      "--storage",
      storage,
      "--json",
      "dump",
      "--all-tenants",
    ]);
    expect(d.code, d.stderr).toBe(0);
    const snap = d.json.snapshots[0];
    const m = parseManifest(await readFile(join(storage, snap.project, snap.id, "manifest.json")), "manifest");
    return m.tables.find((t) => t.table === "public.notes")!.frames!.map((f) => f.tenant);
  }

  it("raises PostgreSQL's default 4 MB for the pass", async () => {
    const key = "CASE WHEN pg_catalog.current_setting('work_mem') = '16MB' THEN t.user_id END";
    expect(await frameTenants(key)).toEqual(["1", "2", "3"]);
  });

  it("leaves a higher setting of the user's as it is", async () => {
    await withClient(db.url, (c) => c.query(`ALTER DATABASE ${db.name} SET work_mem = '64MB'`));
    const key = "CASE WHEN pg_catalog.current_setting('work_mem') = '64MB' THEN t.user_id END";
    expect(await frameTenants(key)).toEqual(["1", "2", "3"]);
  });
});
