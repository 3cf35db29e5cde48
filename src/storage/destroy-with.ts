/** How a backend's `put` gives up on its body. */
import type { Readable } from "node:stream";

/**
 * Destroys `body` with `err` when something listens for its errors (a pipeline writing into
 * it, which then fails with the storage's error rather than ERR_STREAM_PREMATURE_CLOSE), else
 * without one (an unheard 'error' event would crash the process).
 */
export function destroyWith(body: Readable, err: unknown): void {
  if (body.destroyed) return;
  if (err instanceof Error && body.listenerCount("error") > 0) body.destroy(err);
  else body.destroy();
}
