/**
 * `pgsnap dump` (and `list`, `inspect`, `plan`) through the real command line (CLI.md): the
 * --json shape, row counts against SQL, tenant files holding exactly the tenant's rows (via
 * tables included), hostile tenant ids, usage/connection/RLS errors and their exit codes,
 * --jobs, complete-only listing, a dump killed midway, and one snapshot under concurrent writes.
 * Data files are read with the `zstd` CLI; the test parses rows, the product never does.
 */
import { execFile, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { runPgsnap, spawnPgsnap, type CliResult } from "./helpers/cli.js";
import {
  createDatabase,
  createRole,
  createTemplate,
  databaseUrl,
  loadSqlFile,
  repoRoot,
  withClient,
  type TestDatabase,
} from "./helpers/postgres.js";

const execFileAsync = promisify(execFile);
const serverUrl = inject("pgUrl");

const DEMO_TABLES = [
  "public.cash_register",
  "public.clients",
  "public.companies",
  "public.payment_methods",
  "public.products",
  "public.sale_items",
  "public.sales",
  "public.service_orders",
];
const DEMO_TENANT_TABLES = DEMO_TABLES.filter((t) => t !== "public.payment_methods");
/** SQL selecting the ids of a demo table's rows that belong to tenant `:t` (written by hand, not taken from the plan). */
const DEMO_TENANT_ROWS: Record<string, (tenant: number) => string> = {
  "public.cash_register": (t) => `SELECT id::text AS k FROM cash_register WHERE user_id = ${t}`,
  "public.clients": (t) => `SELECT id::text AS k FROM clients WHERE user_id = ${t}`,
  "public.companies": (t) => `SELECT user_id::text AS k FROM companies WHERE user_id = ${t}`,
  "public.products": (t) => `SELECT id::text AS k FROM products WHERE user_id = ${t}`,
  "public.sale_items": (t) =>
    `SELECT si.id::text AS k FROM sale_items si JOIN sales s ON s.id = si.sale_id WHERE s.user_id = ${t}`,
  "public.sales": (t) => `SELECT id::text AS k FROM sales WHERE user_id = ${t}`,
  "public.service_orders": (t) => `SELECT id::text AS k FROM service_orders WHERE user_id = ${t}`,
};
/** The key a test reads from a parsed row to identify it. */
const rowKey = (table: string, row: Record<string, unknown>): string =>
  String(table === "public.companies" ? row.user_id : row.id);

const qt = (id: string): string =>
  id
    .split(".")
    .map((p) => '"' + p.replace(/"/g, '""') + '"')
    .join(".");

let storageRoot: string;
let demoTemplate: string;
let demo: TestDatabase;
let storageSeq = 0;

/** A fresh, empty storage directory inside this file's temp dir. */
async function freshStorage(): Promise<string> {
  const dir = join(storageRoot, `s${++storageSeq}`);
  await mkdir(dir);
  return dir;
}

function pgsnap(db: string, storage: string, args: string[], env?: Record<string, string>): Promise<CliResult> {
  return runPgsnap(["--db", db, "--storage", storage, "--json", ...args], env ? { env } : {});
}

async function demoDatabase(): Promise<TestDatabase> {
  return createDatabase(serverUrl, { template: demoTemplate, prefix: "pgsnap_dump" });
}

async function q<R extends pg.QueryResultRow = Record<string, unknown>>(url: string, text: string): Promise<R[]> {
  return withClient(url, async (c) => (await c.query<R>(text)).rows);
}

async function count(url: string, text: string): Promise<number> {
  const rows = await q<{ n: string }>(url, text);
  return Number(rows[0]!.n);
}

interface ManifestTable {
  table: string;
  object: string;
  rows: number;
  bytes: number;
  storedBytes: number;
  filter: string | null;
  scope: string;
}
interface Manifest {
  id: string;
  project: string;
  scope: string;
  tenants: string[] | null;
  rows: number;
  tables: ManifestTable[];
  source?: { database: string; systemIdentifier: string | null };
}

function readManifest(storage: string, project: string, id: string): Manifest {
  return JSON.parse(readFileSync(join(storage, project, id, "manifest.json"), "utf8")) as Manifest;
}

/** A data file's lines, decompressed by the zstd CLI. */
async function zstdText(file: string): Promise<string> {
  const { stdout } = await execFileAsync("zstd", ["-dc", "--", file], {
    encoding: "utf8",
    maxBuffer: 512 * 1024 * 1024,
  });
  return stdout;
}

async function tableLines(storage: string, project: string, id: string, table: string): Promise<string[]> {
  const m = readManifest(storage, project, id);
  const entry = m.tables.find((t) => t.table === table);
  if (!entry) throw new Error(`table ${table} not in snapshot ${id}`);
  const text = await zstdText(join(storage, project, id, entry.object));
  const lines = text.split("\n");
  expect(lines.pop()).toBe("");
  return text === "" ? [] : lines;
}

async function tableRows(
  storage: string,
  project: string,
  id: string,
  table: string,
): Promise<Record<string, unknown>[]> {
  return (await tableLines(storage, project, id, table)).map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** Snapshot ids (directories) under a project, complete or not. */
async function snapshotDirs(storage: string, project: string): Promise<string[]> {
  const dir = join(storage, project);
  if (!existsSync(dir)) return [];
  return (await readdir(dir)).sort();
}

const sortedKeys = (o: object): string[] => Object.keys(o).sort();
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;
const SNAPSHOT_ID = /^\d{8}T\d{6}Z-[0-9a-f]{4}$/;

beforeAll(async () => {
  storageRoot = await mkdtemp(join(tmpdir(), "pgsnap-dump-"));
  const hash = createHash("sha256");
  for (const f of ["schema.sql", "data.sql"]) hash.update(readFileSync(join(repoRoot, "sql", "demo", f)));
  demoTemplate = await createTemplate(serverUrl, `pgsnap_tpl_demo_${hash.digest("hex").slice(0, 12)}`, async (url) => {
    await loadSqlFile(url, join(repoRoot, "sql", "demo", "schema.sql"));
    await loadSqlFile(url, join(repoRoot, "sql", "demo", "data.sql"));
    await withClient(url, (c) => c.query("ANALYZE"));
  });
  demo = await demoDatabase();
});

afterAll(async () => {
  await demo?.drop();
  if (storageRoot) await rm(storageRoot, { recursive: true, force: true });
});

describe("dump --json", () => {
  it("prints exactly the documented document for a full dump", async () => {
    const storage = await freshStorage();
    const r = await pgsnap(demo.url, storage, ["dump"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json).toBeDefined();
    expect(sortedKeys(r.json)).toEqual(["snapshots"]);
    expect(r.json.snapshots).toHaveLength(1);
    const s = r.json.snapshots[0];
    expect(sortedKeys(s)).toEqual(
      [
        "createdAt",
        "durationMs",
        "id",
        "location",
        "project",
        "rows",
        "scope",
        "storedBytes",
        "tables",
        "tenants",
      ].sort(),
    );
    expect(s.id).toMatch(SNAPSHOT_ID);
    expect(s.project).toBe(demo.name);
    expect(s.scope).toBe("full");
    expect(s.tenants).toBeNull();
    expect(s.location).toContain(join(storage, demo.name, s.id));
    expect(s.createdAt).toMatch(ISO);
    expect(Number.isInteger(s.durationMs) && s.durationMs >= 0).toBe(true);
    expect(s.tables.map((t: { table: string }) => t.table).sort()).toEqual(DEMO_TABLES);
    for (const t of s.tables) {
      expect(sortedKeys(t)).toEqual(["bytes", "rows", "storedBytes", "table"]);
      expect(Number.isInteger(t.rows) && Number.isInteger(t.bytes) && Number.isInteger(t.storedBytes)).toBe(true);
      expect(t.storedBytes).toBeGreaterThan(0);
    }
    expect(s.rows).toBe(s.tables.reduce((a: number, t: { rows: number }) => a + t.rows, 0));
    expect(s.storedBytes).toBe(s.tables.reduce((a: number, t: { storedBytes: number }) => a + t.storedBytes, 0));
    // The stored sizes are the files' sizes.
    const m = readManifest(storage, demo.name, s.id);
    for (const t of m.tables) {
      expect(readFileSync(join(storage, demo.name, s.id, t.object)).length).toBe(t.storedBytes);
    }
  });

  it("records count(*) of every table in a full dump, and every line is a row", async () => {
    const storage = await freshStorage();
    const r = await pgsnap(demo.url, storage, ["dump"]);
    expect(r.code, r.stderr).toBe(0);
    const id = r.json.snapshots[0].id as string;
    const m = readManifest(storage, demo.name, id);
    for (const table of DEMO_TABLES) {
      const n = await count(demo.url, `SELECT count(*) AS n FROM ${qt(table)}`);
      expect(n).toBeGreaterThan(0);
      expect({ table, rows: m.tables.find((t) => t.table === table)?.rows }).toEqual({ table, rows: n });
      const lines = await tableLines(storage, demo.name, id, table);
      expect({ table, lines: lines.length }).toEqual({ table, lines: n });
      for (const line of lines) expect(() => JSON.parse(line)).not.toThrow();
    }
  });

  it("writes exactly one tenant's rows, via tables included, with counts equal to SQL", async () => {
    const storage = await freshStorage();
    const r = await pgsnap(demo.url, storage, ["dump", "--tenant", "3"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json.snapshots).toHaveLength(1);
    const s = r.json.snapshots[0];
    expect(s.scope).toBe("tenant");
    expect(s.tenants).toEqual(["3"]);
    // The shared lookup table is not part of a tenant dump.
    expect(s.tables.map((t: { table: string }) => t.table).sort()).toEqual(DEMO_TENANT_TABLES);
    const m = readManifest(storage, demo.name, s.id);
    for (const table of DEMO_TENANT_TABLES) {
      const expected = (await q<{ k: string }>(demo.url, DEMO_TENANT_ROWS[table]!(3))).map((x) => x.k).sort();
      expect(expected.length).toBeGreaterThan(0);
      expect({ table, rows: m.tables.find((t) => t.table === table)?.rows }).toEqual({ table, rows: expected.length });
      const rows = await tableRows(storage, demo.name, s.id, table);
      expect({ table, keys: rows.map((row) => rowKey(table, row)).sort() }).toEqual({ table, keys: expected });
      if (table !== "public.sale_items") for (const row of rows) expect(row.user_id).toBe(3);
    }
  });

  it("writes one snapshot per --tenant, each with only its tenant", async () => {
    const storage = await freshStorage();
    const r = await pgsnap(demo.url, storage, ["dump", "--tenant", "1", "--tenant", "2"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json.snapshots).toHaveLength(2);
    const [a, b] = r.json.snapshots as { id: string; scope: string; tenants: string[]; rows: number }[];
    expect(a!.id).not.toBe(b!.id);
    expect([a!.tenants, b!.tenants]).toEqual([["1"], ["2"]]);
    for (const [snap, tenant] of [
      [a!, 1],
      [b!, 2],
    ] as const) {
      expect(snap.scope).toBe("tenant");
      let total = 0;
      for (const table of DEMO_TENANT_TABLES) {
        const keys = (await q<{ k: string }>(demo.url, DEMO_TENANT_ROWS[table]!(tenant))).map((x) => x.k).sort();
        const rows = await tableRows(storage, demo.name, snap.id, table);
        expect({ table, tenant, keys: rows.map((row) => rowKey(table, row)).sort() }).toEqual({ table, tenant, keys });
        total += keys.length;
      }
      expect(snap.rows).toBe(total);
    }
    const list = await pgsnap(demo.url, storage, ["list"]);
    expect(list.code, list.stderr).toBe(0);
    expect(list.json.snapshots.map((x: { id: string }) => x.id).sort()).toEqual([a!.id, b!.id].sort());
  });
});

describe("hostile tenant ids", () => {
  const hostile = [
    "o'brien",
    "back\\slash",
    "semi;colon",
    "'; DROP TABLE x; --",
    "1' OR '1'='1",
    "$$dollar$$",
    '"dq"',
    "tab\there",
    "normal",
  ];
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createDatabase(serverUrl, { prefix: "pgsnap_hostile" });
    await withClient(db.url, async (c) => {
      await c.query(`
        CREATE TABLE accounts (user_id text PRIMARY KEY, name text NOT NULL);
        CREATE TABLE notes (id serial PRIMARY KEY, user_id text NOT NULL REFERENCES accounts, body text);
        CREATE TABLE note_lines (id serial PRIMARY KEY, note_id int NOT NULL REFERENCES notes, line text);
        CREATE TABLE x (id int);
        INSERT INTO x VALUES (1);
      `);
      for (const [i, tenant] of hostile.entries()) {
        await c.query("INSERT INTO accounts VALUES ($1, $2)", [tenant, `account ${i}`]);
        for (let n = 0; n <= i; n++) {
          const note = await c.query<{ id: number }>("INSERT INTO notes (user_id, body) VALUES ($1, $2) RETURNING id", [
            tenant,
            `note ${n} of ${tenant}`,
          ]);
          await c.query("INSERT INTO note_lines (note_id, line) SELECT $1, 'line ' || g FROM generate_series(1, 2) g", [
            note.rows[0]!.id,
          ]);
        }
      }
    });
  });
  afterAll(async () => {
    await db?.drop();
  });

  it("dumps each tenant of a text tenant column with exactly its rows and runs nothing", async () => {
    const storage = await freshStorage();
    const r = await pgsnap(db.url, storage, ["dump", ...hostile.flatMap((t) => ["--tenant", t])]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json.snapshots.map((s: { tenants: string[] }) => s.tenants)).toEqual(hostile.map((t) => [t]));
    for (const s of r.json.snapshots as { id: string; tenants: string[] }[]) {
      const tenant = s.tenants[0]!;
      const notes = await tableRows(storage, db.name, s.id, "public.notes");
      const expectedNotes = (
        await withClient(db.url, (c) =>
          c.query<{ id: number }>("SELECT id FROM notes WHERE user_id = $1 ORDER BY id", [tenant]),
        )
      ).rows.map((x) => x.id);
      expect(expectedNotes.length).toBe(hostile.indexOf(tenant) + 1);
      expect(notes.map((n) => n.id).sort((a, b) => Number(a) - Number(b))).toEqual(expectedNotes);
      for (const n of notes) expect(n.user_id).toBe(tenant);
      const lines = await tableRows(storage, db.name, s.id, "public.note_lines");
      const expectedLines = (
        await withClient(db.url, (c) =>
          c.query<{ id: number }>(
            "SELECT l.id FROM note_lines l JOIN notes n ON n.id = l.note_id WHERE n.user_id = $1 ORDER BY l.id",
            [tenant],
          ),
        )
      ).rows.map((x) => x.id);
      expect(lines.map((l) => l.id).sort((a, b) => Number(a) - Number(b))).toEqual(expectedLines);
      const accounts = await tableRows(storage, db.name, s.id, "public.accounts");
      expect(accounts.map((a) => a.user_id)).toEqual([tenant]);
    }
    expect(await count(db.url, "SELECT count(*) AS n FROM x")).toBe(1);
    expect(await count(db.url, "SELECT count(*) AS n FROM notes")).toBe((hostile.length * (hostile.length + 1)) / 2);
    // The tenant filter of list takes the id as a value too.
    const list = await pgsnap(db.url, storage, ["list", "--tenant", "'; DROP TABLE x; --"]);
    expect(list.code, list.stderr).toBe(0);
    expect(list.json.snapshots).toHaveLength(1);
    expect(list.json.snapshots[0].tenants).toEqual(["'; DROP TABLE x; --"]);
  });

  it("treats a tenant id that is no integer as a value of an integer tenant column: no rows or a usage error, never SQL", async () => {
    const target = await demoDatabase();
    try {
      await q(target.url, "CREATE TABLE x (id int)");
      for (const tenant of ["1'; DROP TABLE x; --", "1 OR 1=1", "back\\slash;"]) {
        const storage = await freshStorage();
        const r = await pgsnap(target.url, storage, ["dump", "--tenant", tenant]);
        // Soft: every value is tried, and the database is checked below, whatever this says.
        expect.soft(r.stderr, `tenant ${tenant}`).not.toMatch(/internal error/);
        expect.soft([0, 2], `exit ${String(r.code)} for tenant ${tenant}: ${r.stderr}`).toContain(r.code);
        if (r.code === 0) {
          expect(r.json.snapshots[0].rows).toBe(0);
        } else {
          if (r.code === 2) {
            // The value is named, as typed or JSON-quoted.
            const message = String(r.json.error.message);
            expect(message.includes(tenant) || message.includes(JSON.stringify(tenant)), message).toBe(true);
          }
          const list = await pgsnap(target.url, storage, ["list"]);
          expect(list.code, list.stderr).toBe(0);
          expect(list.json.snapshots).toEqual([]);
        }
      }
      expect(await count(target.url, "SELECT count(*) AS n FROM pg_class WHERE relname = 'x'")).toBe(1);
      expect(await count(target.url, "SELECT count(*) AS n FROM companies")).toBe(5);
    } finally {
      await target.drop();
    }
  });
});

describe("dump errors", () => {
  it("exits 2 on an unknown table in --tables and writes nothing", async () => {
    const storage = await freshStorage();
    const r = await pgsnap(demo.url, storage, ["dump", "--tables", "public.companies,public.no_such_table"]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain("no_such_table");
    expect(r.json.error.code).toBeTypeOf("string");
    expect(await snapshotDirs(storage, demo.name)).toEqual([]);
  });

  it("exits 2 when no table has the tenant column, and shows the plan", async () => {
    const storage = await freshStorage();
    const r = await runPgsnap([
      "--db",
      demo.url,
      "--storage",
      storage,
      "--tenant-column",
      "tenant_uuid",
      "dump",
      "--tenant",
      "1",
    ]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain("tenant_uuid");
    for (const table of DEMO_TABLES) expect(r.stderr).toContain(table);
    expect(r.stderr).toMatch(/public\.companies: global/);
    expect(await snapshotDirs(storage, demo.name)).toEqual([]);
  });

  it("exits 10 when the database is unreachable, without printing the password", async () => {
    const port = await closedPort();
    const password = "Unreachable-S3cret-pw";
    const url = `postgres://postgres:${password}@127.0.0.1:${port}/nowhere`;
    const storage = await freshStorage();
    const r = await runPgsnap(["--db", url, "--storage", storage, "dump"], { timeoutMs: 60_000 });
    expect(r.code, r.stderr).toBe(10);
    expect(r.stderr).toContain(String(port));
    expect(r.stderr + r.stdout).not.toContain(password);
    expect(r.stderr).toMatch(/^hint: /m);
  });

  it("exits 10 on a wrong password and never prints it (flag and DATABASE_URL)", async () => {
    const password = "Wr0ng-P%40ss:word-42";
    const decoded = decodeURIComponent(password);
    const url = databaseUrl(demo.url, demo.name, { user: "postgres", password: decoded });
    expect(url).toContain(password.replace(":", "%3A"));
    const storage = await freshStorage();
    for (const r of [
      await runPgsnap(["--db", url, "--storage", storage, "dump"]),
      await runPgsnap(["--db", url, "--storage", storage, "--json", "dump"]),
      await runPgsnap(["--storage", storage, "dump", "--tenant", "1"], { env: { DATABASE_URL: url } }),
    ]) {
      expect(r.code, r.stderr).toBe(10);
      const out = r.stdout + r.stderr;
      for (const secret of [decoded, password, password.replace(":", "%3A"), encodeURIComponent(decoded)]) {
        expect(out).not.toContain(secret);
      }
      expect(r.stderr).toContain("***");
      expect(r.stderr).toMatch(/password|authentication/i);
    }
    expect(await snapshotDirs(storage, demo.name)).toEqual([]);
  });

  it("records the source database and cluster; a role that may not read the control data still dumps", async () => {
    const db = await demoDatabase();
    const role = await createRole(serverUrl);
    try {
      const storage = await freshStorage();
      const own = await pgsnap(db.url, storage, ["dump", "--tenant", "1"]);
      expect(own.code, own.stderr).toBe(0);
      const [cluster] = await q<{ id: string }>(
        db.url,
        "SELECT system_identifier::text AS id FROM pg_catalog.pg_control_system()",
      );
      expect(readManifest(storage, db.name, own.json.snapshots[0].id).source).toEqual({
        database: db.name,
        systemIdentifier: cluster!.id,
      });
      // Managed services revoke it; the dump records no identifier instead of failing.
      await withClient(db.url, async (c) => {
        await c.query(`GRANT SELECT ON ALL TABLES IN SCHEMA public TO ${c.escapeIdentifier(role.name)}`);
        await c.query("REVOKE EXECUTE ON FUNCTION pg_catalog.pg_control_system() FROM PUBLIC");
      });
      const url = role.url(db.url);
      await expect(q(url, "SELECT system_identifier FROM pg_catalog.pg_control_system()")).rejects.toMatchObject({
        code: "42501",
      });
      const r = await runPgsnap([
        "--db",
        url,
        "--storage",
        storage,
        "--project",
        db.name,
        "--json",
        "dump",
        "--tenant",
        "1",
      ]);
      expect(r.code, r.stderr).toBe(0);
      const m = readManifest(storage, db.name, r.json.snapshots[0].id);
      expect(m.source).toEqual({ database: db.name, systemIdentifier: null });
      expect(m.rows).toBe(readManifest(storage, db.name, own.json.snapshots[0].id).rows);
    } finally {
      await db.drop();
      await role.drop();
    }
  });

  it("refuses (exit 3) when row-level security would filter rows, names the table, and lists no snapshot", async () => {
    const db = await demoDatabase();
    const role = await createRole(serverUrl);
    try {
      await withClient(db.url, async (c) => {
        await c.query(`GRANT SELECT ON ALL TABLES IN SCHEMA public TO ${c.escapeIdentifier(role.name)}`);
        await c.query("ALTER TABLE clients ENABLE ROW LEVEL SECURITY");
        await c.query("CREATE POLICY only_company_1 ON clients USING (user_id = 1)");
      });
      const url = role.url(db.url);
      // The role really sees fewer rows: a dump that went ahead would be short.
      expect(await count(url, "SELECT count(*) AS n FROM clients")).toBeLessThan(
        await count(db.url, "SELECT count(*) AS n FROM clients"),
      );
      const storage = await freshStorage();
      for (const args of [["dump"], ["dump", "--tenant", "2"], ["dump", "--jobs", "2"]]) {
        const r = await runPgsnap(["--db", url, "--storage", storage, ...args]);
        expect(r.code, r.stderr).toBe(3);
        expect(r.stderr).toMatch(/^pgsnap: error: .*public\.clients/m);
        // Soft, so the rest (nothing listed, the role may dump other tables) is still checked.
        expect.soft(r.stderr).toMatch(/^hint: .*public\.clients/m);
        expect(r.stderr).not.toContain(role.password);
      }
      const list = await pgsnap(url, storage, ["list"]);
      expect(list.code, list.stderr).toBe(0);
      expect(list.json.snapshots).toEqual([]);
      // Without the RLS table the same role may dump.
      const ok = await pgsnap(url, storage, ["dump", "--exclude-tables", "public.clients"]);
      expect(ok.code, ok.stderr).toBe(0);
    } finally {
      await db.drop();
      await role.drop();
    }
  });
});

describe("--jobs", () => {
  it("gives the same rows and the same decompressed files with --jobs 2 as with --jobs 1", async () => {
    for (const scopeArgs of [[], ["--tenant", "4", "--tenant", "5"]]) {
      const storage = await freshStorage();
      const one = await pgsnap(demo.url, storage, ["dump", "--jobs", "1", ...scopeArgs]);
      const two = await pgsnap(demo.url, storage, ["dump", "--jobs", "2", ...scopeArgs]);
      expect(one.code, one.stderr).toBe(0);
      expect(two.code, two.stderr).toBe(0);
      expect(two.json.snapshots).toHaveLength(one.json.snapshots.length);
      for (const [i, a] of (one.json.snapshots as { id: string; rows: number; tenants: string[] | null }[]).entries()) {
        const b = two.json.snapshots[i] as { id: string; rows: number; tenants: string[] | null };
        expect(b.tenants).toEqual(a.tenants);
        expect(b.rows).toBe(a.rows);
        const ma = readManifest(storage, demo.name, a.id);
        const mb = readManifest(storage, demo.name, b.id);
        expect(mb.tables.map((t) => [t.table, t.rows, t.bytes])).toEqual(
          ma.tables.map((t) => [t.table, t.rows, t.bytes]),
        );
        for (const t of ma.tables) {
          const ta = await zstdText(join(storage, demo.name, a.id, t.object));
          const tb = await zstdText(join(storage, demo.name, b.id, mb.tables.find((x) => x.table === t.table)!.object));
          expect({ table: t.table, same: ta === tb, lines: tb.split("\n").length - 1 }).toEqual({
            table: t.table,
            same: true,
            lines: t.rows,
          });
        }
      }
    }
  });
});

describe("list and inspect", () => {
  it("lists complete snapshots only, newest first, and inspect latest returns the newest manifest", async () => {
    const storage = await freshStorage();
    const ids: string[] = [];
    for (const args of [["dump"], ["dump", "--tenant", "1"], ["dump", "--tenant", "2"]]) {
      if (ids.length > 0) await sleep(1_100); // ids name the time to the second
      const r = await pgsnap(demo.url, storage, args);
      expect(r.code, r.stderr).toBe(0);
      ids.push(r.json.snapshots[0].id);
    }
    // Incomplete snapshots: data but no manifest (a crashed dump), one newer than all the others,
    // and one with only a manifest temp file.
    const crashed = join(storage, demo.name, "29991231T235959Z-ffff");
    await mkdir(crashed, { recursive: true });
    await writeFile(join(crashed, "public.companies.ndjson.zst"), Buffer.from([0x28, 0xb5, 0x2f, 0xfd]));
    const tempOnly = join(storage, demo.name, "29991231T235958Z-eeee");
    await mkdir(tempOnly, { recursive: true });
    await writeFile(join(tempOnly, ".manifest.json.tmp-0123456789ab"), "{}");

    const list = await pgsnap(demo.url, storage, ["list"]);
    expect(list.code, list.stderr).toBe(0);
    expect(list.json.snapshots.map((s: { id: string }) => s.id)).toEqual([...ids].reverse());
    for (const s of list.json.snapshots) {
      expect(sortedKeys(s)).toEqual(["createdAt", "id", "project", "rows", "scope", "storedBytes", "tenants"]);
    }
    const createdAt = list.json.snapshots.map((s: { createdAt: string }) => s.createdAt);
    expect([...createdAt].sort().reverse()).toEqual(createdAt);

    const forTenant1 = await pgsnap(demo.url, storage, ["list", "--tenant", "1"]);
    expect(forTenant1.json.snapshots.map((s: { id: string }) => s.id)).toContain(ids[1]);
    expect(forTenant1.json.snapshots.map((s: { id: string }) => s.id)).not.toContain(ids[2]);

    const inspect = await pgsnap(demo.url, storage, ["inspect", "latest"]);
    expect(inspect.code, inspect.stderr).toBe(0);
    expect(inspect.json).toEqual(
      JSON.parse(await readFile(join(storage, demo.name, ids[2]!, "manifest.json"), "utf8")),
    );
    expect(inspect.json.id).toBe(ids[2]);
    const byId = await pgsnap(demo.url, storage, ["inspect", ids[0]!]);
    expect(byId.code, byId.stderr).toBe(0);
    expect(byId.json.id).toBe(ids[0]);
    expect(byId.json.scope).toBe("full");
    const incomplete = await pgsnap(demo.url, storage, ["inspect", "29991231T235959Z-ffff"]);
    expect(incomplete.code, incomplete.stderr).toBe(2);
  });
});

describe("interrupted and concurrent dumps", () => {
  it("leaves no snapshot when killed with SIGKILL midway, and the next dump succeeds", async () => {
    const db = await demoDatabase();
    try {
      await q(
        db.url,
        `CREATE TABLE big (id bigserial PRIMARY KEY, user_id int NOT NULL REFERENCES companies, payload text);
         INSERT INTO big (user_id, payload) SELECT 1 + g % 5, md5(g::text) || repeat('x', 150) FROM generate_series(1, 300000) g;
         ANALYZE big`,
      );
      const storage = await freshStorage();
      const child = spawnPgsnap(["--db", db.url, "--storage", storage, "dump"]);
      const exited = exitOf(child);
      // Kill once the first data file of the snapshot is being written.
      const deadline = Date.now() + 30_000;
      let sawFile = false;
      while (Date.now() < deadline) {
        const dirs = await snapshotDirs(storage, db.name);
        if (dirs.length > 0 && (await readdir(join(storage, db.name, dirs[0]!))).length > 0) {
          sawFile = true;
          break;
        }
        if (child.exitCode !== null) break;
        await sleep(10);
      }
      expect(sawFile).toBe(true);
      await sleep(100);
      child.kill("SIGKILL");
      const { code, signal } = await exited;
      expect({ code, signal }).toEqual({ code: null, signal: "SIGKILL" });

      const dirs = await snapshotDirs(storage, db.name);
      expect(dirs).toHaveLength(1);
      expect(existsSync(join(storage, db.name, dirs[0]!, "manifest.json"))).toBe(false);
      const list = await pgsnap(db.url, storage, ["list"]);
      expect(list.code, list.stderr).toBe(0);
      expect(list.json.snapshots).toEqual([]);
      const latest = await pgsnap(db.url, storage, ["inspect", "latest"]);
      expect(latest.code).toBe(2);

      const next = await pgsnap(db.url, storage, ["dump"]);
      expect(next.code, next.stderr).toBe(0);
      const after = await pgsnap(db.url, storage, ["list"]);
      expect(after.json.snapshots.map((s: { id: string }) => s.id)).toEqual([next.json.snapshots[0].id]);
      const big = (next.json.snapshots[0].tables as { table: string; rows: number }[]).find(
        (t) => t.table === "public.big",
      );
      expect(big?.rows).toBe(300_000);
      expect((await tableLines(storage, db.name, next.json.snapshots[0].id, "public.big")).length).toBe(300_000);
    } finally {
      await db.drop();
    }
  });

  it("stops on SIGTERM with exit 130, keeping no snapshot and none of its objects", async () => {
    const db = await demoDatabase();
    try {
      await q(
        db.url,
        `CREATE TABLE big (id bigserial PRIMARY KEY, user_id int NOT NULL REFERENCES companies, payload text);
         INSERT INTO big (user_id, payload) SELECT 1 + g % 5, md5(g::text) || repeat('x', 150) FROM generate_series(1, 300000) g`,
      );
      const storage = await freshStorage();
      // --jobs 2: the second worker finishes the small tables while the first is still in `big`.
      const child = spawnPgsnap(["--db", db.url, "--storage", storage, "dump", "--jobs", "2"]);
      const exited = exitOf(child);
      const deadline = Date.now() + 30_000;
      let written: string[] = [];
      while (Date.now() < deadline && child.exitCode === null && written.length === 0) {
        const [dir] = await snapshotDirs(storage, db.name);
        if (dir) written = (await readdir(join(storage, db.name, dir))).filter((f) => !f.startsWith("."));
        if (written.length === 0) await sleep(10);
      }
      expect(written.length).toBeGreaterThan(0);
      child.kill("SIGTERM");
      const { code } = await exited;
      expect(code).toBe(130);
      const list = await pgsnap(db.url, storage, ["list"]);
      expect(list.json.snapshots).toEqual([]);
      const dirs = await snapshotDirs(storage, db.name);
      const left = (await Promise.all(dirs.map((d) => readdir(join(storage, db.name, d))))).flat();
      expect(left.filter((f) => f.startsWith("."))).toEqual([]); // no temp file of the table in progress
      // "nothing half-done is kept" (what pgsnap prints on SIGTERM): the objects this run wrote go too.
      expect(left).toEqual([]);
    } finally {
      await db.drop();
    }
  });

  it("dumps one consistent snapshot with --jobs 2 while another session inserts, updates and deletes", async () => {
    const db = await createDatabase(serverUrl, { prefix: "pgsnap_conc" });
    try {
      await q(
        db.url,
        `CREATE TABLE parent (id bigserial PRIMARY KEY, user_id int NOT NULL, version int NOT NULL DEFAULT 0, payload text);
         CREATE TABLE child (id bigserial PRIMARY KEY, parent_id bigint NOT NULL REFERENCES parent ON DELETE CASCADE, payload text);
         INSERT INTO parent (user_id, payload) SELECT g % 10, repeat('p', 120) FROM generate_series(1, 150000) g;
         INSERT INTO child (parent_id, payload) SELECT g, repeat('c', 120) FROM generate_series(1, 150000) g;
         ANALYZE`,
      );
      let stop = false;
      let commits = 0;
      let commitsDuringDump = 0;
      let dumping = false;
      const writer = withClient(db.url, async (c) => {
        let i = 0;
        while (!stop) {
          i++;
          await c.query("BEGIN");
          const p = await c.query<{ id: string }>(
            "INSERT INTO parent (user_id, payload) VALUES ($1, 'new') RETURNING id",
            [i % 10],
          );
          const pid = p.rows[0]!.id;
          await c.query("INSERT INTO child (parent_id, payload) VALUES ($1, 'new a'), ($1, 'new b')", [pid]);
          await c.query("UPDATE parent SET version = version + 1 WHERE id = $1", [1 + ((i * 7919) % 150000)]);
          if (i % 3 === 0) {
            // Remove an older family: its children must never appear without their parent.
            await c.query("DELETE FROM parent WHERE id = (SELECT min(id) FROM parent WHERE payload = 'new')");
          }
          await c.query("COMMIT");
          commits++;
          if (dumping) commitsDuringDump++;
        }
      });
      while (commits < 5) await sleep(10);
      const storage = await freshStorage();
      dumping = true;
      const r = await pgsnap(db.url, storage, ["dump", "--jobs", "2"]);
      dumping = false;
      stop = true;
      await writer;
      expect(r.code, r.stderr).toBe(0);
      expect(commitsDuringDump).toBeGreaterThan(10);

      const id = r.json.snapshots[0].id as string;
      const parents = await tableRows(storage, db.name, id, "public.parent");
      const children = await tableRows(storage, db.name, id, "public.child");
      const m = readManifest(storage, db.name, id);
      expect(parents.length).toBe(m.tables.find((t) => t.table === "public.parent")!.rows);
      expect(children.length).toBe(m.tables.find((t) => t.table === "public.child")!.rows);
      const parentIds = new Set(parents.map((p) => String(p.id)));
      const orphans = children.filter((ch) => !parentIds.has(String(ch.parent_id)));
      expect(orphans.slice(0, 5)).toEqual([]);
      // One instant: every new parent in the dump has both its children there, and vice versa.
      const newParents = new Set(parents.filter((p) => p.payload === "new").map((p) => String(p.id)));
      const newChildren = children.filter((ch) => String(ch.payload).startsWith("new"));
      expect(newChildren.length).toBe(newParents.size * 2);
      expect(parentIds.size).toBe(parents.length);
    } finally {
      await db.drop();
    }
  });
});

/** A TCP port on 127.0.0.1 that nothing listens on. */
async function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function exitOf(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  child.stdout?.resume();
  child.stderr?.resume();
  child.stdin?.end();
  return new Promise((resolve) => child.on("close", (code, signal) => resolve({ code, signal })));
}
