/**
 * Never a short backup (issue 9 items 1–4, issue 8 items 4 and 7), through the real command
 * line: table ids that cannot collide, bounded object names, DDL racing the dump's snapshot,
 * all-tenants snapshots that hold every row, inheritance children read on their own, and
 * `dump --tenant X` for a tenant without rows. Counts are compared with count(*) in SQL.
 */
import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { promisify } from "node:util";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { runPgsnap, spawnPgsnap, type CliResult } from "./helpers/cli.js";
import { createDatabase, withClient, type TestDatabase } from "./helpers/postgres.js";

const execFileAsync = promisify(execFile);
const serverUrl = inject("pgUrl");

let storageRoot: string;
let storageSeq = 0;

async function freshStorage(): Promise<string> {
  const dir = join(storageRoot, `s${++storageSeq}`);
  await mkdir(dir);
  return dir;
}

function pgsnap(db: string, storage: string, args: string[]): Promise<CliResult> {
  return runPgsnap(["--db", db, "--storage", storage, "--json", ...args]);
}

/** Resolves with the result of a pgsnap run started with spawnPgsnap. */
function collect(child: ReturnType<typeof spawnPgsnap>): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    let stdout = "";
    let stderr = "";
    child.stdout!.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr!.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code, signal) => {
      let json: unknown;
      try {
        json = JSON.parse(stdout);
      } catch {
        json = undefined;
      }
      resolve({ code, signal, stdout, stderr, json });
    });
    child.stdin!.end();
  });
}

async function sql<R extends pg.QueryResultRow = Record<string, unknown>>(url: string, text: string): Promise<R[]> {
  return withClient(url, async (c) => (await c.query<R>(text)).rows);
}

async function count(url: string, text: string): Promise<number> {
  return Number((await sql<{ n: string }>(url, text))[0]!.n);
}

interface Frame {
  tenant: string | null;
  rows: number;
}
interface ManifestTable {
  table: string;
  schema: string;
  name: string;
  object: string;
  rows: number;
  columns: { name: string; type: string }[];
  frames?: Frame[];
}
interface Manifest {
  id: string;
  scope: string;
  tenants: string[] | null;
  allRows?: boolean;
  tables: ManifestTable[];
}

function readManifest(storage: string, project: string, id: string): Manifest {
  return JSON.parse(readFileSync(join(storage, project, id, "manifest.json"), "utf8")) as Manifest;
}

async function lines(storage: string, project: string, id: string, object: string): Promise<string[]> {
  const { stdout } = await execFileAsync("zstd", ["-dc", "--", join(storage, project, id, object)], {
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
  });
  return stdout === "" ? [] : stdout.replace(/\n$/, "").split("\n");
}

/** Snapshot directories under a project, complete or not. */
async function snapshotDirs(storage: string, project: string): Promise<string[]> {
  const dir = join(storage, project);
  return existsSync(dir) ? await readdir(dir) : [];
}

/** Polls until some backend other than `except` waits for a lock on `table` (no fixed sleeps). */
async function waitForLockWait(url: string, table: string, except: number): Promise<void> {
  const deadline = Date.now() + 30_000;
  await withClient(url, async (c) => {
    for (;;) {
      const r = await c.query<{ n: string }>(
        "SELECT count(*) AS n FROM pg_catalog.pg_locks WHERE relation = $1::regclass AND NOT granted AND pid <> $2",
        [table, except],
      );
      if (Number(r.rows[0]!.n) > 0) return;
      if (Date.now() > deadline) throw new Error(`no backend waited for a lock on ${table}`);
      await delay(20);
    }
  });
}

beforeAll(async () => {
  storageRoot = await mkdtemp(join(tmpdir(), "pgsnap-dump-safety-"));
});

afterAll(async () => {
  if (storageRoot) await rm(storageRoot, { recursive: true, force: true });
});

