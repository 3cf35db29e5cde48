/**
 * A fault-injecting HTTP proxy in front of a real S3 server (radosgw in the tests, or the
 * developer's MinIO): it forwards every request unchanged (the Host header included, so SigV4
 * signatures made for the proxy's address still verify upstream) and, on the requests a rule
 * matches, injects a fault instead:
 *
 *   const proxy = await startS3FaultProxy(upstream);      // upstream: { endpoint, keys }
 *   proxy.setFaults([{ op: "uploadPart", times: 1, action: "error", status: 503 }]);
 *   new S3Storage(bucket, "p", proxy.settings());          // talks to the proxy
 *   proxy.stats().requests.uploadPart                      // requests seen, per operation
 *
 * Actions:
 * - `error`: drain the request, answer `status` (default 500) with an S3 XML error (`code`
 *   defaults by status); with `status: 200` this is the "error inside a 200" S3 documents for
 *   CompleteMultipartUpload (the request is not forwarded, so the upload is not completed);
 * - `error-after`: forward, let the server do the work, then answer as `error` would (the answer
 *   of a request that succeeded upstream was lost: a retried complete finds NoSuchUpload);
 * - `reset`: destroy the client connection at once;
 * - `cut-request`: forward `bytes` bytes (default half) of the request body, then destroy both
 *   connections (a connection reset mid-upload);
 * - `cut-response`: forward the response headers and `bytes` bytes (default half) of its body,
 *   then destroy the connection (a reset mid-download);
 * - `stall`: never answer (the request is held until the client gives up or the proxy stops);
 * - `stall-response`: forward the headers and `bytes` bytes of the body, then send nothing more;
 * - `flip-request` / `flip-response`: forward, with one bit flipped at byte `bytes` (default the
 *   middle) of the request / response body.
 *
 * The proxy runs in the test process; requests of child processes (bin/pgsnap.js) go through it
 * too. It must not import vitest.
 */
import { createServer, request as httpRequest } from "node:http";
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { Transform } from "node:stream";
import type { TransformCallback } from "node:stream";

import { s3ClientFor } from "./s3-client.js";
import type { S3Settings } from "../../src/storage/storage.js";

/** Operation names the proxy counts and matches rules against. */
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

export type FaultAction =
  | "error"
  | "error-after"
  | "reset"
  | "cut-request"
  | "cut-response"
  | "stall"
  | "stall-response"
  | "flip-request"
  | "flip-response";

/** One fault: which requests (`op`, default all), how many (`times`, default all), what. */
export interface FaultRule {
  op?: S3Operation | S3Operation[] | undefined;
  /** Only requests whose path contains this text (e.g. a key or a bucket name). */
  pathIncludes?: string | undefined;
  times?: number | undefined;
  action?: FaultAction | undefined;
  status?: number | undefined;
  code?: string | undefined;
  /** Byte offset for cut / stall-response / flip actions. */
  bytes?: number | undefined;
}

export interface S3ProxyStats {
  /** Requests received per operation (fault-injected ones included). */
  requests: Partial<Record<S3Operation, number>>;
  /** Faults injected per operation. */
  injected: Partial<Record<S3Operation, number>>;
}

export interface IncompleteUpload {
  key: string;
  uploadId: string;
}

/** Where the real server is, and whose keys to use. */
export interface S3Upstream {
  endpoint: string;
  accessKey: string;
  secretKey: string;
  region: string;
}

export interface S3FaultProxy {
  /** The proxy's own endpoint, e.g. http://127.0.0.1:41234 */
  readonly endpoint: string;
  readonly accessKey: string;
  readonly secretKey: string;
  readonly upstream: S3Upstream;
  /** Settings for S3Storage / openStorage that talk through the proxy. */
  settings(overrides?: Partial<S3Settings>): S3Settings;
  /** The PGSNAP_S3_* variables for bin/pgsnap.js through the proxy. */
  env(overrides?: { secretKey?: string }): Record<string, string>;
  /** Replaces the rules (tried in order; the first match applies). */
  setFaults(rules: FaultRule[]): void;
  /** The next `n` part uploads answer 500 InternalError. */
  failPartUploads(n: number): void;
  /** Every request answers 500 InternalError until clearFaults(). */
  failAll(): void;
  clearFaults(): void;
  stats(): S3ProxyStats;
  resetStats(): void;
  /** Resolves when the next request of `op` arrives (after its rule, if any, was applied). */
  nextRequest(op: S3Operation): Promise<void>;
  /** Incomplete multipart uploads in `bucket` (under `prefix`), asked of the upstream server directly. */
  incompleteUploads(bucket: string, prefix?: string): Promise<IncompleteUpload[]>;
  /** Stops listening and destroys every held connection. */
  stop(): Promise<void>;
}

