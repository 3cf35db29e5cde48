import { createHash, randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { describe, expect, it } from "vitest";
import { DigestStream, sha256Hex } from "./digest.js";

const EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

async function through(stream: DigestStream, chunks: readonly Buffer[]): Promise<Buffer> {
  const out: Buffer[] = [];
  await pipeline(Readable.from(chunks), stream, async (source: AsyncIterable<Buffer>) => {
    for await (const c of source) out.push(c);
  });
  return Buffer.concat(out);
}

describe("sha256Hex", () => {
  it("matches known vectors", () => {
    expect(sha256Hex(Buffer.alloc(0))).toBe(EMPTY_SHA256);
    expect(sha256Hex("abc")).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  });
});

describe("DigestStream", () => {
  it("passes bytes through unchanged and hashes and counts them", async () => {
    const chunks = Array.from({ length: 50 }, (_, i) => randomBytes(i * 997));
    const all = Buffer.concat(chunks);
    const stream = new DigestStream();
    const out = await through(stream, chunks);
    expect(out.equals(all)).toBe(true);
    expect(stream.bytes).toBe(all.length);
    expect(stream.sha256).toBe(createHash("sha256").update(all).digest("hex"));
  });

  it("hashes empty input", async () => {
    const stream = new DigestStream();
    await through(stream, []);
    expect(stream.bytes).toBe(0);
    expect(stream.sha256).toBe(EMPTY_SHA256);
  });

  it("refuses to report a hash before the end", () => {
    const stream = new DigestStream();
    stream.write(Buffer.from("x"));
    expect(stream.bytes).toBe(1);
    expect(() => stream.sha256).toThrow(/before the stream ended/);
    stream.destroy();
  });

  it("applies backpressure when nobody reads", () => {
    const stream = new DigestStream({ highWaterMark: 16 * 1024 });
    let accepted = 0;
    while (stream.write(randomBytes(4096)) && accepted < 1000) accepted++;
    expect(accepted).toBeLessThan(20);
    stream.destroy();
  });
});