describe("table ids and object names", () => {
  let db: TestDatabase;
  // 63 bytes each (21 three-byte characters): the longest names PostgreSQL keeps.
  const longSchema = "日".repeat(21);
  const longTable = "本".repeat(21);
  beforeAll(async () => {
    db = await createDatabase(serverUrl, { prefix: "pgsnap_ids" });
    await withClient(db.url, (c) =>
      c.query(`
        CREATE SCHEMA x;
        CREATE SCHEMA "x.a";
        CREATE TABLE x."a.b" (id int PRIMARY KEY, v text);
        CREATE TABLE "x.a".b (id int PRIMARY KEY, v text);
        INSERT INTO x."a.b" SELECT g, 'x."a.b"' FROM generate_series(1, 3) g;
        INSERT INTO "x.a".b SELECT g, '"x.a".b' FROM generate_series(1, 5) g;
        CREATE TABLE public.orders (id int PRIMARY KEY);
        CREATE TABLE public."Orders" (id int PRIMARY KEY);
        INSERT INTO public.orders VALUES (1);
        INSERT INTO public."Orders" VALUES (1), (2);
        CREATE SCHEMA "${longSchema}";
        CREATE TABLE "${longSchema}"."${longTable}" (id int PRIMARY KEY, "${longTable}" text);
        INSERT INTO "${longSchema}"."${longTable}" SELECT g, 'ü' FROM generate_series(1, 7) g;
      `),
    );
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('dumps x."a.b" and "x.a".b as two tables with ids, objects and rows of their own', async () => {
    const storage = await freshStorage();
    const r = await pgsnap(db.url, storage, ["dump"]);
    expect(r.code, r.stderr).toBe(0);
    const m = readManifest(storage, db.name, r.json.snapshots[0].id);
    const byId = new Map(m.tables.map((t) => [t.table, t]));
    expect([...byId.keys()].sort()).toEqual(
      ['"x.a".b', `"${longSchema}"."${longTable}"`, "public.orders", 'public."Orders"', 'x."a.b"'].sort(),
    );
    expect(byId.get('x."a.b"')).toMatchObject({ schema: "x", name: "a.b", rows: 3 });
    expect(byId.get('"x.a".b')).toMatchObject({ schema: "x.a", name: "b", rows: 5 });
    expect(byId.get('x."a.b"')!.object).toBe("x.a%2Eb.ndjson.zst");
    // Names equal but for case get hashed object names (case-insensitive file systems).
    expect(byId.get("public.orders")).toMatchObject({
      rows: 1,
      object: expect.stringMatching(/^public\.orders~[0-9a-f]{16}\.ndjson\.zst$/),
    });
    expect(byId.get('public."Orders"')).toMatchObject({ rows: 2, object: expect.stringMatching(/^public\.Orders~/) });
    const objects = m.tables.map((t) => t.object);
    expect(new Set(objects).size).toBe(objects.length);
    expect(new Set(objects.map((o) => o.toLowerCase())).size).toBe(objects.length);
    for (const t of m.tables) {
      const got = await lines(storage, db.name, m.id, t.object);
      expect({ table: t.table, rows: got.length }).toEqual({ table: t.table, rows: t.rows });
    }
    const a = await lines(storage, db.name, m.id, byId.get('x."a.b"')!.object);
    expect(a.every((l) => JSON.parse(l).v === 'x."a.b"')).toBe(true);
  });

  it("bounds the object name of 63-byte multibyte names and keeps the exact name in the manifest", async () => {
    const storage = await freshStorage();
    const r = await pgsnap(db.url, storage, ["dump", "--tables", `"${longSchema}"."${longTable}"`]);
    expect(r.code, r.stderr).toBe(0);
    const m = readManifest(storage, db.name, r.json.snapshots[0].id);
    expect(m.tables).toHaveLength(1);
    const t = m.tables[0]!;
    expect(t).toMatchObject({ schema: longSchema, name: longTable, table: `"${longSchema}"."${longTable}"`, rows: 7 });
    expect(Buffer.byteLength(t.object)).toBeLessThanOrEqual(120);
    expect(t.object).toMatch(/^%E6%97%A5.*~[0-9a-f]{16}\.ndjson\.zst$/);
    expect(await lines(storage, db.name, m.id, t.object)).toHaveLength(7);
    const v = await pgsnap(db.url, storage, ["verify", m.id, "--restore-test"]);
    expect(v.code, v.stderr).toBe(0);
  });

  it("reads --tables and config keys with the same quoting rules", async () => {
    const storage = await freshStorage();
    const r = await pgsnap(db.url, storage, ["dump", "--tables", 'x."a.b",public."Orders"']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json.snapshots[0].tables.map((t: { table: string }) => t.table).sort()).toEqual([
      'public."Orders"',
      'x."a.b"',
    ]);
    const other = await pgsnap(db.url, storage, ["dump", "--tables", '"x.a".b']);
    expect(other.code, other.stderr).toBe(0);
    expect(other.json.snapshots[0].tables).toEqual([expect.objectContaining({ table: '"x.a".b', rows: 5 })]);
    // The unquoted spelling that used to name both tables names neither.
    const bad = await pgsnap(db.url, storage, ["dump", "--tables", "x.a.b"]);
    expect(bad.code).toBe(2);

    const config = join(storage, "pgsnap.config.json");
    await writeFile(config, JSON.stringify({ projects: { p: { tables: { 'x."a.b"': { global: true } } } } }));
    const plan = await runPgsnap([
      "--db",
      db.url,
      "--config",
      config,
      "--project",
      "p",
      "--json",
      "plan",
      "--tenant-column",
      "id",
    ]);
    expect(plan.code, plan.stderr).toBe(0);
    const scopes = Object.fromEntries(
      plan.json.tables.map((t: { table: string; scope: string }) => [t.table, t.scope]),
    );
    expect(scopes['x."a.b"']).toBe("global");
    expect(scopes['"x.a".b']).toBe("direct");
  });
});

describe("DDL racing the dump", () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createDatabase(serverUrl, { prefix: "pgsnap_race" });
    await withClient(db.url, (c) =>
      c.query(`
        CREATE TABLE reload (id int PRIMARY KEY, v int NOT NULL);
        INSERT INTO reload SELECT g, g FROM generate_series(1, 100) g;
        CREATE TABLE widen (id int PRIMARY KEY, v int NOT NULL);
        INSERT INTO widen SELECT g, g FROM generate_series(1, 40) g;
      `),
    );
  });
  afterAll(async () => {
    await db?.drop();
  });

  /**
   * Runs `ddl` in a transaction of a second connection, starts the dump, waits until the dump
   * waits for a lock on `table`, then commits: the DDL commits just after the dump started.
   */
  async function dumpRacing(
    table: string,
    ddl: string,
    storage: string,
    dumpArgs: string[] = ["--tables", table],
  ): Promise<CliResult> {
    const other = new pg.Client({ connectionString: db.url });
    await other.connect();
    try {
      await other.query("BEGIN");
      await other.query(ddl);
      const pid = (await other.query<{ pid: number }>("SELECT pg_backend_pid() AS pid")).rows[0]!.pid;
      const child = spawnPgsnap(["--db", db.url, "--storage", storage, "--json", "dump", ...dumpArgs]);
      const done = collect(child);
      await waitForLockWait(db.url, table, pid);
      await other.query("COMMIT");
      return await done;
    } finally {
      await other.end();
    }
  }

  it("a TRUNCATE and reload committed just after the dump started never yields the table empty", async () => {
    const storage = await freshStorage();
    const r = await dumpRacing(
      "public.reload",
      "TRUNCATE reload; INSERT INTO reload SELECT g, -g FROM generate_series(1, 60) g",
      storage,
    );
    expect(r.code, r.stderr).toBe(0);
    const m = readManifest(storage, db.name, r.json.snapshots[0].id);
    const t = m.tables[0]!;
    expect(t.rows).toBe(await count(db.url, "SELECT count(*) AS n FROM reload"));
    expect(t.rows).toBe(60);
    const got = await lines(storage, db.name, m.id, t.object);
    expect(got).toHaveLength(60);
    expect(got.every((l) => JSON.parse(l).v < 0)).toBe(true);
  });

  it("an ALTER COLUMN TYPE rewrite committed just after the dump started is read whole, with its new type", async () => {
    const storage = await freshStorage();
    const r = await dumpRacing("public.widen", "ALTER TABLE widen ALTER COLUMN v TYPE bigint", storage);
    expect(r.code, r.stderr).toBe(0);
    const m = readManifest(storage, db.name, r.json.snapshots[0].id);
    const t = m.tables[0]!;
    expect(t.rows).toBe(40);
    expect(t.columns.find((c) => c.name === "v")!.type).toBe("bigint");
    expect(await lines(storage, db.name, m.id, t.object)).toHaveLength(40);
  });

  it("a table created and filled just after the dump started is in the snapshot", async () => {
    const storage = await freshStorage();
    const r = await dumpRacing(
      "public.reload",
      "LOCK TABLE reload IN ACCESS EXCLUSIVE MODE; CREATE TABLE late (id int PRIMARY KEY); INSERT INTO late SELECT generate_series(1, 9)",
      storage,
      [],
    );
    expect(r.code, r.stderr).toBe(0);
    const m = readManifest(storage, db.name, r.json.snapshots[0].id);
    expect(m.tables.find((t) => t.table === "public.late")?.rows).toBe(9);
    await sql(db.url, "DROP TABLE late");
  });

  it("a table dropped just after the dump started is left out: its LOCK fails, the catalog is read again", async () => {
    await sql(db.url, "CREATE TABLE gone (id int PRIMARY KEY); INSERT INTO gone SELECT generate_series(1, 5)");
    const storage = await freshStorage();
    const r = await dumpRacing("public.gone", "DROP TABLE gone", storage, []);
    expect(r.code, r.stderr).toBe(0);
    const m = readManifest(storage, db.name, r.json.snapshots[0].id);
    expect(m.tables.map((t) => t.table)).not.toContain("public.gone");
    expect(m.tables.find((t) => t.table === "public.reload")?.rows).toBe(
      await count(db.url, "SELECT count(*) AS n FROM reload"),
    );
  });
});

