import { createHash, randomBytes, randomUUID } from "node:crypto";
import { PassThrough, Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { inspect } from "node:util";

import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";

import { ExitCode, PgsnapError, StorageError, UsageError } from "../../src/errors.js";
import { openStorage } from "../../src/storage/open-storage.js";
import { LazyStorage } from "../../src/storage/lazy-storage.js";
import { S3Storage } from "../../src/storage/s3/s3-storage.js";
import { DEFAULT_PART_SIZE } from "../../src/storage/s3/settings.js";
import type { S3StorageOptions } from "../../src/storage/s3/settings.js";
import { createBucket, s3Upstream } from "../helpers/s3.js";
import { startS3FaultProxy } from "../helpers/s3-fault-proxy.js";
import type { S3FaultProxy } from "../helpers/s3-fault-proxy.js";
import { describeStorageConformance, randomBody, readAll } from "./conformance.js";

const MiB = 1024 * 1024;
const PART = 5 * MiB; // the S3 minimum, so that tests see several parts without much data
/** Short backoffs so that failure tests take milliseconds, not minutes. */
const FAST: S3StorageOptions = { maxAttempts: 4, baseDelayMs: 10, maxDelayMs: 100 };
/** The idle timeout of the stall tests (a stall fails after it); the other tests allow more. */
const IO_TIMEOUT_MS = 2_000;

/** The fault proxy in front of the run's real S3 server (radosgw, or PGSNAP_TEST_S3_ENDPOINT). */
let proxy: S3FaultProxy | undefined;
const s3 = (): S3FaultProxy & { createBucket: () => Promise<string> } => {
  if (proxy === undefined) throw new Error("S3 fault proxy not started");
  return { ...proxy, createBucket: () => createBucket("storage") };
};

beforeAll(async () => {
  proxy = await startS3FaultProxy(s3Upstream());
});

afterAll(async () => {
  await proxy?.stop();
});

describeStorageConformance("S3Storage", async () => {
  // Straight to the real server, no proxy in between.
  const upstream = s3Upstream();
  const bucket = await createBucket("conformance");
  const storage = openStorage(
    `s3://${bucket}/conformance/run-${randomUUID().slice(0, 8)}`,
    {
      endPoint: upstream.endpoint,
      accessKey: upstream.accessKey,
      secretKey: upstream.secretKey,
      region: upstream.region,
      partSize: PART,
    },
    FAST,
  );
  // The suite runs through openStorage's lazy wrapper, which imports S3Storage on first use.
  expect(storage).toBeInstanceOf(LazyStorage);
  return { storage, partSize: PART };
});

/** Rejection of `promise`, or undefined if it resolved. */
async function failure(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => undefined,
    (e: unknown) => e,
  );
}

async function sha256Of(stream: Readable): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of stream) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

