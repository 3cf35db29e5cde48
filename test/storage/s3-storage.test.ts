import { createHash, randomBytes, randomUUID } from "node:crypto";
import { Readable } from "node:stream";
import { inspect } from "node:util";

import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";

import { ExitCode, PgsnapError, StorageError, UsageError } from "../../src/errors.js";
import { openStorage } from "../../src/storage/open-storage.js";
import { S3Storage } from "../../src/storage/s3-storage.js";
import type { S3StorageOptions } from "../../src/storage/s3-storage.js";
import { startS3Server } from "../helpers/s3-server.js";
import type { S3TestServer } from "../helpers/s3-server.js";
import { describeStorageConformance, randomBody, readAll } from "./conformance.js";

const MiB = 1024 * 1024;
const PART = 5 * MiB; // the S3 minimum, so that tests see several parts without much data
/** Short backoffs and timeouts so that failure tests take milliseconds, not minutes. */
const FAST: S3StorageOptions = { maxAttempts: 4, baseDelayMs: 10, maxDelayMs: 100, requestTimeoutMs: 1_000 };

let server: S3TestServer | undefined;
const s3 = (): S3TestServer => {
  if (server === undefined) throw new Error("S3 test server not started");
  return server;
};

beforeAll(async () => {
  server = await startS3Server();
}, 30_000);

afterAll(async () => {
  await server?.stop();
});

