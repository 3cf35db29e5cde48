/**
 * `pgsnap report` from real snapshots of the demo store (no database needed to run it), and its
 * HTML page in a real headless Chromium: no console error, no request leaving the page, one
 * series per tenant with one point per snapshot, a working tenant menu and sortable tables.
 * The screenshot lands in test-artifacts/report.png (docs/report.png is a copy of it).
 */
import { existsSync } from "node:fs";
import { installDebianPackages } from "./helpers/apt.js";
import { mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { runPgsnap } from "./helpers/cli.js";
import { createDatabase, loadSqlFile, repoRoot, withClient, type TestDatabase } from "./helpers/postgres.js";

const serverUrl = inject("pgUrl");
let db: TestDatabase;
let storage: string;
let closeBrowser: (() => Promise<void>) | undefined;
let userDataDir: string;
const artifacts = join(repoRoot, "test-artifacts");

async function pgsnap(args: string[]) {
  const r = await runPgsnap([...args, "--storage", storage, "--project", "shop"]);
  expect(r.code, r.stderr + r.stdout).toBe(0);
  return r;
}

const chromiumPath = process.env["PGSNAP_TEST_CHROMIUM"] ?? "/usr/bin/chromium";

beforeAll(async () => {
  if (!existsSync(chromiumPath)) {
    await installDebianPackages(["chromium"], "run `apt-get install chromium`, or set PGSNAP_TEST_CHROMIUM");
  }
  storage = await mkdtemp(join(tmpdir(), "pgsnap-report-"));
  userDataDir = await mkdtemp(join(tmpdir(), "pgsnap-chromium-"));
  db = await createDatabase(serverUrl, { prefix: "pgsnap_report" });
  await loadSqlFile(db.url, join(repoRoot, "sql", "demo", "schema.sql"));
  await loadSqlFile(db.url, join(repoRoot, "sql", "demo", "data.sql"));
  await pgsnap(["dump", "--all-tenants", "--db", db.url]);
  // Company 2 grows, company 4 loses most of its sales between the snapshots.
  await withClient(db.url, (c) =>
    c.query(
      `INSERT INTO clients (user_id, name) SELECT 2, 'new client ' || g FROM generate_series(1, 300) g;
       DELETE FROM sales WHERE user_id = 4 AND id % 4 <> 0`,
    ),
  );
  await pgsnap(["dump", "--all-tenants", "--db", db.url]);
  await withClient(db.url, (c) =>
    c.query(`INSERT INTO clients (user_id, name) SELECT 2, 'more ' || g FROM generate_series(1, 300) g`),
  );
  await pgsnap(["dump", "--all-tenants", "--db", db.url]);
  await pgsnap(["dump", "--tenant", "3", "--db", db.url]);
  await mkdir(artifacts, { recursive: true });
});

afterAll(async () => {
  await closeBrowser?.();
  await db?.drop();
  await rm(storage, { recursive: true, force: true });
  await rm(userDataDir, { recursive: true, force: true });
});

describe("pgsnap report", () => {
  it("reports growth per tenant and per table from the manifests alone, in the JSON of CLI.md", async () => {
    // No --db: the report never connects.
    const r = await pgsnap(["report", "--json"]);
    const j = r.json;
    expect(j.project).toBe("shop");
    expect(j.snapshots).toHaveLength(4);
    for (const s of j.snapshots)
      expect(Object.keys(s)).toEqual(expect.arrayContaining(["id", "createdAt", "rows", "storedBytes"]));
    expect(j.tenants.map((t: any) => t.tenant)).toEqual(["1", "2", "3", "4", "5"]);
    for (const t of j.tenants) {
      expect(t).toHaveProperty("name");
      for (const p of t.series) expect(Object.keys(p).sort()).toEqual(["createdAt", "rows", "snapshot", "storedBytes"]);
    }
    const two = j.tenants.find((t: any) => t.tenant === "2");
    expect(two.series).toHaveLength(3);
    expect(two.series[2].rows - two.series[0].rows).toBe(600);
    // Tenant 3 also has its own tenant snapshot: a fourth point.
    expect(j.tenants.find((t: any) => t.tenant === "3").series).toHaveLength(4);
    expect(j.largestTenants[0].tenant).toBe("2");
    const clients = j.tables.find((t: any) => t.table === "public.clients");
    expect(clients.series.map((p: any) => p.rows)).toEqual([
      clients.series[0].rows,
      clients.series[0].rows + 300,
      clients.series[0].rows + 600,
    ]);
    expect(j.shrank).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ table: "public.sales", tenant: null }),
        expect.objectContaining({ table: "public.sales", tenant: "4" }),
      ]),
    );
    expect(j.shrank.filter((s: any) => s.tenant === "2")).toEqual([]);

    const one = await pgsnap(["report", "--json", "--tenant", "4"]);
    expect(one.json.tenants.map((t: any) => t.tenant)).toEqual(["4"]);
    const later = await pgsnap(["report", "--json", "--since", "2999-01-01"]);
    expect(later.json.snapshots).toEqual([]);

    const human = await pgsnap(["report"]);
    expect(human.stdout).toMatch(/^project shop: 4 snapshots/);
    expect(human.stdout).toMatch(/tables that shrank\n[\s\S]*public\.sales\s+all\s/);
    // Snapshots seconds apart give no per-day rate.
    expect(j.tables[0].growth.rowsPerDay).toBeNull();
  });

  it("writes one self-contained page that a browser draws offline", async () => {
    const file = join(artifacts, "report.html");
    await pgsnap(["report", "--html", file]);
    const html = await readFile(file, "utf8");
    expect(html).not.toMatch(/(src|href)\s*=\s*["']?(https?:)?\/\//i);

    const context = await chromium.launchPersistentContext(userDataDir, {
      viewport: { width: 1100, height: 1400 },
      executablePath: chromiumPath,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    });
    closeBrowser = () => context.close();
    const page = await context.newPage();
    const problems: string[] = [];
    const url = pathToFileURL(file).href;
    page.on("console", (m) => {
      if (m.type() === "error" || m.type() === "warning") problems.push(`console ${m.type()}: ${m.text()}`);
    });
    page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
    page.on("request", (r) => {
      if (r.url() !== url) problems.push(`request: ${r.url()}`);
    });
    await page.goto(url, { waitUntil: "load" });

    // One stacked series per tenant, one point per snapshot that has tenant numbers (4).
    const stack = await page.$$eval("#stack-chart g.series", (gs) =>
      gs.map((g) => ({ tenant: g.getAttribute("data-series"), points: g.querySelectorAll("circle.point").length })),
    );
    expect(stack).toEqual(["1", "2", "3", "4", "5"].map((tenant) => ({ tenant, points: 4 })));
    // The rows-per-table chart of the first tenant: one line per table, one point per snapshot of it.
    const tenantLines = async () =>
      page.$$eval("#tenant-chart g.series", (gs) =>
        gs.map((g) => ({ table: g.getAttribute("data-series"), points: g.querySelectorAll("circle.point").length })),
      );
    const first = await tenantLines();
    expect(first.length).toBeGreaterThan(3);
    expect(first.every((s) => s.points === 3)).toBe(true);
    await page.selectOption("#tenant-pick", "3");
    const third = await tenantLines();
    expect(third.every((s) => s.points === 4)).toBe(true);
    expect(third.map((s) => s.table)).toContain("public.sales");

    // Sortable: a click on "rows" sorts the tenants ascending, a second descending.
    const rowsHeader = page.locator("#tenants-table th", { hasText: /^rows$/ });
    const order = () =>
      page.$$eval("#tenants-table tbody tr", (trs) => trs.map((tr) => Number(tr.cells[1]!.dataset.value)));
    await rowsHeader.click();
    const asc = await order();
    expect(asc).toEqual([...asc].sort((a, b) => a - b));
    await rowsHeader.click();
    const desc = await order();
    expect(desc).toEqual([...asc].reverse());

    await page.selectOption("#tenant-pick", "2");
    await page.screenshot({ path: join(artifacts, "report.png"), fullPage: true });
    expect(problems).toEqual([]);
  });
});
