import { execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { describe, expect, it } from "vitest";
import { IntegrityError } from "../errors.js";
import {
  TenantFrameStream,
  createPlainFrameStream,
  createTenantFrameStream,
  type TenantFrame,
} from "./tenant-frames.js";
import { decompressBuffer } from "./zstd.js";

const dir = mkdtempSync(join(tmpdir(), "pgsnap-frames-"));
let fileNo = 0;

type Tenant = readonly [key: string, rows: readonly string[]];

/** The COPY output for `tenants`: `<key>\x02<row>\n` per row, grouped by tenant. */
function input(tenants: readonly Tenant[]): Buffer {
  return Buffer.from(tenants.map(([key, rows]) => rows.map((r) => `${key}\x02${r}\n`).join("")).join(""));
}

function rowsOf(rows: readonly string[]): Buffer {
  return Buffer.from(rows.map((r) => `${r}\n`).join(""));
}

function chunked(data: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < data.length; i += size) out.push(data.subarray(i, i + size));
  return out;
}

interface Result {
  output: Buffer;
  frames: TenantFrame[];
  stream: TenantFrameStream;
}

/** The same tenants as CopyToNdjson's groupRecords output: records around each tenant's rows. */
function records(tenants: readonly Tenant[]): Buffer {
  return Buffer.from(
    tenants.map(([key, rows]) => `\x02K${key}\n${rows.map((r) => `${r}\n`).join("")}\x02E${rows.length}\n`).join(""),
  );
}

async function frame(
  chunks: readonly Buffer[],
  level = 3,
  input: "keyed-lines" | "group-records" = "keyed-lines",
): Promise<Result> {
  const stream = createTenantFrameStream({ level, input });
  const out: Buffer[] = [];
  await pipeline(Readable.from(chunks), stream, async (source: AsyncIterable<Buffer>) => {
    for await (const c of source) out.push(c);
  });
  return { output: Buffer.concat(out), frames: stream.frames, stream };
}

function zstdCli(args: string[], input?: Buffer): Buffer {
  return execFileSync("/usr/bin/zstd", args, { input, maxBuffer: 1 << 30, stdio: "pipe" });
}

function writeTemp(data: Buffer): string {
  const file = join(dir, `f${fileNo++}.zst`);
  writeFileSync(file, data);
  return file;
}

function frameCount(data: Buffer): number {
  const m = /# Zstandard Frames: (\d+)/.exec(zstdCli(["-lv", writeTemp(data)]).toString());
  if (m?.[1] === undefined) throw new Error("zstd -lv printed no frame count");
  return Number(m[1]);
}

function sha256(data: Buffer): string {
  return createHash("sha256").update(data).digest("hex");
}

/** Asserts the full contract of a tenant-framed output for the given tenants. */
function checkFramed({ output, frames }: Result, tenants: readonly Tenant[]): void {
  // The whole file is plain NDJSON for any zstd reader.
  const allRows = Buffer.concat(tenants.map(([, rows]) => rowsOf(rows)));
  expect(zstdCli(["-dc", writeTemp(output)]).equals(allRows)).toBe(true);
  expect(frames.map((f) => f.key)).toEqual(tenants.map(([key]) => key));
  // Frames tile the file in order.
  let offset = 0;
  for (const [i, f] of frames.entries()) {
    const [, rows] = tenants[i]!;
    expect(f.offset).toBe(offset);
    offset += f.length;
    const slice = output.subarray(f.offset, f.offset + f.length);
    // Each byte range is self-contained: it decompresses alone to exactly that tenant's rows.
    const expected = rowsOf(rows);
    expect(decompressBuffer(slice).equals(expected)).toBe(true);
    expect(f.sha256).toBe(sha256(slice));
    expect(f.rows).toBe(rows.length);
    expect(f.bytes).toBe(expected.length);
  }
  expect(offset).toBe(output.length);
}

const SMALL: Tenant[] = [
  ["1", ['{"id":1,"user_id":1}', '{"id":2,"user_id":1,"s":"a\\nb"}']],
  ["2", ['{"id":3,"user_id":2}']],
  ["10", ['{"id":4,"user_id":10}', '{"id":5}', "{}"]],
  ['"a\\"b"', ['{"k":"a\\"b"}']],
  ['"x"', ['{"id":6}']],
];

