/**
 * gc-pacer.ts: with `--expose-gc` (as bin/pgsnap.js and this test project run node), dead read
 * buffers are freed at the pace of the bytes streamed; the two places bytes enter call it.
 */
import { readFileSync } from "node:fs";
import { PassThrough, Readable } from "node:stream";
import type { Connection } from "pg";
import { describe, expect, it } from "vitest";
import { copyOut } from "../db/copy-out.js";
import { countReads } from "../storage/read-counter.js";
import { GC_EVERY_BYTES, paceGc, pacedCollections } from "./gc-pacer.js";

const MiB = 1024 * 1024;
const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

describe("paceGc", () => {
  it("runs with --expose-gc here, as bin/pgsnap.js's shebang asks", () => {
    expect(typeof (globalThis as { gc?: unknown }).gc).toBe("function");
    expect(readFileSync(new URL("../../bin/pgsnap.js", import.meta.url), "utf8").split("\n", 1)[0]).toMatch(
      /^#!\/usr\/bin\/env -S node .*--expose-gc/,
    );
  });

  it("keeps the dead buffers of 256 MiB of reads to a few MiB (V8 alone let 54 MiB pile up)", async () => {
    let peak = 0;
    for (let i = 0; i < 4096; i++) {
      // A read: a fresh ArrayBuffer each, dead once handled, almost no JavaScript allocation.
      const read = Buffer.allocUnsafe(64 * 1024);
      read[0] = i;
      paceGc(read.length);
      if (i % 16 === 0) {
        await nextTurn();
        peak = Math.max(peak, process.memoryUsage().arrayBuffers);
      }
    }
    expect(peak).toBeLessThan(4 * GC_EVERY_BYTES);
  });

  it("counts every read of storage (countReads)", async () => {
    const before = pacedCollections();
    const chunks = Array.from({ length: 48 }, () => Buffer.alloc(MiB));
    const counted = countReads(
      Readable.from(chunks),
      { reads: 0, bytesRead: 0, bytesWritten: 0 },
      {
        describe: (err) => err as Error,
      },
    );
    for await (const _ of counted) void _;
    expect(pacedCollections() - before).toBeGreaterThanOrEqual(Math.floor((48 * MiB) / GC_EVERY_BYTES) - 1);
  });

  it("counts every socket read of COPY TO (copyOut)", async () => {
    const before = pacedCollections();
    const socket = new PassThrough();
    const handler = () => undefined;
    socket.on("data", handler);
    const connection = { stream: socket, query: () => undefined } as unknown as Connection;
    const stream = copyOut("COPY t TO STDOUT");
    stream.submit(connection);
    const row = Buffer.from(`${"x".repeat(1018)}\n`);
    const message = Buffer.alloc(5 + row.length);
    message[0] = 0x64; // CopyData
    message.writeUInt32BE(4 + row.length, 1);
    row.copy(message, 5);
    const read = Buffer.concat(Array.from({ length: 64 }, () => message));
    const total = 48 * 16 * 64 * row.length;
    let received = 0;
    const all = new Promise<void>((resolve) =>
      stream.on("data", (chunk: Buffer) => {
        received += chunk.length;
        if (received === total) resolve();
      }),
    );
    for (let i = 0; i < 48 * 16; i++) {
      // A copy each: the parser compacts every read in place.
      if (!socket.write(Buffer.from(read))) await new Promise((resolve) => socket.once("drain", resolve));
    }
    await all;
    expect(pacedCollections() - before).toBeGreaterThanOrEqual(Math.floor((48 * MiB) / GC_EVERY_BYTES) - 1);
    stream.destroy();
  });
});
