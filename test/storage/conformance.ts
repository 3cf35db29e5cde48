/**
 * The storage contract (src/storage/storage.ts) as one test suite that every backend runs:
 *   describeStorageConformance("FsStorage", async () => ({ storage: new FsStorage(dir) }));
 * Each test works under its own fresh key prefix, so the suite can share one storage root.
 */
import { createHash, randomBytes, randomUUID } from "node:crypto";
import { Readable } from "node:stream";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { ExitCode, InterruptedError, StorageError } from "../../src/errors.js";
import type { Storage } from "../../src/storage/storage.js";

const MiB = 1024 * 1024;

export interface ConformanceSubject {
  storage: Storage;
  /** Size at which the backend splits an upload (S3: its part size). Bodies that fail or are
   * aborted midway are made longer than two of these, so that the failure hits an upload that
   * is already under way. Default 1 MiB. */
  partSize?: number | undefined;
  /** Called after the suite (after storage.close()). */
  dispose?: (() => Promise<void>) | undefined;
}

/** Registers the contract suite for one backend. `open` runs once, before the tests. */
export function describeStorageConformance(name: string, open: () => Promise<ConformanceSubject>): void {
  describe(`${name} meets the storage contract`, { timeout: 60_000 }, () => {
    let subject: ConformanceSubject | undefined;
    const storage = (): Storage => {
      if (subject === undefined) throw new Error("storage not opened");
      return subject.storage;
    };
    const bigPart = (): number => subject?.partSize ?? MiB;
    const fresh = (): string => `conf-${randomUUID().slice(0, 8)}/`;

    beforeAll(async () => {
      subject = await open();
    }, 60_000);

    afterAll(async () => {
      await subject?.storage.close();
      await subject?.dispose?.();
    });

    it("put streams a body of uneven chunks, get returns exactly its bytes", async () => {
      const key = `${fresh()}data/one.bin`;
      const data = randomBytes(300_001);
      const { size } = await storage().put(key, chunked(data, [1, 7, 65_536, 3, 100_000]));
      expect(size).toBe(data.length);
      expect(Buffer.compare(await readAll(await storage().get(key)), data)).toBe(0);
      expect((await storage().stat(key))?.size).toBe(data.length);
    });

    it("put replaces an existing object", async () => {
      const key = `${fresh()}replaced.bin`;
      await storage().put(key, chunked(Buffer.from("first version, longer"), [5]));
      await storage().put(key, chunked(Buffer.from("second"), [3]));
      expect((await readAll(await storage().get(key))).toString()).toBe("second");
    });

    it("putBytes and getBytes round-trip small objects, the empty one included", async () => {
      const prefix = fresh();
      const manifest = Buffer.from(JSON.stringify({ format: 1, note: 'quotes " and \\ and ü' }));
      await storage().putBytes(`${prefix}manifest.json`, manifest);
      expect(Buffer.compare(await storage().getBytes(`${prefix}manifest.json`), manifest)).toBe(0);
      await storage().putBytes(`${prefix}empty`, Buffer.alloc(0));
      expect((await storage().getBytes(`${prefix}empty`)).length).toBe(0);
      expect((await storage().stat(`${prefix}empty`))?.size).toBe(0);
      expect((await readAll(await storage().get(`${prefix}empty`))).length).toBe(0);
    });

    it("get of a byte range returns exactly those bytes and counts only them", async () => {
      const key = `${fresh()}ranged.bin`;
      const data = randomBytes(200_001);
      await storage().putBytes(key, data);
      const ranges = [
        { offset: 0, length: 1 },
        { offset: 1, length: 10 },
        { offset: 4096, length: 70_000 },
        { offset: data.length - 7, length: 7 },
        { offset: 0, length: data.length },
        { offset: 123, length: 0 },
        { offset: data.length, length: 0 },
      ];
      const before = { ...storage().counters };
      for (const range of ranges) {
        const got = await readAll(await storage().get(key, range));
        expect(got.length).toBe(range.length);
        expect(Buffer.compare(got, data.subarray(range.offset, range.offset + range.length))).toBe(0);
      }
      const total = ranges.reduce((sum, r) => sum + r.length, 0);
      expect(storage().counters.bytesRead - before.bytesRead).toBe(total);
      expect(storage().counters.reads - before.reads).toBe(ranges.length);
    });

    it("a range past the end fails with StorageError STORAGE_RANGE", async () => {
      const key = `${fresh()}short.bin`;
      await storage().putBytes(key, randomBytes(1000));
      for (const range of [
        { offset: 998, length: 10 },
        { offset: 1005, length: 1 },
      ]) {
        const err = await readAll(storage().get(key, range)).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(StorageError);
        expect((err as StorageError).code).toBe("STORAGE_RANGE");
        expect((err as StorageError).exitCode).toBe(ExitCode.storage);
      }
    });

    it("a missing key: get and getBytes fail with STORAGE_NOT_FOUND naming it, stat gives undefined", async () => {
      const key = `${fresh()}nothing/here.bin`;
      for (const attempt of [
        () => storage().get(key),
        () => storage().getBytes(key),
        () => storage().get(key, { offset: 0, length: 1 }),
      ]) {
        const err = await attempt().then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(StorageError);
        expect((err as StorageError).code).toBe("STORAGE_NOT_FOUND");
        expect((err as StorageError).exitCode).toBe(11);
        expect((err as StorageError).message).toContain(key);
        expect((err as StorageError).hint).toBeTruthy();
      }
      expect(await storage().stat(key)).toBeUndefined();
    });

    it("list returns every object under a prefix in key order, right after put", async () => {
      const p = fresh();
      const keys = [`${p}a/2`, `${p}b/5`, `${p}a/b/3`, `${p}ab`, `${p}a/ü space+%.json`, `${p}a/1`];
      for (const [i, key] of keys.entries()) {
        await storage().putBytes(key, Buffer.alloc(i + 1, 0x61));
        expect((await storage().list(p)).map((o) => o.key)).toContain(key); // read-after-write
      }
      const underA = await storage().list(`${p}a/`);
      expect(underA.map((o) => o.key)).toEqual([`${p}a/1`, `${p}a/2`, `${p}a/b/3`, `${p}a/ü space+%.json`]);
      expect(underA.map((o) => o.size)).toEqual([6, 1, 3, 5]);
      for (const info of underA) expect(info.lastModified).toBeInstanceOf(Date);
      expect((await storage().list(`${p}a`)).map((o) => o.key)).toEqual([
        `${p}a/1`,
        `${p}a/2`,
        `${p}a/b/3`,
        `${p}a/ü space+%.json`,
        `${p}ab`,
      ]);
      expect((await storage().list(p)).length).toBe(keys.length);
      expect(await storage().list(`${p}zzz`)).toEqual([]);
      expect(await storage().list(fresh())).toEqual([]);
    });

    it("list and delete go past 1,000 keys (S3 pages and batches)", async () => {
      const p = fresh();
      const keys = Array.from({ length: 1_005 }, (_, i) => `${p}k/${String(i).padStart(4, "0")}`);
      for (let i = 0; i < keys.length; i += 25) {
        await Promise.all(keys.slice(i, i + 25).map((key) => storage().putBytes(key, Buffer.from(key))));
      }
      expect((await storage().list(p)).map((o) => o.key)).toEqual(keys);
      await storage().delete(keys.slice(2));
      expect((await storage().list(p)).map((o) => o.key)).toEqual(keys.slice(0, 2));
    });

    it("stat gives size and time of an object", async () => {
      const key = `${fresh()}stat.bin`;
      const before = Date.now();
      await storage().putBytes(key, randomBytes(4321));
      const info = await storage().stat(key);
      expect(info?.key).toBe(key);
      expect(info?.size).toBe(4321);
      // HTTP dates have whole seconds; allow for that and a little clock skew.
      expect(info?.lastModified.getTime()).toBeGreaterThan(before - 5_000);
      expect(info?.lastModified.getTime()).toBeLessThan(Date.now() + 5_000);
    });

    it("delete removes objects; missing keys and empty lists are fine", async () => {
      const p = fresh();
      await storage().putBytes(`${p}x/1`, Buffer.from("1"));
      await storage().putBytes(`${p}x/2`, Buffer.from("2"));
      await storage().delete([`${p}x/1`, `${p}missing`, `${p}x/also/missing`]);
      await storage().delete([]);
      expect(await storage().stat(`${p}x/1`)).toBeUndefined();
      expect((await storage().list(p)).map((o) => o.key)).toEqual([`${p}x/2`]);
      await storage().delete([`${p}x/2`]);
      expect(await storage().list(p)).toEqual([]);
      // a deleted key can be written again
      await storage().putBytes(`${p}x/1`, Buffer.from("again"));
      expect((await storage().getBytes(`${p}x/1`)).toString()).toBe("again");
    });

    it("a put whose body fails midway rethrows that error and leaves nothing behind", async () => {
      const p = fresh();
      const key = `${p}broken.bin`;
      const boom = new Error("source failed midway");
      const body = failingBody(2 * bigPart() + MiB, boom);
      const err = await storage()
        .put(key, body)
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(err).toBe(boom);
      expect(body.destroyed).toBe(true);
      expect(await storage().stat(key)).toBeUndefined();
      expect(await storage().list(p)).toEqual([]);
      // nothing half-written either (temp file, incomplete multipart upload)
      expect(await storage().cleanupIncomplete(p, 0)).toBe(0);
    });

    it("a put aborted by its AbortSignal midway fails with InterruptedError and leaves nothing", async () => {
      const p = fresh();
      const key = `${p}aborted.bin`;
      const controller = new AbortController();
      const body = endlessBody(2 * bigPart() + MiB, () => controller.abort());
      const err = await storage()
        .put(key, body, { signal: controller.signal })
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(err).toBeInstanceOf(InterruptedError);
      expect((err as InterruptedError).exitCode).toBe(ExitCode.interrupted);
      expect(body.destroyed).toBe(true);
      expect(await storage().stat(key)).toBeUndefined();
      expect(await storage().list(p)).toEqual([]);
      expect(await storage().cleanupIncomplete(p, 0)).toBe(0);
    });

    it("a put with an already aborted signal fails at once and destroys the body", async () => {
      const p = fresh();
      const body = chunked(Buffer.from("never stored"), [4]);
      const err = await storage()
        .put(`${p}never.bin`, body, { signal: AbortSignal.abort() })
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(err).toBeInstanceOf(InterruptedError);
      expect(body.destroyed).toBe(true);
      expect(await storage().list(p)).toEqual([]);
    });

    it("a 20 MiB object (a multipart upload on S3) round-trips with the same sha256; counters count it", async () => {
      const key = `${fresh()}big/table.ndjson.zst`;
      const size = 20 * MiB + 12_345;
      const source = randomBody(size);
      const before = { ...storage().counters };
      const result = await storage().put(key, source.stream);
      expect(result.size).toBe(size);
      expect(storage().counters.bytesWritten - before.bytesWritten).toBe(size);
      expect((await storage().stat(key))?.size).toBe(size);
      const readHash = createHash("sha256");
      for await (const chunk of await storage().get(key)) readHash.update(chunk as Buffer);
      expect(readHash.digest("hex")).toBe(source.sha256());
      expect(storage().counters.bytesRead - before.bytesRead).toBe(size);
      expect(storage().counters.reads - before.reads).toBe(1);
    });

    it("counters count bytes written and read, and read calls", async () => {
      const key = `${fresh()}counted.bin`;
      const before = { ...storage().counters };
      await storage().putBytes(key, randomBytes(1000));
      expect(storage().counters.bytesWritten - before.bytesWritten).toBe(1000);
      await readAll(await storage().get(key, { offset: 100, length: 100 }));
      expect(storage().counters.bytesRead - before.bytesRead).toBe(100);
      await storage().getBytes(key);
      expect(storage().counters.bytesRead - before.bytesRead).toBe(1100);
      expect(storage().counters.reads - before.reads).toBe(2);
    });

    it("a get stream stops with an error when its AbortSignal aborts", async () => {
      const key = `${fresh()}abortable.bin`;
      await storage().put(key, randomBody(4 * MiB).stream);
      const controller = new AbortController();
      const stream = await storage().get(key, undefined, { signal: controller.signal });
      let received = 0;
      const err = await (async () => {
        for await (const chunk of stream) {
          received += (chunk as Buffer).length;
          controller.abort();
        }
      })().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect((err as Error | undefined)?.name).toBe("AbortError");
      expect(received).toBeLessThan(4 * MiB);
    });

    it("invalid keys are refused with STORAGE_INVALID_KEY", async () => {
      for (const key of ["", "/abs/key", "a//b", "a/../b", "./a", "a/", "a\\b"]) {
        for (const call of [() => storage().putBytes(key, Buffer.from("x")), () => storage().stat(key)]) {
          const err = await call().then(
            () => undefined,
            (e: unknown) => e,
          );
          expect(err).toBeInstanceOf(StorageError);
          expect((err as StorageError).code).toBe("STORAGE_INVALID_KEY");
        }
      }
      const err = await storage()
        .list("../up")
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect((err as StorageError | undefined)?.code).toBe("STORAGE_INVALID_KEY");
    });
  });
}

