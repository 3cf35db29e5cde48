/**
 * docker/compose.yaml, the demo stack, checked without Docker: the services and images it needs,
 * healthchecks and start order, and the pgsnap service's environment (every variable the
 * env-only setup needs is set, each one is a variable pgsnap reads, and each points at the
 * service that provides it). Also the Kubernetes CronJob example (deploy/kubernetes). The image
 * itself is built and run by test/docker/run.sh; it also checks the CronJob's config file.
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";

import { CronExpressionParser } from "cron-parser";
import { describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";

import { repoRoot } from "../helpers/postgres.js";
import { composePath, dependsOn, kubernetesPath, loadCompose, serviceEnv, variablesPgsnapReads } from "./compose.js";

const compose = loadCompose();
const services = compose.services;
const composeDir = dirname(composePath);
const service = (name: string) => {
  const s = services[name];
  if (s === undefined) throw new Error(`docker/compose.yaml has no service ${name}`);
  return s;
};
const pgsnapEnv = serviceEnv(service("pgsnap"));

describe("docker/compose.yaml", () => {
  it("has the demo services with their images", () => {
    expect(Object.keys(services).sort()).toEqual(["mailpit", "minio", "minio-bucket", "pgsnap", "postgres"]);
    expect(service("postgres").image).toMatch(/^postgres:\d+$/);
    expect(service("minio").image).toMatch(/minio\/minio/);
    expect(service("minio-bucket").image).toMatch(/minio\/mc/);
    expect(service("mailpit").image).toMatch(/^axllent\/mailpit/);
    const build = service("pgsnap").build;
    expect(typeof build).toBe("object");
    const { context, dockerfile } = build as { context: string; dockerfile: string };
    expect(resolve(composeDir, context)).toBe(repoRoot);
    expect(existsSync(join(resolve(composeDir, context), dockerfile))).toBe(true);
  });

  it("gives every long-running service a healthcheck and starts pgsnap after its dependencies are ready", () => {
    for (const name of ["postgres", "minio", "mailpit", "pgsnap"]) {
      const hc = service(name).healthcheck;
      expect(hc?.disable, name).not.toBe(true);
      expect(Array.isArray(hc?.test) && hc.test.length > 1, `${name} healthcheck.test`).toBe(true);
      expect(["CMD", "CMD-SHELL"]).toContain((hc!.test as string[])[0]);
    }
    expect(dependsOn(service("pgsnap"))).toEqual({
      postgres: "service_healthy",
      "minio-bucket": "service_completed_successfully",
      mailpit: "service_healthy",
    });
    expect(dependsOn(service("minio-bucket"))).toEqual({ minio: "service_healthy" });
    // Every dependency that must be healthy has a healthcheck.
    for (const [name, s] of Object.entries(services)) {
      for (const [dep, condition] of Object.entries(dependsOn(s))) {
        expect(services[dep], `${name} depends on ${dep}`).toBeDefined();
        if (condition === "service_healthy") expect(services[dep]!.healthcheck?.test, dep).toBeDefined();
      }
    }
  });

  it("loads the demo store into PostgreSQL from files that exist", () => {
    const mounts = (service("postgres").volumes ?? []).filter((v): v is string => typeof v === "string");
    const init = mounts
      .map((m) => m.split(":"))
      .filter(([, target]) => target?.startsWith("/docker-entrypoint-initdb.d/"))
      .map(([source, target]) => ({ source: resolve(composeDir, source!), target: target! }));
    expect(init.map((i) => i.source)).toEqual([
      join(repoRoot, "sql", "demo", "schema.sql"),
      join(repoRoot, "sql", "demo", "data.sql"),
    ]);
    for (const i of init) expect(existsSync(i.source), i.source).toBe(true);
    // The entry point runs them in file-name order: the schema first.
    expect([...init.map((i) => i.target)].sort()).toEqual(init.map((i) => i.target));
  });

  it("sets every variable the env-only scheduler needs, and only variables pgsnap reads", () => {
    const reads = variablesPgsnapReads();
    for (const name of [
      "DATABASE_URL",
      "PGSNAP_STORAGE",
      "PGSNAP_SCHEDULE",
      "PGSNAP_SMTP_URL",
      "PGSNAP_MAIL_FROM",
      "PGSNAP_MAIL_TO",
      "PGSNAP_HEALTH_PORT",
      "PGSNAP_S3_ENDPOINT",
      "PGSNAP_S3_ACCESS_KEY",
      "PGSNAP_S3_SECRET_KEY",
    ]) {
      expect(reads.has(name), `pgsnap reads ${name} (src/config)`).toBe(true);
      expect(pgsnapEnv[name], `pgsnap service sets ${name}`).toBeTruthy();
    }
    for (const name of Object.keys(pgsnapEnv)) expect(reads.has(name), `${name} is a variable pgsnap reads`).toBe(true);
  });

  it("points pgsnap at the database, bucket, SMTP sink and health port the other services provide", () => {
    const pg = serviceEnv(service("postgres"));
    const db = new URL(pgsnapEnv["DATABASE_URL"]!);
    expect(db.hostname).toBe("postgres");
    expect(decodeURIComponent(db.username)).toBe(pg["POSTGRES_USER"]);
    expect(decodeURIComponent(db.password)).toBe(pg["POSTGRES_PASSWORD"]);
    expect(db.pathname).toBe(`/${pg["POSTGRES_DB"]}`);

    const minio = serviceEnv(service("minio"));
    expect(new URL(pgsnapEnv["PGSNAP_S3_ENDPOINT"]!).hostname).toBe("minio");
    expect(pgsnapEnv["PGSNAP_S3_ACCESS_KEY"]).toBe(minio["MINIO_ROOT_USER"]);
    expect(pgsnapEnv["PGSNAP_S3_SECRET_KEY"]).toBe(minio["MINIO_ROOT_PASSWORD"]);
    const storage = new URL(pgsnapEnv["PGSNAP_STORAGE"]!);
    expect(storage.protocol).toBe("s3:");
    const bucketCommand = [service("minio-bucket").command ?? []].flat().join(" ");
    expect(bucketCommand).toMatch(new RegExp(`mc mb --ignore-existing \\w+/${storage.hostname}\\b`));

    expect(new URL(pgsnapEnv["PGSNAP_SMTP_URL"]!).hostname).toBe("mailpit");
    const port = pgsnapEnv["PGSNAP_HEALTH_PORT"]!;
    expect(service("pgsnap").ports).toContain(`127.0.0.1:${port}:${port}`);
    expect((service("pgsnap").healthcheck!.test as string[]).join(" ")).toContain(`:${port}/healthz`);
  });

  it("backs up every company every minute, keeping some, and mails every outcome", () => {
    const cron = CronExpressionParser.parse(pgsnapEnv["PGSNAP_SCHEDULE"]!, {
      currentDate: new Date("2026-01-01T00:00:30Z"),
      tz: "UTC",
    });
    const [a, b] = [cron.next().getTime(), cron.next().getTime()];
    expect(b - a).toBeLessThanOrEqual(60_000);
    expect(pgsnapEnv["PGSNAP_SCOPE"]).toBe("all-tenants");
    expect(Number(pgsnapEnv["PGSNAP_KEEP_LAST"])).toBeGreaterThan(0);
    expect(pgsnapEnv["PGSNAP_NOTIFY_ON"]?.split(",")).toContain("success");
  });

  it("publishes ports on 127.0.0.1 only", () => {
    for (const [name, s] of Object.entries(services)) {
      for (const p of s.ports ?? [])
        expect(typeof p === "string" && p.startsWith("127.0.0.1:"), `${name}: ${JSON.stringify(p)}`).toBe(true);
    }
  });

  it("is documented: README names every variable the pgsnap service sets", () => {
    const readme = readFileSync(join(repoRoot, "README.md"), "utf8");
    for (const name of Object.keys(pgsnapEnv))
      expect(readme.includes(`\`${name}\``), `README names ${name}`).toBe(true);
  });
});

describe("deploy/kubernetes/cronjob.yaml", () => {
  const docs = parseAllDocuments(readFileSync(kubernetesPath, "utf8")).map((d) => d.toJS() as Record<string, any>);
  const cronJob = docs.find((d) => d["kind"] === "CronJob")!;
  const configMap = docs.find((d) => d["kind"] === "ConfigMap")!;

  it("runs one job of the mounted config per schedule, never two at once, as a non-root user", () => {
    expect(cronJob).toBeDefined();
    expect(cronJob["spec"].concurrencyPolicy).toBe("Forbid");
    const pod = cronJob["spec"].jobTemplate.spec.template.spec;
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    const container = pod.containers[0];
    expect(container.args[0]).toBe("run");
    const config = JSON.parse(configMap["data"]["pgsnap.config.json"]);
    expect(Object.keys(config.jobs)).toContain(container.args[1]);
    const env = Object.fromEntries(container.env.map((e: { name: string; value: string }) => [e.name, e.value]));
    const mount = container.volumeMounts.find((m: { name: string }) => m.name === "config");
    expect(env.PGSNAP_CONFIG).toBe(`${mount.mountPath}/pgsnap.config.json`);
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(30);
  });

  it("keeps secrets out of the config: they come from the Secret as ${VAR}", () => {
    const config = JSON.parse(configMap["data"]["pgsnap.config.json"]);
    expect(config.projects.app.db).toBe("${DATABASE_URL}");
    expect(config.notify.ops.smtp).toBe("${SMTP_URL}");
  });
});
