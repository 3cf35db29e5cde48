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
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { to as copyTo } from "pg-copy-streams";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { connect, connectionLoss } from "../src/db/connect.js";
import { ConnectionError } from "../src/errors.js";
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

/** Polls `check` until it holds (a condition wait, bounded; not a sleep standing in for one). */
async function waitFor<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await delay(25);
  }
}

/** The pid of a pgsnap backend of the test database currently waiting on `waitEvent`. */
function backendWaitingOn(waitEvent: string): Promise<number> {
  return waitFor(`a pgsnap backend in ${waitEvent}`, () =>
    withClient(serverUrl, async (c) => {
      const r = await c.query<{ pid: number }>(
        "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND application_name = 'pgsnap' AND wait_event = $2",
        [db.name, waitEvent],
      );
      return r.rows[0]?.pid;
    }),
  );
}

/** A config file whose project `p` filters items through a custom rule. */
async function configWithFilter(filter: string): Promise<string> {
  const file = join(root, `config-${++seq}.json`);
  await writeFile(
    file,
    JSON.stringify({ projects: { p: { tables: { "public.items": { filter, key: "t.user_id" } } } } }),
  );
  return file;
}

/** A loopback port nothing listens on. */
function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
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

  it("pg_terminate_backend while the server works on the query (FATAL 57P01 arrives): exit 10", async () => {
    const storage = await freshDir();
    const config = await configWithFilter("t.user_id = :tenant AND (SELECT true FROM pg_sleep(60))");
    const run = runPgsnap([
      "--config",
      config,
      "--db",
      db.url,
      "--storage",
      storage,
      "--json",
      "dump",
      "--tenant",
      "1",
    ]);
    await terminate([await backendWaitingOn("PgSleep")]);
    const r = await run;
    expectNamedFailure(r, 10);
    expect(r.json.error.exitCode).toBe(10);
    expect(r.stderr).toMatch(/57P01|terminat/);
    expect(await manifests(storage)).toEqual([]);
  });

  it("pg_cancel_backend of the dump's query (SQLSTATE 57014) is not a bug: exit 10 with a hint", async () => {
    const storage = await freshDir();
    const config = await configWithFilter("t.user_id = :tenant AND (SELECT true FROM pg_sleep(60))");
    const run = runPgsnap(["--config", config, "--db", db.url, "--storage", storage, "dump", "--tenant", "1"]);
    const pid = await backendWaitingOn("PgSleep");
    await withClient(serverUrl, (c) => c.query("SELECT pg_cancel_backend($1)", [pid]));
    const r = await run;
    expectNamedFailure(r, 10);
    expect(r.stderr).toMatch(/57014/);
    expect(await manifests(storage)).toEqual([]);
  });

  it("a connection reset (TCP RST) while COPY is streaming: exit 10", async () => {
    const storage = await freshDir();
    const midway = proxy.stallAfter("toClient", 1_000_000);
    const run = runPgsnap(["--db", proxy.urlFor(db.url), "--storage", storage, "dump"]);
    await midway;
    proxy.cut();
    proxy.resume();
    const r = await run;
    expectNamedFailure(r, 10);
    expect(await manifests(storage)).toEqual([]);
  });
});