const DEFAULT_CODES: Record<number, string> = {
  200: "InternalError",
  400: "BadRequest",
  403: "AccessDenied",
  404: "NoSuchKey",
  408: "RequestTimeout",
  429: "SlowDown",
  500: "InternalError",
  502: "BadGateway",
  503: "ServiceUnavailable",
  504: "GatewayTimeout",
};

/** Starts a proxy on a free loopback port in front of `upstream`. */
export async function startS3FaultProxy(upstream: S3Upstream): Promise<S3FaultProxy> {
  const target = new URL(upstream.endpoint);
  let rules: (FaultRule & { left: number })[] = [];
  let stats: S3ProxyStats = { requests: {}, injected: {} };
  const sockets = new Set<Socket>();
  let waiters: { op: S3Operation; resolve: () => void }[] = [];

  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://proxy");
    const op = classify(req.method ?? "GET", url);
    stats.requests[op] = (stats.requests[op] ?? 0) + 1;
    const rule = rules.find(
      (r) =>
        r.left > 0 &&
        (r.op === undefined || (Array.isArray(r.op) ? r.op.includes(op) : r.op === op)) &&
        (r.pathIncludes === undefined || decodeURIComponent(url.pathname).includes(r.pathIncludes)),
    );
    if (rule !== undefined) {
      rule.left -= 1;
      stats.injected[op] = (stats.injected[op] ?? 0) + 1;
    }
    handle(req, res, rule);
    const ready = waiters.filter((w) => w.op === op);
    waiters = waiters.filter((w) => w.op !== op);
    for (const w of ready) w.resolve();
  });
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });

  const handle = (req: IncomingMessage, res: ServerResponse, rule: FaultRule | undefined): void => {
    const action = rule?.action ?? "error";
    if (rule !== undefined && action === "error") {
      req.resume();
      req.once("end", () => sendError(res, rule));
      return;
    }
    if (rule !== undefined && action === "reset") {
      req.socket.destroy();
      return;
    }
    if (rule !== undefined && action === "stall") {
      req.resume(); // read the upload, answer nothing
      return;
    }
    const upstreamReq = httpRequest(
      {
        host: target.hostname,
        port: target.port,
        method: req.method,
        path: req.url,
        headers: req.headers,
      },
      (upstreamRes) => {
        if (rule !== undefined && action === "error-after") {
          upstreamRes.resume();
          upstreamRes.once("end", () => sendError(res, rule));
          return;
        }
        res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.headers);
        const length = Number(upstreamRes.headers["content-length"] ?? 0);
        const at = rule?.bytes ?? Math.floor(length / 2);
        if (rule !== undefined && (action === "cut-response" || action === "stall-response")) {
          upstreamRes
            .pipe(
              new Limit(at, () => {
                if (action === "cut-response") res.socket?.destroy();
                upstreamRes.destroy();
              }),
            )
            .pipe(res);
          return;
        }
        if (rule !== undefined && action === "flip-response") {
          upstreamRes.pipe(new FlipBit(at)).pipe(res);
          return;
        }
        upstreamRes.pipe(res);
      },
    );
    upstreamReq.on("error", () => res.socket?.destroy());
    const length = Number(req.headers["content-length"] ?? 0);
    const at = rule?.bytes ?? Math.floor(length / 2);
    if (rule !== undefined && action === "cut-request") {
      req
        .pipe(
          new Limit(at, () => {
            upstreamReq.destroy();
            req.socket.destroy();
          }),
        )
        .pipe(upstreamReq);
      return;
    }
    if (rule !== undefined && action === "flip-request") {
      req.pipe(new FlipBit(at)).pipe(upstreamReq);
      return;
    }
    req.pipe(upstreamReq);
  };

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const port = (server.address() as { port: number }).port;
  const endpoint = `http://127.0.0.1:${port}`;
  const admin = s3ClientFor(upstream);

  return {
    endpoint,
    accessKey: upstream.accessKey,
    secretKey: upstream.secretKey,
    upstream,
    settings: (overrides = {}) => ({
      endPoint: endpoint,
      accessKey: upstream.accessKey,
      secretKey: upstream.secretKey,
      region: upstream.region,
      ...overrides,
    }),
    env: (overrides = {}) => ({
      PGSNAP_S3_ENDPOINT: endpoint,
      PGSNAP_S3_ACCESS_KEY: upstream.accessKey,
      PGSNAP_S3_SECRET_KEY: overrides.secretKey ?? upstream.secretKey,
      PGSNAP_S3_REGION: upstream.region,
    }),
    setFaults: (next) => {
      rules = next.map((r) => ({ ...r, left: r.times ?? Number.POSITIVE_INFINITY }));
    },
    failPartUploads: (n) => {
      rules = [{ op: "uploadPart", action: "error", status: 500, left: n }];
    },
    failAll: () => {
      rules = [{ action: "error", status: 500, left: Number.POSITIVE_INFINITY }];
    },
    clearFaults: () => {
      rules = [];
    },
    stats: () => structuredClone(stats),
    resetStats: () => {
      stats = { requests: {}, injected: {} };
    },
    nextRequest: (op) =>
      new Promise<void>((resolve) => {
        waiters.push({ op, resolve });
      }),
    incompleteUploads: async (bucket, prefix = "") => {
      const out: IncompleteUpload[] = [];
      const stream = admin.listIncompleteUploads(bucket, prefix, true);
      for await (const upload of stream as AsyncIterable<{ key: string; uploadId: string }>) {
        out.push({ key: upload.key, uploadId: upload.uploadId });
      }
      return out;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

function sendError(res: ServerResponse, rule: FaultRule): void {
  const status = rule.status ?? 500;
  const code = rule.code ?? DEFAULT_CODES[status] ?? "InternalError";
  const body =
    `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code>` +
    `<Message>injected by the test proxy</Message><RequestId>proxy</RequestId></Error>`;
  res.writeHead(status, { "content-type": "application/xml", "content-length": Buffer.byteLength(body) });
  res.end(body);
}

/** Passes `limit` bytes through, then calls `reached` once and passes nothing more. */
class Limit extends Transform {
  private left: number;
  private fired = false;
  constructor(
    limit: number,
    private readonly reached: () => void,
  ) {
    super();
    this.left = limit;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (this.left > 0) {
      const part = chunk.subarray(0, this.left);
      this.left -= part.length;
      this.push(part);
    }
    if (this.left <= 0 && !this.fired) {
      this.fired = true;
      // after the bytes above have been written out
      setImmediate(this.reached);
    }
    callback();
  }
}

/** Flips the lowest bit of the byte at `offset`. */
class FlipBit extends Transform {
  private seen = 0;
  constructor(private readonly offset: number) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    const at = this.offset - this.seen;
    this.seen += chunk.length;
    if (at >= 0 && at < chunk.length) {
      const copy = Buffer.from(chunk);
      copy[at] = (copy[at] ?? 0) ^ 0x01;
      callback(null, copy);
      return;
    }
    callback(null, chunk);
  }
}

/** The S3 operation of a path-style request. */
export function classify(method: string, url: URL): S3Operation {
  const [bucket, ...rest] = url.pathname.slice(1).split("/");
  const key = rest.join("/");
  const query = url.searchParams;
  if (bucket === undefined || bucket === "") return method === "GET" ? "listBuckets" : "other";
  if (key === "") {
    switch (method) {
      case "HEAD":
        return "headBucket";
      case "PUT":
        return "createBucket";
      case "DELETE":
        return "deleteBucket";
      case "POST":
        return query.has("delete") ? "deleteObjects" : "other";
      case "GET":
        if (query.has("uploads")) return "listUploads";
        if (query.has("location")) return "getBucketLocation";
        return "listObjects";
      default:
        return "other";
    }
  }
  switch (method) {
    case "HEAD":
      return "headObject";
    case "GET":
      return query.has("uploadId") ? "listParts" : "getObject";
    case "PUT":
      return query.has("uploadId") ? "uploadPart" : "putObject";
    case "POST":
      if (query.has("uploads")) return "createUpload";
      if (query.has("uploadId")) return "completeUpload";
      return "other";
    case "DELETE":
      return query.has("uploadId") ? "abortUpload" : "deleteObject";
    default:
      return "other";
  }
}