describe("TenantFrameStream, group-records input", () => {
  it("frames and indexes exactly as keyed lines do, whatever the chunk boundaries", async () => {
    const expected = await frame([input(SMALL)]);
    const data = records(SMALL);
    for (const size of [1, 2, 5, 64, data.length]) {
      const r = await frame(chunked(data, size), 3, "group-records");
      checkFramed(r, SMALL);
      expect(r.output.equals(expected.output)).toBe(true);
      expect(r.frames).toEqual(expected.frames);
      expect(r.stream.rows).toBe(expected.stream.rows);
    }
  });

  it("refuses malformed record streams", async () => {
    const bad = async (text: string) =>
      (await frame([Buffer.from(text)], 3, "group-records").catch((e: unknown) => e)) as IntegrityError;
    expect((await bad('{"id":1}\n')).code).toBe("TENANT_LINE_MALFORMED");
    expect((await bad('\x02K1\n{"id":1}\n\x02K2\n')).code).toBe("TENANT_LINE_MALFORMED");
    expect((await bad('\x02K1\n{"id":1}\n\x02Ex\n')).code).toBe("TENANT_LINE_MALFORMED");
    expect((await bad("\x02Z\n")).code).toBe("TENANT_LINE_MALFORMED");
    expect((await bad('\x02K1\n{"id":1}\n')).code).toBe("TENANT_INPUT_TRUNCATED");
    expect((await bad('\x02K1\n{"id":1}\n\x02E1')).code).toBe("TENANT_INPUT_TRUNCATED");
    expect((await bad('\x02K1\n{"id":1}\n\x02E1\n\x02K2\n{}\n\x02E1\n\x02K1\n{}\n\x02E1\n')).code).toBe(
      "TENANT_NOT_GROUPED",
    );
  });
});

