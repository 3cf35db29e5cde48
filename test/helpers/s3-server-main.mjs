// A real S3-compatible server for tests, run as its own process by test/helpers/s3-server.ts:
//   node test/helpers/s3-server-main.mjs
// Plain JavaScript so that it runs with plain `node` (no TypeScript loader).
//
// It serves s3rver (npm) on 127.0.0.1 on a free port with a fresh temp directory, and adds what
// s3rver lacks but the minio client and pgsnap rely on (see NOTES.md, "S3-compatible server for
// tests"):
// - SigV4 signature checking: s3rver accepts any V4 signature whose access key exists, so a wrong
//   secret key would go unnoticed. Here a wrong secret gets 403 SignatureDoesNotMatch, an unknown
//   access key 403 InvalidAccessKeyId, as from S3.
// - ListMultipartUploads (GET /bucket?uploads), ListParts (GET /bucket/key?uploadId=) and
//   AbortMultipartUpload (DELETE /bucket/key?uploadId=), answered from s3rver's own upload
//   directories; UploadPart / CompleteMultipartUpload of an unknown upload id get 404
//   NoSuchUpload.
// - Two fixes of s3rver's FilesystemStore: putObject answered before the data was flushed and
//   wrote in place (a read right after a write could see a short object); it now writes a temp
//   file, waits for it and renames. getObject served the whole object for `Range: bytes=0-0`.
// - Fault injection for tests, over HTTP (no auth; `__` cannot start a bucket name):
//     POST   /__faults   {"rules":[{"op":"uploadPart","times":1,"action":"error","status":500}]}
//                        replaces the rules. `op` is one operation name (see classify()), a list
//                        of them, or omitted for every S3 request; `times` is how many matching
//                        requests fail (omitted: all of them); `action` is "error" (drain the
//                        body, answer `status` with an S3 XML error, default 500 InternalError),
//                        "reset" (destroy the connection) or "stall" (never answer).
//     DELETE /__faults   removes every rule.
//     GET    /__stats    {"requests":{op:n},"injected":{op:n}} since start or the last reset.
//     DELETE /__stats    resets the counters.
//     GET    /__uploads  [{"bucket","key","uploadId","initiated"}]: incomplete multipart uploads,
//                        read from disk (independent of the ListMultipartUploads answer).
//
// Startup prints exactly one line to stdout: {"port":N,"directory":"..."}. The process exits when
// its stdin closes (the parent died or stopped it), on SIGTERM and on SIGINT, and removes its
// directory. Nothing else is printed unless startup fails.
import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { createReadStream, createWriteStream, rmSync } from "node:fs";
import { mkdir, mkdtemp, readFile, readdir, rename, rm, stat, unlink } from "node:fs/promises";
import { createServer } from "node:http";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";

const require = createRequire(import.meta.url);
const S3rver = require("s3rver");
const FilesystemStore = require("s3rver/lib/stores/filesystem");
const S3Object = require("s3rver/lib/models/object");

const ACCESS_KEY = "S3RVER"; // s3rver's built-in account (lib/models/account.js)
const SECRET_KEY = "S3RVER";
const UPLOADS_DIR = "._S3rver_uploads"; // where s3rver's FilesystemStore keeps multipart uploads

// ---------------------------------------------------------------------------------------------
// FilesystemStore fixes

/** Atomic, flushed object write: temp file in the same directory, then rename. */
FilesystemStore.prototype.putObject = async function putObject(object) {
  const objectPath = this.getResourcePath(object.bucket, object.key, "object");
  await mkdir(join(objectPath, ".."), { recursive: true });
  // The temp name does not end with "._S3rver_object", so listings ignore it.
  const tempPath = `${objectPath}.tmp-${randomBytes(6).toString("hex")}`;
  const md5 = createHash("md5");
  let size = 0;
  const source = Buffer.isBuffer(object.content) ? Readable.from([object.content]) : object.content;
  try {
    await pipeline(
      source,
      new Transform({
        transform(chunk, _encoding, callback) {
          md5.update(chunk);
          size += chunk.length;
          callback(null, chunk);
        },
      }),
      createWriteStream(tempPath),
    );
    const digest = md5.digest("hex");
    await this.putMetadata(object.bucket, object.key, object.metadata, digest);
    await rename(tempPath, objectPath);
    return { size, md5: digest };
  } catch (err) {
    await unlink(tempPath).catch(() => {});
    throw err;
  }
};

