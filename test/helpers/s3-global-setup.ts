/**
 * vitest globalSetup of the `s3` project (vitest.config.ts): one real S3 server for the whole run,
 * provided to the tests as `inject("s3")`:
 * - `PGSNAP_TEST_S3_ENDPOINT` (+ `PGSNAP_TEST_S3_ACCESS_KEY`, `PGSNAP_TEST_S3_SECRET_KEY`,
 *   `PGSNAP_TEST_S3_REGION`) set: that server (a developer's MinIO, docker/compose.test.yaml);
 * - else a throwaway radosgw (test/helpers/rgw.ts), installed from Debian when missing.
 * A server that cannot be started fails the run: there is no skip.
 */
import type { TestProject } from "vitest/node";

import { startRgw } from "./rgw.js";
import type { S3Upstream } from "./s3-fault-proxy.js";

declare module "vitest" {
  export interface ProvidedContext {
    /** The real S3 server of this run and one user's keys. */
    s3: S3Upstream & { server: "radosgw" | "external" };
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const external = process.env.PGSNAP_TEST_S3_ENDPOINT;
  if (external !== undefined && external !== "") {
    project.provide("s3", {
      server: "external",
      endpoint: external,
      accessKey: process.env.PGSNAP_TEST_S3_ACCESS_KEY ?? "minioadmin",
      secretKey: process.env.PGSNAP_TEST_S3_SECRET_KEY ?? "minioadmin",
      region: process.env.PGSNAP_TEST_S3_REGION ?? "us-east-1",
    });
    return () => Promise.resolve();
  }
  const verbose = Boolean(process.env.PGSNAP_TEST_VERBOSE);
  const rgw = await startRgw({ log: verbose ? (line) => console.error(`[rgw] ${line}`) : undefined });
  console.error(`[${project.name}] radosgw ready at ${rgw.endpoint} in ${rgw.startupMs} ms`);
  project.provide("s3", {
    server: "radosgw",
    endpoint: rgw.endpoint,
    accessKey: rgw.accessKey,
    secretKey: rgw.secretKey,
    region: rgw.region,
  });
  return () => rgw.stop();
}
