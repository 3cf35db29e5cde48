/**
 * Where a table's COPY text is encoded: in an encode worker thread (./encode-worker.ts), one per
 * dump connection and reused table after table, or in the calling thread.
 *
 * Why a worker: in a dump the main thread was the bottleneck (issue 14): it read the socket,
 * re-framed every row as JSON and fed zstd, one after the other, while the server waited. With the
 * worker, the main thread only moves COPY text from the socket to the worker (one copy, in batches
 * of up to ~256 KiB) and the stored bytes from the worker to the storage, and the two threads (plus
 * zstd's own) run side by side. The worker's young generation is kept small, since everything it
 * allocates per row dies young, which keeps its memory low without costing time.
 *
 * Backpressure crosses the boundary both ways (see the protocol in ./encode-worker.ts): the
 * worker pulls input when it has room, and acknowledges nothing it has not been asked for; the
 * main thread acknowledges an output only once its readable side has room. A failing worker
 * (a malformed row, a crash) fails the stream with the error it threw.
 */
import { Duplex, type Transform } from "node:stream";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { encodeStages, type EncodeResult, type EncodeSpec } from "./encode-stages.js";
import { deserializeError, type FromWorker, type ToWorker } from "./encode-protocol.js";

/**
 * COPY text per `data` message: a message costs tens of microseconds (more on a busy machine),
 * so the socket's 64 KiB reads are sent four at a time or more.
 */
const BATCH = 256 * 1024;
/** COPY text buffered on the main side, beyond a full batch, before the socket is paused. */
const INPUT_HIGH_WATER = 256 * 1024;
/** Stored bytes buffered on the main side before the worker is held back. */
const OUTPUT_HIGH_WATER = 256 * 1024;
/**
 * The worker's young generation (MiB). V8 grows it to 16 MiB semi-spaces (~48 MiB resident) under
 * a high allocation rate; the encoder's per-row garbage dies young, so a small one only means
 * more, cheaper scavenges.
 */
const WORKER_YOUNG_GENERATION_MB = 4;

/** One table being encoded: put `transforms` between the COPY source and the store. */
export interface TableEncoder {
  transforms: Transform[] | [Duplex];
  rows: () => number;
  bytes: () => number;
  /** Valid once the pipeline has finished. */
  result: () => EncodeResult;
}

/** Encodes in the calling thread. */
export function inThreadEncoder(spec: EncodeSpec): TableEncoder {
  return encodeStages(spec);
}

/** The built worker script, or undefined when running from TypeScript sources (tests). */
function workerScript(): URL | undefined {
  const url = new URL("./encode-worker.js", import.meta.url);
  return existsSync(fileURLToPath(url)) ? url : undefined;
}

/**
 * Encode workers by slot (one per dump connection). A worker is started on first use (or by
 * `warm`, which lets its start-up overlap the dump's catalog queries) and kept for the next table;
 * one whose table failed or was aborted is terminated and replaced, so no stale message reaches
 * the next table. `close` terminates them all.
 */
export class EncoderPool {
  readonly #script: URL | undefined;
  readonly #workers = new Map<number, Worker>();

  /** `threads: false` encodes every table in-thread (no worker is started). */
  constructor(options: { threads?: boolean } = {}) {
    this.#script = options.threads === false ? undefined : workerScript();
  }

  /** False when threads are off or no worker script exists (TypeScript sources): `encoder` encodes in-thread. */
  get available(): boolean {
    return this.#script !== undefined;
  }

