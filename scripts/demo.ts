/**
 * `npm run demo`: pgsnap's main job on an embedded default. Starts an embedded PostgreSQL 15
 * (from node_modules, nothing else to install), loads the demo store (sql/demo: 5 companies
 * sharing tables, told apart by user_id), then runs the real command line: plan, tenants, a dump
 * of every company into ./backups, list, and a restore of one company after a mistake.
 * The server and its data directory are removed at the end; ./backups stays.
 */
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { createDatabase, loadSqlFile, repoRoot, startPostgres, withClient } from "../test/helpers/postgres.js";

const bin = join(repoRoot, "bin", "pgsnap.js");
const storage = process.env["PGSNAP_STORAGE"] ?? "./backups";

/** Bold on a terminal only: escape codes in a pipe or a log file are noise. */
const bold = (text: string) => (process.stdout.isTTY ? `\x1b[1m${text}\x1b[0m` : text);

function step(title: string, args: string[], env: NodeJS.ProcessEnv): void {
  process.stdout.write(`\n${bold(`$ pgsnap ${args.join(" ")}`)}   # ${title}\n`);
  const r = spawnSync(process.execPath, [bin, ...args], { stdio: "inherit", env });
  if (r.status !== 0) throw new Error(`pgsnap ${args.join(" ")} exited with ${String(r.status)}`);
}

const started = Date.now();
process.stdout.write("starting an embedded PostgreSQL 15 ...\n");
const server = await startPostgres(15);
try {
  const db = await createDatabase(server.url, { prefix: "pgsnap_demo" });
  await loadSqlFile(db.url, join(repoRoot, "sql", "demo", "schema.sql"));
  await loadSqlFile(db.url, join(repoRoot, "sql", "demo", "data.sql"));
  process.stdout.write(`demo store loaded (5 companies) in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  const env = { ...process.env, DATABASE_URL: db.url, PGSNAP_STORAGE: storage, PGSNAP_PROJECT: "demo" };

  step("how each table is split by company", ["plan"], env);
  step("the companies and their rows", ["tenants"], env);
  step(
    "back up every company, each on its own",
    ["dump", "--tenant", "1", "--tenant", "2", "--tenant", "3", "--tenant", "4", "--tenant", "5"],
    env,
  );
  step("and all companies in one pass, one frame per company", ["dump", "--all-tenants"], env);
  step("the snapshots", ["list"], env);

  process.stdout.write("\n# a mistake: company 3 loses its sales and service orders\n");
  await withClient(db.url, async (c) => {
    await c.query("DELETE FROM sales WHERE user_id = 3");
    await c.query("DELETE FROM service_orders WHERE user_id = 3");
  });
  step("what a restore of company 3 would do", ["restore", "latest", "--tenant", "3", "--dry-run"], env);
  step(
    "restore company 3 only; companies 1, 2, 4, 5 are not touched",
    ["restore", "latest", "--tenant", "3", "--confirm"],
    env,
  );
  step("check every object of the newest snapshot", ["verify", "latest"], env);
  process.stdout.write(`\ndemo done in ${((Date.now() - started) / 1000).toFixed(1)} s; snapshots are in ${storage}\n`);
} finally {
  await server.stop();
}
