/** A minio client on an S3 endpoint, for test-side reads and writes that bypass pgsnap. */
import { Client } from "minio";

import type { S3Upstream } from "./s3-fault-proxy.js";

export function s3ClientFor(upstream: S3Upstream): Client {
  const url = new URL(upstream.endpoint);
  return new Client({
    endPoint: url.hostname,
    port: Number(url.port || (url.protocol === "https:" ? 443 : 80)),
    useSSL: url.protocol === "https:",
    accessKey: upstream.accessKey,
    secretKey: upstream.secretKey,
    region: upstream.region,
    pathStyle: true,
  });
}