describe("S3Storage against a real S3-compatible server", { timeout: 60_000 }, () => {
  let bucket: string;
  let storage: S3Storage;
  let impatient: S3Storage;
  beforeAll(async () => {
    bucket = await s3().createBucket();
    storage = new S3Storage(bucket, "pgsnap", s3().settings({ partSize: PART, ioTimeoutMs: 30_000 }), FAST);
    impatient = new S3Storage(bucket, "pgsnap", s3().settings({ partSize: PART, ioTimeoutMs: IO_TIMEOUT_MS }), FAST);
  });
  afterEach(async () => {
    s3().clearFaults();
    vi.restoreAllMocks();
  });
  afterAll(async () => {
    await storage.close();
    await impatient.close();
  });

  it("location names bucket and prefix; neither it nor the object shows the secret key", () => {
    expect(storage.location).toBe(`s3://${bucket}/pgsnap`);
    expect(storage.endpoint).toBe(s3().endpoint);
    const secret = "do-not-print-Zq8Xv3";
    const other = new S3Storage(bucket, "", s3().settings({ secretKey: secret }));
    expect(other.location).toBe(`s3://${bucket}`);
    expect(inspect(other, { depth: 10, showHidden: true })).not.toContain(secret);
    expect(JSON.stringify(other)).not.toContain(secret);
  });

  it("uploads a stream in parts of the configured size", async () => {
    s3().resetStats();
    const body = randomBody(12 * MiB);
    await storage.put("parts/twelve.bin", body.stream);
    const stats = s3().stats();
    expect(stats.requests.createUpload).toBe(1);
    expect(stats.requests.uploadPart).toBe(3); // 5 + 5 + 2 MiB
    expect(stats.requests.completeUpload).toBe(1);
    expect(await sha256Of(await storage.get("parts/twelve.bin"))).toBe(body.sha256());
  });

  it("a 500 on one part upload is retried and the put succeeds, silently", async () => {
    const warn = vi.spyOn(console, "warn");
    const log = vi.spyOn(console, "log");
    s3().resetStats();
    s3().failPartUploads(1);
    const body = randomBody(12 * MiB + 1);
    const { size } = await storage.put("retry/one-500.bin", body.stream);
    expect(size).toBe(12 * MiB + 1);
    const stats = s3().stats();
    expect(stats.injected.uploadPart).toBe(1);
    expect(stats.requests.uploadPart).toBe(4); // 3 parts + 1 retry
    expect(await sha256Of(await storage.get("retry/one-500.bin"))).toBe(body.sha256());
    expect(await s3().incompleteUploads(bucket, "pgsnap/retry/one-500")).toEqual([]);
    expect(warn).not.toHaveBeenCalled();
    expect(log).not.toHaveBeenCalled();
  });

  it("part uploads failing for good: StorageError exit 11, the upload is aborted, nothing is visible", async () => {
    s3().resetStats();
    s3().setFaults([{ op: "uploadPart", action: "error", status: 500 }]);
    const body = randomBody(12 * MiB);
    const err = await failure(storage.put("retry/always-500.bin", body.stream));
    expect(err).toBeInstanceOf(StorageError);
    expect((err as StorageError).exitCode).toBe(ExitCode.storage);
    expect((err as StorageError).code).toBe("STORAGE_IO");
    expect((err as StorageError).message).toContain(`s3://${bucket}/pgsnap/retry/always-500.bin`);
    expect((err as StorageError).message).toContain("InternalError");
    expect(s3().stats().requests.uploadPart).toBe(FAST.maxAttempts);
    expect(body.stream.destroyed).toBe(true);
    s3().clearFaults();
    expect(await s3().incompleteUploads(bucket, "pgsnap/retry/always-500")).toEqual([]);
    expect(await storage.stat("retry/always-500.bin")).toBeUndefined();
    expect(await storage.cleanupIncomplete("retry/", 0)).toBe(0);
  });

  it("a failed put fails a pipeline writing into its body with the same StorageError", async () => {
    s3().setFaults([{ op: ["uploadPart", "putObject"], action: "error", status: 500 }]);
    // the first part fails for good while the body is still being written
    const body = new PassThrough();
    const writing = pipeline(randomBody(30 * MiB).stream, body);
    const [w, p] = await Promise.allSettled([writing, storage.put("pipe/x.bin", body)]);
    expect(p.status).toBe("rejected");
    expect((p as PromiseRejectedResult).reason).toBeInstanceOf(StorageError);
    // not ERR_STREAM_PREMATURE_CLOSE, which a caller would report as a bug (exit 1)
    expect((w as PromiseRejectedResult).reason).toBe((p as PromiseRejectedResult).reason);
  });

  it("an upload that could not be aborted is left for cleanupIncomplete, which removes it", async () => {
    s3().setFaults([{ op: ["uploadPart", "abortUpload"], action: "error", status: 503 }]);
    const err = await failure(storage.put("leftover/t.bin", randomBody(6 * MiB).stream));
    expect((err as StorageError).code).toBe("STORAGE_IO");
    s3().clearFaults();
    const left = await s3().incompleteUploads(bucket, "pgsnap/leftover/");
    expect(left.map((u) => u.key)).toEqual(["pgsnap/leftover/t.bin"]);
    expect(await storage.cleanupIncomplete("leftover/", 3_600_000)).toBe(0); // too young
    expect(await storage.cleanupIncomplete("other/", 0)).toBe(0); // another prefix
    expect(await storage.cleanupIncomplete("leftover/", 0)).toBe(1);
    expect(await s3().incompleteUploads(bucket, "pgsnap/leftover/")).toEqual([]);
  });

  it("a server failing every request: StorageError STORAGE_IO after the configured attempts", async () => {
    await storage.putBytes("down/x.json", Buffer.from("{}"));
    s3().resetStats();
    s3().failAll();
    for (const call of [
      () => storage.stat("down/x.json"),
      () => storage.getBytes("down/x.json"),
      () => storage.list("down/"),
      () => storage.delete(["down/x.json"]),
      () => storage.putBytes("down/y.json", Buffer.from("{}")),
    ]) {
      const err = await failure(call());
      expect(err).toBeInstanceOf(StorageError);
      expect((err as StorageError).code).toBe("STORAGE_IO");
      expect((err as StorageError).exitCode).toBe(11);
      expect((err as StorageError).message).toContain(`(${FAST.maxAttempts} attempts)`);
      expect((err as StorageError).hint).toContain(s3().endpoint);
    }
    expect(s3().stats().injected.headObject).toBe(FAST.maxAttempts);
    s3().clearFaults();
    expect((await storage.getBytes("down/x.json")).toString()).toBe("{}");
  });

  it("a dropped connection is retried; so are 429, 408 and 503 answers", async () => {
    await storage.putBytes("flaky/x.bin", Buffer.from("payload"));
    s3().resetStats();
    s3().setFaults([
      { op: "getObject", times: 1, action: "reset" },
      { op: "headObject", times: 1, action: "error", status: 429 },
      { op: "putObject", times: 1, action: "error", status: 408 },
      { op: "listObjects", times: 1, action: "error", status: 503 },
    ]);
    expect((await storage.getBytes("flaky/x.bin")).toString()).toBe("payload");
    expect((await storage.stat("flaky/x.bin"))?.size).toBe(7);
    await storage.putBytes("flaky/y.bin", Buffer.from("again"));
    expect((await storage.list("flaky/")).map((o) => o.key)).toEqual(["flaky/x.bin", "flaky/y.bin"]);
    const stats = s3().stats();
    expect(stats.injected).toEqual({ getObject: 1, headObject: 1, putObject: 1, listObjects: 1 });
    expect(stats.requests.getObject).toBe(2);
    expect(stats.requests.headObject).toBe(2);
    expect(stats.requests.putObject).toBe(2);
  });

  it("a connection reset in the middle of a part upload is retried", async () => {
    s3().resetStats();
    s3().setFaults([{ op: "uploadPart", times: 1, action: "cut-request" }]);
    const body = randomBody(11 * MiB);
    expect((await storage.put("flaky/cut.bin", body.stream)).size).toBe(11 * MiB);
    expect(s3().stats().injected.uploadPart).toBe(1);
    expect(s3().stats().requests.uploadPart).toBe(4);
    expect(await sha256Of(await storage.get("flaky/cut.bin"))).toBe(body.sha256());
  });

  it("a bit flipped on the way up is refused by the server (Content-MD5) and the part sent again", async () => {
    s3().resetStats();
    s3().setFaults([{ op: "uploadPart", times: 1, action: "flip-request" }]);
    const body = randomBody(6 * MiB);
    await storage.put("flaky/flip.bin", body.stream);
    expect(s3().stats().injected.uploadPart).toBe(1);
    expect(s3().stats().requests.uploadPart).toBe(3);
    expect(await sha256Of(await storage.get("flaky/flip.bin"))).toBe(body.sha256());
  });

  it("an error inside a 200 answer to CompleteMultipartUpload is retried", async () => {
    for (const action of ["error", "error-after"] as const) {
      s3().resetStats();
      // error: the upload was not completed; error-after: it was, but the answer was lost
      s3().setFaults([{ op: "completeUpload", times: 1, action, status: 200 }]);
      const body = randomBody(6 * MiB);
      expect((await storage.put(`flaky/complete-${action}.bin`, body.stream)).size).toBe(6 * MiB);
      expect(s3().stats().requests.completeUpload).toBe(2);
      expect(await sha256Of(await storage.get(`flaky/complete-${action}.bin`))).toBe(body.sha256());
    }
    expect(await s3().incompleteUploads(bucket, "pgsnap/flaky/complete-")).toEqual([]);
  });

  it("a stalled answer fails with STORAGE_TIMEOUT (exit 11) after ioTimeoutMs, without retries", async () => {
    await storage.putBytes("stall/x.bin", Buffer.from("payload"));
    s3().resetStats();
    s3().setFaults([{ op: "headObject", action: "stall" }]);
    const started = Date.now();
    const err = await failure(impatient.stat("stall/x.bin"));
    expect(err).toBeInstanceOf(StorageError);
    expect((err as StorageError).code).toBe("STORAGE_TIMEOUT");
    expect((err as StorageError).exitCode).toBe(ExitCode.storage);
    expect((err as StorageError).message).toContain(`moved no byte for ${IO_TIMEOUT_MS / 1000} s`);
    expect((err as StorageError).hint).toContain("--io-timeout");
    expect(Date.now() - started).toBeLessThan(10 * IO_TIMEOUT_MS);
    expect(s3().stats().requests.headObject).toBe(1);
  });

  it("a download cut or stalled midway fails the stream with a StorageError (exit 11), not as bad data", async () => {
    const data = randomBytes(3 * MiB);
    await storage.putBytes("stall/big.bin", data);
    for (const [action, code] of [
      ["cut-response", "STORAGE_IO"],
      ["stall-response", "STORAGE_TIMEOUT"],
    ] as const) {
      for (const range of [undefined, { offset: 10, length: 2 * MiB }]) {
        s3().setFaults([{ op: "getObject", times: 1, action, bytes: MiB }]);
        // only the stall waits for the idle timeout; a cut must not be mistaken for one
        const via = action === "stall-response" ? impatient : storage;
        const err = await failure(readAll(via.get("stall/big.bin", range)));
        expect(err, action).toBeInstanceOf(StorageError);
        expect((err as StorageError).code, action).toBe(code);
        expect((err as StorageError).exitCode).toBe(ExitCode.storage);
        expect((err as StorageError).message).toContain("stall/big.bin");
      }
    }
  });

  it("reads at most two parts ahead of a stalled part upload (bounded memory), then fails on the timeout", async () => {
    s3().setFaults([{ op: "uploadPart", times: 1, action: "stall" }]);
    let pulled = 0;
    const body = Readable.from(
      (function* () {
        for (let sent = 0; sent < 30 * MiB; sent += MiB) {
          pulled += MiB;
          yield randomBytes(MiB);
        }
      })(),
      { objectMode: false },
    );
    const err = await failure(impatient.put("bounded/t.bin", body));
    // nothing moves while the first part is stalled, so `pulled` is what the put ever read ahead
    expect(pulled).toBeLessThanOrEqual(2 * PART + 2 * MiB);
    expect(pulled).toBeGreaterThanOrEqual(PART);
    expect((err as StorageError).code).toBe("STORAGE_TIMEOUT");
    expect(body.destroyed).toBe(true);
    expect(await s3().incompleteUploads(bucket, "pgsnap/bounded/")).toEqual([]);
  });

  it("uploads with the default part size (16 MiB) pgsnap uses", async () => {
    const plain = new S3Storage(bucket, "pgsnap", s3().settings(), FAST);
    expect(plain.partSize).toBe(DEFAULT_PART_SIZE);
    s3().resetStats();
    const body = randomBody(DEFAULT_PART_SIZE + 3 * MiB);
    expect((await plain.put("parts/default.bin", body.stream)).size).toBe(DEFAULT_PART_SIZE + 3 * MiB);
    expect(s3().stats().requests.uploadPart).toBe(2);
    expect(await sha256Of(await plain.get("parts/default.bin", { offset: DEFAULT_PART_SIZE - 5, length: 10 }))).toBe(
      createHash("sha256")
        .update((await readAll(plain.get("parts/default.bin"))).subarray(DEFAULT_PART_SIZE - 5, DEFAULT_PART_SIZE + 5))
        .digest("hex"),
    );
    expect(await sha256Of(await plain.get("parts/default.bin"))).toBe(body.sha256());
    await plain.close();
  });

  it("a wrong secret key: STORAGE_ACCESS_DENIED, and the secret appears nowhere in the error", async () => {
    const secret = "wrong-secret-Kp29fZ";
    for (const region of ["us-east-1", undefined]) {
      const denied = new S3Storage(bucket, "pgsnap", s3().settings({ secretKey: secret, region }), FAST);
      try {
        for (const call of [
          () => denied.put("x/denied.bin", Readable.from([Buffer.from("data")])),
          () => denied.list("x/"),
          () => denied.getBytes("down/x.json"),
        ]) {
          const err = await failure(call());
          expect(err).toBeInstanceOf(StorageError);
          const e = err as StorageError;
          expect(e.code).toBe("STORAGE_ACCESS_DENIED");
          expect(e.exitCode).toBe(11);
          // HEAD answers carry no body, so a put (which checks the bucket first) sees AccessDenied
          expect(e.message).toMatch(/\((SignatureDoesNotMatch|AccessDenied)\)/);
          expect(e.hint).toContain("PGSNAP_S3_ACCESS_KEY");
          expect(e.hint).toContain("PGSNAP_S3_SECRET_KEY");
          for (const text of [
            e.message,
            e.hint ?? "",
            e.stack ?? "",
            String(e),
            inspect(e, { depth: 10, showHidden: true }),
          ]) {
            expect(text).not.toContain(secret);
          }
        }
        expect(((await failure(denied.list("x/"))) as StorageError).message).toContain("SignatureDoesNotMatch");
      } finally {
        await denied.close();
      }
    }
  });

  it("an unknown access key: STORAGE_ACCESS_DENIED", async () => {
    const denied = new S3Storage(bucket, "pgsnap", s3().settings({ accessKey: "NOSUCHKEY" }), FAST);
    expect(((await failure(denied.stat("x/y.bin"))) as StorageError).code).toBe("STORAGE_ACCESS_DENIED");
    const err = await failure(denied.list("x/"));
    expect((err as StorageError).code).toBe("STORAGE_ACCESS_DENIED");
    expect((err as StorageError).message).toContain("InvalidAccessKeyId");
    await denied.close();
  });

  it("a missing bucket: STORAGE_BUCKET_MISSING before any upload starts (region given or discovered)", async () => {
    for (const region of ["us-east-1", undefined]) {
      const missing = new S3Storage("no-such-bucket-here", "p", s3().settings({ partSize: PART, region }), FAST);
      s3().resetStats();
      const body = randomBody(12 * MiB);
      const err = await failure(missing.put("k/v.bin", body.stream));
      expect(err).toBeInstanceOf(StorageError);
      expect((err as StorageError).code).toBe("STORAGE_BUCKET_MISSING");
      expect((err as StorageError).exitCode).toBe(11);
      expect((err as StorageError).message).toContain("no-such-bucket-here");
      expect((err as StorageError).hint).toContain("create");
      expect(body.stream.destroyed).toBe(true);
      const stats = s3().stats();
      expect(stats.requests.createUpload).toBeUndefined();
      expect(stats.requests.uploadPart).toBeUndefined();
      for (const call of [() => missing.stat("k/v.bin"), () => missing.list(""), () => missing.getBytes("k/v.bin")]) {
        expect(((await failure(call())) as StorageError).code).toBe("STORAGE_BUCKET_MISSING");
      }
      await missing.close();
    }
  });

  it("a get range past the end of an object fails (partial answer or 416)", async () => {
    await storage.putBytes("range/r.bin", randomBytes(100));
    const partial = await failure(readAll(storage.get("range/r.bin", { offset: 90, length: 20 })));
    expect((partial as StorageError).code).toBe("STORAGE_RANGE");
    const beyond = await failure(readAll(storage.get("range/r.bin", { offset: 200, length: 1 })));
    expect((beyond as StorageError).code).toBe("STORAGE_RANGE");
  });
});

