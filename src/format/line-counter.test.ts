import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { describe, expect, it } from "vitest";
import { LineCounter, countLines } from "./line-counter.js";

async function through(stream: LineCounter, chunks: readonly Buffer[]): Promise<Buffer> {
  const out: Buffer[] = [];
  await pipeline(Readable.from(chunks), stream, async (source: AsyncIterable<Buffer>) => {
    for await (const c of source) out.push(c);
  });
  return Buffer.concat(out);
}

function naiveCount(buf: Buffer): number {
  let n = 0;
  for (const b of buf) if (b === 0x0a) n++;
  return n;
}

describe("countLines", () => {
  it("counts newline bytes", () => {
    expect(countLines(Buffer.alloc(0))).toBe(0);
    expect(countLines(Buffer.from("no newline"))).toBe(0);
    expect(countLines(Buffer.from("\n"))).toBe(1);
    expect(countLines(Buffer.from('{"a":"x\\ny"}\n{"b":1}\n\n'))).toBe(3);
    expect(countLines(new Uint8Array([0x0a, 0x41, 0x0a]))).toBe(2);
    const random = randomBytes(100_000);
    expect(countLines(random)).toBe(naiveCount(random));
    // a view into a larger buffer counts only its own bytes
    expect(countLines(Buffer.from("\n\nab\n\n").subarray(2, 5))).toBe(1);
  });
});

describe("LineCounter", () => {
  it("counts rows across arbitrary chunk boundaries and passes bytes through", async () => {
    const data = Buffer.from('{"id":1}\n{"id":2,"s":"é\\n"}\n\n{"id":3}\n'.repeat(37));
    for (const size of [1, 2, 3, 7, 64, data.length]) {
      const chunks: Buffer[] = [];
      for (let i = 0; i < data.length; i += size) chunks.push(data.subarray(i, i + size));
      const counter = new LineCounter();
      const out = await through(counter, chunks);
      expect(out.equals(data)).toBe(true);
      expect(counter.lines).toBe(4 * 37);
      expect(counter.bytes).toBe(data.length);
      expect(counter.endsMidLine).toBe(false);
    }
  });

  it("notices a last line without newline", async () => {
    const counter = new LineCounter();
    await through(counter, [Buffer.from("a\nb")]);
    expect(counter.lines).toBe(1);
    expect(counter.endsMidLine).toBe(true);
    const empty = new LineCounter();
    await through(empty, []);
    expect(empty.lines).toBe(0);
    expect(empty.endsMidLine).toBe(false);
  });

  it("applies backpressure when nobody reads", () => {
    const stream = new LineCounter({ highWaterMark: 16 * 1024 });
    let accepted = 0;
    while (stream.write(Buffer.alloc(4096, 0x0a)) && accepted < 1000) accepted++;
    expect(accepted).toBeLessThan(20);
    stream.destroy();
  });
});