  /** Starts the workers of these slots now. */
  warm(slots: number): void {
    if (this.#script === undefined) return;
    for (let slot = 0; slot < slots; slot++) this.#worker(slot);
  }

  encoder(slot: number, spec: EncodeSpec): TableEncoder {
    if (this.#script === undefined) return inThreadEncoder(spec);
    const worker = this.#worker(slot);
    const stream = new WorkerEncodeStream(worker, spec, () => {
      if (this.#workers.get(slot) === worker) this.#workers.delete(slot);
      void worker.terminate();
    });
    return { transforms: [stream], rows: () => stream.rows, bytes: () => stream.bytes, result: () => stream.result };
  }

  async close(): Promise<void> {
    const workers = [...this.#workers.values()];
    this.#workers.clear();
    await Promise.all(workers.map((w) => w.terminate()));
  }

  #worker(slot: number): Worker {
    let worker = this.#workers.get(slot);
    if (worker === undefined) {
      worker = new Worker(this.#script!, {
        resourceLimits: { maxYoungGenerationSizeMb: WORKER_YOUNG_GENERATION_MB },
        stdout: false,
        stderr: false,
      });
      // Idle workers never keep the process alive; a table in progress refs its worker.
      worker.unref();
      this.#workers.set(slot, worker);
    }
    return worker;
  }
}

/** The main-thread side of one table in an encode worker: COPY text in, stored bytes out. */
class WorkerEncodeStream extends Duplex {
  readonly #worker: Worker;
  readonly #discard: () => void;
  /** The worker asked for input and has not been sent it yet. */
  #pulled = false;
  /** Input waiting for the worker's next pull (less than a batch, unless a writer waits). */
  #queued: Buffer[] = [];
  #queuedBytes = 0;
  /** The writer's callback, held while a full batch waits for a pull. */
  #blocked: ((err?: Error | null) => void) | null = null;
  /** _final's callback: the input has ended; send the rest and the end at the next pull. */
  #ending: ((err?: Error | null) => void) | null = null;
  /** Outputs received while the readable side was full: acknowledged when it drains. */
  #owedAcks = 0;
  #finished = false;
  #rows = 0;
  #bytes = 0;
  #result: EncodeResult | undefined;

  constructor(worker: Worker, spec: EncodeSpec, discard: () => void) {
    super({ writableHighWaterMark: INPUT_HIGH_WATER, readableHighWaterMark: OUTPUT_HIGH_WATER });
    this.#worker = worker;
    this.#discard = discard;
    worker.ref();
    worker.on("message", this.#onMessage);
    worker.on("error", this.#onError);
    worker.on("exit", this.#onExit);
    this.#post({ type: "begin", spec });
  }

  get rows(): number {
    return this.#rows;
  }

  get bytes(): number {
    return this.#bytes;
  }

  get result(): EncodeResult {
    if (this.#result === undefined) throw new Error("the encode worker has not finished this table");
    return this.#result;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (err?: Error | null) => void): void {
    this.#add([chunk], done);
  }

  override _writev(chunks: { chunk: Buffer; encoding: BufferEncoding }[], done: (err?: Error | null) => void): void {
    this.#add(
      chunks.map((c) => c.chunk),
      done,
    );
  }

  override _final(done: (err?: Error | null) => void): void {
    // The rest goes as a last (short) batch once the worker asks; then the end.
    this.#ending = done;
    this.#send();
  }

  override _read(): void {
    for (; this.#owedAcks > 0; this.#owedAcks--) this.#post({ type: "ack" });
  }

  override _destroy(err: Error | null, done: (err?: Error | null) => void): void {
    this.#detach();
    if (!this.#finished) {
      // Aborted or failed midway: this worker may still hold the table's state or send for it.
      this.#finished = true;
      this.#discard();
    }
    done(err);
  }

  /** Queues input; the writer goes on at once until a full batch waits for the worker. */
  #add(chunks: Buffer[], done: (err?: Error | null) => void): void {
    for (const c of chunks) {
      this.#queued.push(c);
      this.#queuedBytes += c.length;
    }
    if (this.#queuedBytes < BATCH) done();
    else {
      this.#blocked = done;
      this.#send();
    }
  }

  /**
   * Sends the queued input as one batch if the worker has asked for one and a batch is full (or
   * the input has ended), releasing a writer that waited for it; after the last batch, the end.
   */
  #send(): void {
    if (!this.#pulled) return;
    const ending = this.#ending;
    if (this.#queuedBytes < BATCH && ending === null) return;
    this.#pulled = false;
    if (this.#queuedBytes > 0) {
      // One copy into a buffer of our own, which is then moved (not copied) to the worker.
      // allocUnsafeSlow: owns its whole ArrayBuffer (so it can be moved), and is not zeroed first.
      const batch = Buffer.allocUnsafeSlow(this.#queuedBytes);
      let at = 0;
      for (const c of this.#queued) {
        batch.set(c, at);
        at += c.length;
      }
      this.#queued = [];
      this.#queuedBytes = 0;
      this.#post({ type: "data", buf: batch.buffer }, [batch.buffer]);
    }
    const blocked = this.#blocked;
    this.#blocked = null;
    blocked?.();
    if (ending !== null) {
      this.#ending = null;
      this.#post({ type: "end" });
      ending();
    }
  }

  #post(message: ToWorker, transfer?: ArrayBuffer[]): void {
    this.#worker.postMessage(message, transfer);
  }

  readonly #onMessage = (message: FromWorker): void => {
    switch (message.type) {
      case "pull":
        this.#rows = message.rows;
        this.#bytes = message.bytes;
        this.#pulled = true;
        this.#send();
        break;
      case "out":
        if (this.push(Buffer.from(message.buf))) this.#post({ type: "ack" });
        else this.#owedAcks++;
        break;
      case "done":
        this.#finished = true;
        this.#result = message.result;
        this.#rows = message.result.rows;
        this.#bytes = message.result.bytes;
        this.#detach();
        this.push(null);
        break;
      case "error":
        this.destroy(deserializeError(message.error));
        break;
    }
  };

  readonly #onError = (err: Error): void => {
    this.destroy(new Error(`the encode worker failed: ${err.message}`, { cause: err }));
  };

  readonly #onExit = (code: number): void => {
    this.destroy(new Error(`the encode worker exited (code ${code}) before the table was encoded`));
  };

  #detach(): void {
    this.#worker.off("message", this.#onMessage);
    this.#worker.off("error", this.#onError);
    this.#worker.off("exit", this.#onExit);
    this.#worker.unref();
  }
}
