/**
 * A real S3-compatible server for tests: s3rver plus the additions of s3-server-main.mjs (SigV4
 * checking, multipart listing/abort, fault injection), run as a child process on 127.0.0.1.
 *
 *   const s3 = await startS3Server();
 *   const bucket = await s3.createBucket();
 *   new S3Storage(bucket, "prefix", s3.settings());
 *   await s3.setFaults([{ op: "uploadPart", times: 1 }]);   // next part upload answers 500
 *   await s3.stop();
 *
 * The child exits when its stdin closes, so it dies with the test process however that ends.
 */
import { spawn } from "node:child_process";
import type { ChildProcessByStdio } from "node:child_process";
import { randomBytes } from "node:crypto";
import type { Readable, Writable } from "node:stream";
import { fileURLToPath } from "node:url";

import { Client } from "minio";

import type { S3Settings } from "../../src/storage/storage.js";

/** Operation names the server counts and matches faults against. */
export type S3Operation =
  | "listBuckets"
  | "headBucket"
  | "createBucket"
  | "deleteBucket"
  | "deleteObjects"
  | "listUploads"
  | "getBucketLocation"
  | "listObjects"
  | "headObject"
  | "getObject"
  | "listParts"
  | "uploadPart"
  | "putObject"
  | "createUpload"
  | "completeUpload"
  | "abortUpload"
  | "deleteObject"
  | "other";

/** One fault: which requests (`op`, default all), how many (`times`, default all of them), what. */
export interface FaultRule {
  op?: S3Operation | S3Operation[] | undefined;
  times?: number | undefined;
  /** "error" answers `status` (default 500) with an S3 XML error; "reset" drops the connection;
   * "stall" never answers. */
  action?: "error" | "reset" | "stall" | undefined;
  status?: number | undefined;
  code?: string | undefined;
}

export interface S3ServerStats {
  /** Requests received per operation (fault-injected ones included). */
  requests: Partial<Record<S3Operation, number>>;
  /** Faults injected per operation. */
  injected: Partial<Record<S3Operation, number>>;
}

export interface IncompleteUpload {
  bucket: string;
  key: string;
  uploadId: string;
  initiated: string;
}

export interface S3TestServer {
  /** e.g. http://127.0.0.1:41234 */
  readonly endpoint: string;
  readonly accessKey: string;
  readonly secretKey: string;
  /** Settings for S3Storage / openStorage against this server. */
  settings(overrides?: Partial<S3Settings>): S3Settings;
  /** Creates a bucket (a fresh unique name when none is given) and returns its name. */
  createBucket(name?: string): Promise<string>;
  /** Replaces the fault rules (rules are tried in order; the first match applies). */
  setFaults(rules: FaultRule[]): Promise<void>;
  /** The next `n` part uploads answer 500 InternalError. */
  failPartUploads(n: number): Promise<void>;
  /** Every request answers 500 InternalError until clearFaults(). */
  failAll(): Promise<void>;
  clearFaults(): Promise<void>;
  stats(): Promise<S3ServerStats>;
  resetStats(): Promise<void>;
  /** Incomplete multipart uploads, read from the server's disk. */
  incompleteUploads(bucket?: string): Promise<IncompleteUpload[]>;
  /** Stops the server and removes its data. */
  stop(): Promise<void>;
}

const MAIN = fileURLToPath(new URL("./s3-server-main.mjs", import.meta.url));
const START_TIMEOUT_MS = 20_000;

