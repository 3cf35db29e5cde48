/**
 * Restore isolation (issue 8): for every class of ways a restore of tenant 1 could reach another
 * tenant's rows, a small hostile schema, a snapshot, a change after it, a restore — and every
 * other tenant's rows compared by content hash before and after. Each test names the guard it
 * pins; removing that guard makes it fail.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { runPgsnap, spawnPgsnap, type CliResult } from "./helpers/cli.js";
import { createDatabase, withClient, type TestDatabase } from "./helpers/postgres.js";
import { restore } from "../src/restore/restore.js";
import { openStorage } from "../src/storage/open-storage.js";

const serverUrl = inject("pgUrl");
let dir: string;
const dbs: TestDatabase[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "pgsnap-iso-"));
});
afterAll(async () => {
  for (const d of dbs) await d.drop();
  await rm(dir, { recursive: true, force: true });
});

interface Fixture {
  db: TestDatabase;
  storage: string;
  sql(text: string, params?: unknown[]): Promise<pg.QueryResult>;
  run(args: string[], extra?: string[]): Promise<CliResult>;
  /** md5 of every row of every table of schema public, except the rows `mine` selects. */
  others(mine: Record<string, string>): Promise<Record<string, string>>;
}

let n = 0;
async function fixture(schema: string, tenantColumn = "user_id"): Promise<Fixture> {
  const db = await createDatabase(serverUrl, { prefix: "pgsnap_iso" });
  dbs.push(db);
  const storage = join(dir, `s${n++}`);
  const sql = (text: string, params?: unknown[]) => withClient(db.url, (c) => c.query(text, params));
  await withClient(db.url, (c) => c.query(schema));
  return {
    db,
    storage,
    sql,
    run: (args, extra = []) =>
      runPgsnap([...args, "--db", db.url, "--storage", storage, "--tenant-column", tenantColumn, "--json", ...extra]),
    others: async (mine) => {
      const tables = await sql(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind IN ('r','p') AND NOT c.relispartition ORDER BY 1",
      );
      const out: Record<string, string> = {};
      for (const { relname } of tables.rows as { relname: string }[]) {
        const where = mine[relname] ? `WHERE NOT (${mine[relname]})` : "";
        const r = await sql(
          `SELECT count(*) AS n, md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) AS h FROM (SELECT * FROM ONLY public.${relname} t ${where}) x`,
        );
        out[relname] = `${r.rows[0].n}:${r.rows[0].h}`;
      }
      return out;
    },
  };
}

const ok = (r: CliResult) => expect(r.code, r.stderr).toBe(0);

/** Starts `restore latest --tenant 1 --confirm` without waiting; `done` gives its exit code, `stderr()` what it printed. */
function startRestore(
  f: Fixture,
  extra: string[] = [],
): { done: Promise<number | null>; stderr: () => string; kill: (s: NodeJS.Signals) => void } {
  const child = spawnPgsnap([
    "restore",
    "latest",
    "--tenant",
    "1",
    "--confirm",
    "--db",
    f.db.url,
    "--storage",
    f.storage,
    ...extra,
  ]);
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  return { done: new Promise((res) => child.on("close", res)), stderr: () => stderr, kill: (sig) => child.kill(sig) };
}

/** Waits (polling the server, not the clock) until a backend runs a statement matching `like` and waits on a lock. */
async function waitForLockWait(f: Fixture, like: string): Promise<void> {
  for (let i = 0; i < 2000; i++) {
    const r = await f.sql(
      "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE $1",
      [like],
    );
    if (r.rows[0].n > 0) return;
    await f.sql("SELECT pg_sleep(0.01)");
  }
  throw new Error(`no backend waited on a lock running ${like}`);
}