describe("--io-timeout: a stalled database connection fails, a busy one does not", () => {
  it("a connection that stops moving bytes mid-COPY fails with exit 10 in bounded time", async () => {
    const storage = await freshDir();
    const midway = proxy.stallAfter("toClient", 1_000_000);
    const started = Date.now();
    const run = runPgsnap(["--db", proxy.urlFor(db.url), "--storage", storage, "--io-timeout", "2", "dump"], {
      timeoutMs: 40_000,
    });
    await midway;
    const r = await run;
    proxy.resume();
    expect(r.signal, "pgsnap hung until killed").toBeNull();
    expectNamedFailure(r, 10);
    expect(r.stderr).toMatch(/no bytes for 2 s/);
    expect(r.stderr).toMatch(/io-timeout/);
    expect(Date.now() - started).toBeLessThan(30_000);
    expect(await manifests(storage)).toEqual([]);
  });

  it("a dead path for the dump's connection while the server stays reachable: the probe sees the stall, exit 10", async () => {
    const storage = await freshDir();
    // New connections (the probe's) still get through: pg_stat_activity shows the backend
    // blocked in ClientWrite, which is a stall, not a busy server.
    const midway = proxy.stallAfter("toClient", 1_000_000, { onlyOpen: true });
    const run = runPgsnap(["--db", proxy.urlFor(db.url), "--storage", storage, "--io-timeout", "2", "dump"], {
      timeoutMs: 40_000,
    });
    await midway;
    const r = await run;
    proxy.resume();
    expect(r.signal, "pgsnap hung until killed").toBeNull();
    expectNamedFailure(r, 10);
    // (or, when the kernel buffers swallowed the rest of the COPY, idle while pgsnap waits)
    expect(r.stderr).toMatch(/blocked sending to pgsnap|idle in transaction while pgsnap waits/);
    expect(await manifests(storage)).toEqual([]);
  });

  it("a server that stops answering before the dump starts (PGSNAP_IO_TIMEOUT): exit 10 in bounded time", async () => {
    const storage = await freshDir();
    proxy.stall();
    try {
      const r = await runPgsnap(["--db", proxy.urlFor(db.url), "--storage", storage, "dump"], {
        env: { PGSNAP_IO_TIMEOUT: "2" },
        timeoutMs: 40_000,
      });
      expect(r.signal, "pgsnap hung until killed").toBeNull();
      expectNamedFailure(r, 10);
    } finally {
      proxy.resume();
    }
  });

  it("a legitimately slow query (pg_sleep before the first COPY byte) is not killed", async () => {
    const storage = await freshDir();
    const config = await configWithFilter("t.user_id = :tenant AND (SELECT true FROM pg_sleep(3))");
    const r = await runPgsnap(
      ["--config", config, "--db", proxy.urlFor(db.url), "--storage", storage, "--io-timeout", "1", "--json"].concat([
        "dump",
        "--tenant",
        "1",
      ]),
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.json.snapshots[0].rows).toBe(ITEMS / 10);
  });

  it("pgsnap's own backpressure (a slow consumer) is not a stall", async () => {
    const client = await connect({ url: db.url, ioTimeoutMs: 500 });
    try {
      const stream = client.query(copyTo("COPY (SELECT * FROM items) TO STDOUT"));
      let bytes = 0;
      let first = true;
      for await (const chunk of stream) {
        bytes += (chunk as Buffer).length;
        // The storage is slow: hold the stream for several timeouts while the server waits in ClientWrite.
        if (first) await delay(2_000);
        first = false;
      }
      expect(bytes).toBeGreaterThan(1_000_000);
      expect(connectionLoss(client)).toBeUndefined();
    } finally {
      await client.end();
    }
  });

  it("a stalled connection fails every pending query with ConnectionError DB_IO_TIMEOUT", async () => {
    const client = await connect({ url: proxy.urlFor(db.url), ioTimeoutMs: 500 });
    try {
      proxy.stall();
      const err = await client.query("SELECT 1").then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(ConnectionError);
      expect((err as ConnectionError).code).toBe("DB_IO_TIMEOUT");
    } finally {
      proxy.resume();
      await client.end().catch(() => {});
    }
  });

  it("rejects a bad --io-timeout (exit 2)", async () => {
    const r = await runPgsnap(["--db", db.url, "--storage", await freshDir(), "--io-timeout", "soon", "dump"]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/io-timeout/);
  });

  it("turns TCP keepalives on for database connections", async () => {
    const client = await connect({ url: db.url });
    try {
      const local = (client as unknown as { connection: { stream: { localPort: number } } }).connection.stream
        .localPort;
      // /proc/net/tcp: field 5 is "tr:when", timer 02 = the keepalive timer is pending.
      const port = local.toString(16).toUpperCase().padStart(4, "0");
      const timer = await waitFor(
        "the socket's keepalive timer",
        async () => {
          const lines = (await readFile("/proc/net/tcp", "utf8")).split("\n");
          const line = lines.find((l) => l.trim().split(/\s+/)[1]?.endsWith(`:${port}`));
          const tr = line?.trim().split(/\s+/)[5]?.split(":")[0];
          return tr === "02" ? tr : undefined;
        },
        3_000,
      );
      expect(timer).toBe("02");
    } finally {
      await client.end();
    }
  });
});