describe("TenantFrameStream", () => {
  it("writes one self-contained frame per tenant, readable whole by zstd -dc", async () => {
    const result = await frame([input(SMALL)]);
    checkFramed(result, SMALL);
    expect(frameCount(result.output)).toBe(SMALL.length);
    // each slice is exactly one frame, per the zstd CLI too
    for (const f of result.frames) {
      const slice = result.output.subarray(f.offset, f.offset + f.length);
      expect(frameCount(slice)).toBe(1);
      const rows = SMALL.find(([k]) => k === f.key)![1];
      expect(zstdCli(["-dc"], slice).equals(rowsOf(rows))).toBe(true);
    }
    expect(result.stream.rows).toBe(8);
    expect(result.stream.frameCount).toBe(5);
    expect(result.stream.compressedBytes).toBe(result.output.length);
  });

  it("gives identical output and frames whatever the chunk boundaries", async () => {
    const data = input(SMALL);
    const reference = await frame([data]);
    const oneByte = await frame(chunked(data, 1));
    expect(oneByte.output.equals(reference.output)).toBe(true);
    expect(oneByte.frames).toEqual(reference.frames);
    for (let at = 1; at < data.length; at++) {
      const split = await frame([data.subarray(0, at), data.subarray(at)]);
      expect(split.frames).toEqual(reference.frames);
      expect(split.output.equals(reference.output)).toBe(true);
    }
    for (const size of [2, 3, 5, 7, 13]) {
      const r = await frame(chunked(data, size));
      expect(r.frames).toEqual(reference.frames);
      expect(r.output.equals(reference.output)).toBe(true);
    }
  });

  it("keeps tenant keys verbatim: escapes, unicode, numbers vs strings", async () => {
    const tenants: Tenant[] = [
      ['"a\\"b"', ['{"q":1}']],
      ['"c:\\\\dir\\\\"', ['{"q":2}']],
      ['"ünï ☃ 😀 \\u0000 \\ud83d\\ude00"', ['{"q":3}']],
      ["1", ['{"q":4}']],
      ['"1"', ['{"q":5}']],
      ["1.0", ['{"q":6}']],
      ['"3f1b2c9e-8a4e-4c1d-9f2a-1b2c3d4e5f60"', ['{"q":7}']],
      ['{"composite":[1,"x"]}', ['{"q":8}']],
    ];
    const result = await frame(chunked(input(tenants), 3));
    checkFramed(result, tenants);
    expect(result.frames[2]!.key).toBe('"ünï ☃ 😀 \\u0000 \\ud83d\\ude00"');
    expect(result.frames[1]!.key).toBe('"c:\\\\dir\\\\"');
  });

  it("gives zero frames and a valid empty zstd stream for empty input", async () => {
    for (const chunks of [[], [Buffer.alloc(0)]]) {
      const result = await frame(chunks);
      expect(result.frames).toEqual([]);
      expect(result.output.length).toBeGreaterThan(0);
      expect(zstdCli(["-dc", writeTemp(result.output)]).length).toBe(0);
      expect(result.stream.rows).toBe(0);
    }
  });

  it("rejects input that is not grouped by tenant", async () => {
    const data = input([
      ["1", ["{}"]],
      ["2", ["{}"]],
      ["1", ["{}"]],
    ]);
    for (const chunks of [[data], chunked(data, 1)]) {
      const err: unknown = await frame(chunks).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(IntegrityError);
      expect((err as IntegrityError).code).toBe("TENANT_NOT_GROUPED");
      expect((err as IntegrityError).message).toMatch(/tenant 1 appears again on line 3/);
    }
  });

  it("tells keys apart by their exact bytes, even when one is a prefix of another", async () => {
    // equal as numbers or sharing a prefix, but different text: different frames, no false error
    const tenants: Tenant[] = [
      ["1", ["{}", "{}"]],
      ["10", ["{}"]],
      ["1.0", ["{}"]],
      ["100", ["{}", "{}"]],
      ["10000000000000000000001", ["{}"]],
      ["10000000000000000000000", ["{}"]],
      ['"1"', ["{}"]],
    ];
    for (const size of [1, 2, 1000]) {
      checkFramed(await frame(chunked(input(tenants), size)), tenants);
    }
  });

  it.each([
    ["a line without \\x02", "k\x02{}\nno separator here\nk2\x02{}\n", "TENANT_LINE_MALFORMED"],
    ["an empty key", "\x02{}\n", "TENANT_LINE_MALFORMED"],
    ["input cut inside a row", "1\x02{}\n2\x02{", "TENANT_INPUT_TRUNCATED"],
    ["input cut inside a key", '1\x02{}\n"ab', "TENANT_INPUT_TRUNCATED"],
  ])("rejects %s", async (_name, text, code) => {
    for (const size of [1, 4, 1000]) {
      const err: unknown = await frame(chunked(Buffer.from(text), size)).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(IntegrityError);
      expect((err as IntegrityError).code).toBe(code);
    }
  });

  it("streams a tenant much larger than its buffers, including huge rows", async () => {
    const rowsA: string[] = [];
    for (let i = 0; i < 20_000; i++) {
      rowsA.push(`{"id":${i},"user_id":"a","pad":"${randomBytes(i % 50).toString("hex")}"}`);
    }
    rowsA.splice(100, 0, `{"big":"${randomBytes(300_000).toString("base64")}"}`);
    rowsA.splice(5000, 0, `{"big2":"${"x".repeat(1_500_000)}"}`); // > the 1 MiB stage: straight to zstd
    const tenants: Tenant[] = [
      ['"a"', rowsA],
      ['"b"', ['{"id":1}']],
      ['"c"', rowsA.slice(0, 3000)],
    ];
    const data = input(tenants);
    const rand = (() => {
      let s = 12345;
      return () => ((s = (s * 1103515245 + 12345) >>> 0) % 100_000) + 1;
    })();
    const chunks: Buffer[] = [];
    for (let i = 0; i < data.length;) {
      const n = rand();
      chunks.push(data.subarray(i, i + n));
      i += n;
    }
    const result = await frame(chunks);
    checkFramed(result, tenants);
    expect(frameCount(result.output)).toBe(3);
  });

  it("calls onFrame in order and can skip collecting", async () => {
    const seen: TenantFrame[] = [];
    const stream = createTenantFrameStream({
      level: 1,
      onFrame: (f) => seen.push(f),
      collectFrames: false,
    });
    await pipeline(Readable.from([input(SMALL)]), stream, async (source: AsyncIterable<Buffer>) => {
      for await (const c of source) expect(Buffer.isBuffer(c)).toBe(true);
    });
    expect(stream.frames).toEqual([]);
    expect(seen.map((f) => f.key)).toEqual(SMALL.map(([k]) => k));
  });

  it("fails the stream when onFrame throws", async () => {
    const stream = createTenantFrameStream({
      level: 1,
      onFrame: () => {
        throw new Error("index store failed");
      },
    });
    await expect(
      pipeline(Readable.from([input(SMALL)]), stream, async (source: AsyncIterable<Buffer>) => {
        for await (const c of source) expect(Buffer.isBuffer(c)).toBe(true);
      }),
    ).rejects.toThrow("index store failed");
  });

  it("applies backpressure: write() returns false and output stays bounded while nobody reads", async () => {
    const hwm = 64 * 1024;
    const stream = createTenantFrameStream({ level: 1, highWaterMark: hwm });
    let accepted = 0;
    // many tenants of incompressible rows, so output grows with input
    for (let t = 0; accepted < 2000; t++) {
      const line = Buffer.from(`${t}\x02{"r":"${randomBytes(6000).toString("base64")}"}\n`);
      if (!stream.write(line)) break;
      accepted++;
    }
    expect(accepted).toBeLessThan(2000);
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    expect(stream.readableLength).toBeLessThan(hwm + 256 * 1024);
    stream.destroy();
  });
});

describe("createPlainFrameStream", () => {
  it("compresses everything into one frame", async () => {
    const data = Buffer.from('{"a":1}\n'.repeat(100_000));
    const out: Buffer[] = [];
    await pipeline(
      Readable.from(chunked(data, 65_536)),
      createPlainFrameStream({ level: 3 }),
      async (source: AsyncIterable<Buffer>) => {
        for await (const c of source) out.push(c);
      },
    );
    const output = Buffer.concat(out);
    expect(frameCount(output)).toBe(1);
    expect(zstdCli(["-dc", writeTemp(output)]).equals(data)).toBe(true);
  });
});