describe("openStorage for s3:// URLs", () => {
  it("without S3 settings or credentials: UsageError S3_SETTINGS_MISSING naming the variables", () => {
    const settings = { endPoint: "http://127.0.0.1:9000", accessKey: "AK", secretKey: "" };
    for (const attempt of [() => openStorage("s3://bucket/prefix"), () => openStorage("s3://bucket", settings)]) {
      let err: unknown;
      try {
        attempt();
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(UsageError);
      expect((err as UsageError).code).toBe("S3_SETTINGS_MISSING");
      expect((err as UsageError).exitCode).toBe(ExitCode.usage);
      for (const name of ["PGSNAP_S3_ENDPOINT", "PGSNAP_S3_ACCESS_KEY", "PGSNAP_S3_SECRET_KEY"]) {
        expect((err as UsageError).hint).toContain(name);
      }
    }
  });

  it("gives a storage whose location is s3://bucket/prefix, as S3Storage's own", async () => {
    const settings = { endPoint: "http://127.0.0.1:9000", accessKey: "AK", secretKey: "sk-Wq71" };
    const storage = openStorage("s3://my-bucket/team/prod/", settings);
    expect(storage.location).toBe("s3://my-bucket/team/prod");
    expect(openStorage("s3://my-bucket", settings).location).toBe("s3://my-bucket");
    for (const [bucket, prefix] of [
      ["my-bucket", "team/prod/"],
      ["my-bucket", "/a//"],
      ["my-bucket", ""],
    ] as const) {
      const direct = new S3Storage(bucket, prefix, settings);
      expect(openStorage(`s3://${bucket}/${prefix}`, settings).location).toBe(direct.location);
      await direct.close();
    }
    expect(inspect(storage, { depth: 10 })).not.toContain("sk-Wq71");
    // Used once (the call fails: nothing listens there), the backend holds the secret: still unprinted.
    await storage.stat("x", { signal: AbortSignal.abort() }).catch(() => undefined);
    expect(inspect(storage, { depth: 10 })).not.toContain("sk-Wq71");
    await storage.close();
  });

  it("refuses credentials in the URL without echoing them, and bad bucket names or endpoints", () => {
    const settings = { endPoint: "http://127.0.0.1:9000", accessKey: "AK", secretKey: "SK" };
    const cases: [string, string, typeof settings][] = [
      ["s3://AKIA:hunter2secret@bucket/x", "STORAGE_URL_INVALID", settings],
      ["s3:///prefix", "STORAGE_URL_INVALID", settings],
      ["s3://Not_A_Bucket/x", "S3_BUCKET_INVALID", settings],
      ["s3://bucket/x", "S3_ENDPOINT_INVALID", { ...settings, endPoint: "ftp://host" }],
      ["s3://bucket/x", "S3_ENDPOINT_INVALID", { ...settings, endPoint: "http://user:hunter2secret@host/" }],
    ];
    for (const [url, code, s] of cases) {
      let err: unknown;
      try {
        openStorage(url, s);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(PgsnapError);
      expect((err as PgsnapError).code).toBe(code);
      expect((err as PgsnapError).exitCode).toBe(ExitCode.usage);
      expect((err as PgsnapError).message).not.toContain("hunter2secret");
    }
  });
});
