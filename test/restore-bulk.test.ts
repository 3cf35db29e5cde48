/**
 * The bulk path of restore: a tenant with no rows left in any restored table is loaded straight
 * into the live tables (no staging). Same guarantees as the staged path: exact rows, other
 * tenants untouched, refusals (foreign rows, key collisions) roll everything back.
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from "vitest";
import { runPgsnap } from "./helpers/cli.js";
import { createDatabase, loadSqlFile, repoRoot, withClient, type TestDatabase } from "./helpers/postgres.js";

const serverUrl = inject("pgUrl");
const TABLES = ["companies", "products", "clients", "sales", "sale_items", "cash_register", "service_orders"];
const owner = (table: string, t: number) =>
  table === "sale_items" ? `sale_id IN (SELECT id FROM sales WHERE user_id = ${t})` : `user_id = ${t}`;

let db: TestDatabase;
let dir: string;
let snapshot: { id: string; project: string; rows: number };

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "pgsnap-bulk-"));
  db = await createDatabase(serverUrl, { prefix: "pgsnap_bulk" });
  await loadSqlFile(db.url, join(repoRoot, "sql", "demo", "schema.sql"));
  await loadSqlFile(db.url, join(repoRoot, "sql", "demo", "data.sql"));
  const d = await runPgsnap(["dump", "--tenant", "3", "--db", db.url, "--storage", join(dir, "base"), "--json"]);
  expect(d.code, d.stderr).toBe(0);
  snapshot = d.json.snapshots[0];
});

afterAll(async () => {
  await db?.drop();
  await rm(dir, { recursive: true, force: true });
});

const base = () => join(dir, "base");

function restoreTenant3(storage: string, ...flags: string[]) {
  return runPgsnap(["restore", snapshot.id, "--tenant", "3", ...flags, "--db", db.url, "--storage", storage]);
}

async function fingerprint(): Promise<Record<string, string>> {
  return withClient(db.url, async (c) => {
    const out: Record<string, string> = {};
    for (const t of [...TABLES, "payment_methods"]) {
      const r = await c.query<{ h: string }>(
        `SELECT md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) AS h FROM ${t} x`,
      );
      out[t] = r.rows[0]!.h;
    }
    const seq = await c.query<{ v: string }>("SELECT last_value::text AS v FROM clients_id_seq");
    out["clients_id_seq"] = seq.rows[0]!.v;
    return out;
  });
}

async function wipeTenant3(): Promise<void> {
  await withClient(db.url, async (c) => {
    await c.query("BEGIN");
    for (const t of ["sale_items", "service_orders", "cash_register", "sales", "clients", "products", "companies"]) {
      await c.query(`DELETE FROM ${t} WHERE ${owner(t, 3)}`);
    }
    await c.query("COMMIT");
  });
}

/** A copy of the storage with one row of one table rewritten, the manifest fixed to match. */
async function tampered(table: string, edit: (line: string) => string): Promise<string> {
  const storage = join(dir, `tampered-${createHash("md5").update(String(Math.random())).digest("hex").slice(0, 6)}`);
  await cp(join(dir, "base"), storage, { recursive: true });
  const snapDir = join(storage, snapshot.project, snapshot.id);
  const file = join(snapDir, `public.${table}.ndjson.zst`);
  const lines = execFileSync("zstd", ["-dcq", file]).toString("utf8").split("\n").filter(Boolean);
  lines[0] = edit(lines[0]!);
  const text = Buffer.from(lines.join("\n") + "\n");
  const packed = execFileSync("zstd", ["-q", "-c", "-3"], { input: text });
  await writeFile(file, packed);
  const manifestPath = join(snapDir, "manifest.json");
  const m = JSON.parse(await readFile(manifestPath, "utf8"));
  const entry = m.tables.find((t: any) => t.table === `public.${table}`);
  m.storedBytes += packed.length - entry.storedBytes;
  entry.sha256 = createHash("sha256").update(packed).digest("hex");
  entry.storedBytes = packed.length;
  entry.bytes = text.length;
  await writeFile(manifestPath, JSON.stringify(m));
  return storage;
}

