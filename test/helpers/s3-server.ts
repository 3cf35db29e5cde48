/**
 * A whole S3 test server in one call, for benchmarks and scripts that run outside vitest: a
 * fresh radosgw (rgw.ts) with the fault proxy (s3-fault-proxy.ts) in front of it. Tests use the
 * run's shared server instead (s3-global-setup.ts, s3.ts).
 *
 *   const s3 = await startS3Server();          // ~15 s: radosgw starts cold
 *   const bucket = await s3.createBucket();
 *   new S3Storage(bucket, "prefix", s3.settings());
 *   s3.stats().requests.uploadPart
 *   await s3.stop();
 *
 * It replaces an s3rver process with a 550-line patch of pgsnap's own (signature checks,
 * multipart listing, atomic writes, range fixes): the real server needs none of that.
 */
import { randomBytes } from "node:crypto";

import { startRgw } from "./rgw.js";
import { startS3FaultProxy } from "./s3-fault-proxy.js";
import type { FaultRule, IncompleteUpload, S3FaultProxy, S3Operation, S3ProxyStats } from "./s3-fault-proxy.js";
import { s3ClientFor } from "./s3-client.js";

export type { FaultRule, IncompleteUpload, S3Operation };
export type S3ServerStats = S3ProxyStats;

/** The same calls as the proxy's, asynchronous like the s3rver process this replaced. */
export interface S3TestServer {
  readonly endpoint: string;
  readonly accessKey: string;
  readonly secretKey: string;
  /** radosgw's start-up time in ms. */
  readonly startupMs: number;
  settings: S3FaultProxy["settings"];
  env: S3FaultProxy["env"];
  /** Creates a bucket (a fresh unique name when none is given) and returns its name. */
  createBucket: (name?: string) => Promise<string>;
  setFaults: (rules: FaultRule[]) => Promise<void>;
  clearFaults: () => Promise<void>;
  stats: () => Promise<S3ServerStats>;
  resetStats: () => Promise<void>;
  /** Incomplete multipart uploads in `bucket`. */
  incompleteUploads: (bucket: string) => Promise<IncompleteUpload[]>;
  /** Stops the proxy and radosgw, removes its data. */
  stop: () => Promise<void>;
}

/** Starts radosgw (installing it when missing and root) and a fault proxy in front of it. */
export async function startS3Server(): Promise<S3TestServer> {
  const rgw = await startRgw();
  let proxy: S3FaultProxy;
  try {
    proxy = await startS3FaultProxy(rgw);
  } catch (err) {
    await rgw.stop();
    throw err;
  }
  const client = s3ClientFor(rgw);
  return {
    endpoint: proxy.endpoint,
    accessKey: proxy.accessKey,
    secretKey: proxy.secretKey,
    startupMs: rgw.startupMs,
    settings: (overrides) => proxy.settings(overrides),
    env: (overrides) => proxy.env(overrides),
    setFaults: (rules) => Promise.resolve(proxy.setFaults(rules)),
    clearFaults: () => Promise.resolve(proxy.clearFaults()),
    stats: () => Promise.resolve(proxy.stats()),
    resetStats: () => Promise.resolve(proxy.resetStats()),
    createBucket: async (name) => {
      const bucket = name ?? `pgsnap-test-${randomBytes(4).toString("hex")}`;
      await client.makeBucket(bucket, rgw.region);
      return bucket;
    },
    incompleteUploads: (bucket) => proxy.incompleteUploads(bucket),
    stop: async () => {
      await proxy.stop();
      await rgw.stop();
    },
  };
}