/** Reads a stream (or a promise of one) to the end. */
export async function readAll(stream: Readable | Promise<Readable>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of await stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** `data` as a stream of chunks of the given sizes (cycled). */
export function chunked(data: Buffer, sizes: number[]): Readable {
  return Readable.from(
    (function* () {
      let offset = 0;
      for (let i = 0; offset < data.length; i++) {
        const n = sizes[i % sizes.length] ?? 1;
        yield data.subarray(offset, offset + n);
        offset += n;
      }
    })(),
    { objectMode: false },
  );
}

/** `size` random bytes in 1 MiB chunks, hashed as they are produced. */
export function randomBody(size: number): { stream: Readable; sha256: () => string } {
  const hash = createHash("sha256");
  const stream = Readable.from(
    (function* () {
      for (let left = size; left > 0; left -= MiB) {
        const chunk = randomBytes(Math.min(MiB, left));
        hash.update(chunk);
        yield chunk;
      }
    })(),
    { objectMode: false },
  );
  return { stream, sha256: () => hash.digest("hex") };
}

/** Emits `failAfter` bytes, then fails with `error`. */
export function failingBody(failAfter: number, error: Error): Readable {
  return Readable.from(
    (async function* () {
      for (let sent = 0; sent < failAfter; sent += 64 * 1024) {
        yield Buffer.alloc(Math.min(64 * 1024, failAfter - sent), 0x5a);
        await new Promise((resolve) => setImmediate(resolve));
      }
      throw error;
    })(),
    { objectMode: false },
  );
}

/** Never ends; calls `onReached` once `threshold` bytes have been read from it. */
export function endlessBody(threshold: number, onReached: () => void): Readable {
  let sent = 0;
  let called = false;
  return new Readable({
    read() {
      setTimeout(() => {
        sent += 64 * 1024;
        if (!called && sent >= threshold) {
          called = true;
          onReached();
        }
        if (!this.destroyed) this.push(Buffer.alloc(64 * 1024, 0x41));
      }, 0);
    },
  });
}
