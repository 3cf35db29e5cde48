#!/usr/bin/env -S node --max-semi-space-size=2 --expose-gc
// --max-semi-space-size=2 (MiB): V8 grows its young generation to 3 × 16 MiB under the dump's
// allocation rate; what pgsnap allocates per chunk dies young, so a small one costs ~25 MiB less
// peak RSS in a 1M-row dump for no measurable time (README, "Performance").
// --expose-gc: src/format/gc-pacer.ts runs a young-generation collection per 4 MiB streamed, which
// frees the dead socket and file read buffers V8 would otherwise let pile up (~20 MiB less peak
// RSS in a 1M-row dump). Run as `node bin/pgsnap.js`, neither flag is applied.
import "../dist/cli/main.js";