describe("writes confined to the tenant (class 1)", () => {
  it("a row moved to tenant 2 while the restore waited on its lock is not written back", async () => {
    const f = await fixture(`
      CREATE TABLE items (id int PRIMARY KEY, user_id int NOT NULL, v text);
      INSERT INTO items SELECT g, 1 + g % 2, 'v' || g FROM generate_series(1, 20) g;`);
    ok(await f.run(["dump", "--tenant", "1"]));
    await f.sql("UPDATE items SET v = 'changed' WHERE user_id = 1");
    // A concurrent transaction re-assigns item 2 (tenant 1's) to tenant 2 and holds its lock.
    await withClient(f.db.url, async (c) => {
      await c.query("BEGIN");
      await c.query("UPDATE items SET user_id = 2, v = 'now tenant 2' WHERE id = 2");
      const restore = startRestore(f);
      await waitForLockWait(f, "LOCK TABLE%SHARE ROW EXCLUSIVE%");
      await c.query("COMMIT");
      const code = await restore.done;
      const stderr = restore.stderr();
      // Item 2 is tenant 2's now: the UPDATE's own ownership condition skips it, so the tenant's
      // rows cannot become the snapshot's and the restore refuses after writing (rolled back).
      expect(code, stderr).toBe(3);
      expect(stderr).toMatch(
        /table public\.items holds \d+ row\(s\) of the tenant, \d+ of the snapshot's \d+ as they were/,
      );
    });
    const row = await f.sql("SELECT user_id, v FROM items WHERE id = 2");
    expect(row.rows[0]).toEqual({ user_id: 2, v: "now tenant 2" });
  });

  it("every write carries the ownership condition: a staged key on another tenant's row is never overwritten even past the collision check", async () => {
    const f = await fixture(`
      CREATE TABLE items (id int PRIMARY KEY, user_id int NOT NULL, v text);
      INSERT INTO items SELECT g, 1 + g % 2, 'v' || g FROM generate_series(1, 10) g;`);
    ok(await f.run(["dump", "--tenant", "1"]));
    await f.sql("UPDATE items SET user_id = 2, v = 'taken by 2' WHERE id = 2");
    const before = await f.others({ items: "user_id = 1" });
    const r = await f.run(["restore", "latest", "--tenant", "1", "--confirm"]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/KEY_COLLISION|key items_pkey/);
    expect(await f.others({ items: "user_id = 1" })).toEqual(before);
  });
});

