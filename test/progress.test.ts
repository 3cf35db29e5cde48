/**
 * Live progress (issue 12): bars on a TTY (a real pseudo-terminal from util-linux `script`) with
 * rows, rate, ETA from pg_class.reltuples and one line per worker; nothing of it in a pipe, with
 * -q, with --no-progress or under --json (stdout stays one JSON document).
 */
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { cleanEnv, pgsnapBin, runPgsnap } from "./helpers/cli.js";
import { createDatabase, withClient, type TestDatabase } from "./helpers/postgres.js";

const serverUrl = inject("pgUrl");
let db: TestDatabase;
let storage: string;

beforeAll(async () => {
  storage = await mkdtemp(join(tmpdir(), "pgsnap-progress-"));
  db = await createDatabase(serverUrl, { prefix: "pgsnap_progress" });
  await withClient(db.url, async (c) => {
    await c.query(`CREATE TABLE big (id bigint PRIMARY KEY, user_id int NOT NULL, payload text NOT NULL)`);
    await c.query(`INSERT INTO big SELECT g, g % 7, repeat(md5(g::text), 4) FROM generate_series(1, 200000) g`);
    await c.query(`CREATE TABLE small (id int PRIMARY KEY, user_id int NOT NULL)`);
    await c.query(`INSERT INTO small SELECT g, g % 7 FROM generate_series(1, 1000) g`);
    await c.query("ANALYZE");
  });
});

afterAll(async () => {
  await db?.drop();
  await rm(storage, { recursive: true, force: true });
});

/** Runs pgsnap on a pseudo-terminal (stdin, stdout and stderr all the pty); returns the raw screen bytes. */
function onTty(args: string[]): Promise<{ code: number | null; screen: string }> {
  const quoted = [process.execPath, pgsnapBin, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(" ");
  // A wide terminal, so the bars' lines are not cut at 80 columns.
  const child = spawn("script", ["-qfec", `stty cols 200; ${quoted}`, "/dev/null"], {
    env: cleanEnv({ DATABASE_URL: db.url, PGSNAP_STORAGE: storage, TERM: "xterm" }),
    stdio: ["pipe", "pipe", "pipe"],
  });
  let screen = "";
  child.stdout.on("data", (d: Buffer) => (screen += d.toString("utf8")));
  child.stderr.on("data", (d: Buffer) => (screen += d.toString("utf8")));
  const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
  return new Promise((resolve) =>
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, screen });
    }),
  );
}

describe("progress on a terminal", () => {
  it("draws a total line and one line per worker with rows, bytes, rate and ETA from the estimates", async () => {
    const r = await onTty(["dump", "--jobs", "2"]);
    expect(r.code, r.screen).toBe(0);
    expect(r.screen).toMatch(/total\s.*rows\/s/);
    expect(r.screen).toMatch(/worker 1\s/);
    expect(r.screen).toMatch(/worker 2\s/);
    // The planner's estimate is the total of the bar: reltuples after ANALYZE is exact here.
    expect(r.screen).toMatch(/public\.big \| [\d,]+\/~200,000 rows/);
    expect(r.screen).toMatch(/~201,000 rows/);
    // Mid-stream frames show an ETA; the final frame says done with every row counted.
    expect(r.screen).toMatch(/ETA \d+s/);
    expect(r.screen).toMatch(/total\s.*100% 201,000\/~201,000 rows \| .* \| done \| tables 2\/2/);
    expect(r.screen).toMatch(/snapshot \S+ \(full\): 2 tables, 201000 rows/);
  });

  it("draws nothing with -q, --no-progress or --json, even on a terminal", async () => {
    for (const flags of [["-q"], ["--no-progress"], ["--json"]]) {
      const r = await onTty(["dump", ...flags]);
      expect(r.code, r.screen).toBe(0);
      expect(r.screen, flags.join(" ")).not.toMatch(/rows\/s|worker 1|\x1b\[/);
      if (flags[0] === "--json") expect(JSON.parse(r.screen).snapshots).toHaveLength(1);
    }
  });
});

describe("progress into a pipe", () => {
  it("writes no progress and no ANSI codes when stderr is not a TTY", async () => {
    const r = await runPgsnap(["dump", "--jobs", "2", "--db", db.url, "--storage", storage]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe("");
    expect(r.stdout).not.toMatch(/\x1b\[/);
    expect(r.stdout).toMatch(/^snapshot \S+ \(full\): 2 tables, 201000 rows/);
  });
});
