/**
 * Every failure named, nothing hangs (issue 9, items 8, 9, 10 and 13; CLI.md exit codes):
 * a database connection that is terminated, cut or stalled during a dump or a restore is exit 10
 * with a hint (never exit 1 with a stack, never exit 12 "corrupt"); `--io-timeout` bounds a
 * stall without killing a legitimately busy server; passwords in every form libpq accepts are
 * never printed; user mistakes on the database side are exit 2 or 10 with a hint.
 *
 * Faults come from a real TCP proxy in front of the test server (test/helpers/tcp-proxy.ts) and
 * from pg_terminate_backend; everything runs through bin/pgsnap.js.
 */
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { runPgsnap, type CliResult } from "./helpers/cli.js";
import { createDatabase, withClient, type TestDatabase } from "./helpers/postgres.js";
import { startTcpProxy, type TcpProxy } from "./helpers/tcp-proxy.js";

const serverUrl = inject("pgUrl");

let root: string;
let db: TestDatabase;
let proxy: TcpProxy;
let seq = 0;

/** Rows in `items`: enough COPY output (~10 MB) that a dump is surely midway after 1 MB. */
const ITEMS = 150_000;

async function freshDir(): Promise<string> {
  const dir = join(root, `d${++seq}`);
  await rm(dir, { recursive: true, force: true });
  return dir;
}

/** Asserts what every named failure looks like: the exit code, one error line, a hint, no stack. */
function expectNamedFailure(r: CliResult, exitCode: number): void {
  expect(r.code, r.stderr).toBe(exitCode);
  expect(r.stderr).toMatch(/^pgsnap: error: /m);
  expect(r.stderr).toMatch(/^hint: /m);
  expect(r.stderr).not.toMatch(/internal error|\n\s+at /);
  expect(r.stderr).not.toMatch(/corrupt|truncated/i);
}

/** Snapshot directories with a manifest under `storage` (none must appear after a failure). */
async function manifests(storage: string): Promise<string[]> {
  const out: string[] = [];
  for (const project of await readdir(storage).catch(() => [] as string[])) {
    for (const id of await readdir(join(storage, project)).catch(() => [] as string[])) {
      const files = await readdir(join(storage, project, id)).catch(() => [] as string[]);
      if (files.includes("manifest.json")) out.push(`${project}/${id}`);
    }
  }
  return out;
}

/** Backend pids of pgsnap sessions on the test database (application_name pgsnap). */
async function pgsnapBackends(): Promise<number[]> {
  return withClient(serverUrl, async (c) => {
    const r = await c.query<{ pid: number }>(
      "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND application_name LIKE 'pgsnap%' AND pid <> pg_backend_pid()",
      [db.name],
    );
    return r.rows.map((x) => x.pid);
  });
}

async function terminate(pids: number[]): Promise<void> {
  await withClient(serverUrl, async (c) => {
    for (const pid of pids) await c.query("SELECT pg_terminate_backend($1)", [pid]);
  });
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "pgsnap-failures-"));
  db = await createDatabase(serverUrl, { prefix: "pgsnap_fail" });
  await withClient(db.url, async (c) => {
    await c.query(`CREATE TABLE items (id int PRIMARY KEY, user_id int NOT NULL, payload text NOT NULL)`);
    await c.query(`INSERT INTO items SELECT g, g % 10, repeat(md5(g::text), 2) FROM generate_series(1, ${ITEMS}) g`);
    await c.query(`CREATE INDEX ON items (user_id)`);
    await c.query(`ANALYZE items`);
  });
  const u = new URL(db.url);
  proxy = await startTcpProxy({ host: u.hostname, port: Number(u.port) });
});

afterAll(async () => {
  await proxy?.close();
  await db?.drop();
  if (root) await rm(root, { recursive: true, force: true });
});

describe("a database connection lost during a dump is exit 10", () => {
  it("pg_terminate_backend while COPY is streaming: exit 10 with a hint, no snapshot", async () => {
    const storage = await freshDir();
    const midway = proxy.stallAfter("toClient", 1_000_000);
    const run = runPgsnap(["--db", proxy.urlFor(db.url), "--storage", storage, "dump"]);
    await midway;
    await terminate(await pgsnapBackends());
    proxy.resume();
    const r = await run;
    expectNamedFailure(r, 10);
    expect(await manifests(storage)).toEqual([]);
  });
});
