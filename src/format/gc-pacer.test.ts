/**
 * gc-pacer.ts: with `--expose-gc` (as bin/pgsnap.js and this test project run node), dead read
 * buffers are freed at the pace of the bytes streamed. The two places bytes enter are checked
 * beside them: src/db/copy-out.test.ts and src/storage/read-counter.test.ts.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { GC_EVERY_BYTES, paceGc } from "./gc-pacer.js";

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
});
