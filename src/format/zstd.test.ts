import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable, Writable, type Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { describe, expect, it } from "vitest";
import { compressBuffer, createCompressStream, createDecompressStream, decompressBuffer } from "./zstd.js";
import { mulberry32 as rng, randomChunks } from "../../test/helpers/random.js";

const dir = mkdtempSync(join(tmpdir(), "pgsnap-zstd-"));

/** Half incompressible, half repetitive NDJSON-like text. */
function mixedData(size: number, rand: () => number): Buffer {
  const parts: Buffer[] = [];
  let n = 0;
  while (n < size) {
    const p =
      rand() < 0.5
        ? randomBytes(1 + Math.floor(rand() * 5000))
        : Buffer.from(`{"id":${Math.floor(rand() * 1e6)},"name":"row ${n}"}\n`.repeat(20));
    parts.push(p);
    n += p.length;
  }
  return Buffer.concat(parts).subarray(0, size);
}

async function run(stream: Transform, chunks: readonly Buffer[]): Promise<Buffer> {
  const out: Buffer[] = [];
  await pipeline(Readable.from(chunks), stream, async (source: AsyncIterable<Buffer>) => {
    for await (const c of source) out.push(c);
  });
  return Buffer.concat(out);
}

function zstdCli(args: string[], input?: Buffer): Buffer {
  return execFileSync("/usr/bin/zstd", args, { input, maxBuffer: 1 << 30, stdio: "pipe" });
}

function frameCount(file: string): number {
  const m = /# Zstandard Frames: (\d+)/.exec(zstdCli(["-lv", file]).toString());
  if (m?.[1] === undefined) throw new Error("zstd -lv printed no frame count");
  return Number(m[1]);
}

describe("createCompressStream / createDecompressStream", () => {
  it.each([0, 1, 100, 131_072, 1_000_003, 5_000_000])(
    "round-trips %i bytes of mixed data in random chunks",
    async (size) => {
      const rand = rng(size + 1);
      const data = mixedData(size, rand);
      const compressed = await run(createCompressStream(3), randomChunks(data, 70_000, rand));
      const restored = await run(createDecompressStream(), randomChunks(compressed, 9_000, rand));
      expect(restored.equals(data)).toBe(true);
      expect(decompressBuffer(compressed).equals(data)).toBe(true);
    },
  );

  it("writes exactly one frame that the zstd CLI reads", async () => {
    const data = mixedData(3_000_000, rng(7));
    const compressed = await run(createCompressStream(5), randomChunks(data, 65_536, rng(8)));
    const file = join(dir, "one.zst");
    writeFileSync(file, compressed);
    expect(frameCount(file)).toBe(1);
    expect(zstdCli(["-dc", file]).equals(data)).toBe(true);
    expect(compressed.length).toBeLessThan(data.length);
  });

  it("gives a valid empty frame for empty input", async () => {
    const compressed = await run(createCompressStream(3), []);
    expect(compressed.length).toBeGreaterThan(0);
    const file = join(dir, "empty.zst");
    writeFileSync(file, compressed);
    expect(zstdCli(["-dc", file]).length).toBe(0);
    expect((await run(createDecompressStream(), [compressed])).length).toBe(0);
  });

  it("decompresses concatenated frames (ours and the CLI's) as their concatenation", async () => {
    const a = Buffer.from("first frame\n");
    const b = mixedData(400_000, rng(3));
    const c = Buffer.from("third, by the zstd CLI\n");
    const input = Buffer.concat([
      compressBuffer(a, 3),
      compressBuffer(Buffer.alloc(0), 3), // an empty frame in the middle
      await run(createCompressStream(1), [b]),
      zstdCli(["-c", "-q"], c),
    ]);
    const expected = Buffer.concat([a, b, c]);
    expect((await run(createDecompressStream(), [input])).equals(expected)).toBe(true);
    const bytewise = [...input].map((x) => Buffer.from([x]));
    expect((await run(createDecompressStream(), bytewise)).equals(expected)).toBe(true);
    expect(decompressBuffer(input).equals(expected)).toBe(true);
  });

  it("fails on truncated input", async () => {
    const compressed = compressBuffer(mixedData(200_000, rng(4)), 3);
    const cut = compressed.subarray(0, compressed.length - 5);
    await expect(run(createDecompressStream(), [cut])).rejects.toThrow(/truncated/);
    expect(() => decompressBuffer(cut)).toThrow(/truncated/);
  });

  it("fails on corrupt input", async () => {
    await expect(run(createDecompressStream(), [Buffer.from("not zstd at all")])).rejects.toThrow();
  });

  it("compresses on a zstd worker thread by default; both ways round-trip a multi-job input", async () => {
    // 7 MB: several 2 MiB worker jobs. The worker's job boundaries change the bytes (not the
    // content), so equal output would mean the stream compressed on the calling thread.
    const data = mixedData(7_000_000, rng(11));
    const chunks = randomChunks(data, 70_000, rng(12));
    const threaded = await run(createCompressStream(3), chunks);
    const inline = await run(createCompressStream(3, { workers: 0 }), chunks);
    expect(threaded.equals(inline)).toBe(false);
    for (const compressed of [threaded, inline]) {
      expect(decompressBuffer(compressed).equals(data)).toBe(true);
      const file = join(dir, "workers.zst");
      writeFileSync(file, compressed);
      expect(frameCount(file)).toBe(1);
    }
    expect(() => createCompressStream(3, { workers: -1 })).toThrow(RangeError);
    expect(() => createCompressStream(3, { workers: 1.5 })).toThrow(RangeError);
  });

  it("rejects levels outside 1-19", () => {
    expect(() => createCompressStream(0)).toThrow(RangeError);
    expect(() => createCompressStream(20)).toThrow(RangeError);
    expect(() => createCompressStream(2.5)).toThrow(RangeError);
    expect(() => createCompressStream(19)).not.toThrow();
  });

  it("compressBuffer gives one frame the CLI reads, with its content size", () => {
    const data = mixedData(100_000, rng(5));
    const frame = compressBuffer(data, 19);
    const file = join(dir, "buf.zst");
    writeFileSync(file, frame);
    expect(frameCount(file)).toBe(1);
    expect(zstdCli(["-lv", file]).toString()).toMatch(/Decompressed Size: .*\(100000 B\)/);
    expect(zstdCli(["-dc", file]).equals(data)).toBe(true);
    expect(readFileSync(file).equals(frame)).toBe(true);
  });
});

