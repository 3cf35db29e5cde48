/**
 * Dumps of pagila (the pagila fixture, PGSNAP_PAGILA_DIR): `npm run test:fixtures` runs this file.
 */
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { runPgsnap } from "./helpers/cli.js";
import { createPagilaDatabase, withClient, type TestDatabase } from "./helpers/postgres.js";

const execFileAsync = promisify(execFile);
const serverUrl = inject("pgUrl");

const qt = (id: string): string =>
  id
    .split(".")
    .map((p) => '"' + p.replace(/"/g, '""') + '"')
    .join(".");

let storageRoot: string;
let storageSeq = 0;
beforeAll(async () => {
  storageRoot = await mkdtemp(join(tmpdir(), "pgsnap-pagila-dump-"));
});
afterAll(async () => {
  await rm(storageRoot, { recursive: true, force: true });
});

/** A fresh storage directory inside this file's temp dir (created by the first write). */
function freshStorage(): Promise<string> {
  return Promise.resolve(join(storageRoot, `s${++storageSeq}`));
}

async function count(url: string, text: string): Promise<number> {
  return withClient(url, async (c) => Number((await c.query<{ n: string }>(text)).rows[0]!.n));
}

function readManifest(storage: string, project: string, id: string): { tables: { table: string; object: string }[] } {
  return JSON.parse(readFileSync(join(storage, project, id, "manifest.json"), "utf8")) as {
    tables: { table: string; object: string }[];
  };
}

/** A table's lines in a snapshot, decompressed by the zstd CLI. */
async function tableLines(storage: string, project: string, id: string, table: string): Promise<string[]> {
  const entry = readManifest(storage, project, id).tables.find((t) => t.table === table);
  if (!entry) throw new Error(`table ${table} not in snapshot ${id}`);
  const { stdout: text } = await execFileAsync("zstd", ["-dc", "--", join(storage, project, id, entry.object)], {
    encoding: "utf8",
    maxBuffer: 512 * 1024 * 1024,
  });
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

describe("pagila (--tenant-column store_id)", () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createPagilaDatabase(serverUrl);
  });
  afterAll(async () => {
    await db?.drop();
  });

  it("plans rental and payment via foreign keys, store tables direct, the rest global", async () => {
    const storage = await freshStorage();
    const r = await runPgsnap(["--db", db.url, "--storage", storage, "--tenant-column", "store_id", "--json", "plan"]);
    expect(r.code, r.stderr).toBe(0);
    const scopes = Object.fromEntries(
      (r.json.tables as { table: string; scope: string }[]).map((t) => [t.table, t.scope]),
    );
    expect(scopes).toMatchObject({
      "public.rental": "via",
      "public.payment": "via",
      "public.store": "direct",
      "public.staff": "direct",
      "public.customer": "direct",
      "public.inventory": "direct",
      "public.film": "global",
      "public.actor": "global",
      "public.category": "global",
      "public.language": "global",
      "public.address": "global",
      "public.city": "global",
      "public.country": "global",
      "public.film_actor": "global",
      "public.film_category": "global",
    });
    // Partitions are read through their parent, never planned on their own.
    expect(Object.keys(scopes).filter((t) => t.startsWith("public.payment_p"))).toEqual([]);
    for (const t of r.json.tables as { scope: string; filter: string | null }[]) {
      expect(t.filter === null).toBe(t.scope === "global");
    }
  });

  it("dumps one store with exactly the rows the plan's filters select", async () => {
    const storage = await freshStorage();
    const base = ["--db", db.url, "--storage", storage, "--tenant-column", "store_id", "--json"];
    const plan = await runPgsnap([...base, "plan", "--tenant", "1"]);
    expect(plan.code, plan.stderr).toBe(0);
    const r = await runPgsnap([...base, "dump", "--tenant", "1"]);
    expect(r.code, r.stderr).toBe(0);
    const snap = r.json.snapshots[0] as { id: string; tables: { table: string; rows: number }[] };
    const planned = (plan.json.tables as { table: string; scope: string; filter: string | null }[]).filter(
      (t) => t.scope !== "global",
    );
    expect(snap.tables.map((t) => t.table).sort()).toEqual(planned.map((t) => t.table).sort());
    let nonEmpty = 0;
    for (const p of planned) {
      const n = await count(db.url, `SELECT count(*) AS n FROM ${qt(p.table)} t WHERE ${p.filter}`);
      expect({ table: p.table, rows: snap.tables.find((t) => t.table === p.table)!.rows }).toEqual({
        table: p.table,
        rows: n,
      });
      const lines = await tableLines(storage, db.name, snap.id, p.table);
      expect({ table: p.table, lines: lines.length }).toEqual({ table: p.table, lines: n });
      if (n > 0) nonEmpty++;
    }
    expect(nonEmpty).toBeGreaterThanOrEqual(4);
    // The direct tables, counted independently of the plan.
    for (const table of ["store", "staff", "customer", "inventory"]) {
      const n = await count(db.url, `SELECT count(*) AS n FROM public.${table} WHERE store_id = 1`);
      expect({ table, rows: snap.tables.find((t) => t.table === `public.${table}`)!.rows }).toEqual({ table, rows: n });
    }
    for (const row of await tableRows(storage, db.name, snap.id, "public.inventory")) expect(row.store_id).toBe(1);
  });
});
