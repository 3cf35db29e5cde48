/**
 * Frees the buffers that streaming leaves behind, at a pace set by the bytes streamed.
 *
 * Node gives every socket read and every file read its own ArrayBuffer, outside the JavaScript
 * heap, and such a buffer is freed only when a garbage collection finds its JavaScript wrapper
 * dead. pgsnap's hot paths allocate almost no JavaScript objects per byte (issue 14), so V8's
 * young generation fills slowly, scavenges are rare (14 in a 1M-row COPY, measured with
 * --trace-gc), and dead read buffers piled up to 20–35 MiB before one ran: a quarter of a full
 * dump's peak RSS.
 *
 * `paceGc(bytes)` is called where bytes enter (COPY TO reads, storage reads); once per
 * GC_EVERY_BYTES in total it runs a young-generation collection, which frees those wrappers
 * (and their buffers) in well under a millisecond because almost nothing in it is alive. It needs
 * `--expose-gc`, which bin/pgsnap.js passes; without it (node dist/..., a library user) it does
 * nothing and memory is as before.
 */

/** Bytes streamed between two collections: a few MiB of dead buffers at most, ~45 collections per 173 MB. */
export const GC_EVERY_BYTES = 4 * 1024 * 1024;

type Gc = (options?: { type?: "major" | "minor"; execution?: "sync" | "async" }) => void;

/** V8's `gc` (present only under --expose-gc), read once. */
const gc = (globalThis as { gc?: Gc }).gc;
let sinceLast = 0;
let collections = 0;

/** Counts `bytes` streamed; runs a young-generation collection once per GC_EVERY_BYTES. */
export function paceGc(bytes: number): void {
  if (gc === undefined) return;
  sinceLast += bytes;
  if (sinceLast < GC_EVERY_BYTES) return;
  sinceLast = 0;
  collections++;
  gc({ type: "minor" });
}

/** Collections run so far (for tests). */
export function pacedCollections(): number {
  return collections;
}
