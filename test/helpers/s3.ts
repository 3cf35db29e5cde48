/**
 * The real S3 server of a test run (see s3-global-setup.ts) from inside a test file: buckets of
 * its own per file, and a fault proxy in front of it.
 */
import { randomBytes } from "node:crypto";

import type { Client } from "minio";
import { inject } from "vitest";

import { s3ClientFor } from "./s3-client.js";
import type { S3Upstream } from "./s3-fault-proxy.js";

/** The run's S3 server and keys. */
export function s3Upstream(): S3Upstream & { server: "radosgw" | "external" } {
  return inject("s3");
}

/** A minio client on `upstream` (for test-side reads and writes that bypass pgsnap). */
export function s3Client(upstream: S3Upstream = s3Upstream()): Client {
  return s3ClientFor(upstream);
}

/** Creates a fresh bucket `pgsnap-<tag>-<random>` and returns its name. */
export async function createBucket(tag = "t", upstream: S3Upstream = s3Upstream()): Promise<string> {
  const name = `pgsnap-${tag}-${randomBytes(4).toString("hex")}`;
  await s3Client(upstream).makeBucket(name, upstream.region);
  return name;
}