describe("a database connection lost during a restore is exit 10", () => {
  let snapshotStorage: string;

  beforeAll(async () => {
    snapshotStorage = await freshDir();
    const r = await runPgsnap(["--db", db.url, "--storage", snapshotStorage, "--json", "dump", "--tenant", "1"]);
    expect(r.code, r.stderr).toBe(0);
  });

  const restoreArgs = (url: string) => [
    "--db",
    url,
    "--storage",
    snapshotStorage,
    "restore",
    "latest",
    "--tenant",
    "1",
    "--confirm",
  ];

  it("pg_terminate_backend while rows are being staged: exit 10, nothing changed", async () => {
    const before = await withClient(
      db.url,
      async (c) => (await c.query("SELECT count(*)::int AS n FROM items")).rows[0],
    );
    await withClient(db.url, (c) => c.query("DELETE FROM items WHERE user_id = 1 AND id % 20 = 1"));
    const midway = proxy.stallAfter("toServer", 600_000);
    const run = runPgsnap(restoreArgs(proxy.urlFor(db.url)));
    await midway;
    await terminate(await pgsnapBackends());
    proxy.resume();
    const r = await run;
    expectNamedFailure(r, 10);
    const after = await withClient(
      db.url,
      async (c) => (await c.query("SELECT count(*)::int AS n FROM items")).rows[0],
    );
    expect(after.n).toBe(before.n - ITEMS / 20);
    // Put the rows back for the next test.
    const ok = await runPgsnap(restoreArgs(db.url));
    expect(ok.code, ok.stderr).toBe(0);
  });

  it("a connection that stops moving bytes while rows are staged: exit 10 in bounded time", async () => {
    const midway = proxy.stallAfter("toServer", 600_000);
    const run = runPgsnap(["--io-timeout", "2", ...restoreArgs(proxy.urlFor(db.url))], { timeoutMs: 40_000 });
    await midway;
    const r = await run;
    proxy.resume();
    expect(r.signal, "pgsnap hung until killed").toBeNull();
    expectNamedFailure(r, 10);
  });
});

describe("a database connection lost during verify --restore-test is exit 10", () => {
  it("pg_terminate_backend while the test restore loads rows: exit 10 with a hint, not a failed check", async () => {
    const storage = await freshDir();
    const dumped = await runPgsnap(["--db", db.url, "--storage", storage, "dump"]);
    expect(dumped.code, dumped.stderr).toBe(0);
    const midway = proxy.stallAfter("toServer", 600_000);
    const run = runPgsnap(["--db", proxy.urlFor(db.url), "--storage", storage, "verify", "latest", "--restore-test"]);
    await midway;
    await terminate(await pgsnapBackends());
    proxy.resume();
    expectNamedFailure(await run, 10);
  });
});

describe("database-side mistakes are the user's: exit 2 or 10 with a hint, never a stack or a hang", () => {
  it("a typo in a custom filter: exit 2 naming the table and the filter", async () => {
    const storage = await freshDir();
    const config = await configWithFilter("t.usr_id = :tenant");
    const r = await runPgsnap(["--config", config, "--db", db.url, "--storage", storage, "dump", "--tenant", "1"]);
    expectNamedFailure(r, 2);
    expect(r.stderr).toContain("public.items");
    expect(r.stderr).toContain("t.usr_id = :tenant");
    expect(await manifests(storage)).toEqual([]);
  });

  it("a typo in a custom key on an --all-tenants dump: exit 2 naming the table and the key", async () => {
    const file = join(root, `config-${++seq}.json`);
    await writeFile(
      file,
      JSON.stringify({
        projects: { p: { tables: { "public.items": { filter: "t.user_id = :tenant", key: "t.usr_id" } } } },
      }),
    );
    const storage = await freshDir();
    const r = await runPgsnap(["--config", file, "--db", db.url, "--storage", storage, "dump", "--all-tenants"]);
    expectNamedFailure(r, 2);
    expect(r.stderr).toContain("public.items");
    expect(r.stderr).toContain("t.usr_id");
    expect(await manifests(storage)).toEqual([]);
  });

  it("a custom filter with bad syntax: exit 2", async () => {
    const config = await configWithFilter("t.user_id = :tenant AND AND");
    const r = await runPgsnap([
      "--config",
      config,
      "--db",
      db.url,
      "--storage",
      await freshDir(),
      "dump",
      "--tenant",
      "1",
    ]);
    expectNamedFailure(r, 2);
    expect(r.stderr).toContain("public.items");
  });

  it("a bad port, not a URL, an unknown scheme: exit 2; an unknown host, a closed port: exit 10", async () => {
    const port = await closedPort();
    const cases: [string, number][] = [
      ["postgres://u@127.0.0.1:99999/db", 2],
      ["postgres://u@127.0.0.1:port/db", 2],
      ["not a url", 2],
      ["mysql://u@127.0.0.1/db", 2],
      ["host=127.0.0.1 port=99999 dbname=x", 2],
      ["postgres://u@no-such-host.invalid/db", 10],
      [`postgres://u@127.0.0.1:${port}/db`, 10],
      [`host=127.0.0.1 port=${port} dbname=x`, 10],
    ];
    for (const [url, code] of cases) {
      const r = await runPgsnap(["--db", url, "--storage", await freshDir(), "dump"], { timeoutMs: 40_000 });
      expect(r.signal, url).toBeNull();
      expectNamedFailure(r, code);
    }
  }, 240_000);
});