describe("backpressure", () => {
  it("compressor: write() returns false and the readable side stays bounded while nobody reads", async () => {
    const hwm = 64 * 1024;
    const stream = createCompressStream(1, { highWaterMark: hwm });
    const chunk = randomBytes(16 * 1024);
    let accepted = 0;
    // Fresh random bytes each time (a repeated chunk would compress to nothing): output ≈ input.
    while (stream.write(randomBytes(chunk.length))) {
      accepted++;
      if (accepted > 1000) break;
    }
    expect(accepted).toBeLessThan(1000);
    // Let the stream process whatever it will without a consumer. zstd's worker thread takes a
    // few 2 MiB jobs of input before compressStream2 waits for it, and a chunk that arrives when
    // jobs have finished gets all their output at once: 386 KiB was seen (30 runs), so the old
    // bound of hwm + 256 KiB failed about 1 run in 7. Bounded by one job, not by the input.
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    expect(stream.readableLength).toBeLessThan(hwm + 2 * 1024 * 1024);
    expect(stream.writableLength).toBeLessThan(hwm + chunk.length * 2);
    stream.destroy();
  });

  it("decompressor: a thousandfold chunk is produced piecewise, paced by the consumer", async () => {
    const size = 64 * 1024 * 1024;
    const compressed = compressBuffer(Buffer.alloc(size, 0x61), 3);
    expect(compressed.length).toBeLessThan(size / 1000);
    const hwm = 64 * 1024;
    const stream = createDecompressStream({ readableHighWaterMark: hwm });
    stream.write(compressed);
    stream.end();
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    // Without pausing mid-chunk all 64 MiB would be queued here.
    expect(stream.readableLength).toBeLessThanOrEqual(hwm + 128 * 1024);

    let total = 0;
    let maxQueued = 0;
    const slowSink = new Writable({
      highWaterMark: hwm,
      write(chunk: Buffer, _enc, cb) {
        total += chunk.length;
        maxQueued = Math.max(maxQueued, stream.readableLength);
        if (chunk.some((b) => b !== 0x61)) cb(new Error("wrong byte"));
        else setImmediate(cb);
      },
    });
    await pipeline(stream, slowSink);
    expect(total).toBe(size);
    expect(maxQueued).toBeLessThanOrEqual(hwm + 128 * 1024);
  });
});
