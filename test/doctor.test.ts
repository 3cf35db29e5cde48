/**
 * `pgsnap doctor` against a real PostgreSQL: what would stop or slow a backup is found before
 * the first night, each finding with its hint, and the exit code is the first blocker's.
 */
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AddressInfo } from "node:net";
import { SMTPServer } from "smtp-server";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { runPgsnap } from "./helpers/cli.js";
import { createDatabase, createRole, withClient, type TestDatabase, type TestRole } from "./helpers/postgres.js";

const serverUrl = inject("pgUrl");
let db: TestDatabase;
let reader: TestRole;
let storage: string;

beforeAll(async () => {
  storage = await mkdtemp(join(tmpdir(), "pgsnap-doctor-"));
  db = await createDatabase(serverUrl, { prefix: "pgsnap_doctor" });
  reader = await createRole(serverUrl, { prefix: "pgsnap_doctor_reader" });
  await withClient(db.url, async (c) => {
    await c.query(`
      CREATE TABLE companies (user_id int PRIMARY KEY, name text NOT NULL);
      CREATE TABLE orders (id bigint PRIMARY KEY, user_id int NOT NULL REFERENCES companies, total numeric);
      CREATE INDEX orders_user ON orders (user_id);
      -- via orders, and no index on order_id: a full scan per tenant
      CREATE TABLE order_lines (id bigint PRIMARY KEY, order_id bigint NOT NULL REFERENCES orders, qty int);
      -- direct, no index on user_id, no primary key
      CREATE TABLE "Events Log" (user_id int NOT NULL, happened timestamptz, what text);
      -- an index that starts with another column does not serve the tenant filter
      CREATE TABLE notes (id int PRIMARY KEY, user_id int NOT NULL, body text);
      CREATE INDEX notes_body_user ON notes (body, user_id);
      CREATE TABLE secrets (id int PRIMARY KEY, user_id int NOT NULL REFERENCES companies);
      CREATE INDEX ON secrets (user_id);
      ALTER TABLE secrets ENABLE ROW LEVEL SECURITY;
      CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NEW; END';
      CREATE TRIGGER orders_touch BEFORE UPDATE ON orders FOR EACH ROW EXECUTE FUNCTION touch();
      CREATE RULE notes_keep AS ON DELETE TO notes DO INSTEAD NOTHING;
    `);
    await c.query(`GRANT SELECT ON ALL TABLES IN SCHEMA public TO "${reader.name}"`);
  });
});

afterAll(async () => {
  await db?.drop();
  await reader?.drop();
  await rm(storage, { recursive: true, force: true });
});

type Check = { check: string; status: string; object: string | null; message: string; hint: string | null };
const find = (checks: Check[], check: string, object?: string) =>
  checks.filter((c) => c.check === check && (object === undefined || c.object === object));