describe("passwords are never printed, in any form libpq accepts", () => {
  const secret = "Xy7-Very-S3cret";

  it("in URLs (encoded, unencoded @), URL parameters, keyword/value strings, DATABASE_URL and PGPASSWORD", async () => {
    const port = await closedPort();
    const cases: { name: string; args: string[]; env?: Record<string, string>; hidden: string[] }[] = [
      { name: "URL", args: ["--db", `postgres://u:${secret}@127.0.0.1:${port}/db`], hidden: [secret] },
      {
        name: "percent-encoded",
        args: ["--db", `postgres://u:${encodeURIComponent(secret + "@/:")}@127.0.0.1:${port}/db`],
        hidden: [secret, encodeURIComponent(secret + "@/:")],
      },
      { name: "unencoded @", args: ["--db", `postgres://u:pre@${secret}@127.0.0.1:${port}/db`], hidden: [secret] },
      { name: "?password=", args: ["--db", `postgres://u@127.0.0.1:${port}/db?password=${secret}`], hidden: [secret] },
      {
        name: "keyword/value",
        args: ["--db", `host=127.0.0.1 port=${port} user=u password=${secret} dbname=x`],
        hidden: [secret],
      },
      {
        name: "keyword/value quoted",
        args: ["--db", `host=127.0.0.1 port=${port} password='${secret} two' dbname=x`],
        hidden: [secret],
      },
      {
        name: "DATABASE_URL",
        args: [],
        env: { DATABASE_URL: `postgres://u:pre@${secret}@127.0.0.1:${port}/db` },
        hidden: [secret],
      },
      {
        name: "PGPASSWORD",
        args: [],
        env: { PGHOST: "no-such-host.invalid", PGPASSWORD: secret },
        hidden: [secret],
      },
    ];
    for (const c of cases) {
      for (const mode of [[], ["--json"], ["-v"]]) {
        const r = await runPgsnap([...c.args, "--storage", await freshDir(), ...mode, "dump"], {
          env: c.env,
          timeoutMs: 40_000,
        });
        expect(r.code, `${c.name} ${mode.join(" ")}: ${r.stderr}`).toBe(10);
        for (const h of c.hidden) expect(r.stdout + r.stderr, `${c.name} ${mode.join(" ")}`).not.toContain(h);
        expect(r.stdout + r.stderr).not.toContain("S3cret");
      }
    }
  }, 240_000);

  it("the S3 secret key, when the storage cannot be reached", async () => {
    const port = await closedPort();
    for (const mode of [[], ["--json"], ["-v"]]) {
      const r = await runPgsnap(["--storage", "s3://bucket/prefix", ...mode, "list"], {
        env: {
          PGSNAP_S3_ENDPOINT: `http://127.0.0.1:${port}`,
          PGSNAP_S3_ACCESS_KEY: "pgsnap-access",
          PGSNAP_S3_SECRET_KEY: secret,
        },
        timeoutMs: 60_000,
      });
      expect(r.code, r.stderr).not.toBe(0);
      expect(r.stdout + r.stderr).not.toContain(secret);
    }
  }, 240_000);
});
