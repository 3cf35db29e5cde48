/**
 * `verify --json` on a damaged snapshot: one JSON document listing every object with its
 * verdict (ok, damaged, missing), not only the first problem; exit 12.
 */
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { runPgsnap } from "./helpers/cli.js";
import { createDatabase, loadSqlFile, repoRoot, type TestDatabase } from "./helpers/postgres.js";

const serverUrl = inject("pgUrl");
let db: TestDatabase;
let storage: string;

beforeAll(async () => {
  storage = await mkdtemp(join(tmpdir(), "pgsnap-verify-json-"));
  db = await createDatabase(serverUrl, { prefix: "pgsnap_verify_json" });
  await loadSqlFile(db.url, join(repoRoot, "sql", "demo", "schema.sql"));
  await loadSqlFile(db.url, join(repoRoot, "sql", "demo", "data.sql"));
});

afterAll(async () => {
  await db?.drop();
  await rm(storage, { recursive: true, force: true });
});

describe("verify --json", () => {
  it("reports every object with its verdict when some are damaged or missing", async () => {
    const d = await runPgsnap([
      "dump",
      "--all-tenants",
      "--json",
      "--db",
      db.url,
      "--storage",
      storage,
      "--project",
      "v",
    ]);
    expect(d.code, d.stderr).toBe(0);
    const snap = d.json.snapshots[0];
    const dir = join(storage, "v", snap.id);
    const sales = join(dir, "public.sales.ndjson.zst");
    const data = await readFile(sales);
    const mid = Math.floor(data.length / 2);
    data[mid] = data[mid]! ^ 0xff;
    await writeFile(sales, data);
    await rm(join(dir, "public.clients.ndjson.zst"));

    const v = await runPgsnap(["verify", snap.id, "--json", "--storage", storage, "--project", "v"]);
    expect(v.code, v.stderr).toBe(12);
    expect(v.json.ok).toBe(false);
    expect(v.json.objects).toHaveLength(snap.tables.length);
    const verdicts = Object.fromEntries(v.json.objects.map((o: any) => [o.table, o.verdict]));
    expect(verdicts["public.sales"]).toBe("damaged");
    expect(verdicts["public.clients"]).toBe("missing");
    const others = v.json.objects.filter((o: any) => !["public.sales", "public.clients"].includes(o.table));
    expect(others.length).toBeGreaterThan(3);
    for (const o of others) expect(o).toMatchObject({ verdict: "ok", ok: true, problems: [] });
    expect(v.json.objects.find((o: any) => o.table === "public.sales").problems.join(" ")).toMatch(
      /sha256|cannot be read whole/,
    );
    expect(v.json.error).toMatchObject({ code: "VERIFY_FAILED", exitCode: 12 });
    expect(v.stderr).toMatch(/public\.sales\.ndjson\.zst/);
    expect(v.stderr).toMatch(/public\.clients\.ndjson\.zst: object is missing/);

    const ok = await runPgsnap(["verify", snap.id, "--storage", storage, "--project", "v"]);
    expect(ok.code).toBe(12);
    expect(ok.stdout).toBe("");
  });
});