/** Same as s3rver's, except that an explicit `end` of 0 is honoured (bytes=0-0). */
FilesystemStore.prototype.getObject = async function getObject(bucket, key, options) {
  try {
    const metadata = await this.getMetadata(bucket, key);
    const lastByte = Math.max(0, Number(metadata["content-length"]) - 1);
    const hasRange = options !== undefined && (options.start !== undefined || options.end !== undefined);
    const range = {
      start: options?.start ?? 0,
      end: Math.min(options?.end ?? Infinity, lastByte),
    };
    const object = new S3Object(bucket, key, null, metadata);
    if (hasRange) object.range = range;
    if (range.start < 0 || range.end < range.start) return object; // not satisfiable
    object.content = await new Promise((resolve, reject) => {
      const stream = createReadStream(this.getResourcePath(bucket, key, "object"), range)
        .on("error", reject)
        .on("open", () => resolve(stream));
    });
    return object;
  } catch (err) {
    if (err.code === "ENOENT") return null;
    throw err;
  }
};

/**
 * s3rver's listing walks directories in readdir order, so keys were neither sorted (S3 lists in
 * UTF-8 byte order) nor paged correctly past 1,000 keys, and it ignored `encoding-type=url`,
 * which the minio client always asks for and always decodes (a key with `%` broke listing).
 * This lists everything, sorts, then applies start-after and max-keys; with `encoding-type=url`
 * keys are returned (and taken back from continuation tokens) URL-encoded.
 */
const originalListObjects = Object.getOwnPropertyDescriptor(FilesystemStore.prototype, "listObjects").value;
FilesystemStore.prototype.listObjects = async function listObjects(bucket, options) {
  const encode = options.encodingType === "url";
  const startAfter = options.startAfter ? (encode ? decodeLoose(options.startAfter) : options.startAfter) : "";
  const maxKeys = options.maxKeys ?? Infinity;
  const all = await originalListObjects.call(this, bucket, { ...options, startAfter: "", maxKeys: Infinity });
  const sorted = all.objects
    .filter((object) => object.key > startAfter)
    .sort((a, b) => Buffer.compare(Buffer.from(a.key), Buffer.from(b.key)));
  const page = sorted.slice(0, maxKeys);
  if (encode) {
    for (const object of page) object.key = encodeURIComponent(object.key);
  }
  return { objects: page, commonPrefixes: all.commonPrefixes, isTruncated: sorted.length > page.length };
};

// ---------------------------------------------------------------------------------------------
// Requests