describe("all-tenants snapshots hold every row", () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createDatabase(serverUrl, { prefix: "pgsnap_alltenants" });
    await withClient(db.url, (c) =>
      c.query(`
        CREATE TABLE accounts (id int PRIMARY KEY, user_id int);
        CREATE TABLE orders (id int PRIMARY KEY, account_id int REFERENCES accounts);
        CREATE TABLE order_lines (id int PRIMARY KEY, order_id int REFERENCES orders);
        CREATE TABLE currencies (code text PRIMARY KEY);
        INSERT INTO accounts VALUES (1, 1), (2, 1), (3, 2), (4, NULL), (5, NULL);
        -- owned; NULL foreign key; parent owned by no tenant
        INSERT INTO orders VALUES (10, 1), (11, 3), (12, NULL), (13, 4), (14, 5);
        -- owned; NULL foreign key; chain broken one level up; chain broken two levels up
        INSERT INTO order_lines VALUES (100, 10), (101, 11), (102, NULL), (103, 12), (104, 13), (105, 11);
        INSERT INTO currencies VALUES ('BRL'), ('EUR');
      `),
    );
  });
  afterAll(async () => {
    await db?.drop();
  });

  it("puts rows owned by no tenant in a frame of their own and keeps global tables", async () => {
    const storage = await freshStorage();
    const r = await pgsnap(db.url, storage, ["dump", "--all-tenants"]);
    expect(r.code, r.stderr).toBe(0);
    const m = readManifest(storage, db.name, r.json.snapshots[0].id);
    expect(m.scope).toBe("tenants");
    expect(m.allRows).toBe(true);
    expect(m.tenants).toEqual(["1", "2"]);
    const unowned: Record<string, number> = { "public.accounts": 2, "public.orders": 3, "public.order_lines": 3 };
    for (const table of ["public.accounts", "public.orders", "public.order_lines", "public.currencies"]) {
      const t = m.tables.find((x) => x.table === table)!;
      const n = await count(db.url, `SELECT count(*) AS n FROM ${table}`);
      expect({ table, rows: t.rows }).toEqual({ table, rows: n });
      expect({ table, lines: (await lines(storage, db.name, m.id, t.object)).length }).toEqual({ table, lines: n });
      if (table === "public.currencies") {
        expect(t.frames).toBeUndefined();
        continue;
      }
      const frames = t.frames!;
      expect(frames.reduce((a, f) => a + f.rows, 0)).toBe(n);
      expect(frames.filter((f) => f.tenant === null)).toHaveLength(1);
      expect(frames.at(-1)).toMatchObject({ tenant: null, rows: unowned[table] });
    }
    const v = await pgsnap(db.url, storage, ["verify", m.id]);
    expect(v.code, v.stderr).toBe(0);

    const x = await pgsnap(db.url, storage, ["extract", m.id, "--tenant", "1"]);
    expect(x.code, x.stderr).toBe(0);
    const rows = Object.fromEntries(
      x.json.snapshots[0].tables.map((t: { table: string; rows: number }) => [t.table, t.rows]),
    );
    expect(rows).toEqual({ "public.accounts": 2, "public.orders": 1, "public.order_lines": 1 });
    const list = await pgsnap(db.url, storage, ["list", "--tenant", "null"]);
    expect(list.code, list.stderr).toBe(0);
    expect(list.json.snapshots).toEqual([]);
  });
});