describe("restore of a wiped tenant", () => {
  let before: Record<string, string>;
  beforeEach(async () => {
    before = await fingerprint();
    await wipeTenant3();
  });

  it("loads every row straight back; other tenants and the stock trigger untouched", async () => {
    const stock = await withClient(
      db.url,
      async (c) => (await c.query("SELECT sum(stock)::text AS s FROM products WHERE user_id <> 3")).rows[0].s,
    );
    const r = await restoreTenant3(base(), "--confirm", "--json");
    expect(r.code, r.stderr).toBe(0);
    expect(r.json.tables.reduce((a: number, t: any) => a + t.inserted, 0)).toBe(snapshot.rows);
    expect(r.json.tables.every((t: any) => t.deleted === 0 && t.updated === 0)).toBe(true);
    const after = await fingerprint();
    for (const t of [...TABLES, "payment_methods"]) expect(after[t], t).toBe(before[t]);
    expect(
      await withClient(
        db.url,
        async (c) => (await c.query("SELECT sum(stock)::text AS s FROM products WHERE user_id <> 3")).rows[0].s,
      ),
    ).toBe(stock);
  });

  it("a dry run reports the rows and changes nothing, sequences included", async () => {
    const wiped = await fingerprint();
    const r = await restoreTenant3(base(), "--dry-run", "--json");
    expect(r.code, r.stderr).toBe(0);
    expect(r.json.dryRun).toBe(true);
    expect(r.json.tables.find((t: any) => t.table === "public.sales").inserted).toBe(120);
    expect(await fingerprint()).toEqual(wiped);
    // leave the tenant restored for the next test
    expect((await restoreTenant3(base(), "--confirm")).code).toBe(0);
  });

  it("refuses a row of another tenant in the snapshot (exit 3) and rolls everything back", async () => {
    const wiped = await fingerprint();
    const storage = await tampered("clients", (l) => l.replace('"user_id":3', '"user_id":4'));
    const r = await restoreTenant3(storage, "--confirm");
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toMatch(/public\.clients.*do not belong to tenant 3/);
    expect(await fingerprint()).toEqual(wiped);
    expect((await restoreTenant3(base(), "--confirm")).code).toBe(0);
  });

  it("refuses a snapshot key that is another tenant's row (exit 3), never touching that row", async () => {
    const wiped = await fingerprint();
    const theirs = await withClient(
      db.url,
      async (c) => (await c.query("SELECT min(id)::text AS id FROM clients WHERE user_id = 4")).rows[0].id as string,
    );
    const storage = await tampered("clients", (l) => l.replace(/"id":\d+/, `"id":${theirs}`));
    const r = await restoreTenant3(storage, "--confirm");
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toMatch(/clients/);
    expect(await fingerprint()).toEqual(wiped);
    expect((await restoreTenant3(base(), "--confirm")).code).toBe(0);
  });
});

describe("restore of a tenant whose rows moved after the snapshot", () => {
  it("puts a sale back on its old client and removes the client created since (writes before deletes)", async () => {
    const before = await fingerprint();
    await withClient(db.url, async (c) => {
      const created = await c.query<{ id: string }>(
        "INSERT INTO clients (user_id, name) VALUES (3, 'created after the snapshot') RETURNING id::text AS id",
      );
      await c.query("UPDATE sales SET client_id = $1 WHERE id = (SELECT min(id) FROM sales WHERE user_id = 3)", [
        created.rows[0]!.id,
      ]);
    });
    const r = await restoreTenant3(base(), "--confirm", "--json");
    expect(r.code, r.stderr).toBe(0);
    const byTable = Object.fromEntries(r.json.tables.map((t: any) => [t.table, t]));
    expect(byTable["public.clients"].deleted).toBe(1);
    expect(byTable["public.sales"].updated).toBe(1);
    const after = await fingerprint();
    for (const t of [...TABLES, "payment_methods"]) expect(after[t], t).toBe(before[t]);
  });
});