/** Starts a fresh server (own process, own temp directory, free port). */
export async function startS3Server(): Promise<S3TestServer> {
  const env = { ...process.env };
  delete env["NODE_OPTIONS"]; // no test-runner loaders: the main script is plain JavaScript
  const child = spawn(process.execPath, [MAIN], { stdio: ["pipe", "pipe", "pipe"], env });
  const killOnExit = (): void => {
    child.kill("SIGKILL");
  };
  process.once("exit", killOnExit);

  let port: number;
  try {
    port = await readPort(child);
  } catch (err) {
    process.removeListener("exit", killOnExit);
    child.kill("SIGKILL");
    throw err;
  }
  // From here on the child must not keep the test process alive; its stdin pipe stays open
  // (unreferenced) so that the child notices when this process goes away.
  child.on("error", () => undefined);
  child.stdin.on("error", () => undefined);
  child.stdout.destroy();
  child.stderr.resume();
  unref(child.stdin);
  unref(child.stderr);
  child.unref();

  const endpoint = `http://127.0.0.1:${port}`;
  const accessKey = "S3RVER";
  const secretKey = "S3RVER";
  const admin = async (method: string, path: string, body?: unknown): Promise<unknown> => {
    const res = await fetch(`${endpoint}${path}`, {
      method,
      headers: body === undefined ? undefined : { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!res.ok) throw new Error(`S3 test server: ${method} ${path} answered ${res.status}`);
    return res.json();
  };
  const client = new Client({
    endPoint: "127.0.0.1",
    port,
    useSSL: false,
    accessKey,
    secretKey,
    pathStyle: true,
  });
  let stopped: Promise<void> | undefined;

  return {
    endpoint,
    accessKey,
    secretKey,
    settings: (overrides = {}) => ({
      endPoint: endpoint,
      accessKey,
      secretKey,
      region: "us-east-1",
      ...overrides,
    }),
    createBucket: async (name) => {
      const bucket = name ?? `pgsnap-test-${randomBytes(4).toString("hex")}`;
      await client.makeBucket(bucket);
      return bucket;
    },
    setFaults: async (rules) => {
      await admin("POST", "/__faults", { rules });
    },
    failPartUploads: async (n) => {
      await admin("POST", "/__faults", {
        rules: [{ op: "uploadPart", times: n, action: "error", status: 500 }],
      });
    },
    failAll: async () => {
      await admin("POST", "/__faults", { rules: [{ action: "error", status: 500 }] });
    },
    clearFaults: async () => {
      await admin("DELETE", "/__faults");
    },
    stats: async () => (await admin("GET", "/__stats")) as S3ServerStats,
    resetStats: async () => {
      await admin("DELETE", "/__stats");
    },
    incompleteUploads: async (bucket) => {
      const all = (await admin("GET", "/__uploads")) as IncompleteUpload[];
      return bucket === undefined ? all : all.filter((u) => u.bucket === bucket);
    },
    stop: () => {
      stopped ??= new Promise<void>((resolve) => {
        process.removeListener("exit", killOnExit);
        if (child.exitCode !== null || child.signalCode !== null) {
          resolve();
          return;
        }
        const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
        child.once("exit", () => {
          clearTimeout(timer);
          resolve();
        });
        child.stdin.end(); // the child exits (and removes its directory) when stdin closes
      });
      return stopped;
    },
  };
}

type ServerChild = ChildProcessByStdio<Writable, Readable, Readable>;

/** Waits for the child's one line of JSON, `{"port":N,...}`. */
function readPort(child: ServerChild): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    let out = "";
    let err = "";
    const fail = (why: string): void => {
      clearTimeout(timer);
      reject(new Error(`S3 test server did not start: ${why}${err === "" ? "" : `\n${err}`}`));
    };
    const timer = setTimeout(() => fail(`no answer within ${START_TIMEOUT_MS} ms`), START_TIMEOUT_MS);
    child.stderr.on("data", (chunk: Buffer) => {
      err += chunk.toString();
    });
    child.once("error", (e) => fail(e.message));
    child.once("exit", (code, signal) => fail(`exited (${signal ?? code})`));
    child.stdout.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      const newline = out.indexOf("\n");
      if (newline === -1) return;
      clearTimeout(timer);
      child.removeAllListeners("exit");
      child.removeAllListeners("error");
      try {
        const { port } = JSON.parse(out.slice(0, newline)) as { port: number };
        resolve(port);
      } catch {
        fail(`unexpected output ${JSON.stringify(out)}`);
      }
    });
  });
}

function unref(stream: Writable | Readable): void {
  (stream as unknown as { unref?: () => void }).unref?.();
}
