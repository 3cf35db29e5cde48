import { Readable, Writable, type Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { describe, expect, it } from "vitest";
import { ZstdLineFilter, type KeepLine } from "./line-filter.js";
import { compressBuffer, createCompressStream } from "./zstd.js";
import { mulberry32 as rng, randomChunks } from "../../test/helpers/random.js";

async function run(stream: Transform, chunks: readonly Buffer[]): Promise<Buffer> {
  const out: Buffer[] = [];
  await pipeline(Readable.from(chunks), stream, async (source: AsyncIterable<Buffer>) => {
    for await (const c of source) out.push(c);
  });
  return Buffer.concat(out);
}

/** NDJSON-ish lines of random lengths (some far longer than the filter's window). */
function lines(count: number, rand: () => number): string[] {
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    const big = rand() < 0.002;
    const len = big ? 600_000 + Math.floor(rand() * 900_000) : Math.floor(rand() * 400);
    out.push(`{"id":${i},"t":${i % 7},"s":"${"x".repeat(len)}"}`);
  }
  return out;
}

const byTenant3: KeepLine = (buf, start, end) => buf.toString("latin1", start, end).includes(`"t":3,`);

describe("ZstdLineFilter", () => {
  it("keeps exactly the lines `keep` accepts, whatever the chunking, frames and line lengths", async () => {
    const rand = rng(1);
    const all = lines(4000, rand);
    const text = Buffer.from(all.map((l) => l + "\n").join(""));
    const expected = Buffer.from(
      all
        .filter((l) => l.includes(`"t":3,`))
        .map((l) => l + "\n")
        .join(""),
    );
    // One frame, and several frames split at arbitrary bytes (inside lines too).
    const oneFrame = compressBuffer(text, 3);
    const cuts = [0, 1234, 99_999, 1_000_001, text.length];
    const frames = Buffer.concat(cuts.slice(1).map((c, i) => compressBuffer(text.subarray(cuts[i], c), 1)));
    for (const [input, max] of [
      [oneFrame, 70_000],
      [frames, 3_000],
      [frames, 1_000_000],
    ] as const) {
      const filter = new ZstdLineFilter(byTenant3);
      const out = await run(filter, randomChunks(input, max, rand));
      expect(out.equals(expected)).toBe(true);
      expect(filter.rows).toBe(expected.toString().split("\n").length - 1);
      expect(filter.bytes).toBe(expected.length);
    }
  });

  it("hands `keep` the line without its newline, and keeps a line given one byte at a time", async () => {
    const text = Buffer.from('{"a":1}\n\n{"b":"\\n"}\n');
    const seen: string[] = [];
    const filter = new ZstdLineFilter((buf, start, end) => {
      seen.push(buf.toString("utf8", start, end));
      return true;
    });
    const bytewise = [...compressBuffer(text, 3)].map((x) => Buffer.from([x]));
    expect((await run(filter, bytewise)).equals(text)).toBe(true);
    expect(seen).toEqual(['{"a":1}', "", '{"b":"\\n"}']);
  });

  it("an empty frame gives nothing", async () => {
    const filter = new ZstdLineFilter(() => true);
    expect((await run(filter, [compressBuffer(Buffer.alloc(0), 3)])).length).toBe(0);
    expect(filter.rows).toBe(0);
  });

  it("fails on a truncated frame, on data without a final newline, on corrupt input", async () => {
    const full = compressBuffer(Buffer.from('{"a":1}\n'.repeat(50_000)), 3);
    await expect(run(new ZstdLineFilter(() => true), [full.subarray(0, full.length - 4)])).rejects.toThrow(/truncated/);
    const noNewline = compressBuffer(Buffer.from('{"a":1}\n{"a":2}'), 3);
    await expect(run(new ZstdLineFilter(() => false), [noNewline])).rejects.toThrow(/no final newline/);
    await expect(run(new ZstdLineFilter(() => true), [Buffer.from("not zstd at all")])).rejects.toThrow();
  });

  it("checks each frame's XXH64 unless told the caller checks a digest itself", async () => {
    const text = Buffer.from('{"a":1}\n'.repeat(1000));
    const good = compressBuffer(text, 3);
    const badSum = Buffer.concat([
      good.subarray(0, good.length - 4),
      Buffer.from(good.subarray(good.length - 4).map((b) => b ^ 1)),
    ]);
    await expect(run(new ZstdLineFilter(() => true), [badSum])).rejects.toThrow(/checksum/i);
    const unchecked = new ZstdLineFilter(() => true, { verifyChecksum: false });
    expect((await run(unchecked, [badSum])).equals(text)).toBe(true);
    // The structure is still checked.
    await expect(
      run(new ZstdLineFilter(() => true, { verifyChecksum: false }), [Buffer.from("not zstd at all")]),
    ).rejects.toThrow();
  });

  it("an error thrown by `keep` fails the stream", async () => {
    const input = compressBuffer(Buffer.from('{"a":1}\n'), 3);
    const filter = new ZstdLineFilter(() => {
      throw new Error("bad row");
    });
    await expect(run(filter, [input])).rejects.toThrow(/bad row/);
  });

  it("an abort in the middle ends the stream with the abort", async () => {
    const text = Buffer.from('{"id":1,"t":3,"s":"abc"}\n'.repeat(400_000));
    const compressed = compressBuffer(text, 1);
    const controller = new AbortController();
    let seen = 0;
    const filter = new ZstdLineFilter(() => {
      if (++seen === 1000) controller.abort();
      return true;
    });
    await expect(
      pipeline(
        Readable.from(randomChunks(compressed, 2_000, rng(7))),
        filter,
        new Writable({ write: (_c, _e, cb) => cb() }),
        {
          signal: controller.signal,
        },
      ),
    ).rejects.toThrow(/abort/i);
    expect(filter.destroyed).toBe(true);
  });

  it("a thousandfold chunk is produced piecewise, paced by the consumer", async () => {
    const line = `{"id":1,"s":"${"a".repeat(100)}"}\n`;
    const size = 64 * 1024 * 1024;
    const text = Buffer.from(line.repeat(Math.ceil(size / line.length)));
    const compressed = await run(createCompressStream(3, { workers: 0 }), [text]);
    expect(compressed.length).toBeLessThan(text.length / 1000);
    const filter = new ZstdLineFilter(() => true);
    filter.write(compressed);
    filter.end();
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    // Without pausing mid-chunk all 64 MiB would be queued here.
    expect(filter.readableLength).toBeLessThanOrEqual(16 * 1024 + 1024 * 1024);
    let total = 0;
    let maxQueued = 0;
    const slowSink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        total += chunk.length;
        maxQueued = Math.max(maxQueued, filter.readableLength);
        setImmediate(cb);
      },
    });
    await pipeline(filter, slowSink);
    expect(total).toBe(text.length);
    expect(filter.rows).toBe(text.length / line.length);
    expect(maxQueued).toBeLessThanOrEqual(16 * 1024 + 1024 * 1024);
  });
});
