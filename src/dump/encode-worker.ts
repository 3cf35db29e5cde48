/**
 * The dump's encode worker: a worker thread that turns one table's COPY text into its stored
 * bytes (./encode-stages.ts) while the main thread reads the socket, so transcoding and zstd run
 * beside the protocol handling instead of after it (issue 14). One worker serves one dump
 * connection, table after table. The protocol (./table-encoder.ts is the other side):
 *
 *   main → worker  `begin` {spec} · `data` {buf} · `end` · `abort` · `ack` (one output consumed)
 *   worker → main  `pull` {rows, bytes} (send more input) · `out` {buf} · `done` {result} ·
 *                  `error` {error}
 *
 * Input is pulled: the worker asks for a batch whenever its source has room, so at most its
 * high-water mark of COPY text waits here. Output is credited: at most OUT_CREDIT `out` messages
 * are unacknowledged, so a slow store stalls the worker, which stops pulling, which stops the
 * socket.
 */
import { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { parentPort } from "node:worker_threads";
import { encodeStages, type EncodeSpec } from "./encode-stages.js";
import { serializeError, type ToWorker, type FromWorker } from "./encode-protocol.js";

/** COPY text the worker holds before it stops pulling. */
const SOURCE_HIGH_WATER = 512 * 1024;
/** Stored bytes per `out` message (the last one of a table may be shorter). */
const OUT_BATCH = 128 * 1024;
/** Unacknowledged output messages before the worker waits for the main thread. */
export const OUT_CREDIT = 8;

interface Session {
  source: Readable;
  /** A pull is outstanding: the main thread will send one batch (or the end). */
  pulling: boolean;
  unacked: number;
  resume: (() => void) | null;
  aborted: boolean;
}

const port = parentPort;
if (port === null) throw new Error("encode-worker.js runs only as a worker thread");
const post = (message: FromWorker, transfer?: ArrayBuffer[]): void => port.postMessage(message, transfer);
let session: Session | null = null;

port.on("message", (message: ToWorker) => {
  switch (message.type) {
    case "begin":
      begin(message.spec);
      break;
    case "data":
      if (session && !session.aborted) {
        session.pulling = false;
        session.source.push(Buffer.from(message.buf));
      }
      break;
    case "end":
      if (session && !session.aborted) session.source.push(null);
      break;
    case "ack":
      if (session) {
        session.unacked--;
        const resume = session.resume;
        session.resume = null;
        resume?.();
      }
      break;
    case "abort":
      if (session) {
        session.aborted = true;
        session.source.destroy();
        session = null;
      }
      break;
  }
});

function begin(spec: EncodeSpec): void {
  const stages = encodeStages(spec);
  const s: Session = {
    source: new Readable({
      highWaterMark: SOURCE_HIGH_WATER,
      read() {
        if (s.pulling || s.aborted) return;
        s.pulling = true;
        post({ type: "pull", rows: stages.rows(), bytes: stages.bytes() });
      },
    }),
    pulling: false,
    unacked: 0,
    resume: null,
    aborted: false,
  };
  session = s;
  // Output is gathered into batches (zstd hands it over in many small slices), copied once:
  // the compressor keeps writing into the rest of the buffers those slices are views of.
  // allocUnsafeSlow: a buffer that owns its whole ArrayBuffer (so it can be moved), not zeroed.
  let batch = Buffer.allocUnsafeSlow(OUT_BATCH);
  let batchLength = 0;
  const flush = (): boolean => {
    const out = batchLength === OUT_BATCH ? batch.buffer : batch.buffer.slice(0, batchLength);
    batch = Buffer.allocUnsafeSlow(OUT_BATCH);
    batchLength = 0;
    s.unacked++;
    post({ type: "out", buf: out }, [out]);
    return s.unacked < OUT_CREDIT;
  };
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      let more = true;
      for (let at = 0; at < chunk.length;) {
        const n = Math.min(chunk.length - at, OUT_BATCH - batchLength);
        batch.set(chunk.subarray(at, at + n), batchLength);
        batchLength += n;
        at += n;
        if (batchLength === OUT_BATCH) more = flush();
      }
      if (more) done();
      else s.resume = () => done();
    },
    final(done) {
      if (batchLength > 0) flush();
      done();
    },
  });
  pipeline([s.source, ...stages.transforms, sink]).then(
    () => {
      if (s.aborted) return;
      session = null;
      post({ type: "done", result: stages.result() });
    },
    (err: unknown) => {
      if (s.aborted) return;
      session = null;
      post({ type: "error", error: serializeError(err) });
    },
  );
}
