/**
 * The test harness itself: the server the project asked for, databases that do not leak into
 * each other, the pagila fixture, the SQL loaders, roles, and an embedded server's lifecycle.
 */
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import {
  createDatabase,
  createRole,
  createTemplate,
  loadSqlFile,
  pgBinDir,
  startPostgres,
  withClient,
  type TestDatabase,
} from "./helpers/postgres.js";

const serverUrl = inject("pgUrl");
const pgMajor = inject("pgMajor");

async function count(url: string, sql: string): Promise<number> {
  return withClient(url, async (c) => Number((await c.query<{ n: string }>(sql)).rows[0]?.n));
}

describe("test server", () => {
  it("runs the major this project asked for", async () => {
    const versionNum = await withClient(serverUrl, async (c) => {
      const r = await c.query<{ server_version_num: string }>("SHOW server_version_num");
      return Number(r.rows[0]?.server_version_num);
    });
    expect(Math.floor(versionNum / 10000)).toBe(pgMajor);
    const asked = process.env.PGSNAP_TEST_PG_MAJOR;
    if (inject("pgExternal")) expect(process.env.PGSNAP_TEST_DATABASE_URL).toBeTruthy();
    else expect(String(pgMajor)).toBe(asked);
  });

  it("connects as a superuser", async () => {
    const su = await withClient(
      serverUrl,
      async (c) => (await c.query<{ is_superuser: string }>("SHOW is_superuser")).rows[0]?.is_superuser,
    );
    expect(su).toBe("on");
  });
});

describe("createDatabase", () => {
  it("creates isolated databases and drops them", async () => {
    const a = await createDatabase(serverUrl);
    const b = await createDatabase(serverUrl);
    try {
      expect(a.name).not.toBe(b.name);
      await withClient(a.url, (c) => c.query("CREATE TABLE only_in_a (x int); INSERT INTO only_in_a VALUES (1)"));
      expect(await count(a.url, "SELECT count(*) AS n FROM only_in_a")).toBe(1);
      expect(await count(b.url, "SELECT count(*) AS n FROM pg_class WHERE relname = 'only_in_a'")).toBe(0);
    } finally {
      await a.drop();
      await b.drop();
    }
    await a.drop(); // idempotent
    expect(
      await count(serverUrl, `SELECT count(*) AS n FROM pg_database WHERE datname IN ('${a.name}', '${b.name}')`),
    ).toBe(0);
  });

  it("clones a template once built, and clones do not see each other's changes", async () => {
    let builds = 0;
    const name = `pgsnap_tpl_harness_${process.pid}_${Date.now().toString(36)}`;
    const loader = async (url: string): Promise<void> => {
      builds++;
      await withClient(url, (c) =>
        c.query(
          "CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 100) g",
        ),
      );
    };
    const [t1, t2] = await Promise.all([
      createTemplate(serverUrl, name, loader),
      createTemplate(serverUrl, name, loader),
    ]);
    expect(t1).toBe(name);
    expect(t2).toBe(name);
    expect(builds).toBe(1);

    const x = await createDatabase(serverUrl, { template: name });
    const y = await createDatabase(serverUrl, { template: name });
    try {
      await withClient(x.url, (c) => c.query("DELETE FROM t WHERE id > 10; CREATE TABLE extra (z int)"));
      expect(await count(x.url, "SELECT count(*) AS n FROM t")).toBe(10);
      expect(await count(y.url, "SELECT count(*) AS n FROM t")).toBe(100);
      expect(await count(y.url, "SELECT count(*) AS n FROM pg_class WHERE relname = 'extra'")).toBe(0);
      // The template itself is unchanged: a later clone starts from the original.
      const z = await createDatabase(serverUrl, { template: name });
      try {
        expect(await count(z.url, "SELECT count(*) AS n FROM t")).toBe(100);
      } finally {
        await z.drop();
      }
    } finally {
      await x.drop();
      await y.drop();
      await withClient(serverUrl, async (c) => {
        await c.query(`ALTER DATABASE ${c.escapeIdentifier(name)} WITH IS_TEMPLATE false`);
        await c.query(`DROP DATABASE ${c.escapeIdentifier(name)}`);
      });
    }
  });

  it("rebuilds a template whose build did not finish", async () => {
    const name = `pgsnap_tpl_partial_${process.pid}_${Date.now().toString(36)}`;
    // A leftover from an interrupted build: exists, but never marked as a template.
    await withClient(serverUrl, (c) => c.query(`CREATE DATABASE ${c.escapeIdentifier(name)}`));
    await createTemplate(serverUrl, name, async (url) => {
      await withClient(url, (c) => c.query("CREATE TABLE built (x int)"));
    });
    const db = await createDatabase(serverUrl, { template: name });
    try {
      expect(await count(db.url, "SELECT count(*) AS n FROM pg_class WHERE relname = 'built'")).toBe(1);
    } finally {
      await db.drop();
      await withClient(serverUrl, async (c) => {
        await c.query(`ALTER DATABASE ${c.escapeIdentifier(name)} WITH IS_TEMPLATE false`);
        await c.query(`DROP DATABASE ${c.escapeIdentifier(name)}`);
      });
    }
  });

  it("drops a failed template build and reports the loader's error", async () => {
    const name = `pgsnap_tpl_failing_${process.pid}_${Date.now().toString(36)}`;
    await expect(
      createTemplate(serverUrl, name, async (url) => {
        await withClient(url, (c) => c.query("SELECT no_such_column FROM pg_class"));
      }),
    ).rejects.toThrow(/no_such_column/);
    expect(await count(serverUrl, `SELECT count(*) AS n FROM pg_database WHERE datname = '${name}'`)).toBe(0);
  });
});

