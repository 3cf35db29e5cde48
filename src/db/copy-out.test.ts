/**
 * The COPY TO parser (copy-out.ts) on protocol bytes split at every position: the payloads come
 * out whole and in order, messages the protocol allows in between are skipped, and what follows
 * CopyDone (or an ErrorResponse) is handed back to node-postgres untouched. The stream ends only
 * once the query has settled. Against a real server: test/dump.test.ts and test/failures.test.ts
 * (every dump reads through it).
 *
 * The "connection" here is the socket side of node-postgres' Connection only: a PassThrough as
 * the socket and a recorder in place of pg's own 'data' handler.
 */
import { PassThrough } from "node:stream";
import type { Connection } from "pg";
import { describe, expect, it } from "vitest";
import { GC_EVERY_BYTES, pacedCollections } from "../format/gc-pacer.js";
import { copyOut } from "./copy-out.js";

const message = (code: string, body: Buffer): Buffer => {
  const header = Buffer.alloc(5);
  header.write(code, 0, "latin1");
  header.writeUInt32BE(body.length + 4, 1);
  return Buffer.concat([header, body]);
};
const cstring = (s: string): Buffer => Buffer.from(s + "\0");

const rows = Array.from({ length: 40 }, (_, i) => Buffer.from(`${i}\trow ${"x".repeat(i % 9)}\t\\N\n`));
const copyOutResponse = message("H", Buffer.from([0, 0, 3, 0, 0, 0, 0, 0, 0]));
const notice = message("N", Buffer.concat([cstring("SNOTICE"), cstring("Mhello"), Buffer.from([0])]));
const parameter = message("S", Buffer.concat([cstring("TimeZone"), cstring("UTC")]));
const after = Buffer.concat([message("C", cstring(`COPY ${rows.length}`)), message("Z", Buffer.from("I"))]);
const data = rows.map((r) => message("d", r));
const wire = Buffer.concat([
  copyOutResponse,
  ...data.slice(0, 10),
  notice,
  ...data.slice(10, 25),
  parameter,
  ...data.slice(25),
  message("c", Buffer.alloc(0)),
  after,
]);
const payload = Buffer.concat(rows);

interface Run {
  out: Buffer;
  handedBack: Buffer;
  ended: boolean;
  error: Error | undefined;
}

/** Feeds `chunks` as socket reads; settles the query as pg would once it has the bytes it needs. */
async function run(chunks: Buffer[], settle = true): Promise<Run> {
  const socket = new PassThrough();
  const handedBack: Buffer[] = [];
  socket.on("data", (b: Buffer) => handedBack.push(b));
  const stream = copyOut("COPY t TO STDOUT");
  const out: Buffer[] = [];
  let ended = false;
  let error: Error | undefined;
  stream.on("data", (b: Buffer) => out.push(Buffer.from(b)));
  stream.on("end", () => (ended = true));
  stream.on("error", (e: Error) => (error = e));
  stream.submit({ stream: socket, query: () => {} } as unknown as Connection);
  for (const c of chunks) {
    socket.write(c);
    await new Promise((resolve) => setImmediate(resolve));
  }
  await new Promise((resolve) => setImmediate(resolve));
  if (settle && Buffer.concat(handedBack).length > 0) {
    stream.handleCommandComplete({ text: `COPY ${rows.length}` });
    stream.handleReadyForQuery();
  }
  await new Promise((resolve) => setImmediate(resolve));
  return { out: Buffer.concat(out), handedBack: Buffer.concat(handedBack), ended, error };
}

const split = (buf: Buffer, size: number): Buffer[] => {
  const chunks: Buffer[] = [];
  for (let at = 0; at < buf.length; at += size) chunks.push(buf.subarray(at, at + size));
  return chunks;
};

describe("copyOut", () => {
  it("passes the payloads through whole, and hands back what follows CopyDone, for every 2-way split", async () => {
    for (let cut = 1; cut < wire.length; cut++) {
      const r = await run([Buffer.from(wire.subarray(0, cut)), Buffer.from(wire.subarray(cut))]);
      expect(r.out.equals(payload), `split at ${cut}`).toBe(true);
      expect(r.handedBack.equals(after), `split at ${cut}`).toBe(true);
      expect(r.ended).toBe(true);
    }
  });

  it("does the same for reads of 1 to 23 bytes", async () => {
    for (let size = 1; size <= 23; size++) {
      const r = await run(split(Buffer.from(wire), size).map((c) => Buffer.from(c)));
      expect(r.out.equals(payload), `reads of ${size}`).toBe(true);
      expect(r.handedBack.equals(after), `reads of ${size}`).toBe(true);
      expect(r.ended).toBe(true);
    }
  });

  it("ends only once the query has settled (the row count is known by then)", async () => {
    const r = await run([Buffer.from(wire)], false);
    expect(r.out.equals(payload)).toBe(true);
    expect(r.ended).toBe(false);
  });

  it("hands an ErrorResponse back to pg and does not end the stream as if complete", async () => {
    const error = message(
      "E",
      Buffer.concat([cstring("SERROR"), cstring("C57014"), cstring("Mcanceled"), Buffer.from([0])]),
    );
    const broken = Buffer.concat([copyOutResponse, ...data.slice(0, 7), error, message("Z", Buffer.from("I"))]);
    for (const size of [1, 3, 64, broken.length]) {
      const r = await run(
        split(broken, size).map((c) => Buffer.from(c)),
        false,
      );
      expect(r.out.equals(Buffer.concat(rows.slice(0, 7))), `reads of ${size}`).toBe(true);
      expect(r.handedBack.subarray(0, 1).toString()).toBe("E");
      expect(r.handedBack.equals(broken.subarray(broken.indexOf(error)))).toBe(true);
      expect(r.ended).toBe(false);
    }
  });
});

describe("copyOut and gc-pacer", () => {
  const MiB = 1024 * 1024;
  it("paces garbage collection by every socket read (the unit project runs node with --expose-gc)", async () => {
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
