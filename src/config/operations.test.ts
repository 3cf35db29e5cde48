import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { resolveConfig } from "./config.js";
import { loadOperations } from "./operations.js";

const dir = mkdtempSync(join(tmpdir(), "pgsnap-ops-config-"));
const file = (name: string, body: unknown) => {
  const p = join(dir, name);
  writeFileSync(p, JSON.stringify(body));
  return p;
};
const message = (f: () => unknown) => {
  try {
    f();
  } catch (err) {
    return `${(err as Error).message}\n${(err as { hint?: string }).hint ?? ""}`;
  }
  throw new Error("did not throw");
};

describe("operations config", () => {
  it("builds one project and the job `default` from the environment alone", () => {
    const ops = loadOperations(
      {},
      {
        DATABASE_URL: "postgres://u:p4ssw0rd@h/shop",
        PGSNAP_STORAGE: "/b",
        PGSNAP_SCHEDULE: "*/5 * * * *",
        PGSNAP_TIMEZONE: "Europe/Berlin",
        PGSNAP_SCOPE: "full",
        PGSNAP_VERIFY: "none",
        PGSNAP_KEEP_LAST: "3",
        PGSNAP_SMTP_URL: "smtp://u:smtppw@127.0.0.1:2525",
        PGSNAP_MAIL_TO: "a@x, b@x",
        PGSNAP_NOTIFY_ON: "failure,success",
        PGSNAP_WEBHOOK_URL: "http://127.0.0.1:1/hook",
        PGSNAP_WEBHOOK_SECRET: "whsecret",
      },
      { requireCron: true },
    );
    expect(ops.source).toBe("env");
    expect(ops.projects).toMatchObject([{ name: "shop", dbUrl: "postgres://u:p4ssw0rd@h/shop", storageUrl: "/b" }]);
    expect(ops.jobs).toEqual([
      {
        name: "default",
        cron: "*/5 * * * *",
        timezone: "Europe/Berlin",
        projects: ["shop"],
        scope: "full",
        verify: "none",
        retention: { keepLast: 3 },
        notify: ["email", "webhook"],
      },
    ]);
    expect(ops.notifiers.map((n) => [n.name, n.on])).toEqual([
      ["email", ["failure", "success"]],
      ["webhook", ["failure", "success"]],
    ]);
    expect(ops.secrets).toEqual(expect.arrayContaining(["p4ssw0rd", "smtppw", "whsecret"]));
  });

  it("names the missing variable: DATABASE_URL always, PGSNAP_SCHEDULE for schedule", () => {
    const m = message(() => loadOperations({}, {}, { requireCron: true }));
    expect(m).toContain("DATABASE_URL: is not set");
    expect(m).toContain("PGSNAP_SCHEDULE: is not set");
    expect(loadOperations({}, { DATABASE_URL: "postgres://h/d" }).jobs[0]!.cron).toBeUndefined();
    expect(message(() => loadOperations({}, { DATABASE_URL: "postgres://h/d", PGSNAP_SCHEDULE: "nope" }))).toContain(
      "PGSNAP_SCHEDULE: cron",
    );
  });

  it("with several projects, one-project commands refuse listing them (never PG* fallback)", () => {
    const p = file("two.json", { projects: { a: { db: "postgres://h/a" }, b: { db: "postgres://h/b" } } });
    const m = message(() => resolveConfig({ config: p }, { PGHOST: "elsewhere" }));
    expect(m).toContain("2 projects (a, b)");
    expect(m).toContain("--project");
    expect(resolveConfig({ config: p, project: "b" }, {}).dbUrl).toBe("postgres://h/b");
    // DATABASE_URL does not point every project of a file at one database.
    const ops = loadOperations({ config: p }, { DATABASE_URL: "postgres://h/other" });
    expect(ops.projects.map((x) => x.dbUrl)).toEqual(["postgres://h/a", "postgres://h/b"]);
  });
});