describe("the proof after writing", () => {
  it("a value changed only in letter case (case-insensitive collation, citext) is put back: rows are compared by identity, not =", async () => {
    const f = await fixture(`
      CREATE EXTENSION IF NOT EXISTS citext;
      CREATE COLLATION IF NOT EXISTS ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
      CREATE TABLE items (id int PRIMARY KEY, user_id int NOT NULL, v text COLLATE ci, w citext, tags text[] COLLATE ci);
      INSERT INTO items SELECT g, 1 + g % 2, 'Value ' || g, 'Mixed ' || g, ARRAY['Tag' || g] FROM generate_series(1, 10) g;`);
    ok(await f.run(["dump", "--tenant", "1"]));
    await f.sql("UPDATE items SET v = upper(v) WHERE id = 2; UPDATE items SET w = upper(w::text) WHERE id = 4");
    await f.sql("UPDATE items SET tags = ARRAY[upper(tags[1])] WHERE id = 6");
    const r = await f.run(["restore", "latest", "--tenant", "1", "--confirm"]);
    ok(r);
    expect(r.json.tables).toEqual([{ table: "public.items", deleted: 0, inserted: 0, updated: 3 }]);
    const rows = await f.sql(
      "SELECT id, v, w::text AS w, tags::text AS tags FROM items WHERE id IN (2, 4, 6) ORDER BY id",
    );
    expect(rows.rows).toEqual([
      { id: 2, v: "Value 2", w: "Mixed 2", tags: "{Tag2}" },
      { id: 4, v: "Value 4", w: "Mixed 4", tags: "{Tag4}" },
      { id: 6, v: "Value 6", w: "Mixed 6", tags: "{Tag6}" },
    ]);
  });

  it("a row that differs only in a column no UPDATE may set (identity ALWAYS) is refused, never counted as restored", async () => {
    const f = await fixture(`
      CREATE TABLE items (id int PRIMARY KEY, user_id int NOT NULL, n int GENERATED ALWAYS AS IDENTITY, v text);
      INSERT INTO items (id, user_id, v) SELECT g, 1 + g % 2, 'v' || g FROM generate_series(1, 10) g;`);
    ok(await f.run(["dump", "--tenant", "1"]));
    // Row 2 deleted and entered again as it was: the same key and values, a new identity value.
    await f.sql("DELETE FROM items WHERE id = 2; INSERT INTO items (id, user_id, v) VALUES (2, 1, 'v2')");
    const before = await f.sql("SELECT md5(string_agg(i::text, '|' ORDER BY id)) AS h FROM items i");
    const r = await f.run(["restore", "latest", "--tenant", "1", "--confirm"]);
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toMatch(/table public\.items holds 5 row\(s\) of the tenant, 4 of the snapshot's 5 as they were/);
    expect((await f.sql("SELECT md5(string_agg(i::text, '|' ORDER BY id)) AS h FROM items i")).rows).toEqual(
      before.rows,
    );
  });
});

describe("referential actions (class 2)", () => {
  const schema = `
    CREATE TABLE parents (id int PRIMARY KEY, user_id int NOT NULL, code text UNIQUE);
    CREATE TABLE kids (id int PRIMARY KEY, parent_id int NOT NULL REFERENCES parents ON DELETE CASCADE, v text);
    CREATE TABLE notes (id int PRIMARY KEY, user_id int NOT NULL, kid_id int REFERENCES kids ON DELETE CASCADE,
                        parent_code text REFERENCES parents (code) ON UPDATE CASCADE);
    INSERT INTO parents VALUES (1, 1, 'a'), (2, 2, 'b'), (3, 1, 'c');
    INSERT INTO kids VALUES (10, 1, 'k10'), (11, 2, 'k11'), (12, 3, 'k12');
    INSERT INTO notes VALUES (100, 2, 11, 'b'), (101, 1, 10, 'a');`;
  const mine = {
    parents: "user_id = 1",
    kids: "parent_id IN (SELECT id FROM parents WHERE user_id = 1)",
    notes: "user_id = 1",
  };

  it("a re-parented row is written back before its new parent is deleted, so no cascade runs (any depth)", async () => {
    const f = await fixture(schema);
    ok(await f.run(["dump", "--tenant", "1"]));
    // After the snapshot: a new parent 4, kid 10 moved under it, and tenant 2 notes kid 10.
    await f.sql("INSERT INTO parents VALUES (4, 1, 'd'); UPDATE kids SET parent_id = 4 WHERE id = 10");
    await f.sql("INSERT INTO notes VALUES (102, 2, 10, 'b')");
    const before = await f.others(mine);
    const r = await f.run(["restore", "latest", "--tenant", "1", "--confirm"]);
    ok(r);
    expect(await f.others(mine)).toEqual(before);
    expect((await f.sql("SELECT parent_id FROM kids WHERE id = 10")).rows[0].parent_id).toBe(1);
    expect((await f.sql("SELECT count(*)::int AS n FROM parents WHERE id = 4")).rows[0].n).toBe(0);
  });

  it("a delete whose cascade would reach tenant 2's row is refused, naming table, key and action", async () => {
    const f = await fixture(schema);
    ok(await f.run(["dump", "--tenant", "1"]));
    await f.sql("INSERT INTO kids VALUES (13, 1, 'new'); INSERT INTO notes VALUES (103, 2, 13, NULL)");
    const before = await f.others(mine);
    const r = await f.run(["restore", "latest", "--tenant", "1", "--confirm"]);
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toMatch(
      /delete of rows of public\.kids would delete 1 row\(s\) of public\.notes.*ON DELETE CASCADE.*\(103\)/,
    );
    // notes is restored too: the hint does not tell the user to add it.
    expect(r.stderr).toMatch(/^hint: nothing was changed\. Those rows of public\.notes belong to another tenant/m);
    expect(r.stderr).not.toMatch(/restore public\.notes too/);
    expect(await f.others(mine)).toEqual(before);
  });

  it("a key changed back whose ON UPDATE CASCADE would reach tenant 2's row is refused", async () => {
    const f = await fixture(schema);
    ok(await f.run(["dump", "--tenant", "1"]));
    await f.sql("UPDATE parents SET code = 'a2' WHERE id = 1"); // notes 101 (tenant 1) follows by cascade
    await f.sql("INSERT INTO notes VALUES (104, 2, NULL, 'a2')");
    const before = await f.others(mine);
    const r = await f.run(["restore", "latest", "--tenant", "1", "--confirm"]);
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toMatch(
      /key update of rows of public\.parents would change 1 row\(s\) of public\.notes.*ON UPDATE CASCADE/,
    );
    expect(await f.others(mine)).toEqual(before);
  });

  it("a key changed back cascades into the tenant's own rows only, and the proof accepts exactly that", async () => {
    const f = await fixture(schema);
    ok(await f.run(["dump", "--tenant", "1"]));
    await f.sql("UPDATE parents SET code = 'a2' WHERE id = 1");
    const before = await f.others(mine);
    ok(await f.run(["restore", "latest", "--tenant", "1", "--confirm"]));
    expect(await f.others(mine)).toEqual(before);
    expect((await f.sql("SELECT parent_code FROM notes WHERE id = 101")).rows[0].parent_code).toBe("a");
  });

  it("a row of a table the restore does not write, inserted after the reach check, is caught by the proof after writing", async () => {
    // Tenant 2's audit row points at parent 4 (to be deleted) but is not yet committed when the
    // reach check runs; the restore's DELETE waits for it, then its ON DELETE CASCADE fires. Only
    // PostgreSQL's own counters of the transaction can see that: the restore must roll back.
    const f = await fixture(
      schema +
        "CREATE TABLE audit (id int PRIMARY KEY, parent_id int REFERENCES parents ON DELETE CASCADE, what text);" +
        "INSERT INTO audit VALUES (1, 2, 'kept');",
    );
    const { writeFile } = await import("node:fs/promises");
    const config = `${f.storage}-config.json`;
    await writeFile(config, JSON.stringify({ projects: { p: { tables: { "public.audit": { global: true } } } } }));
    const extra = ["--config", config, "--project", "p"];
    ok(await f.run(["dump", "--tenant", "1"], extra));
    await f.sql("INSERT INTO parents VALUES (4, 1, 'd')");
    await withClient(f.db.url, async (c) => {
      await c.query("BEGIN");
      await c.query("INSERT INTO audit VALUES (2, 4, 'tenant 2 refers to parent 4')");
      const restore = startRestore(f, extra);
      await waitForLockWait(f, "DELETE FROM ONLY%parents%");
      await c.query("COMMIT");
      const stderr = restore.stderr;
      expect(await restore.done, stderr()).toBe(3);
      expect(stderr()).toMatch(
        /changed table public\.audit, which it does not restore \(0 inserted, 0 updated, 1 deleted\)/,
      );
    });
    expect((await f.sql("SELECT count(*)::int AS n FROM audit")).rows[0].n).toBe(2);
    expect((await f.sql("SELECT count(*)::int AS n FROM parents WHERE id = 4")).rows[0].n).toBe(1);
  });

  it("a unique value held by a row to be deleted: the writes are redone deletes-first and the restore completes", async () => {
    const f = await fixture(schema);
    ok(await f.run(["dump", "--tenant", "1"]));
    await f.sql("UPDATE parents SET code = 'c2' WHERE id = 3; INSERT INTO parents VALUES (4, 1, 'c')");
    const before = await f.others(mine);
    ok(await f.run(["restore", "latest", "--tenant", "1", "--confirm"]));
    expect(await f.others(mine)).toEqual(before);
    expect((await f.sql("SELECT array_agg(code ORDER BY id) AS c FROM parents WHERE user_id = 1")).rows[0].c).toEqual([
      "a",
      "c",
    ]);
  });
});

describe("tenant identity (class 3)", () => {
  it("citext: differently spelled keys are one tenant in frames, tenants, restore and latest", async () => {
    const f = await fixture(`
      CREATE EXTENSION IF NOT EXISTS citext;
      CREATE TABLE docs (id int PRIMARY KEY, user_id citext NOT NULL, body text);
      INSERT INTO docs VALUES (1, 'Acme', 'a'), (2, 'ACME', 'b'), (3, 'acme', 'c'), (4, 'Other', 'd'), (5, 'Bolt', 'e'), (6, 'acme', 'f');`);
    ok(await f.run(["dump", "--all-tenants"]));
    const tenants = await f.run(["tenants"]);
    ok(tenants);
    expect(tenants.json.tenants.map((t: { id: string; rows: number }) => [t.id, t.rows])).toEqual([
      ["acme", 4],
      ["bolt", 1],
      ["other", 1],
    ]);
    const before = await f.others({ docs: "user_id = 'acme'" });
    const r = await f.run(["restore", "latest", "--tenant", "AcMe", "--confirm"]);
    ok(r);
    expect(r.json.tables[0]).toMatchObject({ deleted: 0, inserted: 0, updated: 0 });
    expect((await f.sql("SELECT count(*)::int AS n FROM docs WHERE user_id = 'acme'")).rows[0].n).toBe(4);
    expect(await f.others({ docs: "user_id = 'acme'" })).toEqual(before);
  });

  it("numeric: 1.0 and 1.00 are tenant 1 in a tenant dump and its restore", async () => {
    const f = await fixture(`
      CREATE TABLE acc (id int PRIMARY KEY, user_id numeric NOT NULL, v int);
      INSERT INTO acc VALUES (1, 1.0, 1), (2, 1.00, 2), (3, 1, 3), (4, 2.0, 4);`);
    const d = await f.run(["dump", "--tenant", "1.000"]);
    ok(d);
    expect(d.json.snapshots[0].tenants).toEqual(["1"]);
    expect(d.json.snapshots[0].rows).toBe(3);
    const r = await f.run(["restore", "latest", "--tenant", "1", "--confirm"]);
    ok(r);
    expect(r.json.tables[0]).toMatchObject({ deleted: 0, inserted: 0, updated: 0 });
  });

  it("uuid: an upper-case id extracts and restores the tenant (never an empty snapshot that wipes it)", async () => {
    const id = "7c9e6679-7425-40de-944b-e07fc1f90ae7";
    const f = await fixture(`
      CREATE TABLE files (id int PRIMARY KEY, user_id uuid NOT NULL, name text);
      INSERT INTO files VALUES (1, '${id}', 'a'), (2, '${id}', 'b'), (3, gen_random_uuid(), 'c');`);
    ok(await f.run(["dump"]));
    const x = await f.run(["extract", "latest", "--tenant", id.toUpperCase()]);
    ok(x);
    expect(x.json.snapshots[0].rows).toBe(2);
    expect(x.json.snapshots[0].tenants).toEqual([id]);
    const list = await f.run(["list", "--tenant", id.toUpperCase()]);
    expect(list.json.snapshots.length).toBe(2);
    const r = await f.run(["restore", "latest", "--tenant", id.toUpperCase(), "--confirm"]);
    ok(r);
    expect((await f.sql("SELECT count(*)::int AS n FROM files WHERE user_id = $1", [id])).rows[0].n).toBe(2);
  });
});

describe("empty means stop (class 4)", () => {
  it("a restore that would delete every current row of the tenant is refused unless --allow-empty", async () => {
    const f = await fixture(`
      CREATE TABLE t (id int PRIMARY KEY, user_id int NOT NULL);
      INSERT INTO t VALUES (1, 1), (2, 2);`);
    ok(await f.run(["dump", "--tenant", "1"]));
    await f.sql("DELETE FROM t WHERE id = 1; INSERT INTO t VALUES (3, 1), (4, 1)");
    const r = await f.run(["restore", "latest", "--tenant", "1", "--confirm"]);
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toMatch(/none of tenant 1's 2 current row/);
    expect(r.stderr).toMatch(/--allow-empty/);
    expect((await f.sql("SELECT count(*)::int AS n FROM t WHERE user_id = 1")).rows[0].n).toBe(2);
    ok(await f.run(["restore", "latest", "--tenant", "1", "--confirm", "--allow-empty"]));
    expect((await f.sql("SELECT array_agg(id ORDER BY id) AS ids FROM t")).rows[0].ids).toEqual([1, 2]);
  });

  it("extract of a tenant with no rows is exit 2 and leaves no snapshot", async () => {
    const f = await fixture(`CREATE TABLE t (id int PRIMARY KEY, user_id int NOT NULL); INSERT INTO t VALUES (1, 1);`);
    ok(await f.run(["dump"]));
    const x = await f.run(["extract", "latest", "--tenant", "99"]);
    expect(x.code, x.stderr).toBe(2);
    expect((await f.run(["list"])).json.snapshots.length).toBe(1);
  });
});

describe("custom filters (class 5)", () => {
  it("a tenant id holding $$, $&, $` or $' is substituted literally", async () => {
    const ids = ["shop", "shop$", "shop$$", "shop$&", "shop$`", "shop$'"];
    const f = await fixture(`
      CREATE TABLE orders (id int PRIMARY KEY, owner text NOT NULL);
      INSERT INTO orders SELECT i, (ARRAY['shop','shop$','shop$$','shop$&','shop$\`','shop$'''])[i % 6 + 1] FROM generate_series(1, 30) i;`);
    const { writeFile } = await import("node:fs/promises");
    const config = join(f.storage + "-config.json");
    await writeFile(
      config,
      JSON.stringify({
        projects: { p: { tables: { "public.orders": { filter: "t.owner = :tenant", key: "t.owner" } } } },
      }),
    );
    for (const id of ids) {
      const d = await f.run(["dump", "--tenant", id], ["--config", config, "--project", "p"]);
      ok(d);
      expect(d.json.snapshots[0].rows, id).toBe(5);
      const rows = await f.sql("SELECT count(*)::int AS n FROM orders WHERE owner = $1", [id]);
      expect(rows.rows[0].n).toBe(5);
    }
  });
});

describe("the plan changed since the dump (class 6)", () => {
  it("another ownership path since the dump is refused with a diff", async () => {
    const f = await fixture(`
      CREATE TABLE shops (id int PRIMARY KEY, user_id int NOT NULL);
      CREATE TABLE carts (id int PRIMARY KEY, user_id int NOT NULL);
      CREATE TABLE lines (id int PRIMARY KEY, shop_id int REFERENCES shops, cart_id int);
      INSERT INTO shops VALUES (1, 1), (2, 2); INSERT INTO carts VALUES (1, 2), (2, 1);
      INSERT INTO lines VALUES (1, 1, 1), (2, 2, 2);`);
    ok(await f.run(["dump", "--tenant", "1"]));
    await f.sql("ALTER TABLE lines ADD CONSTRAINT lines_cart FOREIGN KEY (cart_id) REFERENCES carts ON DELETE CASCADE");
    const before = await f.others({ shops: "user_id = 1" });
    const r = await f.run(["restore", "latest", "--tenant", "1", "--confirm"]);
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toMatch(
      /public\.lines belonged to tenants via lines_shop_id_fkey → public\.shops at the dump, but the live plan says via lines_cart → public\.carts/,
    );
    expect(await f.others({ shops: "user_id = 1" })).toEqual(before);
  });
});

describe("rules (class 7)", () => {
  it("an INSTEAD rule and an ALSO rule on a restored table do not fire during the restore", async () => {
    const f = await fixture(`
      CREATE TABLE docs (id int PRIMARY KEY, user_id int NOT NULL, deleted bool NOT NULL DEFAULT false);
      CREATE TABLE audit (id serial PRIMARY KEY, what text);
      INSERT INTO docs VALUES (1, 1, false), (4, 1, false), (5, 1, false), (2, 2, false);`);
    ok(await f.run(["dump", "--tenant", "1"]));
    await f.sql(`
      CREATE RULE soft_delete AS ON DELETE TO docs DO INSTEAD UPDATE docs SET deleted = true WHERE id = OLD.id;
      CREATE RULE log_insert AS ON INSERT TO docs DO ALSO INSERT INTO audit (what) VALUES ('insert ' || NEW.id);
      INSERT INTO docs VALUES (3, 1, false);
      DELETE FROM docs WHERE id = 4;
      ALTER TABLE docs DISABLE RULE soft_delete; DELETE FROM docs WHERE id = 5; ALTER TABLE docs ENABLE RULE soft_delete;`);
    const before = await f.others({ docs: "user_id = 1" });
    const r = await f.run(["restore", "latest", "--tenant", "1", "--confirm"]);
    ok(r);
    expect(
      (await f.sql("SELECT array_agg(id::text || ':' || deleted::text ORDER BY id) AS d FROM docs WHERE user_id = 1"))
        .rows[0].d,
    ).toEqual(["1:false", "4:false", "5:false"]);
    expect(await f.others({ docs: "user_id = 1" })).toEqual(before);
    expect((await f.sql("SELECT count(*)::int AS n FROM pg_rules WHERE tablename = 'docs'")).rows[0].n).toBe(2);
  });
});

describe("an interrupted restore never commits (class 9)", () => {
  const schema = `
    CREATE TABLE parents (id int PRIMARY KEY, user_id int NOT NULL);
    CREATE TABLE kids (id bigserial PRIMARY KEY, parent_id int NOT NULL REFERENCES parents, v text);
    INSERT INTO parents SELECT g, 1 + g % 2 FROM generate_series(1, 50) g;
    INSERT INTO kids (parent_id, v) SELECT 1 + g % 50, 'v' || g FROM generate_series(1, 500) g;`;
  for (const step of ["staging", "checks", "write", "delete", "prove"]) {
    it(`an abort at step ${step} rolls back (InterruptedError) and releases the lock`, async () => {
      const f = await fixture(schema);
      ok(await f.run(["dump", "--tenant", "1"]));
      await f.sql(
        "UPDATE kids SET v = 'changed' WHERE parent_id % 2 = 0; INSERT INTO kids (parent_id, v) VALUES (2, 'new')",
      );
      const whole = async () =>
        (await f.sql("SELECT md5(string_agg(k::text, '|' ORDER BY id)) AS h FROM kids k")).rows[0].h as string;
      const seq = async () => (await f.sql("SELECT last_value FROM kids_id_seq")).rows[0].last_value as string;
      const before = { rows: await whole(), seq: await seq() };
      const controller = new AbortController();
      const storage = openStorage(f.storage, undefined);
      const err = await restore({
        connection: { url: f.db.url },
        storage,
        snapshot: "latest",
        tenant: "1",
        signal: controller.signal,
        onProgress: (e) => {
          if (e.step === step) controller.abort();
        },
      }).then(
        () => undefined,
        (e: unknown) => e,
      );
      await storage.close();
      expect((err as { exitCode?: number })?.exitCode, String(err)).toBe(130);
      expect({ rows: await whole(), seq: await seq() }).toEqual(before);
      ok(await f.run(["restore", "latest", "--tenant", "1", "--confirm"]));
    });
  }

  it("SIGTERM while the restore waits in its write phase exits 130 and changes nothing", async () => {
    const f = await fixture(schema);
    ok(await f.run(["dump", "--tenant", "1"]));
    await f.sql("UPDATE kids SET v = 'changed' WHERE parent_id % 2 = 0");
    const whole = async () =>
      (await f.sql("SELECT md5(string_agg(k::text, '|' ORDER BY id)) AS h FROM kids k")).rows[0].h as string;
    const before = await whole();
    await withClient(f.db.url, async (c) => {
      await c.query("BEGIN");
      await c.query("LOCK TABLE kids IN ROW EXCLUSIVE MODE"); // blocks the write phase's SHARE ROW EXCLUSIVE
      const restore = startRestore(f);
      await waitForLockWait(f, "LOCK TABLE%SHARE ROW EXCLUSIVE%");
      restore.kill("SIGTERM");
      expect(await restore.done, restore.stderr()).toBe(130);
      await c.query("COMMIT");
    });
    expect(await whole()).toBe(before);
    ok(await f.run(["restore", "latest", "--tenant", "1", "--confirm"]));
  });
});

describe("checksums", () => {
  it("an object changed to other valid rows (same count, valid zstd) is refused by its sha256 alone", async () => {
    const { execFileSync } = await import("node:child_process");
    const { readdirSync } = await import("node:fs");
    const f = await fixture(`
      CREATE TABLE t (id int PRIMARY KEY, user_id int NOT NULL, v text);
      INSERT INTO t VALUES (1, 1, 'a'), (2, 1, 'b'), (3, 2, 'c');`);
    const d = await f.run(["dump", "--tenant", "1"]);
    ok(d);
    await f.sql("UPDATE t SET v = 'changed' WHERE id = 1");
    const snapDir = join(f.storage, d.json.snapshots[0].project, d.json.snapshots[0].id);
    const object = join(
      snapDir,
      readdirSync(snapDir).find((n) => n.endsWith(".ndjson.zst"))!,
    );
    const rows = execFileSync("zstd", ["-dc", object]).toString();
    const forged = rows.replace('"v":"b"', '"v":"X"');
    expect(forged).not.toBe(rows);
    execFileSync("zstd", ["-q", "-f", "-o", object], { input: forged });
    const r = await f.run(["restore", "latest", "--tenant", "1", "--confirm"]);
    expect(r.code, r.stderr).toBe(12);
    expect(r.stderr).toMatch(/has sha256 [0-9a-f]{64}, the manifest says [0-9a-f]{64}/);
    expect((await f.sql("SELECT array_agg(v ORDER BY id) AS v FROM t")).rows[0].v).toEqual(["changed", "b", "c"]);
  });
});

describe("the right database (class 10)", () => {
  it("a snapshot restored into another database is refused unless --to-other-database", async () => {
    const schema = `CREATE TABLE t (id int PRIMARY KEY, user_id int NOT NULL, v text); INSERT INTO t VALUES (1, 1, 'a'), (2, 2, 'b');`;
    const a = await fixture(schema);
    const b = await fixture(schema);
    ok(await a.run(["dump", "--tenant", "1"], ["--project", "shop"]));
    await b.sql("UPDATE t SET v = 'staging' WHERE id = 1");
    const args = [
      "restore",
      "latest",
      "--tenant",
      "1",
      "--confirm",
      "--db",
      b.db.url,
      "--storage",
      a.storage,
      "--project",
      "shop",
      "--json",
    ];
    const r = await runPgsnap(args);
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toMatch(/was taken from database pgsnap_iso\S* of cluster \d+, but this is database/);
    expect((await b.sql("SELECT v FROM t WHERE id = 1")).rows[0].v).toBe("staging");
    ok(await runPgsnap([...args, "--to-other-database"]));
    expect((await b.sql("SELECT v FROM t WHERE id = 1")).rows[0].v).toBe("a");
  });
});

describe("every snapshot restorable (issue 9: 5, 6, 7, 14)", () => {
  it("columns named after the restore's aliases (s, t, d, c, x, p1, k1, ck, q, m) restore", async () => {
    const f = await fixture(`
      CREATE TABLE parents (id int PRIMARY KEY, user_id int NOT NULL, s text, t text, d int, c int);
      CREATE TABLE kids (id int PRIMARY KEY, parent_id int REFERENCES parents ON DELETE CASCADE, x text, p1 int, k1 int, ck int, q int, m int, s int);
      INSERT INTO parents VALUES (1, 1, 's', 't', 1, 1), (2, 2, 's', 't', 2, 2);
      INSERT INTO kids VALUES (1, 1, 'x', 1, 1, 1, 1, 1, 1), (2, 2, 'x', 2, 2, 2, 2, 2, 2);`);
    ok(await f.run(["dump", "--tenant", "1"]));
    await f.sql(
      "UPDATE parents SET s = 'changed' WHERE id = 1; DELETE FROM kids WHERE id = 1; INSERT INTO parents VALUES (3, 1, 'n', 'n', 3, 3)",
    );
    const before = await f.others({ parents: "user_id = 1", kids: "parent_id IN (1, 3)" });
    const r = await f.run(["restore", "latest", "--tenant", "1", "--confirm"]);
    ok(r);
    expect(await f.others({ parents: "user_id = 1", kids: "parent_id IN (1, 3)" })).toEqual(before);
    expect((await f.sql("SELECT s FROM parents WHERE id = 1")).rows[0].s).toBe("s");
  });

  it("an identity column and a NOT NULL DEFAULT column added after the dump: restorable, reported, sequences untouched on a dry run", async () => {
    const f = await fixture(`
      CREATE TABLE t (id int PRIMARY KEY, user_id int NOT NULL, v text);
      INSERT INTO t VALUES (1, 1, 'a'), (2, 1, 'b'), (3, 2, 'c');`);
    ok(await f.run(["dump", "--tenant", "1"]));
    await f.sql(
      "ALTER TABLE t ADD COLUMN seq bigint GENERATED ALWAYS AS IDENTITY, ADD COLUMN status text NOT NULL DEFAULT 'new'",
    );
    await f.sql("DELETE FROM t WHERE id = 2");
    const seqBefore = (await f.sql("SELECT last_value, is_called FROM t_seq_seq")).rows[0];
    const dry = await f.run(["restore", "latest", "--tenant", "1", "--dry-run"]);
    ok(dry);
    expect(dry.json.tables[0]).toMatchObject({ inserted: 1, deleted: 0 });
    expect(dry.json.notes.join("\n")).toMatch(/t\.status is not in the snapshot/);
    expect((await f.sql("SELECT last_value, is_called FROM t_seq_seq")).rows[0]).toEqual(seqBefore);
    ok(await f.run(["restore", "latest", "--tenant", "1", "--confirm"]));
    expect((await f.sql("SELECT status FROM t WHERE id = 2")).rows[0].status).toBe("new");
  });

  it("a tenant column that is a generated column restores", async () => {
    const f = await fixture(`
      CREATE TABLE t (id int PRIMARY KEY, org text NOT NULL, user_id text GENERATED ALWAYS AS (lower(org)) STORED, v text);
      INSERT INTO t (id, org, v) VALUES (1, 'A', 'x'), (2, 'B', 'y');`);
    ok(await f.run(["dump", "--tenant", "a"]));
    await f.sql("UPDATE t SET v = 'changed' WHERE id = 1");
    ok(await f.run(["restore", "latest", "--tenant", "a", "--confirm"]));
    expect((await f.sql("SELECT v FROM t WHERE id = 1")).rows[0].v).toBe("x");
  });

  it("a restore refused by a deferred constraint moves no sequence", async () => {
    const f = await fixture(`
      CREATE TABLE parents (id int PRIMARY KEY, user_id int NOT NULL);
      CREATE TABLE kids (id serial PRIMARY KEY, user_id int NOT NULL, ext int REFERENCES parents DEFERRABLE INITIALLY DEFERRED);
      INSERT INTO parents VALUES (1, 1), (2, 2);
      INSERT INTO kids (user_id, ext) VALUES (1, 2), (1, 2), (2, 2);`);
    ok(await f.run(["dump", "--tenant", "1"], ["--tables", "public.kids"]));
    // After the dump: the kids are gone, the sequence was reset, and parent 2 (tenant 2) is gone.
    await f.sql(
      "DELETE FROM kids WHERE user_id = 1; DELETE FROM kids; DELETE FROM parents WHERE id = 2; SELECT setval('kids_id_seq', 1, false)",
    );
    const r = await f.run(["restore", "latest", "--tenant", "1", "--confirm", "--tables", "public.kids"]);
    expect(r.code, r.stderr).toBe(3);
    expect((await f.sql("SELECT last_value, is_called FROM kids_id_seq")).rows[0]).toEqual({
      last_value: "1",
      is_called: false,
    });
  });
});