/** Names one S3 request, for fault rules and counters. */
function classify(method, bucket, key, query) {
  if (!bucket) return method === "GET" ? "listBuckets" : "other";
  if (!key) {
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

function escapeXml(text) {
  const entities = { "<": "&lt;", ">": "&gt;", "&": "&amp;", "'": "&apos;", '"': "&quot;" };
  return String(text).replace(/[<>&'"]/g, (c) => entities[c]);
}

function sendXml(res, status, xml) {
  const body = `<?xml version="1.0" encoding="UTF-8"?>\n${xml}`;
  res.writeHead(status, {
    "content-type": "application/xml",
    "content-length": Buffer.byteLength(body),
    "x-amz-request-id": randomBytes(8).toString("hex").toUpperCase(),
  });
  res.end(body);
}

function sendError(res, status, code, message, resource) {
  sendXml(
    res,
    status,
    `<Error><Code>${escapeXml(code)}</Code><Message>${escapeXml(message)}</Message>` +
      `<Resource>${escapeXml(resource)}</Resource></Error>`,
  );
}

function sendJson(res, status, value) {
  const body = JSON.stringify(value);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
  res.end(body);
}

/** Reads the request body fully (admin requests only: small). */
async function readBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return Buffer.concat(chunks).toString("utf8");
}

/** Consumes the request body, then calls `then`: answering before the upload ended would make
 * the client fail with EPIPE instead of reading the answer. */
function drainThen(req, then) {
  req.on("end", then);
  req.on("error", () => {});
  req.resume();
}

// ---------------------------------------------------------------------------------------------
// SigV4 (https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html)

function encodeRfc3986(text) {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function decodeLoose(text) {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

const hmac = (key, data) => createHmac("sha256", key).update(data).digest();

/**
 * Checks the Authorization header of a SigV4 request; returns undefined when it is fine (or not
 * SigV4: s3rver handles anonymous and V2 requests itself), else [status, code, message].
 */
function checkSignature(req, rawPath, rawQuery) {
  const authorization = req.headers.authorization;
  if (authorization === undefined || !authorization.startsWith("AWS4-HMAC-SHA256 ")) return undefined;
  const match =
    /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request,\s*SignedHeaders=([^,]+),\s*Signature=([0-9a-f]{64})$/.exec(
      authorization,
    );
  if (match === null) return [400, "AuthorizationHeaderMalformed", "The authorization header is malformed."];
  const [, accessKey, day, region, service, signedHeaders, signature] = match;
  if (accessKey !== ACCESS_KEY) {
    return [403, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records."];
  }
  const canonicalUri = rawPath
    .split("/")
    .map((segment) => encodeRfc3986(decodeLoose(segment)))
    .join("/");
  const canonicalQuery = rawQuery
    .split("&")
    .filter((pair) => pair !== "")
    .map((pair) => {
      const at = pair.indexOf("=");
      const name = at === -1 ? pair : pair.slice(0, at);
      const value = at === -1 ? "" : pair.slice(at + 1);
      return [encodeRfc3986(decodeLoose(name)), encodeRfc3986(decodeLoose(value))];
    })
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0))
    .map(([name, value]) => `${name}=${value}`)
    .join("&");
  const canonicalHeaders = signedHeaders
    .split(";")
    .map(
      (name) =>
        `${name}:${String(req.headers[name] ?? "")
          .trim()
          .replace(/ +/g, " ")}\n`,
    )
    .join("");
  const payloadHash = String(req.headers["x-amz-content-sha256"] ?? "UNSIGNED-PAYLOAD");
  const canonicalRequest = [
    req.method,
    canonicalUri,
    canonicalQuery,
    canonicalHeaders,
    signedHeaders,
    payloadHash,
  ].join("\n");
  const stringToSign = [
    "AWS4-HMAC-SHA256",
    String(req.headers["x-amz-date"] ?? ""),
    `${day}/${region}/${service}/aws4_request`,
    createHash("sha256").update(canonicalRequest).digest("hex"),
  ].join("\n");
  const signingKey = hmac(hmac(hmac(hmac(`AWS4${SECRET_KEY}`, day), region), service), "aws4_request");
  const expected = hmac(signingKey, stringToSign);
  const provided = Buffer.from(signature, "hex");
  if (provided.length !== expected.length || !timingSafeEqual(provided, expected)) {
    return [
      403,
      "SignatureDoesNotMatch",
      "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
    ];
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Multipart bookkeeping on top of s3rver's upload directories

async function exists(path) {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Every incomplete upload of `bucket` (all buckets when undefined), read from disk. */
async function readUploads(directory, bucket) {
  const buckets = bucket === undefined ? await readdir(directory).catch(() => []) : [bucket];
  const uploads = [];
  for (const name of buckets) {
    const uploadsDir = join(directory, name, UPLOADS_DIR);
    for (const uploadId of await readdir(uploadsDir).catch(() => [])) {
      const keyFile = join(uploadsDir, uploadId, "key");
      try {
        const [key, info] = await Promise.all([readFile(keyFile, "utf8"), stat(keyFile)]);
        uploads.push({ bucket: name, key, uploadId, initiated: info.mtime.toISOString() });
      } catch {
        // a part PUT to an aborted upload can recreate the directory without a key file
      }
    }
  }
  uploads.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.uploadId < b.uploadId ? -1 : 1));
  return uploads;
}

async function uploadKey(directory, bucket, uploadId) {
  if (!/^[0-9a-f]+$/.test(uploadId)) return undefined;
  return readFile(join(directory, bucket, UPLOADS_DIR, uploadId, "key"), "utf8").catch(() => undefined);
}

async function listUploads(res, directory, bucket, query) {
  const prefix = query.get("prefix") ?? "";
  const uploads = (await readUploads(directory, bucket)).filter((u) => u.key.startsWith(prefix));
  const entries = uploads
    .map(
      (u) =>
        `<Upload><Key>${escapeXml(u.key)}</Key><UploadId>${u.uploadId}</UploadId>` +
        `<Initiated>${u.initiated}</Initiated><StorageClass>STANDARD</StorageClass></Upload>`,
    )
    .join("");
  sendXml(
    res,
    200,
    `<ListMultipartUploadsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">` +
      `<Bucket>${escapeXml(bucket)}</Bucket><KeyMarker></KeyMarker><UploadIdMarker></UploadIdMarker>` +
      `<NextKeyMarker></NextKeyMarker><NextUploadIdMarker></NextUploadIdMarker>` +
      `<Prefix>${escapeXml(prefix)}</Prefix><MaxUploads>1000</MaxUploads><IsTruncated>false</IsTruncated>` +
      `${entries}</ListMultipartUploadsResult>`,
  );
}

async function listParts(res, directory, bucket, key, uploadId) {
  const uploadDir = join(directory, bucket, UPLOADS_DIR, uploadId);
  const parts = [];
  for (const name of await readdir(uploadDir)) {
    if (!/^\d+$/.test(name)) continue;
    const [info, md5] = await Promise.all([
      stat(join(uploadDir, name)),
      readFile(join(uploadDir, `${name}.md5`), "utf8").catch(() => ""),
    ]);
    parts.push({ number: Number(name), size: info.size, md5, modified: info.mtime.toISOString() });
  }
  parts.sort((a, b) => a.number - b.number);
  sendXml(
    res,
    200,
    `<ListPartsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">` +
      `<Bucket>${escapeXml(bucket)}</Bucket><Key>${escapeXml(key)}</Key><UploadId>${uploadId}</UploadId>` +
      `<IsTruncated>false</IsTruncated>` +
      parts
        .map(
          (p) =>
            `<Part><PartNumber>${p.number}</PartNumber><LastModified>${p.modified}</LastModified>` +
            `<ETag>"${p.md5}"</ETag><Size>${p.size}</Size></Part>`,
        )
        .join("") +
      `</ListPartsResult>`,
  );
}

// ---------------------------------------------------------------------------------------------
// Server

const faults = { rules: [] };
const stats = { requests: {}, injected: {} };

function matchFault(op) {
  for (const rule of faults.rules) {
    const ops = rule.op === undefined ? undefined : Array.isArray(rule.op) ? rule.op : [rule.op];
    if (ops !== undefined && !ops.includes(op)) continue;
    if (rule.times !== undefined && rule.times !== null) {
      if (rule.times <= 0) continue;
      rule.times -= 1;
    }
    return rule;
  }
  return undefined;
}

async function handleAdmin(req, res, path, directory) {
  if (path === "/__faults" && req.method === "POST") {
    const body = JSON.parse((await readBody(req)) || "{}");
    faults.rules = Array.isArray(body.rules) ? body.rules : [];
    return sendJson(res, 200, { rules: faults.rules });
  }
  if (path === "/__faults" && req.method === "DELETE") {
    faults.rules = [];
    return sendJson(res, 200, { rules: [] });
  }
  if (path === "/__faults" && req.method === "GET") return sendJson(res, 200, { rules: faults.rules });
  if (path === "/__stats" && req.method === "GET") return sendJson(res, 200, stats);
  if (path === "/__stats" && req.method === "DELETE") {
    stats.requests = {};
    stats.injected = {};
    return sendJson(res, 200, stats);
  }
  if (path === "/__uploads" && req.method === "GET") return sendJson(res, 200, await readUploads(directory));
  return sendJson(res, 404, { error: `unknown admin request ${req.method} ${path}` });
}

async function handle(req, res, s3rverHandler, directory) {
  const url = new URL(req.url ?? "/", "http://localhost");
  const qAt = (req.url ?? "").indexOf("?");
  const rawPath = qAt === -1 ? (req.url ?? "/") : (req.url ?? "/").slice(0, qAt);
  const rawQuery = qAt === -1 ? "" : (req.url ?? "").slice(qAt + 1);
  if (rawPath.startsWith("/__")) return handleAdmin(req, res, rawPath, directory);

  const slash = rawPath.indexOf("/", 1);
  const bucket = decodeLoose(slash === -1 ? rawPath.slice(1) : rawPath.slice(1, slash));
  const key = slash === -1 ? "" : decodeLoose(rawPath.slice(slash + 1));
  const query = url.searchParams;
  const op = classify(req.method ?? "GET", bucket, key, query);
  stats.requests[op] = (stats.requests[op] ?? 0) + 1;

  const fault = matchFault(op);
  if (fault !== undefined) {
    stats.injected[op] = (stats.injected[op] ?? 0) + 1;
    switch (fault.action ?? "error") {
      case "reset":
        req.socket.destroy();
        return;
      case "stall":
        req.resume();
        return;
      default: {
        const status = fault.status ?? 500;
        const code = fault.code ?? (status === 503 ? "ServiceUnavailable" : "InternalError");
        drainThen(req, () => sendError(res, status, code, "Injected fault.", rawPath));
        return;
      }
    }
  }

  const denied = checkSignature(req, rawPath, rawQuery);
  if (denied !== undefined) {
    drainThen(req, () => sendError(res, denied[0], denied[1], denied[2], rawPath));
    return;
  }

  const multipartOp = ["listUploads", "listParts", "abortUpload", "uploadPart", "completeUpload"].includes(op);
  if (multipartOp) {
    if (!(await exists(join(directory, bucket)))) {
      drainThen(req, () => sendError(res, 404, "NoSuchBucket", "The specified bucket does not exist", rawPath));
      return;
    }
    if (op === "listUploads") return listUploads(res, directory, bucket, query);
    const uploadId = query.get("uploadId") ?? "";
    const storedKey = await uploadKey(directory, bucket, uploadId);
    if (storedKey === undefined || storedKey !== key) {
      drainThen(req, () =>
        sendError(res, 404, "NoSuchUpload", "The specified multipart upload does not exist.", rawPath),
      );
      return;
    }
    if (op === "listParts") return listParts(res, directory, bucket, key, uploadId);
    if (op === "abortUpload") {
      await rm(join(directory, bucket, UPLOADS_DIR, uploadId), { recursive: true, force: true });
      res.writeHead(204);
      res.end();
      return;
    }
  }
  s3rverHandler(req, res);
}

async function main() {
  const directory = await mkdtemp(join(tmpdir(), "pgsnap-s3rver-"));
  const s3rver = new S3rver({
    silent: true,
    directory,
    address: "127.0.0.1",
    port: 0,
    vhostBuckets: false,
    configureBuckets: [],
  });
  const s3rverHandler = s3rver.callback();
  const server = createServer((req, res) => {
    handle(req, res, s3rverHandler, directory).catch((err) => {
      if (!res.headersSent) sendError(res, 500, "InternalError", String(err?.message ?? err), req.url ?? "");
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 5000;

  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    server.closeAllConnections();
    server.close();
    try {
      rmSync(directory, { recursive: true, force: true });
    } catch {
      // best effort: the directory is under the OS temp dir
    }
    process.exit(0);
  };
  process.stdin.on("end", stop);
  process.stdin.on("close", stop);
  process.stdin.on("error", stop);
  process.stdin.resume();
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);

  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const address = server.address();
  process.stdout.write(`${JSON.stringify({ port: address.port, directory })}\n`);
}

main().catch((err) => {
  process.stderr.write(`s3-server-main: ${err?.stack ?? err}\n`);
  process.exit(1);
});
