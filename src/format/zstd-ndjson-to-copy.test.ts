import { Readable, Writable, type Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { describe, expect, it } from "vitest";
import { IntegrityError } from "../errors.js";
import { NdjsonToCopy } from "./ndjson-to-copy.js";
import { ZstdNdjsonToCopy } from "./zstd-ndjson-to-copy.js";
import { compressBuffer, createDecompressStream } from "./zstd.js";
import { mulberry32 as rng, randomChunks } from "../../test/helpers/random.js";

const columns = ["id", "name", "doc"];

/** NDJSON rows of varied length: some far longer than the 128 KiB window, with escapes. */
function ndjson(rows: number, rand: () => number): Buffer {
  const lines: string[] = [];
  for (let i = 0; i < rows; i++) {
    const long = rand() < 0.01 ? "x".repeat(Math.floor(rand() * 300_000)) : "";
    const name = `row ${i} \t\\ "q" ünï ${"y".repeat(Math.floor(rand() * 200))}${long}`;
    lines.push(JSON.stringify({ id: i, name, doc: i % 7 === 0 ? null : `{"k": ${i}}` }));
  }
  return Buffer.from(lines.join("\n") + "\n");
}

async function collect(stream: Transform, chunks: readonly Buffer[], before?: Transform): Promise<Buffer> {
  const out: Buffer[] = [];
  const source = before ? Readable.from(chunks).pipe(before) : Readable.from(chunks);
  await pipeline(source, stream, async (source: AsyncIterable<Buffer>) => {
    for await (const c of source) out.push(Buffer.from(c));
  });
  return Buffer.concat(out);
}

describe("ZstdNdjsonToCopy", () => {
  it("gives the same COPY text as decompress stream → NdjsonToCopy, for any chunking of several frames", async () => {
    const rand = rng(14);
    const data = ndjson(3000, rand);
    // Two frames split inside a line: the window carries the line across the frame boundary.
    const cut = Math.floor(data.length / 3);
    const compressed = Buffer.concat([compressBuffer(data.subarray(0, cut), 3), compressBuffer(data.subarray(cut), 1)]);
    const expected = await collect(new NdjsonToCopy({ columns }), [compressed], createDecompressStream());
    for (const max of [1, 100, 70_000, compressed.length]) {
      const fused = new ZstdNdjsonToCopy({ columns });
      const got = await collect(fused, randomChunks(compressed, max, rand));
      expect(got.equals(expected)).toBe(true);
      expect(fused.rows).toBe(3000);
      expect(fused.bytes).toBe(data.length);
    }
  });

  it("a thousandfold chunk is transcoded piecewise, paced by the consumer", async () => {
    const line = Buffer.from(JSON.stringify({ id: 1, name: "a".repeat(100), doc: null }) + "\n");
    const rows = Math.floor((64 * 1024 * 1024) / line.length);
    const compressed = compressBuffer(Buffer.concat(Array.from({ length: rows }, () => line)), 3);
    expect(compressed.length).toBeLessThan((rows * line.length) / 1000);
    const stream = new ZstdNdjsonToCopy({ columns });
    stream.write(compressed);
    stream.end();
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    // Without parking the chunk, ~64 MiB of COPY text would be queued here.
    expect(stream.readableLength).toBeLessThanOrEqual(16 * 1024 + 256 * 1024);
    let lines = 0;
    let maxQueued = 0;
    await pipeline(
      stream,
      new Writable({
        write(chunk: Buffer, _enc, cb) {
          for (const b of chunk) if (b === 0x0a) lines++;
          maxQueued = Math.max(maxQueued, stream.readableLength);
          setImmediate(cb);
        },
      }),
    );
    expect(lines).toBe(rows);
    expect(maxQueued).toBeLessThanOrEqual(16 * 1024 + 256 * 1024);
  });

  it("fails on truncated zstd, on a malformed line and on a last line without its newline", async () => {
    const data = ndjson(500, rng(3));
    const compressed = compressBuffer(data, 3);
    await expect(collect(new ZstdNdjsonToCopy({ columns }), [compressed.subarray(0, -10)])).rejects.toThrow(
      /truncated|frame|corrupt|checksum/i,
    );
    const garbled = compressBuffer(Buffer.from('{"id": 1}\n[1, 2]\n'), 3);
    const err = await collect(new ZstdNdjsonToCopy({ columns }), [garbled]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IntegrityError);
    expect((err as IntegrityError).message).toMatch(/row 2/);
    const noNewline = compressBuffer(data.subarray(0, -1), 3);
    const err2 = await collect(new ZstdNdjsonToCopy({ columns }), [noNewline]).catch((e: unknown) => e);
    expect(err2).toBeInstanceOf(IntegrityError);
    expect((err2 as IntegrityError).message).toMatch(/truncated/);
  });
});
