/**
 * Every tenant in one pass (scope `tenants`) on pagila with store_id as the tenant column (the
 * pagila fixture, PGSNAP_PAGILA_DIR): `npm run test:fixtures` runs this file.
 */
import { execFileSync } from "node:child_process";
import { mkdtemp, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { restore } from "../src/restore/restore.js";
import { FsStorage } from "../src/storage/fs/fs-storage.js";
import { parseManifest } from "../src/format/manifest.js";
import { runPgsnap } from "./helpers/cli.js";
import { createPagilaDatabase, withClient, type TestDatabase } from "./helpers/postgres.js";

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

/** Sorted NDJSON lines of a table's data file (decompressed by the zstd CLI). */
function lines(file: string): string[] {
  const out = execFileSync("zstd", ["-dcq", file], { maxBuffer: 1 << 30 }).toString("utf8");
  return out.split("\n").filter(Boolean).sort();
}

async function snapshotDir(storage: string, project: string, id: string): Promise<string> {
  return join(storage, project, id);
}

/** md5 over a table's rows (ordered by their text) that satisfy `where`. */
async function md5(url: string, table: string, where = "true"): Promise<string> {
  return withClient(url, async (c) => {
    const r = await c.query<{ h: string | null }>(
      `SELECT md5(string_agg(t::text, '|' ORDER BY t::text)) AS h FROM ${table} t WHERE ${where}`,
    );
    return r.rows[0]?.h ?? "empty";
  });
}

const pagilaOwner: Record<string, (s: number) => string> = {
  "public.store": (s) => `store_id = ${s}`,
  "public.staff": (s) => `store_id = ${s}`,
  "public.customer": (s) => `store_id = ${s}`,
  "public.inventory": (s) => `store_id = ${s}`,
  "public.rental": (s) => `customer_id IN (SELECT customer_id FROM public.customer WHERE store_id = ${s})`,
  "public.payment": (s) => `customer_id IN (SELECT customer_id FROM public.customer WHERE store_id = ${s})`,
};

describe("pagila, --all-tenants with store_id", () => {
  let db: TestDatabase;
  let storage: string;
  let all: any;
  const args = (...a: string[]) => [
    ...a,
    "--db",
    db.url,
    "--storage",
    storage,
    "--tenant-column",
    "store_id",
    "--json",
  ];

  beforeAll(async () => {
    db = await createPagilaDatabase(serverUrl);
    storage = freshDir();
    const r = await runPgsnap(args("dump", "--all-tenants", "--jobs", "2"));
    expect(r.code, r.stderr).toBe(0);
    all = r.json.snapshots[0];
  });
  afterAll(async () => {
    await db?.drop();
  });

  it("writes one tenants snapshot indexing a frame per tenant per table, global tables once", async () => {
    expect(all.scope).toBe("tenants");
    const m = parseManifest(
      await import("node:fs/promises").then((fs) => fs.readFile(join(storage, all.project, all.id, "manifest.json"))),
      "manifest",
    );
    const rental = m.tables.find((t) => t.table === "public.rental")!;
    expect(rental.scope).toBe("via");
    expect(rental.frames!.map((f) => f.tenant).sort()).toEqual(["1", "2"]);
    expect(rental.frames!.reduce((a, f) => a + f.rows, 0)).toBe(rental.rows);
    const store = m.tables.find((t) => t.table === "public.store")!;
    expect(store.frames).toHaveLength(500);
    const film = m.tables.find((t) => t.table === "public.film")!;
    expect(film.scope).toBe("global");
    expect(film.frames).toBeUndefined();
    expect(film.rows).toBe(1000);
    expect(m.tenants).toHaveLength(500);
    // Frames are contiguous and cover the object exactly.
    for (const t of m.tables.filter((x) => x.frames && x.frames.length > 0)) {
      const size = (await stat(join(storage, m.project, m.id, t.object))).size;
      const last = t.frames![t.frames!.length - 1]!;
      expect(last.offset + last.length).toBeLessThanOrEqual(size);
      t.frames!.forEach((f, i) => i > 0 && expect(f.offset).toBe(t.frames![i - 1]!.offset + t.frames![i - 1]!.length));
    }
  });

  it("extracts tenants from tenants and full snapshots with the same rows as a tenant dump", async () => {
    const full = await runPgsnap(args("dump"));
    expect(full.code, full.stderr).toBe(0);
    for (const store of [1, 2, 3, 300]) {
      const direct = await runPgsnap(args("dump", "--tenant", String(store)));
      expect(direct.code, direct.stderr).toBe(0);
      const fromTenants = await runPgsnap(args("extract", all.id, "--tenant", String(store)));
      expect(fromTenants.code, fromTenants.stderr).toBe(0);
      const fromFull = await runPgsnap(args("extract", full.json.snapshots[0].id, "--tenant", String(store)));
      expect(fromFull.code, fromFull.stderr).toBe(0);
      const d = direct.json.snapshots[0];
      const a = fromTenants.json.snapshots[0];
      const b = fromFull.json.snapshots[0];
      expect(a.scope).toBe("tenant");
      expect(a.tenants).toEqual([String(store)]);
      const files = (await readdir(await snapshotDir(storage, d.project, d.id)))
        .filter((f) => f.endsWith(".zst"))
        .sort();
      expect(files).toEqual([
        "public.customer.ndjson.zst",
        "public.inventory.ndjson.zst",
        "public.payment.ndjson.zst",
        "public.rental.ndjson.zst",
        "public.staff.ndjson.zst",
        "public.store.ndjson.zst",
      ]);
      for (const f of files) {
        const expected = lines(join(storage, d.project, d.id, f));
        expect(lines(join(storage, a.project, a.id, f)), `${f} from tenants, store ${store}`).toEqual(expected);
        expect(lines(join(storage, b.project, b.id, f)), `${f} from full, store ${store}`).toEqual(expected);
      }
      expect(a.rows).toBe(d.rows);
      expect(b.rows).toBe(d.rows);
    }
  });

  it("restores several stores from the tenants snapshot, the others unchanged", async () => {
    const stores = [1, 2, 17];
    const before: Record<string, string> = {};
    for (const [t, own] of Object.entries(pagilaOwner)) {
      for (const s of stores) before[`${t}/${s}`] = await md5(db.url, t, own(s));
      before[`${t}/others`] = await md5(db.url, t, stores.map((s) => `NOT (${own(s)})`).join(" AND "));
    }
    await withClient(db.url, async (c) => {
      await c.query(
        `DELETE FROM payment WHERE customer_id IN (SELECT customer_id FROM customer WHERE store_id IN (1, 2)) AND payment_id % 3 = 0`,
      );
      await c.query(
        `UPDATE payment SET amount = amount + 1 WHERE customer_id IN (SELECT customer_id FROM customer WHERE store_id = 2) AND payment_id % 5 = 0`,
      );
      await c.query(
        `DELETE FROM rental r WHERE customer_id IN (SELECT customer_id FROM customer WHERE store_id = 1) AND NOT EXISTS (SELECT 1 FROM payment p WHERE p.rental_id = r.rental_id)`,
      );
      await c.query(`UPDATE store SET last_update = now() WHERE store_id = 17`);
    });
    for (const s of stores) {
      const r = await runPgsnap(args("restore", all.id, "--tenant", String(s), "--confirm"));
      expect(r.code, r.stderr).toBe(0);
      expect(r.json.tenant).toBe(String(s));
    }
    for (const [t, own] of Object.entries(pagilaOwner)) {
      for (const s of stores) expect(await md5(db.url, t, own(s)), `${t} store ${s}`).toBe(before[`${t}/${s}`]);
      expect(await md5(db.url, t, stores.map((s) => `NOT (${own(s)})`).join(" AND ")), `${t} other stores`).toBe(
        before[`${t}/others`],
      );
    }
  });

  it("restores a store and its staff that reference each other (a foreign key cycle)", async () => {
    const store = await withClient(db.url, async (c) => {
      const r = await c.query<{ id: number }>(
        `SELECT s.store_id AS id FROM store s JOIN staff st ON st.staff_id = s.manager_staff_id AND st.store_id = s.store_id ORDER BY 1 LIMIT 1`,
      );
      return r.rows[0]!.id;
    });
    const before = {
      store: await md5(db.url, "public.store", `store_id = ${store}`),
      staff: await md5(db.url, "public.staff", `store_id = ${store}`),
    };
    const others = await md5(db.url, "public.staff", `store_id <> ${store}`);
    await withClient(db.url, async (c) => {
      await c.query("BEGIN");
      await c.query("SET LOCAL session_replication_role = replica");
      await c.query(`DELETE FROM staff WHERE store_id = ${store}`);
      await c.query(`DELETE FROM store WHERE store_id = ${store}`);
      await c.query("COMMIT");
    });
    const r = await runPgsnap(args("restore", all.id, "--tenant", String(store), "--confirm"));
    expect(r.code, r.stderr).toBe(0);
    expect(await md5(db.url, "public.store", `store_id = ${store}`)).toBe(before.store);
    expect(await md5(db.url, "public.staff", `store_id = ${store}`)).toBe(before.staff);
    expect(await md5(db.url, "public.staff", `store_id <> ${store}`)).toBe(others);
    const deferrable = await withClient(
      db.url,
      async (c) =>
        (
          await c.query<{ n: string }>(
            `SELECT count(*) AS n FROM pg_constraint WHERE contype = 'f' AND condeferrable AND conrelid IN ('public.store'::regclass, 'public.staff'::regclass)`,
          )
        ).rows[0]!.n,
    );
    expect(deferrable).toBe("0");
  });

  it("records a tenant without rows in a table as 0 rows and restores it as 0 rows", async () => {
    // Store 300 has a store row and staff but no customers, inventory or rentals.
    const r = await runPgsnap(args("restore", all.id, "--tenant", "300", "--dry-run"));
    expect(r.code, r.stderr).toBe(0);
    const byTable = Object.fromEntries(r.json.tables.map((t: any) => [t.table, t]));
    expect(byTable["public.customer"]).toEqual({ table: "public.customer", deleted: 0, inserted: 0, updated: 0 });
    const x = await runPgsnap(args("extract", all.id, "--tenant", "300"));
    expect(x.code, x.stderr).toBe(0);
    const rows = Object.fromEntries(x.json.snapshots[0].tables.map((t: any) => [t.table, t.rows]));
    expect(rows["public.customer"]).toBe(0);
    expect(rows["public.rental"]).toBe(0);
    expect(rows["public.store"]).toBe(1);
    const dir = join(storage, x.json.snapshots[0].project, x.json.snapshots[0].id);
    expect(lines(join(dir, "public.customer.ndjson.zst"))).toEqual([]);
  });

  it("lists every snapshot containing a tenant, tenant and tenants scopes alike", async () => {
    const r = await runPgsnap(args("list", "--tenant", "2"));
    expect(r.code, r.stderr).toBe(0);
    const scopes = new Set(r.json.snapshots.map((s: any) => s.scope));
    expect(scopes).toEqual(new Set(["tenants", "tenant", "full"]));
    for (const s of r.json.snapshots) if (s.scope === "tenant") expect(s.tenants).toEqual(["2"]);
    const none = await runPgsnap(args("list", "--tenant", "no-such-store"));
    expect(none.json.snapshots.filter((s: any) => s.scope !== "full")).toEqual([]);
  });

  it("restore from a tenants snapshot reads only the tenant's frames plus the manifest", async () => {
    const only = freshDir();
    const d = await runPgsnap([
      "dump",
      "--all-tenants",
      "--db",
      db.url,
      "--storage",
      only,
      "--tenant-column",
      "store_id",
      "--json",
    ]);
    expect(d.code, d.stderr).toBe(0);
    const snap = d.json.snapshots[0];
    const manifestPath = join(only, snap.project, snap.id, "manifest.json");
    const m = parseManifest(await import("node:fs/promises").then((fs) => fs.readFile(manifestPath)), "manifest");
    const frameBytes = m.tables
      .flatMap((t) => t.frames ?? [])
      .filter((f) => f.tenant === "2")
      .reduce((a, f) => a + f.length, 0);
    const storageImpl = new FsStorage(only);
    const result = await restore({
      connection: { url: db.url },
      storage: storageImpl,
      snapshot: snap.id,
      tenant: "2",
      dryRun: true,
    });
    expect(result.tables.length).toBe(6);
    const total = (await readdir(join(only, snap.project, snap.id))).length;
    expect(total).toBeGreaterThan(6);
    expect(storageImpl.counters.bytesRead).toBe((await stat(manifestPath)).size + frameBytes);
    expect(frameBytes).toBeLessThan(m.storedBytes / 2);
  });
});