describe("loadSqlFile (Node loader)", () => {
  let dir: string;
  let db: TestDatabase;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "pgsnap-sql-"));
    db = await createDatabase(serverUrl);
  });
  afterAll(async () => {
    await db?.drop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("splits statements the way psql does and feeds COPY blocks", async () => {
    const file = join(dir, "hostile.sql");
    const sql = [
      "\\restrict abc123",
      "-- a comment; with a semicolon",
      "/* block; /* nested; */ still comment; */",
      "SET standard_conforming_strings = on;",
      `CREATE TABLE "we;ird" (id int, s text, j jsonb);`,
      "CREATE FUNCTION f() RETURNS text LANGUAGE plpgsql AS $body$",
      "BEGIN RETURN 'a;b' || $$;$$; END",
      "$body$;",
      "INSERT INTO \"we;ird\" VALUES (1, 'it''s; fine', '{\"k\": \"v;\"}'), (2, E'back\\\\slash\\'; quote', NULL);",
      'CREATE RULE r AS ON UPDATE TO "we;ird" DO INSTEAD (SELECT 1; SELECT 2);',
      'COPY public."we;ird" (id, s, j) FROM stdin;',
      '3\ttab\\there\\nnewline\t{"a": [1, 2]}',
      "4\t\\N\t\\N",
      "5\tbackslash \\\\. not an end\t\\N",
      "\\.",
      "SELECT f(); INSERT INTO \"we;ird\" VALUES (6, 'two statements', NULL);",
      "\\unrestrict abc123",
      "INSERT INTO \"we;ird\" VALUES (7, 'no final semicolon', NULL)",
    ].join("\n");
    await writeFile(file, sql);
    await loadSqlFile(db.url, file, { loader: "node" });
    const rows = await withClient(db.url, async (c) => {
      const r = await c.query<{ id: number; s: string | null; j: unknown }>(
        'SELECT id, s, j FROM "we;ird" ORDER BY id',
      );
      return r.rows;
    });
    expect(rows).toEqual([
      { id: 1, s: "it's; fine", j: { k: "v;" } },
      { id: 2, s: "back\\slash'; quote", j: null },
      { id: 3, s: "tab\there\nnewline", j: { a: [1, 2] } },
      { id: 4, s: null, j: null },
      { id: 5, s: "backslash \\. not an end", j: null },
      { id: 6, s: "two statements", j: null },
      { id: 7, s: "no final semicolon", j: null },
    ]);
    expect(await withClient(db.url, async (c) => (await c.query<{ f: string }>("SELECT f()")).rows[0]?.f)).toBe("a;b;");
  });

  it("stops at the first error and names file and line", async () => {
    const file = join(dir, "broken.sql");
    await writeFile(file, "CREATE TABLE ok1 (x int);\n\nSELECT * FROM missing_table;\nCREATE TABLE ok2 (x int);\n");
    await expect(loadSqlFile(db.url, file, { loader: "node" })).rejects.toThrow(
      new RegExp(`broken\\.sql:3: .*missing_table`),
    );
    expect(await count(db.url, "SELECT count(*) AS n FROM pg_class WHERE relname IN ('ok1', 'ok2')")).toBe(1);
  });

  it("fails on a COPY block without its end marker", async () => {
    const file = join(dir, "unterminated.sql");
    await writeFile(file, "CREATE TABLE u (x int);\nCOPY u (x) FROM stdin;\n1\n2\n");
    await expect(loadSqlFile(db.url, file, { loader: "node" })).rejects.toThrow(/unterminated\.sql:2: .*\\\./);
  });
});

