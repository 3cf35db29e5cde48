/**
 * zstd decompression on a worker thread, into a ring of shared buffers that the caller reads in
 * place (src/format/line-filter.ts). Extract from a full snapshot must decompress every byte of a
 * table to find one tenant's rows; on one thread decompression and the row search took turns
 * (~0.3 s each per 268 MB of NDJSON, measured, issue 14). With the decompression on its own
 * thread they overlap, and the output still lands in reused memory (fresh output buffers cost
 * a page fault per 4 KiB, about as much as the decompression itself).
 *
 * Protocol (one SharedArrayBuffer of `slots` × `slotSize` bytes, one Int32Array of states):
 * - state[i] = -1: slot i is free; ≥ 0: slot i holds that many bytes for the caller.
 * - The worker fills slots in ring order, posts the slot number when one is full (or at the end),
 *   and blocks (Atomics.wait) while the next slot is not free: a caller that stops releasing
 *   slots stops the decompression. It acknowledges every input chunk once it is decompressed, so
 *   the caller can bound the compressed bytes in flight.
 * - state[slots] = 1 asks the worker to stop (it is also terminated).
 * Messages are delivered in order, so the end report follows the last slot.
 *
 * The worker is an eval'd CommonJS script (it must also run where the sources are TypeScript, as
 * under vitest); it loads zstd-napi's binding from the path resolved here.
 */
import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";

const WORKER_SOURCE = `"use strict";
const { parentPort, workerData } = require("node:worker_threads");
const binding = require(workerData.binding);
const { data, control, slots, slotSize, minRoom } = workerData;
const state = new Int32Array(control);
const dctx = new binding.DCtx();
let slot = 0;
let fill = 0;
let out = null;
let inFrame = false;
let failed = false;
function acquire() {
  for (let v = Atomics.load(state, slot); v !== -1; v = Atomics.load(state, slot)) {
    if (Atomics.load(state, slots) === 1) throw new Error("stopped");
    Atomics.wait(state, slot, v, 1000);
  }
  out = new Uint8Array(data, slot * slotSize, slotSize);
}
function emit() {
  Atomics.store(state, slot, fill);
  parentPort.postMessage(slot);
  slot = (slot + 1) % slots;
  fill = 0;
  out = null;
}
parentPort.on("message", (m) => {
  if (failed) return;
  try {
    if (m === null) {
      if (fill > 0) emit();
      parentPort.postMessage({ end: true, inFrame });
      return;
    }
    let input = new Uint8Array(m.buffer, 0, m.length);
    for (;;) {
      if (out === null) acquire();
      const room = slotSize - fill;
      const [ret, produced, consumed] = dctx.decompressStream(out.subarray(fill), input);
      if (produced > 0 || consumed > 0) inFrame = ret !== 0;
      fill += produced;
      input = input.subarray(consumed);
      if (slotSize - fill < minRoom) emit();
      else if (input.length === 0 && produced < room) break;
    }
    // The input buffer goes back to the caller for the next chunk: transferred buffers left to
    // the garbage collector piled up (~50 MB of 64 KiB chunks, measured).
    parentPort.postMessage({ consumed: m.buffer }, [m.buffer]);
  } catch (err) {
    failed = true;
    parentPort.postMessage({ error: err instanceof Error ? err.message : String(err) });
  }
});
`;

/** What the decode thread reports; every callback runs on the caller's thread. */
export interface DecodeThreadHandlers {
  /** Slot `slot` holds `bytes` (valid until `release(slot)`). */
  onSlot(bytes: Buffer, slot: number): void;
  /** One input chunk given to `write` is fully decompressed. */
  onConsumed(): void;
  /** All input given before `end()` is decompressed; `inFrame`: it ended inside a frame. */
  onEnd(inFrame: boolean): void;
  /** Corrupt input, or the thread failed. Nothing else is reported afterwards. */
  onError(err: Error): void;
}

/** Ring geometry: 4 slots of 1 MiB; a slot is handed over once less than 128 KiB is free. */
const SLOTS = 4;
const SLOT_SIZE = 1024 * 1024;
const MIN_ROOM = 128 * 1024;
/** Input buffers kept for reuse. */
const POOL = 8;

/**
 * One zstd decompression stream on its own thread. `write` copies each compressed chunk to the
 * thread; decompressed bytes come back through `onSlot`, in order, in shared memory the caller
 * must `release`. `stop()` ends the thread (call it once done, or on error or abort).
 */
export class ZstdDecodeThread {
  readonly #worker: Worker;
  readonly #state: Int32Array;
  readonly #data: SharedArrayBuffer;
  #stopped = false;
  /** Input buffers the thread gave back, for the next chunks. */
  readonly #pool: ArrayBuffer[] = [];

  constructor(handlers: DecodeThreadHandlers) {
    const data = new SharedArrayBuffer(SLOTS * SLOT_SIZE);
    const control = new SharedArrayBuffer(4 * (SLOTS + 1));
    this.#state = new Int32Array(control);
    this.#state.fill(-1, 0, SLOTS);
    this.#state[SLOTS] = 0;
    this.#data = data;
    const binding = createRequire(import.meta.url).resolve("zstd-napi/binding.js");
    this.#worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { binding, data, control, slots: SLOTS, slotSize: SLOT_SIZE, minRoom: MIN_ROOM },
    });
    let failed = false;
    const fail = (err: Error) => {
      if (failed || this.#stopped) return;
      failed = true;
      handlers.onError(err);
    };
    this.#worker.on(
      "message",
      (m: number | { consumed?: ArrayBuffer; end?: true; inFrame?: boolean; error?: string }) => {
        if (failed || this.#stopped) return;
        if (typeof m === "number") {
          const n = Atomics.load(this.#state, m);
          handlers.onSlot(Buffer.from(this.#data, m * SLOT_SIZE, n), m);
        } else if (m.consumed) {
          if (this.#pool.length < POOL) this.#pool.push(m.consumed);
          handlers.onConsumed();
        } else if (m.end) handlers.onEnd(m.inFrame === true);
        else if (m.error !== undefined) fail(new Error(`zstd: ${m.error}`));
      },
    );
    this.#worker.on("error", fail);
    this.#worker.on("exit", (code) => fail(new Error(`zstd decode thread exited (code ${code})`)));
  }

  /** Sends a copy of `chunk` to the thread (the caller may reuse `chunk`). */
  write(chunk: Uint8Array): void {
    let buffer = this.#pool.pop();
    if (buffer === undefined || buffer.byteLength < chunk.byteLength) {
      buffer = new ArrayBuffer(Math.max(chunk.byteLength, 64 * 1024));
    }
    new Uint8Array(buffer).set(chunk);
    this.#worker.postMessage({ buffer, length: chunk.byteLength }, [buffer]);
  }

  /** No more input: the thread hands over what it holds, then reports onEnd. */
  end(): void {
    this.#worker.postMessage(null);
  }

  /** Gives slot `slot` back to the thread. */
  release(slot: number): void {
    Atomics.store(this.#state, slot, -1);
    Atomics.notify(this.#state, slot);
  }

  /** Stops the thread; nothing is reported afterwards. Idempotent. */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    Atomics.store(this.#state, SLOTS, 1);
    for (let i = 0; i < SLOTS; i++) Atomics.notify(this.#state, i);
    void this.#worker.terminate();
  }
}
