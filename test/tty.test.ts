/**
 * The terminal side of restore: on a TTY pgsnap asks for the tenant id instead of refusing, and
 * `pgsnap restore` without arguments opens the menu (tenant, tables, dry-run numbers, confirm).
 * A real pseudo-terminal comes from util-linux `script`; answers are typed when prompts appear.
 */
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { cleanEnv, pgsnapBin, runPgsnap } from "./helpers/cli.js";
import { createDatabase, loadSqlFile, repoRoot, withClient, type TestDatabase } from "./helpers/postgres.js";

const serverUrl = inject("pgUrl");
let db: TestDatabase;
let storage: string;

beforeAll(async () => {
  storage = await mkdtemp(join(tmpdir(), "pgsnap-tty-"));
  db = await createDatabase(serverUrl, { prefix: "pgsnap_tty" });
  await loadSqlFile(db.url, join(repoRoot, "sql", "demo", "schema.sql"));
  await loadSqlFile(db.url, join(repoRoot, "sql", "demo", "data.sql"));
  const d = await runPgsnap(["dump", "--all-tenants", "--db", db.url, "--storage", storage]);
  expect(d.code, d.stderr).toBe(0);
});

afterAll(async () => {
  await db?.drop();
  await rm(storage, { recursive: true, force: true });
});

/** Runs pgsnap on a pseudo-terminal, answering each prompt (a regexp) with a line. */
function onTty(args: string[], answers: [RegExp, string][]): Promise<{ code: number | null; screen: string }> {
  const quoted = [process.execPath, pgsnapBin, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(" ");
  const child = spawn("script", ["-qfec", quoted, "/dev/null"], {
    env: cleanEnv({ DATABASE_URL: db.url, PGSNAP_STORAGE: storage, TERM: "dumb" }),
    stdio: ["pipe", "pipe", "pipe"],
  });
  let screen = "";
  let next = 0;
  // Each prompt is looked for in what came after the previous answer, so a prompt asked again
  // (after a bad answer) is answered again.
  let from = 0;
  const onData = (d: Buffer) => {
    screen += d.toString("utf8");
    const pending = answers[next];
    if (pending && pending[0].test(screen.slice(from))) {
      next++;
      from = screen.length;
      child.stdin.write(pending[1] + "\r");
    }
  };
  child.stdout.on("data", onData);
  child.stderr.on("data", onData);
  const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
  return new Promise((resolve) =>
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, screen });
    }),
  );
}

async function salesOf(tenant: number): Promise<number> {
  return withClient(db.url, async (c) =>
    Number((await c.query(`SELECT count(*) AS n FROM sales WHERE user_id = ${tenant}`)).rows[0].n),
  );
}

describe("restore on a terminal", () => {
  it("shows snapshot, tenant and the dry run's numbers, then asks for the tenant id; a wrong answer changes nothing", async () => {
    await withClient(db.url, (c) => c.query("DELETE FROM sales WHERE user_id = 3"));
    const wrong = await onTty(["restore", "latest", "--tenant", "3"], [[/Type the tenant id to confirm: /, "4"]]);
    expect(wrong.code, wrong.screen).toBe(3);
    expect(wrong.screen).toMatch(/did not match/);
    expect(await salesOf(3)).toBe(0);
    // What the prompt showed first: which snapshot (id, time, age), which tenant (id, name), and per table the rows.
    expect(wrong.screen).toMatch(/Restore tenant 3 \(Company 3 Mercado\) of project /);
    expect(wrong.screen).toMatch(
      /from snapshot \d{8}T\d{6}Z-[0-9a-f]{4} \(tenants\), taken \d{4}-\d\d-\d\dT[\d:.]+Z, \d+ (second|minute)s? ago/,
    );
    expect(wrong.screen).toMatch(/public\.sales\s+0\s+120\s+0/);
    expect(wrong.screen).toMatch(/public\.sale_items\s+0\s+360\s+0/);
    expect(wrong.screen).toMatch(/in all: delete 0 rows, insert 480 rows, update 0 rows/);
    const right = await onTty(["restore", "latest", "--tenant", "3"], [[/Type the tenant id to confirm: /, "3"]]);
    expect(right.code, right.screen).toBe(0);
    expect(right.screen).toMatch(/^restored: snapshot/m);
    expect(await salesOf(3)).toBe(120);
  });

  it("opens a menu without arguments: a tenant by part of its name (asking again on a bad answer), tables, dry run, confirm", async () => {
    await withClient(db.url, (c) => c.query("DELETE FROM sales WHERE user_id = 2"));
    const r = await onTty(
      ["restore"],
      [
        [/Tenant \(number, id or part of its name\): /, "zzz"],
        [/Tenant \(number, id or part of its name\): /, "company"],
        [/Tenant \(number, id or part of its name\): /, "LOJA"],
        [/Tables \(comma-separated/, "public.nope"],
        [/Tables \(comma-separated/, "public.sales"],
        [/Type the tenant id to confirm: /, "2"],
      ],
    );
    expect(r.code, r.screen).toBe(0);
    expect(r.screen).toMatch(/no tenant matches "zzz"; try again/);
    expect(r.screen).toMatch(/5 tenants match "company"/);
    expect(r.screen).toMatch(/not a tenant table of the snapshot: public\.nope; try again/);
    expect(r.screen).toMatch(/Restore tenant 2 \(Company 2 Loja\)/);
    expect(r.screen).toMatch(/public\.sale_items\s+0\s+360\s+0/);
    expect(await salesOf(2)).toBe(120);
  });

  it("picks a tenant by its number in the menu", async () => {
    await withClient(db.url, (c) => c.query("DELETE FROM sales WHERE user_id = 5"));
    const r = await onTty(
      ["restore"],
      [
        [/Tenant \(number, id or part of its name\): /, "5"],
        [/Tables \(comma-separated/, ""],
        [/Type the tenant id to confirm: /, "5"],
      ],
    );
    expect(r.code, r.screen).toBe(0);
    expect(r.screen).toMatch(/Restore tenant 5 \(Company 5 Padaria\)/);
    expect(await salesOf(5)).toBe(120);
  });
});