describe("inheritance children are tables of their own", () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createDatabase(serverUrl, { prefix: "pgsnap_inherit" });
    await withClient(db.url, (c) =>
      c.query(`
        CREATE TABLE events (id int PRIMARY KEY, user_id int NOT NULL, what text);
        CREATE TABLE special_events (extra text) INHERITS (events);
        INSERT INTO events VALUES (1, 1, 'a'), (2, 1, 'b'), (3, 2, 'c');
        INSERT INTO special_events VALUES (4, 1, 'd', 'x'), (5, 2, 'e', 'y');
        CREATE TABLE measures (id int, user_id int NOT NULL) PARTITION BY RANGE (id);
        CREATE TABLE measures_1 PARTITION OF measures FOR VALUES FROM (0) TO (100);
        CREATE TABLE measures_2 PARTITION OF measures FOR VALUES FROM (100) TO (200);
        INSERT INTO measures VALUES (1, 1), (150, 1), (160, 2);
      `),
    );
  });
  afterAll(async () => {
    await db?.drop();
  });

  it("reads a parent with ONLY, so its rows do not include its children's; partitioned tables whole", async () => {
    const storage = await freshStorage();
    const full = await pgsnap(db.url, storage, ["dump"]);
    expect(full.code, full.stderr).toBe(0);
    const m = readManifest(storage, db.name, full.json.snapshots[0].id);
    const rows = Object.fromEntries(m.tables.map((t) => [t.table, t.rows]));
    expect(rows).toEqual({
      "public.events": await count(db.url, "SELECT count(*) AS n FROM ONLY events"),
      "public.special_events": await count(db.url, "SELECT count(*) AS n FROM special_events"),
      "public.measures": await count(db.url, "SELECT count(*) AS n FROM measures"),
    });
    expect(rows["public.events"]).toBe(3);
    expect(rows["public.measures"]).toBe(3);
    const v = await pgsnap(db.url, storage, ["verify", m.id, "--restore-test"]);
    expect(v.code, v.stderr).toBe(0);

    const tenant = await pgsnap(db.url, storage, ["dump", "--tenant", "1"]);
    expect(tenant.code, tenant.stderr).toBe(0);
    const t = Object.fromEntries(
      tenant.json.snapshots[0].tables.map((x: { table: string; rows: number }) => [x.table, x.rows]),
    );
    expect(t).toEqual({ "public.events": 2, "public.special_events": 1, "public.measures": 2 });

    const all = await pgsnap(db.url, storage, ["dump", "--all-tenants"]);
    expect(all.code, all.stderr).toBe(0);
    const a = Object.fromEntries(
      all.json.snapshots[0].tables.map((x: { table: string; rows: number }) => [x.table, x.rows]),
    );
    expect(a).toEqual({ "public.events": 3, "public.special_events": 2, "public.measures": 3 });
  });
});

