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
  const onData = (d: Buffer) => {
    screen += d.toString("utf8");
    const pending = answers[next];
    if (pending && pending[0].test(screen)) {
      next++;
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
  it("asks for the tenant id instead of --confirm, and a wrong answer changes nothing", async () => {
    await withClient(db.url, (c) => c.query("DELETE FROM sales WHERE user_id = 3"));
    const wrong = await onTty(["restore", "latest", "--tenant", "3"], [[/Type the tenant id to confirm: /, "4"]]);
    expect(wrong.code, wrong.screen).toBe(3);
    expect(wrong.screen).toMatch(/did not match/);
    expect(await salesOf(3)).toBe(0);
    const right = await onTty(["restore", "latest", "--tenant", "3"], [[/Type the tenant id to confirm: /, "3"]]);
    expect(right.code, right.screen).toBe(0);
    expect(await salesOf(3)).toBe(120);
  });

  it("opens a menu without arguments: pick tenant, tables, see the dry run, confirm", async () => {
    await withClient(db.url, (c) => c.query("DELETE FROM sales WHERE user_id = 2"));
    const r = await onTty(
      ["restore"],
      [
        [/Tenant \(number or id\): /, "2"],
        [/Tables \(comma-separated/, "public.sales"],
        [/Type the tenant id \(2\) to apply these changes: /, "2"],
      ],
    );
    expect(r.code, r.screen).toBe(0);
    expect(r.screen).toContain("Company 2 Loja");
    expect(r.screen).toMatch(/dry run \(rolled back\)/);
    expect(r.screen).toMatch(/public\.sale_items\s+0\s+360\s+0/);
    expect(await salesOf(2)).toBe(120);
  });
});
