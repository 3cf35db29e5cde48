/**
 * A real S3 server for tests and benchmarks: Ceph's radosgw (Debian 12: Ceph 16.2, "Pacific"),
 * on a throwaway single-node cluster — one monitor, one OSD on the in-memory `memstore` object
 * store, one radosgw with the beast frontend — all on 127.0.0.1, all state in a temp directory.
 * No Docker, no systemd, no ceph-mgr (radosgw does not need one).
 *
 *   const rgw = await startRgw();        // ~15-20 s cold; installs the packages when missing
 *   rgw.endpoint, rgw.accessKey, rgw.secretKey
 *   await rgw.stop();                    // stops the three daemons by PID, removes the directory
 *
 * The daemons run in the foreground as children of this process, plus a watchdog shell whose
 * stdin is a pipe from this process: if this process dies (even by SIGKILL), the pipe closes and
 * the watchdog kills the daemons by PID and removes the directory. Nothing is ever killed by name.
 *
 * Pitfalls this encodes (NOTES.md, "A real S3 server"):
 * - with cephx off, radosgw still defaults to `ms_mon_client_mode = secure` and hangs until
 *   `client mount timeout`, then dies: `ms mon client mode = crc` for the rgw client;
 * - one OSD: size 1, 8 PGs per pool, no autoscaler (no mgr), `mon max pg per osd` raised;
 * - deleted data stays in RAM until RGW's garbage collector runs (default after 2 h): 30 s here;
 * - RGW answers SignatureDoesNotMatch to SigV4 without x-amz-content-sha256 (minio sends it).
 *
 * This module is imported by the vitest global setup and by bench/; it must not import vitest.
 */