describe("dump --tenant of a tenant without rows", () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createDatabase(serverUrl, { prefix: "pgsnap_empty" });
    await withClient(db.url, (c) =>
      c.query(`
        CREATE TABLE accounts (id int PRIMARY KEY, user_id int NOT NULL);
        CREATE TABLE notes (id int PRIMARY KEY, account_id int NOT NULL REFERENCES accounts);
        INSERT INTO accounts VALUES (1, 7);
        INSERT INTO notes VALUES (1, 1);
      `),
    );
  });
  afterAll(async () => {
    await db?.drop();
  });

  it("exits 2 with a hint and leaves no snapshot, unless --allow-empty", async () => {
    const storage = await freshStorage();
    const r = await runPgsnap(["--db", db.url, "--storage", storage, "dump", "--tenant", "8"]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain("tenant");
    expect(r.stderr).toContain("pgsnap tenants");
    expect(r.stderr).toContain("--allow-empty");
    expect(await snapshotDirs(storage, db.name)).toEqual([]);
    // One empty tenant among several: nothing is written for any of them.
    const mixed = await pgsnap(db.url, storage, ["dump", "--tenant", "7", "--tenant", "8"]);
    expect(mixed.code, mixed.stderr).toBe(2);
    expect(await snapshotDirs(storage, db.name)).toEqual([]);

    const seven = await pgsnap(db.url, storage, ["dump", "--tenant", "7"]);
    expect(seven.code, seven.stderr).toBe(0);
    expect(seven.json.snapshots[0].rows).toBe(2);
    const ok = await pgsnap(db.url, storage, ["dump", "--tenant", "8", "--allow-empty"]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.json.snapshots[0]).toMatchObject({ scope: "tenant", tenants: ["8"], rows: 0 });

    // `latest` passes over the newer, empty snapshot, and says so on stderr.
    const latest = await pgsnap(db.url, storage, ["inspect", "latest"]);
    expect(latest.code, latest.stderr).toBe(0);
    expect(latest.json.id).toBe(seven.json.snapshots[0].id);
    expect(latest.stderr).toContain(`latest is ${seven.json.snapshots[0].id}`);
    expect(latest.stderr).toContain(`${ok.json.snapshots[0].id} (it holds no rows)`);
  });
});

