/** countReads paces garbage collection by the bytes read (src/format/gc-pacer.ts). */
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { GC_EVERY_BYTES, pacedCollections } from "../format/gc-pacer.js";
import { countReads } from "./read-counter.js";

const MiB = 1024 * 1024;

describe("countReads", () => {
  it("paces garbage collection by every read of storage (gc-pacer)", async () => {
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
});