describe("pgsnap doctor", () => {
  it("passes as a superuser and lists every warning with the statement that fixes it", async () => {
    const r = await runPgsnap(["doctor", "--json", "--db", db.url, "--storage", storage]);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    const checks = r.json.checks as Check[];
    for (const c of checks) {
      expect(Object.keys(c).sort()).toEqual(expect.arrayContaining(["check", "hint", "message", "object", "status"]));
      expect(["ok", "warning", "error"]).toContain(c.status);
    }
    expect(checks.filter((c) => c.status === "error")).toEqual([]);
    expect(find(checks, "connection")[0]!.message).toMatch(/PostgreSQL \d+/);

    const direct = find(checks, "tenant-index", 'public."Events Log"');
    expect(direct).toHaveLength(1);
    expect(direct[0]!.status).toBe("warning");
    expect(direct[0]!.hint).toBe(`CREATE INDEX CONCURRENTLY ON "public"."Events Log" ("user_id");`);
    expect(find(checks, "tenant-index", "public.notes")[0]!.hint).toBe(
      `CREATE INDEX CONCURRENTLY ON "public"."notes" ("user_id");`,
    );
    expect(find(checks, "tenant-index", "public.orders")).toEqual([]);
    const via = find(checks, "fk-index", "public.order_lines");
    expect(via).toHaveLength(1);
    expect(via[0]!.message).toMatch(/full|scans the whole table/);
    expect(via[0]!.hint).toBe(`CREATE INDEX CONCURRENTLY ON "public"."order_lines" ("order_id");`);

    expect(find(checks, "primary-key").map((c) => c.object)).toEqual(['public."Events Log"']);
    expect(find(checks, "primary-key")[0]!.message).toMatch(/whole rows/);
    expect(find(checks, "triggers", "public.orders")[0]!.message).toMatch(/orders_touch/);
    expect(find(checks, "rules", "public.notes")[0]!.message).toMatch(/notes_keep/);
    expect(find(checks, "row-level-security")[0]!.status).toBe("ok");
    expect(find(checks, "pooler")[0]!.status).toBe("ok");
    expect(find(checks, "storage")[0]!.status).toBe("ok");
    // The probe object was read back and deleted.
    expect(await readdir(storage, { recursive: true })).toEqual(
      expect.not.arrayContaining([expect.stringMatching(/doctor/)]),
    );
  });

  it("exits 3 for a role without BYPASSRLS on a table with row-level security, naming the table", async () => {
    const r = await runPgsnap(["doctor", "--json", "--db", reader.url(db.url), "--storage", storage]);
    expect(r.code, r.stderr + r.stdout).toBe(3);
    const rls = find(r.json.checks, "row-level-security");
    expect(rls).toHaveLength(1);
    expect(rls[0]).toMatchObject({ status: "error", object: "public.secrets" });
    expect(rls[0]!.hint).toContain(`ALTER ROLE "${reader.name}" BYPASSRLS`);
    // Not the owner: the trigger on orders cannot be disabled by this role.
    expect(find(r.json.checks, "triggers", "public.orders")[0]!.message).toMatch(/may not disable/);
    // And the human form says what blocks.
    const human = await runPgsnap(["doctor", "--db", reader.url(db.url), "--storage", storage]);
    expect(human.code).toBe(3);
    expect(human.stdout).toMatch(/^error\s+row-level-security\s+row-level security is enabled on public\.secrets/m);
    expect(human.stdout).toMatch(/block a backup \(exit 3\)/);
  });

  it("exits 2 when the role may not read a table", async () => {
    await withClient(db.url, (c) => c.query(`REVOKE SELECT ON notes FROM "${reader.name}"`));
    try {
      const r = await runPgsnap(["doctor", "--json", "--db", reader.url(db.url), "--storage", storage]);
      expect(r.code, r.stdout).toBe(2);
      expect(find(r.json.checks, "select-privilege", "public.notes")[0]).toMatchObject({ status: "error" });
    } finally {
      await withClient(db.url, (c) => c.query(`GRANT SELECT ON notes TO "${reader.name}"`));
    }
  });

  it("exits 11 when the storage cannot be written, 10 when the database cannot be reached", async () => {
    const file = join(storage, "not-a-directory");
    await writeFile(file, "x");
    const bad = await runPgsnap(["doctor", "--json", "--db", db.url, "--storage", file]);
    expect(bad.code, bad.stdout).toBe(11);
    expect(find(bad.json.checks, "storage")[0]).toMatchObject({ status: "error" });

    const port = new URL(serverUrl).port === "1" ? "2" : "1";
    const down = new URL(db.url);
    down.port = port;
    const r = await runPgsnap(["doctor", "--json", "--db", down.toString(), "--storage", storage]);
    expect(r.code, r.stdout).toBe(10);
    expect(find(r.json.checks, "connection")[0]).toMatchObject({ status: "error" });
    expect(r.stdout).not.toContain(new URL(db.url).password || "\u0000");
  });

  it("checks every project of the config with --project all", async () => {
    const config = join(storage, "pgsnap.config.json");
    await writeFile(
      config,
      JSON.stringify({ projects: { good: { db: "${GOOD_DB}" }, limited: { db: "${LIMITED_DB}" } }, storage }),
    );
    const r = await runPgsnap(["doctor", "--json", "--project", "all", "--config", config], {
      env: { GOOD_DB: db.url, LIMITED_DB: reader.url(db.url) },
    });
    expect(r.code, r.stdout).toBe(3);
    const perProject = (r.json.checks as { check: string; project: string }[]).filter((c) => c.check !== "next-run");
    const projects = new Set(perProject.map((c) => c.project));
    expect(projects).toEqual(new Set(["good", "limited"]));
    expect(r.json.checks.find((c: any) => c.status === "error").project).toBe("limited");
  });

  it("logs into each email notifier's SMTP server and names each job's next run", async () => {
    const smtp = new SMTPServer({ authOptional: true, disabledCommands: ["STARTTLS"], logger: false });
    await new Promise<void>((resolve) => smtp.listen(0, "127.0.0.1", resolve));
    const port = (smtp.server.address() as AddressInfo).port;
    try {
      const config = join(storage, "ops.config.json");
      await writeFile(
        config,
        JSON.stringify({
          storage,
          projects: { app: { db: "${APP_DB}" } },
          jobs: {
            nightly: { cron: "0 3 * * *", timezone: "America/Sao_Paulo", notify: ["ops", "dead"] },
          },
          notify: {
            ops: { type: "email", smtp: `smtp://127.0.0.1:${port}`, from: "b@example.com", to: ["a@example.com"] },
            dead: { type: "email", smtp: "smtp://127.0.0.1:1", from: "b@example.com", to: ["a@example.com"] },
          },
        }),
      );
      const r = await runPgsnap(["doctor", "--json", "--config", config, "--project", "app"], {
        env: { APP_DB: db.url },
      });
      // A notifier that cannot be reached is a warning: it never stops a backup.
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(find(r.json.checks, "smtp", "ops")[0]).toMatchObject({ status: "ok" });
      expect(find(r.json.checks, "smtp", "dead")[0]).toMatchObject({ status: "warning" });
      const next = find(r.json.checks, "next-run", "nightly")[0]!;
      expect(next.status).toBe("ok");
      // 03:00 in São Paulo is 06:00 UTC.
      expect(next.message).toMatch(/runs next at \d{4}-\d\d-\d\dT06:00:00\.000Z/);
    } finally {
      await new Promise<void>((resolve) => smtp.close(() => resolve()));
    }
  });
});