import { installDebianPackages } from "./apt.js";
import { execFile, spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { createWriteStream, existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { promisify } from "node:util";

const execFileAsync = promisify(execFile);

/** The Debian packages the cluster needs (ceph-common brings `ceph` and the tools). */
export const RGW_PACKAGES = ["ceph-mon", "ceph-osd", "radosgw", "ceph-common"] as const;
const BINARIES = ["ceph-mon", "ceph-osd", "radosgw", "radosgw-admin", "ceph", "ceph-authtool", "monmaptool"];

/** An S3 endpoint with one user's credentials. */
export interface S3Endpoint {
  /** e.g. http://127.0.0.1:41234 */
  readonly endpoint: string;
  readonly accessKey: string;
  readonly secretKey: string;
  readonly region: string;
}

export interface RunningRgw extends S3Endpoint {
  /** The cluster's directory (config, logs); removed by stop(). */
  readonly dir: string;
  /** Milliseconds from startRgw() to a working endpoint with a user (package install excluded). */
  readonly startupMs: number;
  /** PIDs of ceph-mon, ceph-osd and radosgw. */
  readonly pids: readonly number[];
  /** Creates another S3 user with fresh keys (radosgw-admin). */
  createUser(uid?: string): Promise<{ accessKey: string; secretKey: string }>;
  /** Stops the daemons (SIGTERM, SIGKILL after 5 s) and removes the directory. Idempotent. */
  stop(): Promise<void>;
}

export interface StartRgwOptions {
  /** Install the Debian packages when missing (default true; needs root). */
  install?: boolean | undefined;
  /** OSD capacity in bytes; RAM is used only as data is written (default 4 GiB). */
  memstoreBytes?: number | undefined;
  /** Progress lines (default: none). */
  log?: ((line: string) => void) | undefined;
  /** Give up after this long (default 120 s). */
  timeoutMs?: number | undefined;
}

/** True when every binary the cluster needs is on PATH. */
export function rgwInstalled(): boolean {
  const dirs = (process.env.PATH ?? "/usr/bin:/bin").split(":");
  return BINARIES.every((bin) => dirs.some((dir) => existsSync(join(dir, bin))));
}

/** Installs the Debian packages (as root, waiting for other apt runs on the machine). */
export async function installRgwPackages(log: (line: string) => void = () => undefined): Promise<void> {
  await installDebianPackages(
    RGW_PACKAGES,
    `run "apt-get install --no-install-recommends ${RGW_PACKAGES.join(" ")}", or point PGSNAP_TEST_S3_ENDPOINT at an S3 server (README, Tests against your own servers)`,
    log,
  );
}

/** Starts a fresh cluster; see the module comment. */
export async function startRgw(options: StartRgwOptions = {}): Promise<RunningRgw> {
  const log = options.log ?? (() => undefined);
  if (!rgwInstalled()) {
    if (options.install === false) throw new Error("radosgw is not installed");
    await installRgwPackages(log);
  }
  const started = Date.now();
  const deadline = started + (options.timeoutMs ?? 120_000);
  const dir = await mkdtemp(join(tmpdir(), "pgsnap-rgw-"));
  const daemons: ChildProcess[] = [];
  let watchdog: ChildProcess | undefined;
  const conf = join(dir, "ceph.conf");
  const env = { ...process.env, CEPH_CONF: conf };
  const run = async (cmd: string, args: string[], timeoutMs = 30_000): Promise<string> => {
    const { stdout } = await execFileAsync(cmd, args, { env, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 });
    return stdout;
  };

  const stopAll = async (): Promise<void> => {
    // radosgw first, then the OSD, then the monitor (the reverse of the start order)
    for (const child of [...daemons].reverse()) await stopChild(child);
    // Nothing left for the watchdog to kill (an empty line): a stale PID may be reused.
    watchdog?.stdin?.end("\n");
    await rm(dir, { recursive: true, force: true });
  };

  try {
    for (const sub of ["run", "log", "crash", "mon.a", "osd.0", "rgw.a"]) await mkdir(join(dir, sub));
    const [monPort = 0, rgwPort = 0] = await freePorts(2);
    // The OSD binds four ports from a range: pick one below the kernel's ephemeral range (where
    // freePorts' answers come from); the OSD skips ports that happen to be taken.
    const osdPortMin = 20_000 + Math.floor(Math.random() * 100) * 100;
    const fsid = randomUUID();
    await writeFile(
      conf,
      cephConf({
        dir,
        fsid,
        monPort,
        rgwPort,
        osdPortMin,
        memstoreBytes: options.memstoreBytes ?? 4 * 1024 ** 3,
      }),
    );

    // monitor
    const keyring = join(dir, "keyring");
    await run("ceph-authtool", ["--create-keyring", keyring, "--gen-key", "-n", "mon.", "--cap", "mon", "allow *"]);
    await run("ceph-authtool", [keyring, "--gen-key", "-n", "client.admin", "--cap", "mon", "allow *"]);
    await run("monmaptool", ["--create", "--fsid", fsid, "--addv", "a", `[v2:127.0.0.1:${monPort}]`, `${dir}/monmap`]);
    await run("ceph-mon", ["--mkfs", "-i", "a", "--monmap", `${dir}/monmap`, "--keyring", keyring]);
    daemons.push(spawnDaemon("ceph-mon", ["-f", "-i", "a"], env, join(dir, "log", "mon.a.stderr")));
    watchdog = startWatchdog(dir);
    const watch = (): void => {
      watchdog?.stdin?.write(daemons.map((d) => d.pid ?? 0).join(" ") + "\n");
    };
    watch();

    // OSD: `ceph osd new` also waits for the monitor (retried until it answers)
    const osdUuid = randomUUID();
    const osdId = (
      await retry(deadline, () => run("ceph", ["--connect-timeout", "5", "osd", "new", osdUuid], 15_000), daemons)
    ).trim();
    if (osdId !== "0") throw new Error(`expected osd id 0, got ${osdId}`);
    log(`monitor up on v2:127.0.0.1:${monPort} (${Date.now() - started} ms)`);
    await run("ceph-osd", ["-i", osdId, "--mkfs", "--osd-uuid", osdUuid]);
    daemons.push(spawnDaemon("ceph-osd", ["-f", "-i", osdId], env, join(dir, "log", "osd.0.stderr")));
    watch();

    // radosgw: started right away; it creates its pools as soon as the OSD is up
    daemons.push(spawnDaemon("radosgw", ["-f", "-n", "client.rgw.a"], env, join(dir, "log", "rgw.a.stderr")));
    watch();
    const endpoint = `http://127.0.0.1:${rgwPort}`;
    await retry(
      deadline,
      async () => {
        const res = await fetch(`${endpoint}/`, { signal: AbortSignal.timeout(2_000) });
        await res.arrayBuffer();
        if (res.status !== 200) throw new Error(`radosgw answered ${res.status}`);
      },
      daemons,
      250,
    );
    log(`radosgw answering on ${endpoint} (${Date.now() - started} ms)`);

    const createUser = async (uid = `u${randomBytes(4).toString("hex")}`) => {
      const accessKey = `PGSNAP${randomBytes(7).toString("hex").toUpperCase()}`;
      const secretKey = randomBytes(20).toString("hex");
      await run("radosgw-admin", [
        "user",
        "create",
        `--uid=${uid}`,
        `--display-name=${uid}`,
        `--access-key=${accessKey}`,
        `--secret-key=${secretKey}`,
      ]);
      return { accessKey, secretKey };
    };
    const user = await createUser("pgsnap-test");
    const startupMs = Date.now() - started;
    log(`S3 user ready (${startupMs} ms)`);
    let stopped: Promise<void> | undefined;
    return {
      endpoint,
      region: "us-east-1",
      ...user,
      dir,
      startupMs,
      pids: daemons.map((d) => d.pid ?? 0),
      createUser,
      stop: () => (stopped ??= stopAll()),
    };
  } catch (err) {
    const logs = await tailLogs(dir);
    await stopAll().catch(() => undefined);
    throw new Error(`radosgw did not start: ${(err as Error).message}${logs}`, { cause: err });
  }
}

function cephConf(c: {
  dir: string;
  fsid: string;
  monPort: number;
  rgwPort: number;
  osdPortMin: number;
  memstoreBytes: number;
}): string {
  return `[global]
fsid = ${c.fsid}
mon host = [v2:127.0.0.1:${c.monPort}]
mon initial members = a
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind msgr1 = false
ms bind msgr2 = true
ms bind port min = ${c.osdPortMin}
ms bind port max = ${c.osdPortMin + 99}
# cephx off inside the cluster (S3 request signing is separate and still enforced)
auth cluster required = none
auth service required = none
auth client required = none
keyring = ${c.dir}/keyring
run dir = ${c.dir}/run
pid file = ${c.dir}/run/$name.pid
admin socket = ${c.dir}/run/$name.asok
log file = ${c.dir}/log/$name.log
crash dir = ${c.dir}/crash
client mount timeout = 60
# one OSD on one host: 1 replica, few PGs, no autoscaler (there is no mgr)
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon max pg per osd = 1000
mon warn on pool no redundancy = false
mon data avail warn = 2
mon data avail crit = 1
osd objectstore = memstore
memstore device bytes = ${c.memstoreBytes}

[mon]
mon data = ${c.dir}/mon.$id

[osd]
osd data = ${c.dir}/osd.$id
osd op num shards = 2
osd op num threads per shard = 1

[client.rgw.a]
# radosgw's built-in defaults are auth_client_required=cephx and ms_mon_client_mode=secure; with
# auth "none" only crc exists, and without this line radosgw dies after client_mount_timeout.
ms mon client mode = crc
rgw data = ${c.dir}/rgw.a
rgw frontends = beast endpoint=127.0.0.1:${c.rgwPort}
rgw thread pool size = 64
rgw enable usage log = false
# deleted object data is freed by RGW's garbage collector, by default after 2 hours; on memstore
# that is RAM, so collect after 30 s.
rgw gc obj min wait = 30
rgw gc processor period = 30
rgw gc processor max time = 30
`;
}

function spawnDaemon(cmd: string, args: string[], env: NodeJS.ProcessEnv, stderrFile: string): ChildProcess {
  const child = spawn(cmd, args, { env, stdio: ["ignore", "ignore", "pipe"] });
  child.stderr?.pipe(createWriteStream(stderrFile));
  child.on("error", () => undefined);
  child.unref();
  (child.stderr as unknown as { unref?: () => void } | null)?.unref?.();
  return child;
}

/**
 * A shell that reads lines of PIDs from its stdin (a pipe from this process) and, when the pipe
 * closes, kills the last PIDs it was given and removes `dir`.
 */
function startWatchdog(dir: string): ChildProcess {
  const script =
    'pids=""; while read -r line; do pids=$line; done; [ -n "$pids" ] && kill -9 $pids 2>/dev/null; rm -rf "$1"';
  const child = spawn("sh", ["-c", script, "sh", dir], { stdio: ["pipe", "ignore", "ignore"], detached: true });
  child.on("error", () => undefined);
  child.stdin?.on("error", () => undefined);
  child.unref();
  (child.stdin as unknown as { unref?: () => void } | null)?.unref?.();
  return child;
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
  await exited;
  clearTimeout(timer);
}

/** Retries `fn` until it resolves, a daemon exits, or the deadline passes. */
async function retry<T>(deadline: number, fn: () => Promise<T>, daemons: ChildProcess[], pauseMs = 300): Promise<T> {
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      const dead = daemons.find((d) => d.exitCode !== null || d.signalCode !== null);
      if (dead !== undefined) {
        throw new Error(`${dead.spawnfile} exited (${dead.signalCode ?? dead.exitCode})`, { cause: err });
      }
      if (Date.now() > deadline) throw err;
      await delay(pauseMs);
    }
  }
}

/** `n` distinct free TCP ports on 127.0.0.1 (from the kernel). */
async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
          const server = createServer();
          server.once("error", reject);
          server.listen(0, "127.0.0.1", () => resolve(server));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as { port: number }).port);
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}

async function tailLogs(dir: string): Promise<string> {
  let out = "";
  try {
    for (const name of (await readdir(join(dir, "log"))).sort()) {
      const text = await readFile(join(dir, "log", name), "utf8");
      const lines = text.trimEnd().split("\n").slice(-8).join("\n");
      if (lines !== "") out += `\n== ${name}\n${lines}`;
    }
  } catch {
    // no logs yet
  }
  return out;
}