describeStorageConformance("S3Storage", async () => {
  const bucket = await s3().createBucket();
  const storage = openStorage(
    `s3://${bucket}/conformance/run-${randomUUID().slice(0, 8)}`,
    s3().settings({ partSize: PART }),
    FAST,
  );
  expect(storage).toBeInstanceOf(S3Storage);
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
  beforeAll(async () => {
    bucket = await s3().createBucket();
    storage = new S3Storage(bucket, "pgsnap", s3().settings({ partSize: PART }), FAST);
  });
  afterEach(async () => {
    await s3().clearFaults();
    vi.restoreAllMocks();
  });
  afterAll(async () => {
    await storage.close();
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
    await s3().resetStats();
    const body = randomBody(12 * MiB);
    await storage.put("parts/twelve.bin", body.stream);
    const stats = await s3().stats();
    expect(stats.requests.createUpload).toBe(1);
    expect(stats.requests.uploadPart).toBe(3); // 5 + 5 + 2 MiB
    expect(stats.requests.completeUpload).toBe(1);
    expect(await sha256Of(await storage.get("parts/twelve.bin"))).toBe(body.sha256());
  });

  it("a 500 on one part upload is retried and the put succeeds, silently", async () => {
    const warn = vi.spyOn(console, "warn");
    const log = vi.spyOn(console, "log");
    await s3().resetStats();
    await s3().failPartUploads(1);
    const body = randomBody(12 * MiB + 1);
    const { size } = await storage.put("retry/one-500.bin", body.stream);
    expect(size).toBe(12 * MiB + 1);
    const stats = await s3().stats();
    expect(stats.injected.uploadPart).toBe(1);
    expect(stats.requests.uploadPart).toBe(4); // 3 parts + 1 retry
    expect(await sha256Of(await storage.get("retry/one-500.bin"))).toBe(body.sha256());
    expect(await s3().incompleteUploads(bucket)).toEqual([]);
    expect(warn).not.toHaveBeenCalled();
    expect(log).not.toHaveBeenCalled();
  });

  it("part uploads failing for good: StorageError exit 11, the upload is aborted, nothing is visible", async () => {
    await s3().resetStats();
    await s3().setFaults([{ op: "uploadPart", action: "error", status: 500 }]);
    const body = randomBody(12 * MiB);
    const err = await failure(storage.put("retry/always-500.bin", body.stream));
    expect(err).toBeInstanceOf(StorageError);
    expect((err as StorageError).exitCode).toBe(ExitCode.storage);
    expect((err as StorageError).code).toBe("STORAGE_IO");
    expect((err as StorageError).message).toContain(`s3://${bucket}/pgsnap/retry/always-500.bin`);
    expect((err as StorageError).message).toContain("InternalError");
    expect((await s3().stats()).requests.uploadPart).toBe(FAST.maxAttempts);
    expect(body.stream.destroyed).toBe(true);
    await s3().clearFaults();
    expect(await s3().incompleteUploads(bucket)).toEqual([]);
    expect(await storage.stat("retry/always-500.bin")).toBeUndefined();
    expect(await storage.cleanupIncomplete("retry/", 0)).toBe(0);
  });

  it("an upload that could not be aborted is left for cleanupIncomplete, which removes it", async () => {
    await s3().setFaults([{ op: ["uploadPart", "abortUpload"], action: "error", status: 503 }]);
    const err = await failure(storage.put("leftover/t.bin", randomBody(6 * MiB).stream));
    expect((err as StorageError).code).toBe("STORAGE_IO");
    await s3().clearFaults();
    const left = await s3().incompleteUploads(bucket);
    expect(left.map((u) => u.key)).toEqual(["pgsnap/leftover/t.bin"]);
    expect(await storage.cleanupIncomplete("leftover/", 3_600_000)).toBe(0); // too young
    expect(await storage.cleanupIncomplete("other/", 0)).toBe(0); // another prefix
    expect(await storage.cleanupIncomplete("leftover/", 0)).toBe(1);
    expect(await s3().incompleteUploads(bucket)).toEqual([]);
  });

  it("a server failing every request: StorageError STORAGE_IO after the configured attempts", async () => {
    await storage.putBytes("down/x.json", Buffer.from("{}"));
    await s3().resetStats();
    await s3().failAll();
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
    expect((await s3().stats()).injected.headObject).toBe(FAST.maxAttempts);
    await s3().clearFaults();
    expect((await storage.getBytes("down/x.json")).toString()).toBe("{}");
  });

  it("a dropped connection and a stalled answer are retried", async () => {
    await storage.putBytes("flaky/x.bin", Buffer.from("payload"));
    await s3().resetStats();
    await s3().setFaults([
      { op: "getObject", times: 1, action: "reset" },
      { op: "headObject", times: 1, action: "stall" },
    ]);
    expect((await storage.getBytes("flaky/x.bin")).toString()).toBe("payload");
    expect((await storage.stat("flaky/x.bin"))?.size).toBe(7);
    const stats = await s3().stats();
    expect(stats.injected).toEqual({ getObject: 1, headObject: 1 });
    expect(stats.requests.getObject).toBe(2);
    expect(stats.requests.headObject).toBe(2);
  });

  it("reads at most two parts ahead of a stalled part upload (bounded memory)", async () => {
    await s3().setFaults([{ op: "uploadPart", times: 1, action: "stall" }]);
    let pulled = 0;
    const hash = createHash("sha256");
    const total = 30 * MiB;
    const body = Readable.from(
      (function* () {
        for (let sent = 0; sent < total; sent += MiB) {
          const chunk = randomBytes(MiB);
          hash.update(chunk);
          pulled += chunk.length;
          yield chunk;
        }
      })(),
      { objectMode: false },
    );
    // A longer timeout than FAST, so that the stall surely lasts until the sample below.
    const patient = new S3Storage(bucket, "pgsnap", s3().settings({ partSize: PART }), {
      ...FAST,
      requestTimeoutMs: 3_000,
    });
    const putting = patient.put("bounded/t.bin", body);
    // wait until the first part upload hangs, then give the reader time to run ahead
    for (let i = 0; i < 200 && (await s3().stats()).injected.uploadPart !== 1; i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
    const pulledWhileStalled = pulled;
    expect(pulledWhileStalled).toBeLessThanOrEqual(2 * PART + 2 * MiB);
    expect(pulledWhileStalled).toBeGreaterThanOrEqual(PART);
    expect((await putting).size).toBe(total); // the stalled part timed out and was retried
    expect(await sha256Of(await storage.get("bounded/t.bin"))).toBe(hash.digest("hex"));
    await patient.close();
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
      await s3().resetStats();
      const body = randomBody(12 * MiB);
      const err = await failure(missing.put("k/v.bin", body.stream));
      expect(err).toBeInstanceOf(StorageError);
      expect((err as StorageError).code).toBe("STORAGE_BUCKET_MISSING");
      expect((err as StorageError).exitCode).toBe(11);
      expect((err as StorageError).message).toContain("no-such-bucket-here");
      expect((err as StorageError).hint).toContain("create");
      expect(body.stream.destroyed).toBe(true);
      const stats = await s3().stats();
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

  it("gives an S3Storage whose location is s3://bucket/prefix", async () => {
    const settings = { endPoint: "http://127.0.0.1:9000", accessKey: "AK", secretKey: "sk-Wq71" };
    const storage = openStorage("s3://my-bucket/team/prod/", settings);
    expect(storage).toBeInstanceOf(S3Storage);
    expect(storage.location).toBe("s3://my-bucket/team/prod");
    expect(openStorage("s3://my-bucket", settings).location).toBe("s3://my-bucket");
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