describe("prune after interrupted dumps", () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createDatabase(serverUrl, { prefix: "pgsnap_prune" });
    await withClient(db.url, (c) => c.query("CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1)"));
  });
  afterAll(async () => {
    await db?.drop();
  });

  it("leaves no empty snapshot directory, and --dry-run prints exactly what the real run removes", async () => {
    const storage = await freshStorage();
    // In the order they were taken: two dumps of one second have ids of one second, whose random
    // suffixes do not say which is older (prune, like `latest`, goes by the data time).
    const kept: string[] = [];
    for (let i = 0; i < 2; i++) {
      const r = await pgsnap(db.url, storage, ["dump"]);
      expect(r.code, r.stderr).toBe(0);
      kept.push(r.json.snapshots[0].id as string);
    }
    const project = join(storage, db.name);
    // What interrupted runs leave: a temp file of a killed put, an empty directory, an object without manifest.
    await mkdir(join(project, "20260101T000000Z-0001"));
    await writeFile(join(project, "20260101T000000Z-0001", ".public.t.ndjson.zst.tmp-0123456789ab"), "half");
    await mkdir(join(project, "20260101T000000Z-0002"));
    await mkdir(join(project, "20260101T000000Z-0003"));
    await writeFile(join(project, "20260101T000000Z-0003", "public.t.ndjson.zst"), "x");
    const args = ["prune", "--keep-last", "1", "--orphan-age", "0"];
    const dry = await pgsnap(db.url, storage, [...args, "--dry-run"]);
    expect(dry.code, dry.stderr).toBe(0);
    expect((await snapshotDirs(storage, db.name)).length).toBe(5);
    const real = await pgsnap(db.url, storage, args);
    expect(real.code, real.stderr).toBe(0);
    expect({ ...dry.json, dryRun: false }).toEqual(real.json);
    expect(real.json.deleted.map((d: { id: string }) => d.id)).toEqual([kept[0]]);
    expect(real.json.orphans).toEqual([`${db.name}/20260101T000000Z-0003/`]);
    expect(real.json.incompleteUploads).toBe(1);
    expect(await snapshotDirs(storage, db.name)).toEqual([kept[1]]);
  });
});
