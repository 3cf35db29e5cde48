/**
 * The dump's encode worker (src/dump/table-encoder.ts, encode-worker.ts): the same stored bytes'
 * content, counts and frame index as encoding in-thread; errors cross the thread boundary as the
 * class they were thrown as; a failed or aborted table never leaves a worker that answers for it
 * to the next table. (Backpressure across the thread: test/failures.test.ts, a slow consumer.)
 *
 * Imports the built modules (`npm test` builds first): a worker thread runs dist/ JavaScript,
 * and from the TypeScript sources the pool encodes in-thread (EncoderPool.available is false).
 */
import { createHash } from "node:crypto";
import { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { afterEach, describe, expect, it } from "vitest";
import { EncoderPool, inThreadEncoder, type TableEncoder } from "../dist/dump/table-encoder.js";
import type { EncodeSpec } from "../dist/dump/encode-stages.js";
import { IntegrityError } from "../dist/errors.js";
import { decompressBuffer } from "../dist/format/zstd.js";

const columns: EncodeSpec["columns"] = [
  { name: "id", kind: "number" },
  { name: "name", kind: "string" },
  { name: "ok", kind: "bool" },
];

/** COPY text of `rows` rows; framed: the frame key first, `tenants` tenants in runs. */
function copyText(rows: number, framed = false, tenants = 7): Buffer {
  const lines: string[] = [];
  for (let i = 1; i <= rows; i++) {
    const name = i % 5 === 0 ? `tab\\there "q" \\\\ ${i}` : `name ${i} ${"x".repeat(i % 40)}`;
    const row = `${i}\t${i % 11 === 0 ? "\\N" : name}\t${i % 2 === 0 ? "t" : "f"}`;
    lines.push(framed ? `k${Math.floor(((i - 1) * tenants) / rows)}\t${row}` : row);
  }
  return Buffer.from(lines.join("\n") + "\n");
}

/** Feeds `input` in uneven chunks through the encoder; returns the stored bytes. */
async function encode(encoder: TableEncoder, input: Buffer): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for (let at = 0, n = 1; at < input.length; at += n, n = (n * 7 + 13) % 70_000)
    chunks.push(input.subarray(at, at + n));
  const out: Buffer[] = [];
  await pipeline([
    Readable.from(chunks),
    ...encoder.transforms,
    new Writable({
      write(chunk: Buffer, _e, done) {
        out.push(chunk);
        done();
      },
    }),
  ]);
  return Buffer.concat(out);
}

const pools: EncoderPool[] = [];
const newPool = (): EncoderPool => {
  const pool = new EncoderPool();
  pools.push(pool);
  return pool;
};
afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.close()));
});

describe("encode worker", () => {
  it("runs from the built code (not in-thread)", () => {
    expect(newPool().available).toBe(true);
  });

  for (const framed of [false, true]) {
    it(`stores what in-thread encoding stores (${framed ? "framed" : "plain"}), with the same counts and digest`, async () => {
      const input = copyText(40_000, framed);
      const spec: EncodeSpec = { columns, framed, level: 3 };
      const here = inThreadEncoder(spec);
      const hereBytes = await encode(here, input);
      const pool = newPool();
      const there = pool.encoder(0, spec);
      const thereBytes = await encode(there, input);

      expect(decompressBuffer(thereBytes).equals(decompressBuffer(hereBytes))).toBe(true);
      const result = there.result();
      expect(result.rows).toBe(40_000);
      expect(result.rows).toBe(here.result().rows);
      expect(result.bytes).toBe(here.result().bytes);
      expect(result.storedBytes).toBe(thereBytes.length);
      expect(result.sha256).toBe(createHash("sha256").update(thereBytes).digest("hex"));
      if (framed) {
        const frames = result.frames!;
        expect(frames.map((f) => [f.key, f.rows, f.bytes])).toEqual(
          here.result().frames!.map((f) => [f.key, f.rows, f.bytes]),
        );
        for (const f of frames) {
          const bytes = thereBytes.subarray(f.offset, f.offset + f.length);
          expect(createHash("sha256").update(bytes).digest("hex")).toBe(f.sha256);
        }
      } else {
        expect(result.frames).toBeUndefined();
      }
    });
  }

  it("reuses one worker table after table", async () => {
    const pool = newPool();
    for (let table = 1; table <= 3; table++) {
      const encoder = pool.encoder(0, { columns, framed: false, level: 1 });
      const stored = await encode(encoder, copyText(1000 * table));
      expect(encoder.result().rows).toBe(1000 * table);
      expect(decompressBuffer(stored).toString().split("\n").length - 1).toBe(1000 * table);
    }
  });

  it("fails with the IntegrityError the worker threw, and the next table gets a working worker", async () => {
    const pool = newPool();
    const bad = pool.encoder(0, { columns, framed: false, level: 3 });
    const input = Buffer.concat([copyText(5000), Buffer.from("1\tone field too few\n")]);
    const err = await encode(bad, input).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(IntegrityError);
    expect((err as IntegrityError).code).toBe("COPY_TEXT_MALFORMED");
    expect((err as IntegrityError).message).toMatch(/row 5001/);

    const good = pool.encoder(0, { columns, framed: false, level: 3 });
    await encode(good, copyText(2000));
    expect(good.result().rows).toBe(2000);
  });

  it("an aborted table leaves no worker answering for it", async () => {
    const pool = newPool();
    const encoder = pool.encoder(0, { columns, framed: false, level: 1 });
    const stream = encoder.transforms[0];
    // Aborted once the worker is mid-table: it has produced output and has more to send.
    const failed = new Promise((resolve) => stream.on("error", resolve));
    stream.once("data", () => stream.destroy(new Error("aborted by the test")));
    stream.write(copyText(300_000));
    expect(((await failed) as Error).message).toBe("aborted by the test");

    // Had the old worker been kept, its remaining output would land in this table.
    const input = copyText(3000);
    const next = pool.encoder(0, { columns, framed: false, level: 1 });
    const stored = await encode(next, input);
    const expected = await encode(inThreadEncoder({ columns, framed: false, level: 1 }), input);
    expect(decompressBuffer(stored).equals(decompressBuffer(expected))).toBe(true);
    expect(next.result().rows).toBe(3000);
  });
});
