/**
 * The COPY FROM sink of a load, and a pool of the transcoder's output slabs that the sink gives
 * back once the socket is done with their bytes.
 *
 * Without the pool, each 64 KiB of COPY text was a fresh buffer that lived until V8's next
 * collection, which came only after ~30 MiB of them (external memory pressure): most of a
 * 1M-row restore's peak RSS above Node's own (issue 14). With it, a load cycles through a few
 * slabs. A slab is reused only when the transcoder has moved on from it and every piece pushed
 * from it has been written to the socket (the write's own callback, which Node calls once the
 * kernel has the bytes); a piece that never reaches the socket (a failed or destroyed load)
 * keeps its slab out of the pool for good.
 */
import type { Writable } from "node:stream";
import { from as copyFrom, type CopyStreamQuery } from "pg-copy-streams";
import { SLAB_SIZE, type SlabSource } from "../format/ndjson-to-copy.js";

/**
 * Free slabs kept for reuse at most (4 MiB). Up to ~57 slabs were in flight at once in a 1M-row
 * load (measured); with 8 kept, 200 of 267 slabs of a 100k-row load were fresh, with 64 58.
 */
const MAX_FREE = 64;

interface SlabState {
  slab: Buffer;
  /** Pieces pushed from the slab and not yet written to the socket. */
  pending: number;
  /** The transcoder writes no more into it. */
  retired: boolean;
}

export class SlabPool implements SlabSource {
  readonly #free: Buffer[] = [];
  readonly #inUse = new Map<ArrayBufferLike, SlabState>();
  /** Slabs allocated so far, and slabs handed out (allocated or reused). */
  allocated = 0;
  taken = 0;

  take(min: number): Buffer {
    this.taken++;
    // A line too long for a slab gets a buffer of its own, never pooled.
    if (min > SLAB_SIZE) return Buffer.allocUnsafeSlow(min);
    let slab = this.#free.pop();
    if (slab === undefined) {
      slab = Buffer.allocUnsafeSlow(SLAB_SIZE);
      this.allocated++;
    }
    this.#inUse.set(slab.buffer, { slab, pending: 0, retired: false });
    return slab;
  }

  pushed(piece: Buffer): void {
    const s = this.#inUse.get(piece.buffer);
    if (s) s.pending++;
  }

  retire(slab: Buffer): void {
    const s = this.#inUse.get(slab.buffer);
    if (!s) return;
    s.retired = true;
    this.#release(s);
  }

  /** The socket is done with a piece pushed earlier. */
  written(piece: Buffer): void {
    const s = this.#inUse.get(piece.buffer);
    if (!s) return;
    s.pending--;
    this.#release(s);
  }

  #release(s: SlabState): void {
    if (!s.retired || s.pending > 0) return;
    this.#inUse.delete(s.slab.buffer);
    if (this.#free.length < MAX_FREE) this.#free.push(s.slab);
  }
}

/** pg-copy-streams 7's CopyStreamQuery, as far as this module relies on it. */
interface CopyFromInternals {
  connection: { stream: Writable } | null;
  flushChunk(chunk: Buffer): boolean;
}

/**
 * `COPY ... FROM STDIN` as pg-copy-streams' writable, telling `pool` when each chunk's bytes
 * have left for the server. pg-copy-streams 7 sends every chunk through `flushChunk` (a
 * CopyData header, then the bytes, no write callback); this one sends the same two writes and
 * hears the second one's callback.
 */
export function copyFromSink(sql: string, pool: SlabPool): CopyStreamQuery {
  const sink = copyFrom(sql);
  const internals = sink as unknown as CopyFromInternals;
  if (typeof internals.flushChunk !== "function") {
    throw new Error("pg-copy-streams changed: CopyStreamQuery has no flushChunk (src/restore/copy-sink.ts)");
  }
  internals.flushChunk = function (this: CopyFromInternals, chunk: Buffer): boolean {
    const socket = this.connection!.stream;
    const header = Buffer.allocUnsafe(5);
    header[0] = 0x64; // 'd': CopyData
    header.writeUInt32BE(chunk.length + 4, 1);
    socket.write(header);
    return socket.write(chunk, () => pool.written(chunk));
  };
  return sink;
}