describe("createRole", () => {
  it("creates a login role without BYPASSRLS to which row-level security applies", async () => {
    const db = await createDatabase(serverUrl);
    const plain = await createRole(serverUrl);
    const bypass = await createRole(serverUrl, { bypassrls: true });
    try {
      const attrs = await withClient(serverUrl, async (c) => {
        const r = await c.query<{ rolname: string; rolsuper: boolean; rolbypassrls: boolean; rolcanlogin: boolean }>(
          "SELECT rolname, rolsuper, rolbypassrls, rolcanlogin FROM pg_roles WHERE rolname = ANY($1) ORDER BY rolbypassrls",
          [[plain.name, bypass.name]],
        );
        return r.rows;
      });
      expect(attrs).toEqual([
        { rolname: plain.name, rolsuper: false, rolbypassrls: false, rolcanlogin: true },
        { rolname: bypass.name, rolsuper: false, rolbypassrls: true, rolcanlogin: true },
      ]);

      await withClient(db.url, async (c) => {
        await c.query(`
          CREATE TABLE docs (tenant int, body text);
          INSERT INTO docs VALUES (1, 'a'), (1, 'b'), (2, 'c');
          ALTER TABLE docs ENABLE ROW LEVEL SECURITY;
          CREATE POLICY only_tenant_1 ON docs USING (tenant = 1);
          GRANT SELECT ON docs TO ${c.escapeIdentifier(plain.name)}, ${c.escapeIdentifier(bypass.name)};
        `);
      });
      const seenBy = (url: string): Promise<number> => count(url, "SELECT count(*) AS n FROM docs");
      expect(await seenBy(plain.url(db.url))).toBe(2);
      expect(await seenBy(bypass.url(db.url))).toBe(3);
      expect(await seenBy(db.url)).toBe(3);
      expect(
        await withClient(
          plain.url(db.url),
          async (c) => (await c.query<{ u: string }>("SELECT current_user AS u")).rows[0]?.u,
        ),
      ).toBe(plain.name);
    } finally {
      await db.drop();
      await plain.drop();
      await bypass.drop();
    }
  });
});

describe("startPostgres", () => {
  // With PGSNAP_TEST_DATABASE_URL the project's major may have no embedded package: use 15 then.
  const major = pgMajor === 17 && !inject("pgExternal") ? 17 : 15;

  it(`starts an embedded PostgreSQL ${major} and stops it without leaving processes or files`, async () => {
    const server = await startPostgres(major);
    let stopped = false;
    try {
      expect(server.url).toMatch(/^postgres:\/\/postgres:[^@]+@127\.0\.0\.1:\d+\/postgres$/);
      expect(server.port).not.toBe(Number(new URL(serverUrl).port));
      expect(existsSync(join(pgBinDir(major), "postgres"))).toBe(true);
      expect(await count(server.url, "SELECT current_setting('server_version_num')::int / 10000 AS n")).toBe(major);
      const settings = await withClient(server.url, async (c) => {
        const r = await c.query<{ name: string; setting: string }>(
          "SELECT name, setting FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit', 'full_page_writes', 'server_encoding') ORDER BY name",
        );
        return Object.fromEntries(r.rows.map((row) => [row.name, row.setting]));
      });
      expect(settings).toEqual({
        fsync: "off",
        full_page_writes: "off",
        server_encoding: "UTF8",
        synchronous_commit: "off",
      });
      expect(isAlive(server.pid)).toBe(true);
      await server.stop();
      stopped = true;
      expect(isAlive(server.pid)).toBe(false);
      expect(existsSync(server.dataDir)).toBe(false);
      await server.stop(); // idempotent
    } finally {
      if (!stopped) await server.stop();
    }
  });
});

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
