/**
 * `pgsnap run` over two projects through the real command line, with a real SMTP server and a
 * real HTTP receiver: one project backs up while the other's database is unreachable, exactly
 * one email names the failure with its hint and no secret, the webhook is signed and retried;
 * most rows deleted between two runs gives a warning; retention prunes after the new snapshot
 * verified. Also `config check`, `config schema`, `notify test`, the env-only setup and the
 * several-projects guard of the one-project commands (issue 9, item 11).
 */
import { createHmac } from "node:crypto";
import { mkdtemp, readdir, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { runPgsnap } from "./helpers/cli.js";
import { startHttpReceiver, type HttpReceiver } from "./helpers/http-receiver.js";
import { createDatabase, withClient, type TestDatabase } from "./helpers/postgres.js";
import { startSmtpSink, type SmtpSink } from "./helpers/smtp.js";

const serverUrl = inject("pgUrl");
const B_PASSWORD = "b-db-pw-4471";
const HOOK_SECRET = "hook-secret-0c9d";

let a: TestDatabase;
let smtp: SmtpSink;
let hook: HttpReceiver;
let dir: string;
let storage: string;
let config: string;
let deadPort: number;

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

const env = () => ({ A_DATABASE_URL: a.url, B_PASSWORD, SMTP_URL: smtp.url, HOOK_URL: hook.url, HOOK_SECRET });

beforeAll(async () => {
  a = await createDatabase(serverUrl, { prefix: "pgsnap_run" });
  await withClient(a.url, async (c) => {
    await c.query(`CREATE TABLE items (id serial PRIMARY KEY, user_id int NOT NULL, note text);
      INSERT INTO items (user_id, note) SELECT 1 + g % 3, 'note ' || g FROM generate_series(1, 300) g;`);
  });
  smtp = await startSmtpSink();
  // The first webhook call is answered 500: the notifier retries.
  hook = await startHttpReceiver((n) => (n === 1 ? 500 : 200));
  dir = await mkdtemp(join(tmpdir(), "pgsnap-run-"));
  storage = join(dir, "backups");
  deadPort = await freePort();
  config = join(dir, "pgsnap.config.json");
  await writeFile(
    config,
    JSON.stringify({
      storage,
      projects: {
        a: { db: "${A_DATABASE_URL}" },
        b: { db: `postgres://backup:\${B_PASSWORD}@127.0.0.1:${deadPort}/nothing` },
      },
      jobs: {
        nightly: { cron: "0 3 * * *", timezone: "America/Sao_Paulo", notify: ["mail", "hook"] },
        "a-only": { cron: "0 4 * * *", projects: ["a"], retention: { keepLast: 1 }, notify: ["mail"] },
      },
      notify: {
        mail: {
          type: "email",
          smtp: "${SMTP_URL}",
          from: "backup@example.com",
          to: ["admin@example.com"],
          on: ["failure", "warning", "success"],
        },
        hook: { type: "webhook", url: "${HOOK_URL}", secret: "${HOOK_SECRET}", on: ["failure"] },
      },
    }),
  );
});

afterAll(async () => {
  await smtp?.close();
  await hook?.close();
  await a?.drop();
});

describe("pgsnap run", () => {
  it("backs up the reachable project, fails the other with exit 10, one email names it", async () => {
    const r = await runPgsnap(["run", "nightly", "--config", config, "--json"], { env: env() });
    expect(r.code, r.stderr).toBe(10);
    const run = r.json.runs[0];
    expect(run).toMatchObject({ job: "nightly", status: "failed" });
    expect(typeof run.startedAt).toBe("string");
    const [pa, pb] = run.projects;
    expect(pa).toMatchObject({ project: "a", status: "ok", verified: true, pruned: 0, warnings: [], error: null });
    expect(pa.snapshots).toHaveLength(1);
    expect(pa.rows).toBe(300);
    expect(pa.storedBytes).toBeGreaterThan(0);
    expect(pb).toMatchObject({ project: "b", status: "failed", snapshots: [], verified: false });
    expect(pb.error.exitCode).toBe(10);
    expect(pb.error.hint).toBeTruthy();
    expect(r.stdout).not.toContain(B_PASSWORD);

    const list = await runPgsnap(["list", "--config", config, "--project", "a", "--json"], { env: env() });
    expect(list.code, list.stderr).toBe(0);
    expect(list.json.snapshots.map((s: any) => s.id)).toEqual(pa.snapshots);

    // The run waited for its notifications: exactly one email, and it is about the failure.
    expect(smtp.messages).toHaveLength(1);
    const mail = smtp.messages[0]!;
    expect(mail.subject).toContain("nightly");
    expect(mail.subject).toContain("FAILED");
    expect(mail.text).toMatch(/^a: status ok/m);
    expect(mail.text).toMatch(/^b: status failed/m);
    expect(mail.text).toContain(`hint: ${pb.error.hint}`);
    expect(mail.html).toContain("<td>a</td>");
    const raw = `${mail.subject}\n${mail.text}\n${String(mail.html)}`;
    for (const secret of [B_PASSWORD, "smtp-pw-9f3k", HOOK_SECRET]) expect(raw).not.toContain(secret);
    expect(raw).not.toContain("note 1"); // no row data

    // Webhook: refused once (500), delivered on the retry, signed over the exact body.
    expect(hook.requests).toHaveLength(2);
    const req = hook.requests[1]!;
    expect(req.body).toBe(hook.requests[0]!.body);
    const expected = "sha256=" + createHmac("sha256", HOOK_SECRET).update(req.body).digest("hex");
    expect(req.headers["x-pgsnap-signature"]).toBe(expected);
    const body = JSON.parse(req.body);
    expect(body.text).toMatch(/nightly: failed.*b FAILED \(exit 10/);
    expect(body.projects.map((p: any) => p.status)).toEqual(["ok", "failed"]);
    expect(req.body).not.toContain(B_PASSWORD);
  });

  it("warns when most rows of a table vanished since the previous snapshot; prunes after verifying", async () => {
    await withClient(a.url, (c) => c.query("DELETE FROM items WHERE id > 30"));
    const r = await runPgsnap(["run", "a-only", "--config", config, "--json"], { env: env() });
    expect(r.code, r.stderr).toBe(0);
    const p = r.json.runs[0].projects[0];
    expect(r.json.runs[0].status).toBe("warning");
    expect(p.status).toBe("warning");
    expect(p.warnings).toEqual([
      expect.stringContaining("table public.items: rows dropped by more than half, 300 → 30"),
    ]);
    expect(p.verified).toBe(true);
    expect(p.pruned).toBe(1); // keepLast 1: the previous snapshot goes, the new verified one stays
    const list = await runPgsnap(["list", "--config", config, "--project", "a", "--json"], { env: env() });
    expect(list.json.snapshots.map((s: any) => s.id)).toEqual(p.snapshots);
    const mail = await smtp.waitFor(2);
    expect(mail.subject).toContain("a-only: WARNING");
    expect(mail.text).toContain("warning: table public.items: rows dropped by more than half");
  });

  it("a notification that cannot be delivered (SMTP refuses the login) is retried, logged, and changes nothing", async () => {
    const before = smtp.messages.length;
    const badSmtp = smtp.url.replace("smtp-pw-9f3k", "wrong-pw-1234");
    const r = await runPgsnap(["run", "a-only", "--config", config, "--json"], {
      env: { ...env(), SMTP_URL: badSmtp },
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.json.runs[0].status).toBe("ok");
    expect(r.stderr).toContain("notify-failed");
    expect(r.stderr).not.toContain("wrong-pw-1234");
    expect(smtp.messages.length).toBe(before);
  });

  it("a job whose lock another run holds fails that project with exit 13", async () => {
    await withClient(a.url, async (c) => {
      await c.query("SELECT pg_advisory_lock(hashtext('pgsnap job a-only'), hashtext('a'))");
      const r = await runPgsnap(["run", "a-only", "--config", config, "--json"], { env: env() });
      expect(r.code, r.stderr).toBe(13);
      expect(r.json.runs[0].projects[0].error.code).toBe("JOB_LOCKED");
    });
  });

  it("refuses unknown jobs and a run without job names (exit 2)", async () => {
    const r = await runPgsnap(["run", "nope", "--config", config], { env: env() });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('no job "nope"');
    expect(r.stderr).toContain("nightly, a-only");
  });
});

describe("several projects and a one-project command", () => {
  it("refuses to guess (exit 2 listing the projects) instead of dumping the PG* database", async () => {
    const u = new URL(a.url);
    const pgEnv = {
      ...env(),
      PGHOST: u.hostname,
      PGPORT: u.port,
      PGUSER: decodeURIComponent(u.username),
      PGPASSWORD: decodeURIComponent(u.password),
      PGDATABASE: a.name,
    };
    const other = join(dir, "guard");
    const r = await runPgsnap(["dump", "--config", config, "--storage", other, "--json"], { env: pgEnv });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain("2 projects (a, b)");
    expect(r.stderr).toContain("--project");
    expect(r.json.error.code).toBe("PROJECT_REQUIRED");
    await expect(readdir(other)).rejects.toThrow(); // nothing was written
  });
});

describe("config check, config schema, notify test", () => {
  it("config check shows projects, jobs and notifiers with secrets as ***", async () => {
    const r = await runPgsnap(["config", "check", "--config", config, "--json"], { env: env() });
    expect(r.code, r.stderr).toBe(0);
    expect(r.json.projects.map((p: any) => [p.project, p.db])).toEqual([
      ["a", expect.any(String)],
      ["b", `postgres://backup:***@127.0.0.1:${deadPort}/nothing`],
    ]);
    expect(r.json.jobs[0]).toMatchObject({
      job: "nightly",
      timezone: "America/Sao_Paulo",
      projects: ["a", "b"],
      scope: "all-tenants",
      verify: "checksums",
    });
    expect(r.json.jobs[0].nextRun).toMatch(/T06:00:00\.000Z$/);
    expect(r.json.notifiers[1]).toMatchObject({ notifier: "hook", secret: "***" });
    for (const secret of [B_PASSWORD, "smtp-pw-9f3k", HOOK_SECRET]) expect(r.stdout).not.toContain(secret);
    const human = await runPgsnap(["config", "check", "--config", config], { env: env() });
    expect(human.code).toBe(0);
    expect(human.stdout).toContain("nightly");
    expect(human.stdout).not.toContain(B_PASSWORD);
  });

  it("config check lists a literal secret and a missing project together (exit 2)", async () => {
    const bad = join(dir, "bad.json");
    await writeFile(
      bad,
      JSON.stringify({
        projects: { a: { db: "postgres://u:plaintext-pw@h/d" } },
        jobs: { j: { cron: "0 3 * * *", timezone: "Nowhere/City", projects: ["zz"] } },
      }),
    );
    const r = await runPgsnap(["config", "check", "--config", bad]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("projects.a.db: the password is written literally");
    expect(r.stderr).toContain("${");
    expect(r.stderr).toContain('jobs.j.timezone: unknown time zone "Nowhere/City"');
    expect(r.stderr).toContain('jobs.j.projects[0]: no project "zz"');
    expect(r.stderr).not.toContain("plaintext-pw");
  });

  it("config schema prints the shipped JSON Schema", async () => {
    const r = await runPgsnap(["config", "schema"]);
    expect(r.code).toBe(0);
    expect(r.json.properties.jobs).toBeTruthy();
    expect(r.json.additionalProperties).toBe(false);
  });

  it("notify test delivers through the named notifier; exit 11 when it cannot", async () => {
    const before = smtp.messages.length;
    const ok = await runPgsnap(["notify", "test", "mail", "--config", config, "--json"], { env: env() });
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.json.notifiers).toEqual([{ notifier: "mail", type: "email", delivered: true, error: null }]);
    expect((await smtp.waitFor(before + 1)).subject).toContain("notify-test");
    const down = await runPgsnap(["notify", "test", "hook", "--config", config], {
      env: { ...env(), HOOK_URL: `http://127.0.0.1:${deadPort}/hook` },
    });
    expect(down.code).toBe(11);
    expect(down.stderr).toContain("could not deliver to hook");
    expect(down.stderr).not.toContain(HOOK_SECRET);
  });
});

describe("env-only setup (no config file)", () => {
  it("run backs up DATABASE_URL as job default; missing variables are named (exit 2)", async () => {
    const cwd = await mkdtemp(join(tmpdir(), "pgsnap-envonly-"));
    const envOnly = {
      DATABASE_URL: a.url,
      PGSNAP_STORAGE: join(cwd, "b"),
      PGSNAP_SCOPE: "full",
      PGSNAP_VERIFY: "restore-test",
    };
    const r = await runPgsnap(["run", "--json"], { env: envOnly, cwd });
    expect(r.code, r.stderr).toBe(0);
    expect(r.json.runs[0]).toMatchObject({ job: "default", status: "ok" });
    expect(r.json.runs[0].projects[0]).toMatchObject({
      project: a.name,
      scope: "full",
      verify: "restore-test",
      verified: true,
    });
    const missing = await runPgsnap(["run"], { env: {}, cwd });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("DATABASE_URL");
    const noCron = await runPgsnap(["schedule"], { env: { DATABASE_URL: a.url }, cwd });
    expect(noCron.code).toBe(2);
    expect(noCron.stderr).toContain("PGSNAP_SCHEDULE");
  });
});
