/**
 * `--tenant` values go through the tenant column's type (src/db/tenant-value.ts) as a quoted
 * literal, in one round trip: a value that is not of the type is a usage error naming it, and
 * values with quotes, backslashes and unicode reach Postgres unchanged.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { readCatalog } from "../src/db/catalog.js";
import { planTenants } from "../src/db/plan.js";
import { canonicalTenant } from "../src/db/tenant-value.js";
import { UsageError } from "../src/errors.js";
import { runPgsnap } from "./helpers/cli.js";
import { createDatabase, withClient, type TestDatabase } from "./helpers/postgres.js";

const serverUrl = inject("pgUrl");
let tmpRoot: string;
let n = 0;
const freshDir = () => join(tmpRoot, `s${++n}`);

/** Tenants whose spelling must survive the trip into SQL. */
const hostile = ["O'Brien", "back\\slash", "both ' and \\", "ünï 😀", "'; DROP TABLE notes; --", "\\'"];

describe("--tenant values", () => {
  let intDb: TestDatabase;
  let textDb: TestDatabase;
  beforeAll(async () => {
    tmpRoot = await mkdtemp(join(tmpdir(), "pgsnap-tenant-value-test-"));
    intDb = await createDatabase(serverUrl, { prefix: "pgsnap_tenant_int" });
    await withClient(intDb.url, (c) =>
      c.query(`CREATE TABLE notes (id int PRIMARY KEY, user_id int NOT NULL, body text);
               INSERT INTO notes VALUES (1, 1, 'a'), (2, 2, 'b'), (3, 1, 'c');`),
    );
    textDb = await createDatabase(serverUrl, { prefix: "pgsnap_tenant_text" });
    await withClient(textDb.url, async (c) => {
      await c.query("CREATE TABLE notes (id int PRIMARY KEY, user_id text NOT NULL, body text)");
      for (const [i, t] of hostile.entries()) {
        await c.query("INSERT INTO notes VALUES ($1, $2, 'x'), ($3, $2, 'y')", [2 * i + 1, t, 2 * i + 2]);
      }
    });
  });
  afterAll(async () => {
    await intDb?.drop();
    await textDb?.drop();
    await rm(tmpRoot, { recursive: true, force: true });
  });

  it("a value that is not of the column's type: exit 2 TENANT_INVALID naming it, nothing written", async () => {
    for (const tenant of ["abc", "1.5", "99999999999", "1'; SELECT 1; --"]) {
      const r = await runPgsnap(["dump", "--db", intDb.url, "--storage", freshDir(), "--tenant", tenant, "--json"]);
      expect(r.code, r.stderr).toBe(2);
      expect(r.json.error.code).toBe("TENANT_INVALID");
      expect(r.json.error.message).toContain(JSON.stringify(tenant));
      expect(r.json.error.message).toContain("integer");
    }
  });

  it("a NUL character (which argv cannot carry; a library caller can): TENANT_INVALID, not a crash", async () => {
    await withClient(textDb.url, async (c) => {
      const plan = planTenants(await readCatalog(c), "user_id");
      await c.query("BEGIN");
      const err = await canonicalTenant(c, plan, "a\u0000b").catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UsageError);
      expect((err as UsageError).code).toBe("TENANT_INVALID");
      // The transaction is still usable.
      expect(await canonicalTenant(c, plan, "O'Brien")).toBe("O'Brien");
      await c.query("ROLLBACK");
    });
  });

  it("an integer spelled with spaces or a sign is that integer, canonically spelled", async () => {
    const r = await runPgsnap(["dump", "--db", intDb.url, "--storage", freshDir(), "--tenant", " +1 ", "--json"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json.snapshots[0].tenants).toEqual(["1"]);
    expect(r.json.snapshots[0].rows).toBe(2);
  });

  it("quotes, backslashes and unicode: each tenant gets exactly its own rows", async () => {
    for (const tenant of hostile) {
      const r = await runPgsnap(["dump", "--db", textDb.url, "--storage", freshDir(), "--tenant", tenant, "--json"]);
      expect(r.code, `${tenant}: ${r.stderr}`).toBe(0);
      expect(r.json.snapshots[0].tenants).toEqual([tenant]);
      expect(r.json.snapshots[0].rows).toBe(2);
    }
  });
});
