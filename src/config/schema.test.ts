import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { checkConfig } from "./load.js";
import { configJsonSchema } from "./schema.js";

const env = { PDV_DATABASE_URL: "postgres://u:pw@h/pdv", SMTP_URL: "smtp://u:sm@h:25", WEBHOOK_SECRET: "s3cr3t" };

const good = {
  $schema: "./schema/pgsnap.config.schema.json",
  storage: "s3://backups/pgsnap",
  projects: {
    pdv: { db: "${PDV_DATABASE_URL}", tenantColumn: "user_id" },
    other: { db: "postgres://backup:${OTHER_PW}@db.internal/other", storage: "./backups" },
  },
  jobs: {
    nightly: {
      cron: "0 3 * * *",
      timezone: "America/Sao_Paulo",
      projects: "*",
      scope: "all-tenants",
      verify: "checksums",
      retention: { keepDaily: 7, keepWeekly: 4, keepMonthly: 12 },
      notify: ["ops"],
    },
    drill: { cron: "0 5 * * 0", projects: ["pdv"], scope: "full", verify: "restore-test", notify: ["ops"] },
    some: { cron: "*/10 * * * * *", scope: { tenants: ["1", "2"] } },
  },
  notify: {
    ops: { type: "email", smtp: "${SMTP_URL}", from: "b@example.com", to: ["a@example.com"], on: ["failure"] },
    alert: { type: "webhook", url: "https://hooks.example.com/x", secret: "${WEBHOOK_SECRET}" },
  },
};

function problems(raw: unknown, e: Record<string, string> = { ...env, OTHER_PW: "x" }): string[] {
  const r = checkConfig(raw, e);
  return r.problems.map((p) => `${p.path}: ${p.message}`);
}

describe("config v2 schema", () => {
  it("accepts the CLI.md example and interpolates ${VAR}", () => {
    const r = checkConfig(good, { ...env, OTHER_PW: "o p" });
    expect(r.problems).toEqual([]);
    if (!r.ok) throw new Error("not ok");
    expect(r.config.projects!["pdv"]!.db).toBe("postgres://u:pw@h/pdv");
    expect(r.config.projects!["other"]!.db).toBe("postgres://backup:o p@db.internal/other");
  });

  it("lists every problem at once with its key path", () => {
    const bad = {
      projectz: {},
      projects: {
        pdv: { db: "postgres://u:hunter2@h/pdv", tenantColumm: "x" },
        two: { storage: "./b", tables: { "public.t": { filter: "t.a = 1" } } },
      },
      jobs: {
        a: { cron: "0 3 * *", timezone: "Mars/Olympus", projects: ["pdv", "nope"], notify: ["ghost"] },
        b: { cron: "61 * * * *", verify: "maybe" },
        c: { cron: "${NOT_SET}" },
      },
      notify: {
        m: { type: "email", smtp: "smtps://me:literal@smtp.example.com", from: "a@b", to: "c@d", on: ["always"] },
        w: { type: "webhook", url: "https://x", secret: "plain" },
        q: { type: "pager" },
      },
    };
    const p = problems(bad);
    const expected = [
      'config: unknown key "projectz"',
      'projects.pdv: unknown key "tenantColumm"',
      "projects.pdv.db: the password is written literally",
      "projects.two.db: required when the file has several projects",
      'projects.two.tables["public.t"].filter: must use the :tenant placeholder',
      'jobs.a.cron: cron "0 3 * *" has 4 fields',
      'jobs.a.timezone: unknown time zone "Mars/Olympus"',
      'jobs.a.projects[1]: no project "nope"',
      'jobs.a.notify[0]: no notifier "ghost"',
      "jobs.b.cron: invalid cron",
      "jobs.b.verify:",
      "jobs.c.cron: environment variable NOT_SET is not set",
      "notify.m.smtp: the SMTP password is written literally",
      "notify.m.on[0]:",
      "notify.w.secret: the secret is written literally",
      "notify.q.type:",
    ];
    for (const e of expected)
      expect(
        p.some((x) => x.startsWith(e)),
        `${e}\n in\n${p.join("\n")}`,
      ).toBe(true);
    // The hint names ${VAR}, and no literal secret is echoed back.
    expect(p.join("\n")).toContain("${");
    expect(p.join("\n")).not.toContain("hunter2");
    expect(p.join("\n")).not.toContain("literal@");
  });

  it("refuses literal passwords in every URL form, accepts them as variables", () => {
    const db = (v: string) => problems({ projects: { a: { db: v } } });
    expect(db("postgres://u:secret@h/d")).toHaveLength(1);
    expect(db("postgres://u@h/d?password=secret")).toHaveLength(1);
    expect(db("host=h user=u password=secret dbname=d")).toHaveLength(1);
    expect(db("postgres://u:${PW}@h/d")).toEqual(["projects.a.db: environment variable PW is not set"]);
    expect(db("postgres://u@h/d")).toEqual([]);
    expect(db("${PDV_DATABASE_URL}")).toEqual([]);
  });

  it("ships a JSON Schema generated from the same definition", () => {
    const shipped = JSON.parse(
      readFileSync(new URL("../../schema/pgsnap.config.schema.json", import.meta.url), "utf8"),
    );
    expect(shipped, "run `npm run schema` to regenerate schema/pgsnap.config.schema.json").toEqual(configJsonSchema());
    const s = configJsonSchema() as any;
    expect(s.additionalProperties).toBe(false);
    expect(Object.keys(s.properties)).toEqual(
      expect.arrayContaining(["storage", "projects", "jobs", "notify", "$schema"]),
    );
  });
});
